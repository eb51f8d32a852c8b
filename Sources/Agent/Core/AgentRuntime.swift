@preconcurrency import Crypto
import FoundationEssentials
import Glibc
import Dispatch
import JumpProtocol
import JumpTLS
public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
import Synchronization
public import X509

/// The running Jump Client: one connection to the appliance at a time, reconnecting with backoff,
/// statistics at the interval the appliance sets, settings applied and kept.
public final class AgentRuntime: Sendable {
    /// Why `run()` returned.
    public enum Ending: Equatable, Sendable {
        /// The appliance deleted this Jump Client: uninstall.
        case deleted(String)
        /// The appliance no longer accepts this certificate.
        case revoked(String)
        /// The task was cancelled (shutdown).
        case cancelled
        /// The deletion period passed without contact: uninstall, as the appliance has deleted it.
        case expired
    }

    public let files: AgentFiles
    public let configuration: AgentConfiguration
    /// The key and certificate, and the TLS context made from them; a renewal replaces both.
    let credentials: Mutex<Credentials>
    let renewal = Mutex(CertificateRenewal())
    let ca: Certificate
    let stats: any StatsSource
    let logger: Logger
    let group: any EventLoopGroup
    let state: Mutex<AgentState>
    /// The state last handed to the writer (`nil` before the first write): what is on disk, or soon
    /// will be. A change of the last contact's time alone waits for ``leaseSaveInterval``.
    private let written = Mutex<AgentState?>(nil)
    let leaseClock: any LeaseClock
    let waker: (any WakeSender)?
    /// Starts session shells; nil when this build cannot run sessions.
    let sessionHost: (any TerminalHost)?
    /// The account sessions run as: `sessionUser` in `etc/agent.json`, else root.
    public let sessionUser: SessionUser
    /// Waits between connection attempts; a benchmark compresses time through it.
    let pause: @Sendable (Duration) async throws -> Void
    /// Connection attempts made so far (each one a TCP connect, successful or not).
    public var attempts: Int { attemptCount.load(ordering: .relaxed) }
    private let attemptCount = Atomic<Int>(0)
    /// The local address connections are made from; nil lets the kernel choose (the agent). The load
    /// generator spreads its connections over several loopback addresses, each with its own ports.
    let localAddress: SocketAddress?
    /// Told about connections and reports; nil for the agent.
    let observer: (@Sendable (AgentRuntimeEvent) -> Void)?
    /// Called once per connection, when the appliance acknowledged its first message: the code that
    /// connecting needed has run, and what runs from now on is the idle loop. The agent lets go of the
    /// file pages start-up mapped then (`MappedFilePages`).
    let settled: (@Sendable () -> Void)?
    /// Whether a connection offers the session the appliance's last ticket resumes (TLS resumption);
    /// false only to measure full handshakes.
    let resumption: Bool

