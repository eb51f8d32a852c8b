public import JumpProtocol

/// What happens to a runtime's connection, for whoever counts it: the load generator measures
/// handshakes, connections held and report round trips from these. The real agent passes no
/// observer, and then none of this is made.
public enum AgentRuntimeEvent: Sendable {
    /// The TCP connection (or its timeout) failed before TLS began.
    case connectFailed(any Error)
    /// The appliance welcomed the agent: TLS and Hello/Welcome are done; `resumed` when the TLS
    /// handshake resumed the session of an earlier connection.
    case ready(resumed: Bool)
    /// The connection ended; `wasReady` says whether it got as far as ``ready``.
    case closed(AgentConnectionOutcome, wasReady: Bool)
    /// A statistics report is handed to the connection now. The appliance acknowledges reports in
    /// the order they were sent.
    case reportSent(thumbnail: Bool)
    /// The appliance acknowledged the message with this envelope id.
    case acknowledged(messageID: UInt64)
}
