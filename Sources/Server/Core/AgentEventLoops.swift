
/// How many event loops carry the agents' connections (`jump-server run --agent-threads`).
///
/// One loop takes the statistics of tens of thousands of agents and every handshake the connection-rate
/// setting admits (at most 300 a second); on a two-core machine one loop took 19,000 agents' reports for
/// 0.0807 ms of CPU a report against 0.0985 with two, medians of four runs each (docs/performance.md,
/// "Steady load": `Benchmarks/steady.sh --agent-threads`). Half the cores is the
/// default, a guess beyond two cores (measured on two only) that leaves the other half to the API,
/// the statistics writer and SQLite.
public enum AgentEventLoops {
    /// A sanity bound on the setting, far above what agent connections need.
    public static let maximum = 64

    /// The loops for a setting of `text` (nil: not set) on a machine of `cores` cores; nil when `text`
    /// is not a whole number from 1 to ``maximum``.
    public static func count(_ text: String?, cores: Int) -> Int? {
        guard let text else { return min(maximum, max(1, cores / 2)) }
        guard let threads = Int(text), (1...maximum).contains(threads) else { return nil }
        return threads
    }
}