    public init(
        files: AgentFiles,
        stats: any StatsSource,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        leaseClock: any LeaseClock = SystemLeaseClock(),
        waker: (any WakeSender)? = nil,
        sessionHost: (any TerminalHost)? = nil,
        sessionUser: String? = nil,
        pause: @escaping @Sendable (Duration) async throws -> Void = { try await EventLoopSleep.sleep(for: $0) },
        localAddress: SocketAddress? = nil,
        resumption: Bool = true,
        observer: (@Sendable (AgentRuntimeEvent) -> Void)? = nil,
        settled: (@Sendable () -> Void)? = nil
    ) throws {
        self.pause = pause
        self.resumption = resumption
        self.settled = settled
        self.localAddress = localAddress
        self.observer = observer
        let identity: TLSIdentity
        self.files = files
        self.leaseClock = leaseClock
        self.waker = waker
        self.sessionHost = sessionHost
        let configurationData: Data
        do {
            configurationData = try Data(contentsOf: files.configuration)
            configuration = try JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: configurationData)
            identity = try files.readIdentity()
            ca = try Certificate(pemText: String(contentsOf: files.ca, encoding: .utf8))
        } catch {
            throw AgentError(.data, "the agent's files in \(files.etc.path) are missing or damaged: \(error)")
        }
        self.sessionUser = SessionUser(
            sessionUser ?? SessionUser.configured(inAgentJSON: configurationData) ?? SessionUser.defaultUser
        )
        let state = (try? JSONDecoder.agentFiles.decode(AgentState.self, from: Data(contentsOf: files.state))) ?? AgentState()
        self.state = Mutex(state)
        self.stats = stats
        self.logger = logger
        self.group = group
        self.credentials = Mutex(try Credentials(identity, trusting: ca, resumption: resumption))
    }

    struct Credentials: Sendable {
        let identity: TLSIdentity
        /// Made from `identity`, with the session the next connection resumes: a renewal's new
        /// certificate starts without one.
        let tls: AgentTLSClientContext

        init(_ identity: TLSIdentity, trusting ca: Certificate, resumption: Bool) throws {
            self.identity = identity
            self.tls = try AgentTLSClientContext(identity: identity, trusting: ca, resumption: resumption)
        }
    }

    /// The certificate the next connection presents.
    public var certificate: X509.Certificate { credentials.withLock { $0.identity.certificate } }

    public var currentState: AgentState { state.withLock { $0 } }

    /// Connects and stays connected until the appliance deletes or revokes this client, or the task
    /// is cancelled; returns once the agent's files are written.
    public func run() async -> Ending {
        let ending = await stayConnected()
        await BlockingWork.drain()
        return ending
    }

    func stayConnected() async -> Ending {
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
        var serverIndex = 0
        // When contact was last lost (or the agent started): the appliance's reconnect spread applies
        // for ReconnectBackoff.spreadPeriod after it.
        var contactLost = ContinuousClock.now
        while !Task.isCancelled {
            // Out of contact for the deletion period: checked before every attempt, so at least every
            // ReconnectBackoff.cap while the appliance cannot be reached, and first of all at start.
            if checkLease() { return .expired }
            let server = configuration.servers[serverIndex % max(configuration.servers.count, 1)]
            let started = ContinuousClock.now
            attemptCount.add(1, ordering: .relaxed)
            let (outcome, wasReady) = await connectOnce(to: server)
            var retryAfter: Duration?
            switch outcome {
            case .peerSaidGoodbye(let goodbye) where goodbye.reason == .clientDeleted:
                logger.notice("the appliance deleted this Jump Client", metadata: ["detail": "\(goodbye.detail)"])
                return .deleted(goodbye.detail)
            case .peerSaidGoodbye(let goodbye) where goodbye.reason == .certificateRevoked:
                logger.error("the appliance refuses this certificate", metadata: ["detail": "\(goodbye.detail)"])
                return .revoked(goodbye.detail)
            case .peerSaidGoodbye(let goodbye):
                if goodbye.retryAfterMs > 0 { retryAfter = .milliseconds(Int64(goodbye.retryAfterMs)) }
                logger.info("the appliance closed the connection", metadata: ["reason": "\(goodbye.reason)", "detail": "\(goodbye.detail)"])
            case .retryAfter(let retry):
                retryAfter = .milliseconds(Int64(retry.delayMs))
                logger.info("the appliance asked to retry later", metadata: ["milliseconds": "\(retry.delayMs)"])
            case .closedLocally(let goodbye):
                logger.info("connection closed", metadata: ["reason": "\(goodbye.reason)", "detail": "\(goodbye.detail)"])
            case .transportClosed, .enrolled, .supportRefused:
                logger.info("connection lost", metadata: ["server": "\(server)"])
            }
            if wasReady, ContinuousClock.now - started >= ReconnectBackoff.stableConnection { backoff.reset() }
            if !wasReady { serverIndex += 1 }
            if wasReady { contactLost = .now }
            backoff.spread = ContinuousClock.now - contactLost < ReconnectBackoff.spreadPeriod
                ? state.withLock(\.reconnectSpreadMilliseconds).map { .milliseconds(Int64($0)) } : nil
            let wait = backoff.next(retryAfter: retryAfter, using: &random)
            logger.debug("reconnecting", metadata: ["after": "\(wait)"])
            do { try await pause(wait) } catch { break }
        }
        return .cancelled
    }


    /// How long a write that changes only the contact, the lease and the reconnect spread may wait
    /// (``persist()``): while the appliance cannot be reached, the time without contact is saved about
    /// this often, and while it is connected, the time of the last contact. The deletion period is
    /// counted in days; saving (with fsync) before every attempt, a second or two apart with the
    /// appliance's reconnect spread, or at every acknowledgement, would wear a Raspberry Pi's SD card
    /// and cost a fleet's worth of writes for nothing.
    public static let leaseSaveInterval = Duration.seconds(300)

    /// Counts the time since the last check as time without contact, and saves it as ``persist()``
    /// decides; true when the deletion period the appliance last gave has passed.
    func checkLease() -> Bool {
        let (expired, days) = state.withLock { state in
            (state.leaseExpired(leaseClock), state.deleteAfterDays)
        }
        persist()
        if expired { logger.notice("no contact with the appliance for \(days) days: this Jump Client uninstalls itself") }
        return expired
    }

    static func split(_ server: String) -> (String, Int)? {
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]),
              (1...Int(UInt16.max)).contains(port)
        else { return nil }
        var host = String(server[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    static let clock = ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })

    static func hello() -> WireHello {
        var hello = WireHello()
        hello.softwareVersion = JumpBuild.version
        hello.platform.os = "linux"
        var names = utsname()
        if uname(&names) == 0 {
            hello.platform.architecture = withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return hello
    }

    /// One connection, from connect to close.
    func connectOnce(to server: String) async -> (AgentConnectionOutcome, ready: Bool) {
        guard let (host, port) = Self.split(server) else {
            logger.error("not a HOST:PORT address", metadata: ["server": "\(server)"])
            return (.transportClosed, false)
        }
        let session = Session(runtime: self)
        let tls = credentials.withLock { $0.tls }
        let gate = CommandGate(agentID: configuration.clientID, lastSequence: state.withLock(\.lastCommandSequence))
        let hello = { var hello = Self.hello(); hello.lastCommandSequence = gate.lastSequence; return hello }()
        let channel: any Channel
        do {
            channel = try await AgentChannel.connect(
                host: host, port: port, group: group, security: .enrolled(tls), localAddress: localAddress, connectTimeout: .seconds(30),
                configuration: .init(purpose: .serve(gate), hello: hello), delegate: session
            )
        } catch {
            logger.info("cannot connect", metadata: ["server": "\(server)", "error": "\(error)"])
            observer?(.connectFailed(error))
            return (.transportClosed, false)
        }
        // Stopping the agent (SIGTERM) cancels this task: say goodbye and close, so the connection
        // ends and with it the wait.
        return await withTaskCancellationHandler {
            await session.ended()
        } onCancel: {
            session.stop(channel)
        }
    }

    /// Saves the state as it is now; the write happens in order on ``BlockingWork``'s thread, never on
    /// an event loop. Nothing is written when the state is the one last written, or when the write
    /// can wait (``AgentState/writeCanWait(after:within:)``, within ``leaseSaveInterval``).
    func persist() {
        let interval = Double(Self.leaseSaveInterval.components.seconds)
        // The snapshot and the hand-over to the writer under one lock: two saves from different
        // threads reach the writer in the order of their snapshots, so the file ends with the later.
        written.withLock { written in
            let snapshot = state.withLock { $0 }
            if let written, snapshot == written || snapshot.writeCanWait(after: written, within: interval) {
                return
            }
            written = snapshot
            BlockingWork.submit { [files, logger] in
                do {
                    try writeAtomically(try JSONEncoder.agentFiles.encode(snapshot), to: files.state, mode: 0o600)
                } catch {
                    // The next save writes whatever it holds (a full disk may have room by then).
                    self.written.withLock { $0 = nil }
                    logger.error("cannot save the agent's state", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Asks for a new certificate on `connection` when the current one nears its end.
    func renewIfDue(on connection: AgentConnection) {
        let certificate = self.certificate
        let now = leaseClock.wall
        guard let key = renewal.withLock({ $0.begin(for: certificate, now: now) }) else { return }
        BlockingWork.submit { [logger] in
            var request = WireRenewRequest()
            do {
                request.csr = Data(try CertificationRequest.make(for: key, hostname: ""))
            } catch {
                _ = self.renewal.withLock { $0.finish() }
                logger.error("cannot make a certification request", metadata: ["error": "\(error)"])
                return
            }
            logger.info("renewing the certificate", metadata: ["expires": "\(certificate.notValidAfter)"])
            connection.send(.renewRequest(request))
        }
    }

    /// The appliance answered a renewal: keep the new key and certificate, and use them from the
    /// next connection on.
    func renewed(_ response: WireEnrollResponse) {
        guard let key = renewal.withLock({ $0.finish() }) else { return }
        guard response.result == .ok else {
            logger.error("the appliance did not renew the certificate", metadata: ["result": "\(response.result)", "detail": "\(response.detail)"])
            return
        }
        BlockingWork.submit { [self] in
            do {
                let identity = try CertificateRenewal.accept(Array(response.certificate), key: key, clientID: configuration.clientID, ca: ca)
                let credentials = try Credentials(identity, trusting: ca, resumption: resumption)
                try files.replaceIdentity(identity)
                self.credentials.withLock { $0 = credentials }
                logger.notice("certificate renewed", metadata: ["expires": "\(identity.certificate.notValidAfter)"])
            } catch {
                logger.error("cannot keep the renewed certificate", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One connection's delegate: starts the statistics loop when ready, applies configuration.
    final class Session: AgentConnectionDelegate {
        let runtime: AgentRuntime
        private let status = Mutex<(ready: Bool, reporter: Task<Void, Never>?, ending: (AgentConnectionOutcome, Bool)?, waiter: CheckedContinuation<(AgentConnectionOutcome, ready: Bool), Never>?)>((false, nil, nil, nil))
        private let connection = Mutex<AgentConnection?>(nil)
        /// This connection's sessions, from the moment it is ready.
        private let sessions = Mutex<SessionChannels?>(nil)
        /// Whether the appliance acknowledged a message on this connection yet.
        private let acknowledged = Atomic<Bool>(false)

        /// Ends the connection because the agent stops: with a Goodbye once the appliance welcomed
        /// it, else by closing the channel.
        func stop(_ channel: any Channel) {
            if let connection = connection.withLock({ $0 }) {
                connection.close(WireGoodbye(.shutdown, "the Jump Client is stopping"))
            } else {
                channel.close(promise: nil)
            }
        }

        init(runtime: AgentRuntime) { self.runtime = runtime }

        func ended() async -> (AgentConnectionOutcome, ready: Bool) {
            await withCheckedContinuation { continuation in
                let done = status.withLock { status -> (AgentConnectionOutcome, Bool)? in
                    if let ending = status.ending { return ending }
                    status.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
            self.connection.withLock { $0 = connection }
            let sessions = SessionChannels(
                transport: connection,
                configuration: .init(host: runtime.sessionHost, user: runtime.sessionUser),
                logger: runtime.logger
            )
            self.sessions.withLock { $0 = sessions }
            runtime.state.withLock { state in
                if welcome.hasConfig { state.apply(welcome.config) }
                state.contacted(runtime.leaseClock)
            }
            runtime.persist()
            // On the event loop, where the handler is called.
            let tls = try? connection.channel.pipeline.syncOperations.handler(type: AgentTLSHandler.self)
            let resumed = tls?.isResumed ?? false
            runtime.logger.info(
                "connected to the appliance",
                metadata: [
                    "client": "\(welcome.clientID)", "tls": "\(resumed ? "resumed" : "full handshake")",
                    "key-exchange": "\(tls?.keyExchange ?? "unknown")",
                ]
            )
            runtime.observer?(.ready(resumed: resumed))
            runtime.renewIfDue(on: connection)
            let reporter = Task { [runtime] in
                var first = true
                var thumbnails = ThumbnailGate()  // per connection: a new connection gets the picture again
                while !Task.isCancelled {
                    let (request, interval) = runtime.state.withLock { state in
                        (
                            ReportRequest(
                                selection: Set(state.statistics.compactMap(WireStatistic.named)),
                                includeFacts: first,
                                useScreenState: state.screenStatePresence
                            ),
                            max(state.statisticsIntervalSeconds, 5)
                        )
                    }
                    var report = await runtime.stats.report(request)
                    thumbnails.filter(&report)
                    first = false
                    runtime.observer?(.reportSent(thumbnail: report.thumbnailStatus == .captured))
                    connection.send(.statsReport(report))
                    runtime.renewIfDue(on: connection)
                    try? await EventLoopSleep.sleep(for: .seconds(Int64(interval)), on: runtime.group)
                }
            }
            status.withLock { status in
                status.ready = true
                status.reporter = reporter
            }
        }

        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
            // The gate admitted it (addressed here, not expired, not replayed): remember its number first.
            runtime.state.withLock { $0.lastCommandSequence = max($0.lastCommandSequence, command.sequence) }
            runtime.persist()
            if let action = command.action, let sessions = sessions.withLock({ $0 }), sessions.handle(action, id: id) {
                return
            }
            switch command.action {
            case .wake(let wake):
                guard let waker = runtime.waker else {
                    connection.send(.ack(WireAck(ref: id, .unsupported, "this agent cannot send Wake-on-LAN packets")))
                    return
                }
                // Socket calls, off the event loop.
                BlockingWork.submit { [runtime] in
                    var ack = waker.perform(wake)
                    ack.ref = id
                    runtime.logger.info("wake", metadata: ["result": "\(ack.result)", "detail": "\(ack.detail)"])
                    connection.send(.ack(ack))
                }
            default:
                connection.send(.ack(WireAck(ref: id, .unsupported, "this agent does not carry out this command yet")))
            }
        }

        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {
            switch message {
            case .siteConfig(let config):
                runtime.state.withLock { state in
                    state.apply(config)
                    state.contacted(runtime.leaseClock)
                }
                runtime.persist()
                runtime.logger.info("site configuration applied", metadata: ["revision": "\(config.revision)"])
            case .ack(let ack):
                runtime.state.withLock { $0.contacted(runtime.leaseClock) }
                // Written at most once in leaseSaveInterval while the connection lasts: the lease
                // timer's `check-lease` counts from the file, and a connection of weeks must not
                // look like weeks without contact there.
                runtime.persist()
                runtime.observer?(.acknowledged(messageID: ack.ref))
                if !acknowledged.exchange(true, ordering: .relaxed) { runtime.settled?() }
            case .enrollResponse(let response):
                runtime.renewed(response)
            default:
                break
            }
        }

        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {
            sessions.withLock { $0 }?.received(data, channel: channel)
        }

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            // No shell outlives its connection.
            sessions.withLock { $0 }?.connectionClosed()
            let (waiter, ending) = status.withLock { status in
                status.reporter?.cancel()
                _ = runtime.renewal.withLock { $0.finish() }
                let ending = (outcome, status.ready)
                status.ending = ending
                defer { status.waiter = nil }
                return (status.waiter, ending)
            }
            runtime.persist()
            runtime.observer?(.closed(outcome, wasReady: ending.1))
            waiter?.resume(returning: ending)
        }
    }
}

extension WireStatistic {
    /// The name `AgentState` stores: the Swift case name, as `"\(statistic)"` spells it, by a switch
    /// instead of reflection (it is asked at every connection and report).
    var storedName: String {
        switch self {
        case .unspecified: "unspecified"
        case .cpu: "cpu"
        case .consoleUser: "consoleUser"
        case .disk: "disk"
        case .thumbnail: "thumbnail"
        case .uptime: "uptime"
        case .UNRECOGNIZED(let value): "UNRECOGNIZED(\(value))"
        }
    }

    /// The statistic from the name `AgentState` stores; nil for a name no collector answers.
    static func named(_ name: String) -> WireStatistic? {
        switch name {
        case "cpu": .cpu
        case "consoleUser": .consoleUser
        case "disk": .disk
        case "thumbnail": .thumbnail
        case "uptime": .uptime
        default: nil
        }
    }
}
