import CHeap
import NIOCore
import NIOPosix

/// Runs Swift concurrency's global jobs (every task's work that is not on an actor) on NIO's singleton
/// event loops instead of libdispatch's global queues.
///
/// Why: on Linux, the first worker thread of a global (non-overcommit) Dispatch queue starts
/// libdispatch's pool monitor (`_dispatch_workq_monitor_pools`), a one-second timer that is never
/// stopped; in an idle agent it was about two thirds of the CPU a minute (Benchmarks/footprint.sh
/// prints the agent's CPU by thread). The agent's tasks are few and short and its connection already
/// runs on an event loop. What must not run there goes elsewhere: work that blocks to
/// ``BlockingWork``'s thread, waits to ``EventLoopSleep`` (Swift 6.3's `Task.sleep` hands its timer
/// to libdispatch's global queue without asking this hook), signals to the main queue.
///
/// How: the Swift runtime's global-executor hook, the variable SwiftNIO's own take-over sets (it finds
/// it with dlsym, which fails in a program linked with --no-export-dynamic as `make agent`'s is).
/// Install before any asynchronous code runs.
public enum ConcurrencyOnEventLoops {
    typealias Enqueue = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    public static func install() {
        let hook: Enqueue = { job, _ in MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(job) }
        jump_enqueue_global_hook().pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
    }
}
