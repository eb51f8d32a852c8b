// The fleet through an appliance outage: starts jump-server, enrolls N agents and runs them in this
// process (the real reconnecting runtime, one TLS connection each), kills the appliance with SIGKILL,
// starts it again on the same data, and reports how the fleet came back: the time until every agent
// was online again, the peak reconnections per second the appliance saw (its connection rate caps
// it), and whether any agent gave up.
//
//   jump-bench-reconnect [--agents 500] [--down 5] [--rate 50]

import Foundation
import JumpAgentCore
import JumpProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

@main
enum ReconnectBenchmark {
    static func main() async throws {
        var agents = 500
        var down = 5.0
        var rate = 50
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--agents": agents = Int(arguments.popFirst() ?? "") ?? agents
            case "--down": down = Double(arguments.popFirst() ?? "") ?? down
            case "--rate": rate = Int(arguments.popFirst() ?? "") ?? rate
            case "--help", "-h":
                print("usage: jump-bench-reconnect [--agents N] [--down SECONDS] [--rate CONNECTIONS_PER_SECOND]")
                return
            default:
                FileHandle.standardError.write(Data("jump-bench-reconnect: unknown argument \(argument)\n".utf8))
                exit(64)
            }
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .critical
            return handler
        }
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("jump-reconnect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let appliance = Appliance(bin: bin, work: work, agentPort: try freePort(), apiPort: try freePort())
        try appliance.start()
        defer { appliance.kill() }
        try await appliance.login()
        try appliance.jumpctl(["settings", "set", "connection-rate", String(rate)])
        try appliance.jumpctl(["settings", "set", "statistics-interval", "300"])
        let installerPath = work.appendingPathComponent("installer.json").path
        try appliance.jumpctl(["installer", "create", "--group", "Default", "--expires", "1h", "--allow-override", "install-dir", "--output", installerPath])
        let installer = try Enrollment.readInstaller(at: installerPath)

        let clock = ContinuousClock()
        print("enrolling \(agents) agents (admitted at \(rate)/s)")
        let enrollStart = clock.now
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var directories: [AgentFiles] = []
        try await withThrowingTaskGroup(of: AgentFiles.self) { tasks in
            for index in 0..<agents {
                tasks.addTask {
                    let files = AgentFiles(root: work.appendingPathComponent("agent-\(index)").path)
                    var overrides = Enrollment.Overrides()
                    overrides.installDirectory = files.root.path
                    var host = WireHostFacts()
                    host.hostname = "bench-\(index)"
                    _ = try await Enrollment.enroll(installer: installer, overrides: overrides, host: host, files: files, group: group)
                    return files
                }
            }
            for try await files in tasks { directories.append(files) }
        }
        print(String(format: "enrolled in %.1f s", seconds(clock.now - enrollStart)))

        let logger = Logger(label: "bench-agent")
        let runtimes = try directories.map { try AgentRuntime(files: $0, stats: EmptyStats(), logger: logger, group: group) }
        let gaveUp = Counter()
        let tasks = runtimes.map { runtime in
            Task {
                _ = await runtime.run()
                if !Task.isCancelled { gaveUp.add() }
            }
        }
        let firstStart = Date()
        let first = try await waitForContact(runtimes, after: firstStart, timeout: 600)
        print(String(format: "all %d online in %.1f s; peak %d connections/s", agents, first.last, first.perSecond.max() ?? 0))
        let before = residentKiB()
        print("memory: this process holds \(before / 1024) MiB for \(agents) connected agents (\(before / agents) KiB each, with their TLS)")

        print(String(format: "killing the appliance (SIGKILL), starting it again after %.0f s", down))
        appliance.kill()
        try await Task.sleep(for: .seconds(down))
        let restart = Date()
        try appliance.start()
        let second = try await waitForContact(runtimes, after: restart, timeout: 900)
        let ended = gaveUp.value
        print(String(format: "all %d back online %.1f s after the restart; peak %d reconnections/s (setting %d/s)", agents, second.last, second.perSecond.max() ?? 0, rate))
        print("reconnections in each second after the restart: \(second.perSecond.map(String.init).joined(separator: " "))")
        try await appliance.waitUntilOnline(agents, timeout: 60)
        print("the appliance lists all \(agents) online too")
        print("agents that gave up: \(ended) (an agent only stops when told to or deleted)")
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.value }
        try await group.shutdownGracefully()
    }

    /// Waits until every runtime heard from the appliance after `start` (its last contact, set when
    /// the appliance welcomes it); the contacts per second since `start`, from the agents' side.
    static func waitForContact(_ runtimes: [AgentRuntime], after start: Date, timeout: Double) async throws -> (last: Double, perSecond: [Int]) {
        let deadline = Date() + timeout
        while Date() < deadline {
            let contacts = runtimes.compactMap { runtime in runtime.currentState.lastContact.flatMap { $0 > start ? $0 : nil } }
            if contacts.count == runtimes.count {
                let offsets = contacts.map { $0.timeIntervalSince(start) }
                let last = offsets.max() ?? 0
                var perSecond = [Int](repeating: 0, count: Int(last) + 1)
                for offset in offsets { perSecond[Int(offset)] += 1 }
                return (last, perSecond)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("not every agent reconnected within \(Int(timeout)) s")
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// A TCP port free on 127.0.0.1 now: bound by the kernel's choice, then closed (as
    /// jump-bench-offline finds a closed port).
    static func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? socket.close().wait() }
        return socket.localAddress!.port!
    }
}

