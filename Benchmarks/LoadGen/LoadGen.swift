// jump-loadgen: thousands of Jump Clients in one process, each the agent's own runtime (the same
// enrollment, TLS 1.3 with its own client certificate, reconnect and statistics code as jump-agent),
// with synthetic statistics; and idle TLS clients of mosquitto and nats-server to compare with.

import ArgumentParser
import Dispatch
import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import JumpEventLoops
import Logging
import NIOCore
import NIOPosix

@main
struct LoadGen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump-loadgen",
        abstract: "Simulate many Jump Clients against one appliance, or hold idle TLS clients of another server.",
        discussion: """
            Each process may hold as many connections as its open-file limit allows (at most 20,000 \
            here, some taken by the process itself); start several with different --source loopback \
            addresses and --first index ranges sharing one --cache for more. Figures are printed every \
            --every seconds and at the end; --json FILE keeps the same figures in a file, rewritten \
            every period (scripts wait on it) and completed with "finished": true at the end.
            """,
        subcommands: [Run.self, Handshake.self, Enroll.self, Hold.self],
        defaultSubcommand: Run.self
    )
}

/// What every mode shares: where to connect from, how long, where the figures go.
struct CommonOptions: ParsableArguments {
    @Option(help: "Local address to connect from, e.g. 127.0.0.2 (each address has its own ~28,000 ephemeral ports).")
    var source: String?

    @Option(help: "Seconds to run after starting, then stop (0: until SIGINT or SIGTERM).")
    var duration: Double = 0

    @Option(help: "Seconds between printed figures.")
    var every: Double = 5

    @Option(help: "Write the figures as JSON to this file (every period, and at the end).")
    var json: String?

    @Option(help: "Event loop threads.")
    var threads: Int = System.coreCount

    func localAddress() throws -> SocketAddress? {
        guard let source else { return nil }
        do {
            return try SocketAddress(ipAddress: source, port: 0)
        } catch {
            throw ValidationError("--source \(source) is not an IP address")
        }
    }
}

/// How the event loops of the modes that hold connections (run, hold) wait for I/O.
///
/// The servers measured share the machine with this program, and on loopback a server's write to a
/// socket whose thread sleeps in `epoll_wait` wakes that thread from the server's system call: the
/// scheduler's work (on a virtual machine, an interrupt to the other core) is counted as the server's,
/// and the woken thread then preempts it. A remote agent's wake-up is its own machine's work. With
/// `--coalescing-ms` (the appliance's own ``WakeUpCoalescing``), a loop that was mostly idle sleeps
/// that long after each pass, so a server's message to it is more often queued while it sleeps than
/// a wake-up; its reports then also leave in small bursts. None of this program's connections says it
/// needs prompt I/O, so its own TLS handshakes may wait too; a busy loop never waits.
struct LoopOptions: ParsableArguments {
    @Option(help: "Milliseconds a mostly idle event loop of this process gathers I/O before it waits for more, as the appliance's agent loops do (jump-server run --agent-coalescing-ms; 0 to \(WakeUpCoalescing.maximumMilliseconds), 0: not at all). On loopback a server's write to a sleeping loop's socket also pays for waking that thread; a loop that gathers is less often asleep in epoll_wait when its messages arrive (a remote agent's wake-up is never the server's work).")
    var coalescingMs: Int = 0

    func validate() throws {
        guard WakeUpCoalescing.allowedMilliseconds.contains(coalescingMs) else {
            throw ValidationError("--coalescing-ms must be a whole number of milliseconds from 0 to \(WakeUpCoalescing.maximumMilliseconds)")
        }
    }

    /// `threads` event loops, gathering I/O as set.
    func group(threads: Int) -> MultiThreadedEventLoopGroup {
        WakeUpCoalescing.group(threads: max(threads, 1), coalescing: WakeUpCoalescing(milliseconds: coalescingMs))
    }
}

/// Options of the simulated-agent modes.
struct AgentOptions: ParsableArguments {
    @Option(help: "Enrollment cache: one agent directory per simulated agent, reused when present (enrolled with the installer's CA).")
    var cache: String

    @Option(help: "Number of simulated agents in this process.")
    var agents: Int = 100

    @Option(help: "Index of this process's first agent in the cache (give each process its own range).")
    var first: Int = 0

    @Option(help: "An installer file (jumpctl installer create --output FILE) to enroll agents missing from the cache.")
    var installer: String?

    func validate() throws {
        guard agents > 0 else { throw ValidationError("--agents must be at least 1") }
        guard first >= 0 else { throw ValidationError("--first must not be negative") }
    }

    var range: Range<Int> { first..<(first + agents) }

