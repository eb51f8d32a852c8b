import Foundation
import JumpAgentCore
import JumpProtocol
@testable import JumpServerCore
import Logging
import Synchronization
import Testing

/// The agent's runtime against a real appliance on loopback, with the lease's clocks in the test's
/// hand: a connected agent writes its contact to its state file at least once in
/// `AgentRuntime.leaseSaveInterval`, on an acknowledgement. The lease timer's `check-lease` counts
/// time without contact from that file while the agent runs; a connection of weeks must not look
/// like weeks without contact there.
@Suite struct AgentStateWriteTests {
    final class ManualClock: LeaseClock, @unchecked Sendable {
        private let seconds = Mutex<Double>(1000)
        var bootID: String { "state-write-test" }
        var sinceBoot: Double { seconds.withLock { $0 } }
        var wall: Date { Date(timeIntervalSince1970: 1_795_000_000 + sinceBoot) }
        func advance(by delta: Double) { seconds.withLock { $0 += delta } }
    }

    enum Seen: Sendable { case ready, acknowledged }

    @Test(.timeLimit(.minutes(1)))
    func aLongConnectionKeepsItsContactOnDisk() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (_, _, files) = try await CertificateRenewalTests.enrolledAgentFiles(harness)
        defer { try? FileManager.default.removeItem(at: files.root) }

        let clock = ManualClock()
        let interval = Double(AgentRuntime.leaseSaveInterval.components.seconds)
        let (events, seen) = AsyncStream.makeStream(of: Seen.self)
        let runtime = try AgentRuntime(
            files: files, stats: NoReports(), logger: Logger(label: "agent"), leaseClock: clock,
            observer: { event in
                switch event {
                case .ready:
                    // The connection has lasted longer than the interval when its first report is
                    // acknowledged.
                    clock.advance(by: interval + 100)
                    seen.yield(.ready)
                case .acknowledged:
                    seen.yield(.acknowledged)
                default:
                    break
                }
            }
        )
        let running = Task { await runtime.run() }
        defer { running.cancel() }
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == .ready)
        #expect(await iterator.next() == .acknowledged)
        await BlockingWork.drain()

        let state = try JSONDecoder.agentFiles.decode(AgentState.self, from: Data(contentsOf: files.state))
        let lease = try #require(state.lease)
        #expect(lease.checkpointSinceBoot == 1000 + interval + 100, "the acknowledgement's contact is on disk")
        #expect(lease.offlineSeconds == 0)
    }
}
