@testable import JumpServerCore
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
