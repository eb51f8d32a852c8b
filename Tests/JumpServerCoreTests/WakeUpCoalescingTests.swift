@testable import JumpEventLoops
import NIOCore
import NIOPosix
import Testing

@Suite struct WakeUpCoalescingTests {
    @Test func aSettingIsWholeMillisecondsFromZeroToTwenty() {
        #expect(WakeUpCoalescing.milliseconds(nil) == 2, "the default")
        #expect(WakeUpCoalescing.milliseconds("0") == 0, "off")
        #expect(WakeUpCoalescing.milliseconds("20") == 20)
        for refused in ["21", "-1", "2ms", "", " 2", "2.5"] {
            #expect(WakeUpCoalescing.milliseconds(refused) == nil, "\(refused)")
        }
    }

    @Test func aLoopWaitsOnlyWhenMostlyIdleAndNoConnectionNeedsPromptIO() {
        let millisecond: Int64 = 1_000_000
        // 19,000 agents every 10 s on one loop: a few reports' work after each 2 ms wait.
        #expect(WakeUpCoalescing.waits(busy: millisecond / 10, of: 2 * millisecond + millisecond / 10, promptConnections: 0))
        #expect(WakeUpCoalescing.waits(busy: millisecond, of: 2 * millisecond, promptConnections: 0), "busy half the time")
        #expect(!WakeUpCoalescing.waits(busy: millisecond + 1, of: 2 * millisecond, promptConnections: 0), "busier than half")
        #expect(!WakeUpCoalescing.waits(busy: 0, of: 2 * millisecond, promptConnections: 1), "a connection needs prompt I/O")
    }

    /// Through the listener on a real loop: a connection counts while it is set up, and no longer once
    /// admitted, refused, enrolled or gone, so the loop can wait again.
    @Test(.timeLimit(.minutes(1))) func theListenersConnectionsNeedPromptIOOnlyWhileTheyAreSetUp() async throws {
        let coalescing = WakeUpCoalescing(delay: .milliseconds(1))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1, metricsDelegate: coalescing)
        let loop = group.next()
        func prompt() async throws -> Int { try await loop.submit { coalescing.promptConnections }.get() }
        /// The count once it is `expected`: a connection's end reaches the appliance's loop after the
        /// agent has seen its last message.
        func settled(at expected: Int) async throws -> Int {
            let deadline = ContinuousClock.now + .seconds(10)
            var count = try await prompt()
            while count != expected, ContinuousClock.now < deadline {
                await Task.yield()
                count = try await prompt()
            }
            return count
        }
        let harness = try await ApplianceHarness.start(group: group, coalescing: coalescing)

        // Enrolled (its connection ends), then connected and admitted: none left.
        let (agent, id) = try await harness.connectedAgent()
        #expect(try await settled(at: 0) == 0, "an admitted connection without sessions lets the loop wait")

        // A connection that is accepted but never starts its handshake counts until it is closed.
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: harness.port).get()
        #expect(try await settled(at: 1) == 1, "a connection being set up needs prompt I/O")
        try await silent.close()
        #expect(try await settled(at: 0) == 0)

        // The admitted agent leaves: still none.
        try await LifecycleTests.disconnect(agent, harness, id)
        #expect(try await settled(at: 0) == 0)
        await harness.stop()
        try await group.shutdownGracefully()
    }

    @Test func promptConnectionsAreCountedForEachLoopThread() throws {
        let coalescing = WakeUpCoalescing(delay: .milliseconds(1))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2, metricsDelegate: coalescing)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let first = try loops[0].submit { () -> Int in
            coalescing.connection(needsPromptIO: true)
            coalescing.connection(needsPromptIO: true)
            coalescing.connection(needsPromptIO: false)
            return coalescing.promptConnections
        }.wait()
        #expect(first == 1)
        #expect(try loops[1].submit { coalescing.promptConnections }.wait() == 0, "the other loop has none")
        #expect(try loops[0].submit { coalescing.promptConnections }.wait() == 1)
    }
}
