import CoreFoundation
import Glibc
public import NIOCore
public import NIOPosix

/// Lets an agent event loop gather I/O before it waits for more (`jump-server run --agent-coalescing-ms`):
/// after a pass over what was ready, a loop that is mostly idle sleeps for `delay` before it asks the
/// kernel for more, so the statistics reports that arrive meanwhile are read in one wake-up rather
/// than one wake-up each, as a network card's interrupt moderation does.
///
/// Waking was a large part of a report's cost: 19,000 agents reporting every 10 s woke the loop 0.64
/// times a report, and `finish_task_switch`, the return from a sleep, was the leaf of 11% of the
/// appliance's samples (`Benchmarks/cpu-profile.sh`; on this virtual machine a wake-up across cores
/// takes about 45 µs). With a 2 ms delay it slept 0.23 times a report instead of 0.61 to 0.68
/// (`Benchmarks/steady.sh --clients 19000 --no-peers --no-verify`, with and without
/// `--agent-coalescing-ms 0`); the CPU it saves is within the machine's spread in two runs each
/// (docs/performance.md, "Steady load"). The price is latency: a report's Ack leaves up to `delay` later. A loop does not wait while one of its connections needs its I/O at once: one
/// being set up (a TLS handshake, Hello and Welcome are round trips, and so is a reconnect storm) or
/// carrying a session channel (a terminal's keystrokes, a screen's frames); nor when it was busy more
/// than half of the time since its last pass (a loop with more work than time gains nothing by waiting).
///
/// What still waits: the listener's loop between two accepts (one a pass) when none of its own
/// connections is being set up, so at most about 500 a second at 2 ms, above the connection-rate
/// setting's maximum of 300; and a large control message (a thumbnail) on an admitted connection,
/// read 4 KiB a pass, which takes a few passes more.
///
/// jump-loadgen's loops use it too (`--coalescing-ms`; why, in Benchmarks/LoadGen/LoadGen.swift).
///
/// The state is the loop thread's own: NIO calls ``processedTick(info:)`` on the loop's thread after
/// each pass, and each connection's handler says when it needs prompt I/O (``connection(needsPromptIO:)``)
/// on its loop's thread.
public final class WakeUpCoalescing: NIOEventLoopMetricsDelegate, Sendable {
    /// The setting's default and bounds, in milliseconds.
    public static let defaultMilliseconds = 2
    public static let maximumMilliseconds = 20
    /// The settings allowed, in milliseconds (0: no coalescing).
    public static let allowedMilliseconds = 0...maximumMilliseconds

    /// The delay in milliseconds for a setting of `text` (nil: not set); nil when `text` is not a
    /// whole number from 0 (no coalescing) to ``maximumMilliseconds``.
    public static func milliseconds(_ text: String?) -> Int? {
        guard let text else { return defaultMilliseconds }
        guard let value = Int(text), allowedMilliseconds.contains(value) else { return nil }
        return value
    }

    let delayNanoseconds: Int64

    /// One loop's thread: when the current measuring window started, and its connections that need prompt I/O.
    final class LoopState {
        var windowStart: Int64 = 0
        var cpuAtWindowStart: Int64 = 0
        var promptConnections = 0
    }

    // The variable is used only from the thread whose value it reads or sets.
    nonisolated(unsafe) private let state = ThreadSpecificVariable<LoopState>()

    public init(delay: TimeAmount) {
        delayNanoseconds = delay.nanoseconds
    }

    /// `threads` event loops with `coalescing` as their metrics delegate when given.
    public static func group(threads: Int, coalescing: WakeUpCoalescing?) -> MultiThreadedEventLoopGroup {
        guard let coalescing else { return MultiThreadedEventLoopGroup(numberOfThreads: threads) }
        return MultiThreadedEventLoopGroup(numberOfThreads: threads, metricsDelegate: coalescing)
    }

    /// For a setting of `milliseconds`; nil for 0 (no coalescing).
    public convenience init?(milliseconds: Int) {
        guard milliseconds > 0 else { return nil }
        self.init(delay: .milliseconds(Int64(milliseconds)))
    }

    private var loopState: LoopState {
        if let current = state.currentValue { return current }
        let created = LoopState()
        state.currentValue = created
        return created
    }

    /// A connection on the calling loop's thread started (`true`) or stopped (`false`) needing its I/O
    /// handled at once.
    public func connection(needsPromptIO: Bool) {
        let loop = loopState
        loop.promptConnections += needsPromptIO ? 1 : -1
        assert(loop.promptConnections >= 0, "a connection said it no longer needs prompt I/O twice")
    }

    public func processedTick(info: NIOEventLoopTickInfo) {
        let loop = loopState
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        let cpu = Self.threadCPUNanoseconds()
        let waits = Self.waits(
            busy: cpu - loop.cpuAtWindowStart,
            of: now - loop.windowStart,
            promptConnections: loop.promptConnections
        )
        // The next window starts here, so a delay counts as idle time in it.
        loop.windowStart = now
        loop.cpuAtWindowStart = cpu
        guard waits else { return }
        var delay = Glibc.timespec(tv_sec: 0, tv_nsec: Int(delayNanoseconds))
        nanosleep(&delay, nil)
    }

    /// Whether a loop that spent `busy` nanoseconds of CPU in the `elapsed` since its last pass, with
    /// `promptConnections` of its connections needing prompt I/O, waits before its next.
    static func waits(busy: Int64, of elapsed: Int64, promptConnections: Int) -> Bool {
        promptConnections == 0 && busy * 2 <= elapsed
    }

    /// The calling thread's connections that need prompt I/O (for tests).
    var promptConnections: Int { loopState.promptConnections }

    private static func threadCPUNanoseconds() -> Int64 {
        var time = Glibc.timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
