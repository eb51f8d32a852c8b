public import NIOCore
public import NIOPosix

/// `Task.sleep`'s replacement in the agent: a timer on one of NIO's event loops.
///
/// In `jump-agent`, Swift concurrency's jobs run on NIO's event loops (ConcurrencyOnEventLoops in
/// JumpAgentLinux) so that no thread of libdispatch's global queues ever starts, and with it the pool
/// monitor that wakes the process every second. Swift 6.3's `Task.sleep` bypasses the runtime's
/// global-executor hooks: it hands its timer to libdispatch's global queue directly, whose worker
/// thread then starts the monitor. So the agent's waits (the report interval, the reconnection back-off,
/// systemd's watchdog, time-outs) are this.
public enum EventLoopSleep {
    /// Returns after `duration`, or throws `CancellationError` as soon as the task is cancelled.
    public static func sleep(
        for duration: Duration, on group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        try Task.checkCancellation()
        let timer = group.any().scheduleTask(in: TimeAmount(duration)) {}
        do {
            try await withTaskCancellationHandler {
                try await timer.futureResult.get()
            } onCancel: {
                timer.cancel()
            }
        } catch EventLoopError.cancelled {
            throw CancellationError()
        }
    }
}
