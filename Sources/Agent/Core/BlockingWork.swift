import Dispatch
import NIOPosix

/// The agent's one thread for work that blocks: writing its files, collecting a report (files under
/// /proc, statvfs up to its deadline, D-Bus, the screen helper), Wake-on-LAN's sockets, releasing
/// start-up pages. Work runs in the order it was given.
///
/// Not libdispatch's queues: in `jump-agent`, Swift concurrency's tasks run on NIO's event loops
/// (``installConcurrencyOnEventLoops`` in JumpAgentLinux), because the first worker thread of one of
/// libdispatch's global (non-overcommit) queues starts its pool monitor, a one-second timer that wakes
/// the process every second for the rest of its life, about two thirds of an idle agent's CPU. Those
/// event loops also carry the connection, so nothing that blocks may run there either. This thread
/// sleeps on a condition variable while there is nothing to do.
public enum BlockingWork {
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Runs `body` on the thread, after the work given before it.
    public static func submit(_ body: @escaping @Sendable () -> Void) {
        pool.submit { _ in body() }
    }

    /// Runs `body` on the thread, after the work given before it, and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: body()) }
        }
    }

    /// Returns once the work given before this call has run.
    public static func drain() async {
        await run {}
    }
}