    /// The cache, with the agents of this range missing from it enrolled first (progress on stderr).
    func enrolledCache(group: any EventLoopGroup, localAddress: SocketAddress?) async throws -> EnrollmentCache {
        let cache = EnrollmentCache(directory: URL(fileURLWithPath: self.cache))
        let enrolled = try await cache.enroll(range, installer: try readInstaller(), group: group, localAddress: localAddress) {
            done, total in say("enrolled \(done) of \(total)")
        }
        if enrolled > 0 { say("enrolled \(enrolled) agents into \(cache.directory.path)") }
        return cache
    }

    func readInstaller() throws -> InstallerFile? {
        guard let installer else { return nil }
        return try Enrollment.readInstaller(at: installer)
    }
}

extension LoadGen {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run simulated agents: enroll those missing from the cache, connect, report, reconnect.",
            discussion: """
                The statistics interval is the appliance's (jumpctl settings set statistics-interval); \
                --interval only checks that the agents were given that one. SIGUSR1 makes every \
                agent's next report carry a new 30 KB JPEG thumbnail, once (the site must select \
                thumbnails, as it does by default). SIGUSR2 begins a measurement window: the report \
                round trip percentiles start again, and the figures add the window's length and the \
                reports sent and acknowledged in it. The figures: connections held, handshakes/s (the \
                appliance's welcomes), reports/s (acknowledged), report round trip (sent to \
                acknowledged) p50/p99, connect failures and time-outs, agents that gave up, and this \
                process's CPU.
                """
        )

        @OptionGroup var agentOptions: AgentOptions
        @OptionGroup var common: CommonOptions
        @OptionGroup var loops: LoopOptions

        @Option(help: "HOST:PORT of the appliance's agent listener, when it differs from the installer's (rewrites the cached agents' configuration).")
        var server: String?

        @Option(help: "Connections started per second at start (0: all at once; the appliance's connection-rate setting admits them in any case).")
        var startRate: Int = 0

        @Option(help: "Thumbnails: none, once (the first report of each connection), every (each report).")
        var thumbnail: String = ThumbnailMode.none.rawValue

        @Option(help: "The statistics interval (seconds) the appliance is expected to give; a warning is printed when it gives another.")
        var interval: Int?

        @Flag(help: "Add the Unix time in milliseconds of every welcome to the JSON figures (for reconnect storms).")
        var arrivals = false

        @Option(help: "Trace the first N agents of this process: their client ids, and the Unix time in milliseconds each report was sent and acknowledged, in the JSON figures (to compare with what the API shows).")
        var trace: Int = 0

        func validate() throws {
            guard trace >= 0 else { throw ValidationError("--trace must not be negative") }
            guard ThumbnailMode(rawValue: thumbnail) != nil else {
                throw ValidationError("--thumbnail must be one of \(ThumbnailMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            Quiet.bootstrap()
            let group = loops.group(threads: common.threads)
            let localAddress = try common.localAddress()
            let cache = try await agentOptions.enrolledCache(group: group, localAddress: localAddress)

            let picture = try SyntheticStats.makePicture()
            let counters = FleetCounters()
            let fleet = try Fleet(
                cache: cache, range: agentOptions.range, thumbnail: ThumbnailMode(rawValue: thumbnail)!, picture: picture,
                counters: counters, group: group, localAddress: localAddress, server: server, traced: trace,
                logger: Logger(label: "jump-loadgen")
            )
            let first = fleet.runtimes[0]
            let printer = FiguresPrinter(
                counters: counters, agents: agentOptions.agents, mode: "agents", output: common.json, arrivals: arrivals,
                traces: fleet.traces,
                interval: { first.currentState.lastContact == nil ? nil : Int(first.currentState.statisticsIntervalSeconds) }
            )
            say("running \(agentOptions.agents) agents (\(agentOptions.range.lowerBound)..<\(agentOptions.range.upperBound)), thumbnail \(picture.jpeg.count) bytes (\(thumbnail))")
            let signals = Signals(onUser1: { fleet.armThumbnails() }, onUser2: { printer.startWindow() })
            let work = Task { await fleet.run(startRate: startRate, counters: counters) }
            let periodic = Task { await printer.run(every: .milliseconds(Int(common.every * 1000))) }
            await signals.wait(duration: common.duration)
            if let interval, let given = printer.figures(finished: false).statisticsIntervalSeconds, given != interval {
                say("warning: the appliance gave a statistics interval of \(given) s, not \(interval) s")
            }
            periodic.cancel()
            let figures = printer.figures(finished: true)
            work.cancel()
            await work.value
            say(figures.summary)
            printer.write(figures)
            try await group.shutdownGracefully()
        }
    }

    struct Handshake: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Churn connections: every agent connects, is welcomed, stops and connects again at once.",
            discussion: """
                Each connection is a TLS 1.3 handshake with the agent's own client certificate and \
                Hello/Welcome, made by the agent's own runtime, and ended as jump-agent ends it \
                when it stops (a Goodbye, then close); no statistics report is sent. As many \
                connections are in flight as there are agents in the process. As jump-agent does, an \
                agent resumes the TLS session of its last connection when the appliance gave it a \
                ticket (no certificates, no signatures; a fresh key exchange), so every connection \
                after an agent's first is a resumption; --full-handshakes makes each one a full \
                handshake. Each connection writes \
                the agent's state file, as jump-agent does: give a --cache on tmpfs (a copy of the \
                enrolled agents) so the file system does not set the pace. The figures: handshakes \
                (the appliance's welcomes), how many resumed, handshakes/s, the time from the start of an attempt \
                to the Welcome p50/p99, connect failures and time-outs, and this process's CPU. The \
                appliance's connection-rate setting admits at most 300 connections a second; start \
                it with --unlimited-admission to measure beyond.
                """
        )

        @OptionGroup var agentOptions: AgentOptions
        @OptionGroup var common: CommonOptions

        @Option(help: "HOST:PORT of the appliance's agent listener, when it differs from the installer's (rewrites the cached agents' configuration).")
        var server: String?

        @Flag(help: "Make every connection a full TLS handshake (certificates and signatures): no session resumption.")
        var fullHandshakes = false

        func run() async throws {
            Quiet.bootstrap()
            // As in jump-agent: the agents' tasks run on the event loops that carry their connections.
            let group = ConcurrencyOnEventLoops.adoptSingleton(loops: common.threads)
            let localAddress = try common.localAddress()
            let cache = try await agentOptions.enrolledCache(group: group, localAddress: localAddress)

            let counters = FleetCounters()
            let churn = try HandshakeChurn(
                cache: cache, range: agentOptions.range, counters: counters, group: group, localAddress: localAddress,
                server: server, resumption: !fullHandshakes, logger: Logger(label: "jump-loadgen")
            )
            let printer = FiguresPrinter(
                counters: counters, agents: agentOptions.agents, mode: "handshake", output: common.json, arrivals: false,
                interval: { nil }
            )
            say("churning \(agentOptions.agents) agents (\(agentOptions.range.lowerBound)..<\(agentOptions.range.upperBound))")
            let work = Task { await churn.run() }
            let periodic = Task { await printer.run(every: .milliseconds(Int(common.every * 1000))) }
            let signals = Signals(onUser1: {}, onUser2: { printer.startWindow() })
            await signals.wait(duration: common.duration)
            periodic.cancel()
            // The figures stop here: the connections closed by stopping are not handshakes measured.
            let figures = printer.figures(finished: true)
            work.cancel()
            await work.value
            say(figures.summary)
            printer.write(figures)
        }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Only enroll the agents missing from the cache, then exit."
        )

        @OptionGroup var agentOptions: AgentOptions

        @Option(help: "Local address to connect from.")
        var source: String?

        func run() async throws {
            Quiet.bootstrap()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
            let cache = EnrollmentCache(directory: URL(fileURLWithPath: agentOptions.cache))
            let started = ContinuousClock.now
            let localAddress = try source.map { try SocketAddress(ipAddress: $0, port: 0) }
            let count = try await cache.enroll(
                agentOptions.range, installer: try agentOptions.readInstaller(), group: group, localAddress: localAddress
            ) { done, total in say("enrolled \(done) of \(total)") }
            let seconds = AgentProbe.milliseconds(ContinuousClock.now - started) / 1000
            say(String(format: "%d enrolled now, %d already in the cache, %.1f s", count, agentOptions.agents - count, seconds))
            try await group.shutdownGracefully()
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hold TLS 1.3 connections with a client certificate to mosquitto (mqtt) or nats-server (nats).",
            discussion: """
                Each connection says the least its protocol needs to be kept: MQTT CONNECT with a \
                one-hour keep-alive (held at CONNACK), or NATS CONNECT and PING after the server's \
                INFO and the TLS handshake (held at PONG, and the server's PINGs are answered). With \
                --publish-every, each held connection also sends one message an interval, as a Jump \
                Client sends its statistics, and waits for its acknowledgement: an MQTT PUBLISH at \
                QoS 1 (PUBACK), or a NATS PUB followed by PING (PONG). The figures then count them as \
                reports sent and acknowledged, with their round trip; SIGUSR2 begins a measurement \
                window, as in the run mode.
                """
        )

        @Option(help: "HOST:PORT of the server's TLS listener.")
        var tls: String

        @Option(name: .customLong("protocol"), help: "mqtt or nats.")
        var peer: String

        @Option(help: "Connections to hold.")
        var connections: Int = 100

        @Option(help: "New connections per second (0: all at once).")
        var rate: Int = 300

        @Option(help: "The CA that signed the server's certificate (PEM).")
        var ca: String

        @Option(help: "The client certificate (PEM).")
        var cert: String

        @Option(help: "The client certificate's key (PEM).")
        var key: String

        @Option(help: "Seconds between the messages each connection sends (0: the connections stay idle).")
        var publishEvery: Double = 0

        @Option(help: "Payload bytes of each message (default: the size of a Jump Client's steady statistics frame, as this program's agents send it).")
        var publishBytes: Int?

        @OptionGroup var common: CommonOptions
        @OptionGroup var loops: LoopOptions

        func validate() throws {
            guard PeerProtocol(rawValue: peer) != nil else { throw ValidationError("--protocol must be mqtt or nats") }
            guard publishEvery >= 0, publishEvery.isFinite else { throw ValidationError("--publish-every must be a number of seconds, 0 or more") }
            if let publishBytes { guard (1...65_536).contains(publishBytes) else { throw ValidationError("--publish-bytes must be 1 to 65536") } }
            guard AgentRuntimeAddress.split(tls) != nil else { throw ValidationError("--tls must be HOST:PORT") }
        }

        func run() async throws {
            Quiet.bootstrap()
            let group = loops.group(threads: common.threads)
            let (host, port) = AgentRuntimeAddress.split(tls)!
            let counters = FleetCounters()
            var publishing: Publishing?
            if publishEvery > 0 {
                let bytes: Int
                if let publishBytes { bytes = publishBytes } else { bytes = await SyntheticStats.steadyFrameBytes() }
                publishing = Publishing(interval: .nanoseconds(Int64(publishEvery * 1e9)), payloadBytes: bytes)
            }
            let hold = PeerHold(
                host: host, port: port, peer: PeerProtocol(rawValue: peer)!,
                tls: try PeerHold.context(ca: ca, certificate: cert, key: key),
                group: group, localAddress: try common.localAddress(), counters: counters, publishing: publishing
            )
            let printer = FiguresPrinter(counters: counters, agents: connections, mode: peer, output: common.json, arrivals: false, interval: { nil })
            if let publishing {
                say("holding \(connections) \(peer) connections to \(tls), each sending \(publishing.payloadBytes) bytes every \(publishEvery) s")
            } else {
                say("holding \(connections) \(peer) connections to \(tls)")
            }
            let periodic = Task { await printer.run(every: .milliseconds(Int(common.every * 1000))) }
            let opening = Task { await hold.open(connections, perSecond: rate) }
            let signals = Signals(onUser1: {}, onUser2: { printer.startWindow() })
            await signals.wait(duration: common.duration)
            periodic.cancel()
            let figures = printer.figures(finished: true)
            opening.cancel()
            let channels = await opening.value
            for channel in channels { channel.close(promise: nil) }
            say(figures.summary)
            printer.write(figures)
            try await group.shutdownGracefully()
        }
    }
}

