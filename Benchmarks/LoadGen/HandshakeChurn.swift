import Foundation
import JumpAgentCore
import JumpProtocol
import Logging
import NIOCore
import Synchronization

/// Agents that connect, are welcomed, stop and connect again at once, for as long as the run lasts:
/// each connection is a full mTLS handshake with the agent's own certificate, then Hello/Welcome,
/// made by the agent's own runtime (``AgentRuntime``, the same TLS configuration and connection
/// state machine as jump-agent), and ended the way jump-agent ends it when it stops (a Goodbye, then
/// close). How many connections are in flight at once is the number of agents.
struct HandshakeChurn {
    let agents: [(runtime: AgentRuntime, welcome: WelcomeSignal)]
    let counters: FleetCounters

    init(
        cache: EnrollmentCache,
        range: Range<Int>,
        counters: FleetCounters,
        group: any EventLoopGroup,
        localAddress: SocketAddress?,
        server: String?,
        resumption: Bool,
        logger: Logger
    ) throws {
        var agents: [(AgentRuntime, WelcomeSignal)] = []
        agents.reserveCapacity(range.count)
        for index in range {
            let files = cache.files(index)
            if let server { try Fleet.point(files, at: server) }
            let welcome = WelcomeSignal()
            let runtime = try AgentRuntime(
                files: files, stats: NoReports(), logger: logger, group: group, localAddress: localAddress,
                resumption: resumption,
                observer: { [counters] event in
                    switch event {
                    case .ready(let resumed):
                        counters.recordReady(resumed: resumed)
                        welcome.fire(.welcomed)
                    case .closed(_, let wasReady):
                        if wasReady {
                            counters.closedAfterReady.add(1, ordering: .relaxed)
                        } else {
                            counters.closedBeforeReady.add(1, ordering: .relaxed)
                        }
                    case .connectFailed(let error):
                        counters.connectFailures.add(1, ordering: .relaxed)
                        if case ChannelError.connectTimeout = error { counters.connectTimeouts.add(1, ordering: .relaxed) }
                    case .reportSent, .acknowledged:
                        break
                    }
                }
            )
            agents.append((runtime, welcome))
        }
        self.agents = agents
        self.counters = counters
    }

    /// Churns every agent until cancelled; an agent the appliance stops accepting (deleted, revoked)
    /// counts as given up and stops churning.
    func run() async {
        await withDiscardingTaskGroup { tasks in
            for agent in agents {
                tasks.addTask { await churn(agent.runtime, agent.welcome) }
            }
        }
    }

    private func churn(_ runtime: AgentRuntime, _ welcome: WelcomeSignal) async {
        while !Task.isCancelled {
            welcome.reset()
            let started = ContinuousClock.now
            let attempt = Task {
                let ending = await runtime.run()
                welcome.fire(.ended)
                return ending
            }
            // A failed connect is retried by the runtime itself, with its backoff, until the Welcome.
            let reason = await welcome.wait()
            if reason == .welcomed { counters.recordWelcome(AgentProbe.milliseconds(ContinuousClock.now - started)) }
            // Stopping the runtime is how jump-agent stops: a Goodbye, then close; run() returns
            // once the connection is over and the agent's state is written.
            attempt.cancel()
            if await attempt.value != .cancelled {
                counters.gaveUp.add(1, ordering: .relaxed)
                return
            }
        }
    }
}

/// Wakes an agent's churn loop when its connection is welcomed, when its runtime returned, or when
/// the churn is cancelled; one attempt at a time (``reset()`` before each).
final class WelcomeSignal: Sendable {
    enum Reason: Sendable { case welcomed, ended, cancelled }

    private let state = Mutex<(fired: Reason?, waiter: CheckedContinuation<Reason, Never>?)>((nil, nil))

    func reset() { state.withLock { $0.fired = nil } }

    /// The first reason of an attempt wins; later ones are ignored until ``reset()``.
    func fire(_ reason: Reason) {
        let waiter = state.withLock { state -> CheckedContinuation<Reason, Never>? in
            guard state.fired == nil else { return nil }
            state.fired = reason
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: reason)
    }

    func wait() async -> Reason {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state -> Reason? in
                    if let fired = state.fired { return fired }
                    state.waiter = continuation
                    return nil
                }
                if let fired { continuation.resume(returning: fired) }
            }
        } onCancel: {
            fire(.cancelled)
        }
    }
}

/// Statistics for agents that only connect: no report is made while a churned connection lasts (the
/// appliance's handshake, Hello and Welcome are measured, not a report). The reporter asks at once
/// after the Welcome and waits here until the connection's end cancels it; the report it then
/// hands over goes to a closed connection, which drops it. The wait is the agent's own
/// (``EventLoopSleep``, a timer on the event loops the agents' tasks run on), as jump-agent waits for
/// its report interval: `Task.sleep` would hand each connection's timer to libdispatch, whose
/// manager thread is woken to set it and again to cancel it.
struct NoReports: StatsSource {
    /// Longer than any churned connection lasts.
    static let wait = Duration.seconds(3600)

    func report(_ request: ReportRequest) async -> WireStatsReport {
        try? await EventLoopSleep.sleep(for: Self.wait)
        return WireStatsReport()
    }
}
