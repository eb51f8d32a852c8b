import CHeap
import Dispatch
import Glibc
import NIOCore
public import NIOPosix

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
/// Install before any asynchronous code runs: `runMain` does, as a program's synchronous entry point.
public enum ConcurrencyOnEventLoops {
    typealias Enqueue = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// A program's whole life on one event loop: NIO's singleton group made of one loop (the agent holds
    /// one connection; sessions and the control socket have threads of their own; each loop is a thread
    /// with its own stack and malloc arena), the hook installed, then `body` as a task and the main
    /// thread parked in `dispatchMain()`, as an asynchronous `main` would be (libdispatch then serves
    /// the main queue on an overcommit thread, which its pool monitor does not watch). Exits 0 when
    /// `body` returns.
    public static func runMain(_ body: @escaping @Sendable () async -> Void) -> Never {
        NIOSingletons.groupLoopCountSuggestion = 1
        install()
        Task {
            await body()
            exit(0)
        }
        dispatchMain()
    }

    /// For a program whose asynchronous `main` already runs (the load generator's commands, whose
    /// agents should run as jump-agent's does): NIO's singleton group made of `loops` loops, and every
    /// global job enqueued from now on run there. Call it once, before anything has used the
    /// singleton group (NIO stops the process when its loop count is set after that). The group is
    /// the process's for its life: it is never shut down.
    public static func adoptSingleton(loops: Int) -> MultiThreadedEventLoopGroup {
        NIOSingletons.groupLoopCountSuggestion = max(loops, 1)
        let group = MultiThreadedEventLoopGroup.singleton
        install()
        return group
    }

    static func install() {
        let hook: Enqueue = { job, _ in MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(ExecutorJob(job)) }
        jump_enqueue_global_hook().pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
    }
}
