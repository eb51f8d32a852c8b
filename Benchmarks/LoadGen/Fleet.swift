import Foundation
import JumpAgentCore
import JumpProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The enrollment cache: one agent directory (the agent's own layout, ``AgentFiles``) per simulated
/// agent, `DIR/agent-000042`, kept between runs. Several processes share one cache by taking
/// different index ranges (--first).
struct EnrollmentCache {
    /// Enrollments one process has in flight; the appliance answers more than its own limit
    /// (ClientHub.maximumConcurrentEnrollments) with "retry later".
    static let concurrentEnrollments = 16
    /// Tries per agent before the enrollment counts as failed.
    static let enrollmentAttempts = 20

    let directory: URL

    func files(_ index: Int) -> AgentFiles {
        AgentFiles(root: directory.appendingPathComponent(String(format: "agent-%06d", index)).path)
    }

    /// True when agent `index` is enrolled here, and (given an installer) with that installer's CA.
    func isEnrolled(_ index: Int, caPEM: String?) -> Bool {
        let files = files(index)
        let manager = FileManager.default
        guard manager.fileExists(atPath: files.configuration.path), manager.fileExists(atPath: files.certificate.path),
            manager.fileExists(atPath: files.key.path), let ca = try? String(contentsOf: files.ca, encoding: .utf8)
        else { return false }
        return caPEM.map { $0 == ca } ?? true
    }

    /// Enrolls every agent of `range` not enrolled yet; returns how many were enrolled now.
    func enroll(
        _ range: Range<Int>,
        installer: InstallerFile?,
        group: any EventLoopGroup,
        localAddress: SocketAddress?,
        progress: @escaping @Sendable (Int, Int) -> Void
    ) async throws -> Int {
        let missing = range.filter { !isEnrolled($0, caPEM: installer?.caCertificate) }
        guard !missing.isEmpty else { return 0 }
        guard let installer else {
            throw LoadGenError("\(missing.count) agents of \(range.lowerBound)..<\(range.upperBound) are not enrolled in \(directory.path); give --installer FILE to enroll them")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let total = missing.count
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            var next = missing.makeIterator()
            func add() -> Bool {
                guard let index = next.next() else { return false }
                tasks.addTask {
                    try await enrollOne(index, installer: installer, group: group, localAddress: localAddress)
                }
                return true
            }
            for _ in 0..<Self.concurrentEnrollments where add() {}
            var done = 0
            while try await tasks.next() != nil {
                done += 1
                if done % 500 == 0 || done == total { progress(done, total) }
                _ = add()
            }
        }
        return total
    }

    private func enrollOne(_ index: Int, installer: InstallerFile, group: any EventLoopGroup, localAddress: SocketAddress?) async throws {
        let files = files(index)
        try? FileManager.default.removeItem(at: files.root)
        var host = WireHostFacts()
        host.hostname = "loadgen-\(index)"
        var lastError: (any Error)?
        for attempt in 0..<Self.enrollmentAttempts {
            do {
                _ = try await Enrollment.enroll(
                    installer: installer, overrides: .init(), host: host, files: files, group: group, localAddress: localAddress
                )
                return
            } catch let error as AgentError where error.code == .refused || error.code == .usage {
                throw LoadGenError("agent \(index): \(error)")
            } catch {
                lastError = error
                // The appliance is busy enrolling others (or admission holds the connection): wait a little.
                try await Task.sleep(for: .milliseconds(200 * (attempt + 1) + Int.random(in: 0..<200)))
            }
        }
        throw LoadGenError("agent \(index) could not enroll: \(lastError.map { "\($0)" } ?? "")")
    }
}

/// Simulated agents: the agent's own runtime, one per cached agent directory, in this process.
struct Fleet {
    let runtimes: [AgentRuntime]
    let stats: [SyntheticStats]
    /// The first `traced` agents' report times (--trace).
    let traces: [ReportTrace]

    init(
        cache: EnrollmentCache,
        range: Range<Int>,
        thumbnail: ThumbnailMode,
        picture: SyntheticStats.Thumbnail,
        counters: FleetCounters,
        group: any EventLoopGroup,
        localAddress: SocketAddress?,
        server: String?,
        traced: Int = 0,
        logger: Logger
    ) throws {
        var runtimes: [AgentRuntime] = []
        var stats: [SyntheticStats] = []
        var traces: [ReportTrace] = []
        runtimes.reserveCapacity(range.count)
        for index in range {
            let files = cache.files(index)
            if let server { try Self.point(files, at: server) }
            let source = SyntheticStats(index: index, mode: thumbnail, picture: picture)
            let trace = index - range.lowerBound < traced
                ? ReportTrace(index: index, clientID: try Self.configuration(files).clientID) : nil
            if let trace { traces.append(trace) }
            let probe = AgentProbe(counters: counters, trace: trace)
            runtimes.append(
                try AgentRuntime(
                    files: files, stats: source, logger: logger, group: group,
                    localAddress: localAddress, observer: { probe.observe($0) }
                )
            )
            stats.append(source)
        }
        self.runtimes = runtimes
        self.stats = stats
        self.traces = traces
    }

    static func configuration(_ files: AgentFiles) throws -> AgentConfiguration {
        try JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: Data(contentsOf: files.configuration))
    }

    /// Rewrites the appliance address in a cached agent's configuration (an appliance moved to
    /// another port between runs keeps its CA and its enrolled clients).
    static func point(_ files: AgentFiles, at server: String) throws {
        var configuration = try configuration(files)
        guard configuration.servers != [server] else { return }
        configuration.servers = [server]
        try writeAtomically(try JSONEncoder.agentFiles.encode(configuration), to: files.configuration, mode: 0o600)
    }

    /// Starts the agents `perSecond` at a time (0: all at once), runs them until cancelled, and counts
    /// those that stopped on their own (deleted, revoked, expired): they gave up.
    func run(startRate perSecond: Int, counters: FleetCounters) async {
        await withTaskGroup(of: Void.self) { tasks in
            let clock = ContinuousClock()
            let start = clock.now
            for (offset, runtime) in runtimes.enumerated() {
                if perSecond > 0 {
                    let due = start + .milliseconds(offset * 1000 / perSecond)
                    if due > clock.now { try? await Task.sleep(until: due, clock: clock) }
                }
                if Task.isCancelled { break }
                tasks.addTask {
                    let ending = await runtime.run()
                    if ending != .cancelled { counters.gaveUp.add(1, ordering: .relaxed) }
                }
            }
        }
    }

    /// Every agent's next report carries a new picture.
    func armThumbnails() {
        for source in stats { source.arm() }
    }
}