enum AgentRuntimeAddress {
    static func split(_ server: String) -> (String, Int)? {
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) else { return nil }
        return (String(server[..<colon]), port)
    }
}

/// The simulated agents log nothing but critical problems: thousands of them would drown the figures.
enum Quiet {
    static func bootstrap() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .critical
            return handler
        }
    }
}

/// SIGINT and SIGTERM end the run; SIGUSR1 calls `onUser1`, SIGUSR2 `onUser2`.
/// The dispatch sources are only kept alive here, never touched after `init`.
final class Signals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(onUser1: @escaping @Sendable () -> Void, onUser2: @escaping @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.stream = stream
        self.continuation = continuation
        var sources: [any DispatchSourceSignal] = []
        let stop: @Sendable () -> Void = { continuation.yield() }
        let handlers: [(Int32, @Sendable () -> Void)] = [(SIGINT, stop), (SIGTERM, stop), (SIGUSR1, onUser1), (SIGUSR2, onUser2)]
        for (number, handler) in handlers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Returns at SIGINT or SIGTERM, or after `duration` seconds when it is above 0.
    func wait(duration: Double) async {
        let timer = Task { [continuation] in
            guard duration > 0 else { return }
            try? await Task.sleep(for: .milliseconds(Int(duration * 1000)))
            continuation.yield()
        }
        for await _ in stream { break }
        timer.cancel()
    }
}