/// Counts agents whose runtime returned on its own.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// Reports nothing: the benchmark is about connections.
struct EmptyStats: StatsSource {
    func report(_ request: ReportRequest) async -> WireStatsReport { WireStatsReport() }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// jump-server in a folder of its own, and jumpctl against it.
final class Appliance: @unchecked Sendable {
    let bin: URL
    let work: URL
    let agentPort: Int
    let apiPort: Int
    private var process: Process?

    init(bin: URL, work: URL, agentPort: Int, apiPort: Int) {
        self.bin = bin
        self.work = work
        self.agentPort = agentPort
        self.apiPort = apiPort
    }

    var data: URL { work.appendingPathComponent("data") }

    func start() throws {
        let process = Process()
        process.executableURL = bin.appendingPathComponent("jump-server")
        process.arguments = ["run", "--data-dir", data.path, "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)", "--log-level", "error"]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        self.process = process
    }

    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        var status: Int32 = 0
        waitpid(process.processIdentifier, &status, 0)
        self.process = nil
    }

    @discardableResult
    func jumpctl(_ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = bin.appendingPathComponent("jumpctl")
        process.arguments = arguments
        process.environment = ["XDG_CONFIG_HOME": work.appendingPathComponent("jumpctl").path, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("jumpctl \(arguments.joined(separator: " ")) failed (\(process.terminationStatus))") }
        return text
    }

    func login() async throws {
        for _ in 0..<100 {
            if let password = try? String(contentsOf: data.appendingPathComponent("initial-admin-password"), encoding: .utf8),
                (try? jumpctl(["login", "--server", "https://127.0.0.1:\(apiPort)", "--user", "admin", "--ca", data.appendingPathComponent("ca.pem").path], input: password)) != nil
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the appliance did not start")
    }

    /// Polls the appliance's client list until `count` are online.
    func waitUntilOnline(_ count: Int, timeout: Double) async throws {
        let deadline = Date() + timeout
        var online = 0
        while Date() < deadline {
            let text = (try? jumpctl(["client", "list", "--json"])) ?? "[]"
            online = text.components(separatedBy: "\"status\" : \"online\"").count - 1
            if online >= count { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchError("the appliance lists only \(online) of \(count) online after \(Int(timeout)) s")
    }
}
