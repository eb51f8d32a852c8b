// A Jump Client that cannot reach its appliance for a day, in a compressed run: the real runtime
// connecting to a port where nothing listens, with every wait between attempts (capped exponential
// backoff with full jitter) shortened by --compression. It samples the process's resident memory and
// CPU time ten times across the simulated day and prints them, so growth shows as a trend.
//
//   jump-bench-offline [--days 1] [--compression 1000]

import Foundation
import JumpAgentCore
import JumpProtocol
import JumpTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization
@preconcurrency import Crypto

@main
enum OfflineBenchmark {
    static func main() async throws {
        var days = 1.0
        var compression = 1000.0
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--days": days = Double(arguments.popFirst() ?? "") ?? days
            case "--compression": compression = Double(arguments.popFirst() ?? "") ?? compression
            case "--help", "-h":
                print("usage: jump-bench-offline [--days DAYS] [--compression FACTOR]")
                return
            default:
                FileHandle.standardError.write(Data("jump-bench-offline: unknown argument \(argument)\n".utf8))
                exit(64)
            }
        }
        guard days > 0, compression >= 1 else {
            FileHandle.standardError.write(Data("jump-bench-offline: --days must be positive and --compression at least 1\n".utf8))
            exit(64)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .critical
            return handler
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("jump-offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let files = try makeAgent(in: work, server: "127.0.0.1:\(try closedPort())")

        let simulated = SimulatedTime()
        let factor = compression
        let runtime = try AgentRuntime(
            files: files,
            stats: NoStatistics(),
            logger: Logger(label: "offline"),
            group: MultiThreadedEventLoopGroup(numberOfThreads: 1),
            leaseClock: CompressedLeaseClock(simulated: simulated),
            pause: { wait in
                simulated.add(wait)
                try await Task.sleep(for: wait / factor)
            }
        )
        let total = Duration.seconds(days * 86_400)
        print("one agent offline for \(days) simulated day(s), waits compressed \(Int(compression))x")
        print("  simulated    attempts   RSS KiB   CPU s")
        let task = Task { await runtime.run() }
        var samples: [(rss: Int, cpu: Double)] = []
        for tenth in 1...10 {
            while simulated.elapsed < total * (Double(tenth) / 10) { try await Task.sleep(for: .milliseconds(20)) }
            let sample = (rss: residentKiB(), cpu: cpuSeconds())
            samples.append(sample)
            print(String(format: "  %7.2f h %10d %9d %7.2f", simulated.elapsed.seconds / 3600, runtime.attempts, sample.rss, sample.cpu))
        }
        task.cancel()
        _ = await task.value
        let attempts = runtime.attempts
        let growth = samples[9].rss - samples[1].rss
        let cpuPerAttempt = (samples[9].cpu - samples[0].cpu) / Double(max(attempts, 1))
        print(String(format: "attempts per simulated day: %.0f", Double(attempts) / days))
        print("RSS from 20% to 100% of the run: \(samples[1].rss) -> \(samples[9].rss) KiB (\(growth >= 0 ? "+" : "")\(growth) KiB)")
        print(String(format: "CPU per attempt: %.2f ms; per simulated day: %.2f s", cpuPerAttempt * 1000, cpuPerAttempt * Double(attempts) / days))
        let lease = runtime.currentState.lease
        print("offline time the lease counted: \(String(format: "%.2f", (lease?.offlineSeconds ?? 0) / 3600)) h")
    }

    /// An enrolled agent's files made directly (no appliance): its own CA, key and certificate.
    static func makeAgent(in directory: URL, server: String) throws -> AgentFiles {
        let files = AgentFiles(root: directory.path)
        for path in [files.bin, files.etc, files.variable] {
            try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        }
        let ca = try CertificateAuthority.create(commonName: "Offline Benchmark CA")
        let key = P256.Signing.PrivateKey()
        let certificate = try ca.issueClientCertificate(csrDER: CertificationRequest.make(for: key, hostname: "offline"), clientID: "jc-offline")
        try writeAtomically(Data(key.pemRepresentation.utf8), to: files.key, mode: 0o600)
        try writeAtomically(Data(try certificate.pemText.utf8), to: files.certificate, mode: 0o644)
        try writeAtomically(Data(try ca.certificatePEM.utf8), to: files.ca, mode: 0o644)
        let configuration = AgentConfiguration(
            clientID: "jc-offline", servers: [server], caSHA256: try ca.certificate.sha256Fingerprint,
            installerID: "benchmark", name: "offline", enrolledAt: Date()
        )
        try writeAtomically(try JSONEncoder.agentFiles.encode(configuration), to: files.configuration, mode: 0o600)
        var state = AgentState()
        state.deleteAfterDays = 30
        try writeAtomically(try JSONEncoder.agentFiles.encode(state), to: files.state, mode: 0o600)
        return files
    }

    /// A loopback port with nothing listening: bound, then closed.
    static func closedPort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? socket.close().wait() }
        return socket.localAddress!.port!
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// utime + stime from /proc/self/stat, in seconds (clock ticks of 1/100 s).
    static func cpuSeconds() -> Double {
        let stat = (try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / 100
    }
}

/// The simulated time that has passed: the sum of the waits the runtime asked for.
final class SimulatedTime: Sendable {
    private let nanoseconds = Atomic<Int64>(0)
    func add(_ duration: Duration) {
        nanoseconds.add(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000, ordering: .relaxed)
    }
    var elapsed: Duration { .nanoseconds(nanoseconds.load(ordering: .relaxed)) }
}

/// The boot and wall clocks moved on by the simulated time, so the offline lease counts the day.
struct CompressedLeaseClock: LeaseClock {
    let simulated: SimulatedTime
    let start = Date()
    let bootStart = ProcessInfo.processInfo.systemUptime
    var bootID: String { "offline-benchmark" }
    var sinceBoot: Double { bootStart + simulated.elapsed.seconds }
    var wall: Date { start + simulated.elapsed.seconds }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// No statistics: the agent never connects in this run.
struct NoStatistics: StatsSource {
    func report(_ request: ReportRequest) async -> WireStatsReport { WireStatsReport() }
}
