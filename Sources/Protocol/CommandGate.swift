/// Decides whether an agent may carry out a command: it must be addressed to this agent, not expired,
/// and numbered above every command carried out before (so a recorded command cannot be replayed).
///
/// The agent persists ``lastSequence`` and starts the next connection's gate from it.
public struct CommandGate: Hashable, Sendable {
    public let agentID: String
    /// The highest sequence number accepted so far.
    public private(set) var lastSequence: UInt64

    public init(agentID: String, lastSequence: UInt64) {
        self.agentID = agentID
        self.lastSequence = lastSequence
    }

    /// Accepts `command` (and remembers its sequence) or returns the result to acknowledge it with.
    public mutating func admit(_ command: WireCommand, nowMilliseconds: UInt64) -> WireAckResult? {
        if command.agentID != agentID { return .wrongAgent }
        if command.expiresAtMs <= nowMilliseconds { return .expired }
        if command.sequence <= lastSequence { return .replayed }
        lastSequence = command.sequence
        return nil
    }
}
