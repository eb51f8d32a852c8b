public import NIOCore

/// A decoded frame, as a connection state machine sees it.
public enum InboundEvent: Hashable, Sendable {
    case control(WireEnvelope)
    case ping(UInt64)
    case pong(UInt64)
    case data(channel: UInt32, length: Int)
    case windowUpdate(channel: UInt32, increment: UInt32)
    /// An extension frame (kind 0x80 or above) that this version does not know.
    case unknownExtension(FrameKind)

    /// Classifies a frame the ``FrameParser`` produced, decoding CONTROL payloads.
    public init(_ frame: Frame) throws(ProtocolError) {
        switch frame.kind {
        case .control:
            self = .control(try ControlCodec.decode(frame.payload))
        case .ping:
            self = .ping(frame.payload.getInteger(at: frame.payload.readerIndex)!)
        case .pong:
            self = .pong(frame.payload.getInteger(at: frame.payload.readerIndex)!)
        case .data:
            self = .data(channel: frame.channel, length: frame.payload.readableBytes)
        case .windowUpdate:
            self = .windowUpdate(channel: frame.channel, increment: frame.payload.getInteger(at: frame.payload.readerIndex)!)
        default:
            // The parser lets through only the kinds above and extensions.
            self = .unknownExtension(frame.kind)
        }
    }
}

/// Connection timing shared by both ends.
public struct ConnectionTimeouts: Hashable, Sendable {
    /// The agent's Hello must arrive, and the appliance's Welcome must answer it, within this.
    public var hello: TimeAmount
    /// An enrollment connection must be finished within this after its Hello.
    public var enrollment: TimeAmount
    /// The agent sends something at least this often; the appliance announces it in Welcome.
    public var heartbeat: TimeAmount
    /// Silence this many heartbeats long closes the connection.
    public var missedHeartbeats: Int64
    /// An agent waits this long for the TLS handshake of a connection the kernel completed: the time the
    /// connection may spend in the appliance's listen queue before admission takes it (its queue of
    /// up to 4,096 at 50 a second is 82 s).
    public var admission: TimeAmount

    public init(
        hello: TimeAmount = .seconds(10),
        enrollment: TimeAmount = .seconds(30),
        heartbeat: TimeAmount = .seconds(30),
        missedHeartbeats: Int64 = 3,
        admission: TimeAmount = .seconds(120)
    ) {
        self.hello = hello
        self.enrollment = enrollment
        self.heartbeat = heartbeat
        self.missedHeartbeats = missedHeartbeats
        self.admission = admission
    }

    /// How long a peer may stay silent.
    public var idle: TimeAmount { .nanoseconds(heartbeat.nanoseconds * missedHeartbeats) }
}

extension WireGoodbye {
    public init(_ reason: WireGoodbyeReason, _ detail: String = "", retryAfterMilliseconds: UInt32 = 0) {
        self.init()
        self.reason = reason
        self.detail = detail
        self.retryAfterMs = retryAfterMilliseconds
    }
}

extension WireAck {
    public init(ref: UInt64, _ result: WireAckResult, _ detail: String = "") {
        self.init()
        self.ref = ref
        self.result = result
        self.detail = detail
    }
}

extension ControlMessage {
    /// The message's name as `docs/protocol.md` spells it, for errors and logs.
    public var name: String {
        switch self {
        case .hello: "Hello"
        case .welcome: "Welcome"
        case .enrollRequest: "EnrollRequest"
        case .enrollResponse: "EnrollResponse"
        case .statsReport: "StatsReport"
        case .siteConfig: "SiteConfig"
        case .command: "Command"
        case .ack: "Ack"
        case .retryAfter: "RetryAfter"
        case .notice: "Notice"
        case .goodbye: "Goodbye"
        case .renewRequest: "RenewRequest"
        case .sessionEvent: "SessionEvent"
        case .localUninstall: "LocalUninstall"
        case .supportRequest: "SupportRequest"
        case .supportResponse: "SupportResponse"
        }
    }
}
