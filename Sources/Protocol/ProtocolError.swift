/// A violation of the protocol by the peer. Every one closes the connection with a `Goodbye` whose
/// reason is ``code``'s ``Code/goodbyeReason``.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of violation; compared by value, stable across releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case frameTooLarge = "frame too large"
            case unknownFrameKind = "unknown frame kind"
            case malformedFrame = "malformed frame"
            case malformedMessage = "malformed message"
            case limitExceeded = "limit exceeded"
            case unexpectedMessage = "unexpected message"
            case unexpectedFrame = "unexpected frame"
            case versionUnsupported = "version unsupported"
            case flowControl = "flow control violation"
        }

        fileprivate let base: Base

        /// The frame header claims more payload than the kind's bound.
        public static let frameTooLarge = Code(base: .frameTooLarge)
        /// A kind below 0x80 that this version does not define.
        public static let unknownFrameKind = Code(base: .unknownFrameKind)
        /// A header or fixed-size payload that breaks the frame layout (e.g. a channel id where none belongs).
        public static let malformedFrame = Code(base: .malformedFrame)
        /// A CONTROL payload that is not a valid protobuf `Envelope`.
        public static let malformedMessage = Code(base: .malformedMessage)
        /// A message field beyond one of ``ProtocolLimits``.
        public static let limitExceeded = Code(base: .limitExceeded)
        /// A known message that is not legal in the connection's state.
        public static let unexpectedMessage = Code(base: .unexpectedMessage)
        /// A known frame kind that is not legal in the connection's state.
        public static let unexpectedFrame = Code(base: .unexpectedFrame)
        /// No protocol version in common.
        public static let versionUnsupported = Code(base: .versionUnsupported)
        /// Data beyond the receive window, or a window grown past its bound.
        public static let flowControl = Code(base: .flowControl)

        /// The reason the closing `Goodbye` carries.
        public var goodbyeReason: WireGoodbyeReason {
            switch base {
            case .frameTooLarge: .frameTooLarge
            case .unknownFrameKind: .unknownFrameKind
            case .malformedFrame, .malformedMessage: .protocolError
            case .limitExceeded: .limitExceeded
            case .unexpectedMessage, .unexpectedFrame: .unexpectedMessage
            case .versionUnsupported: .versionUnsupported
            case .flowControl: .flowControl
            }
        }

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// What exactly was wrong, for logs and the peer's `Goodbye.detail`.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    /// The `Goodbye` that tells the peer about this violation.
    public var goodbye: WireGoodbye {
        var goodbye = WireGoodbye()
        goodbye.reason = code.goodbyeReason
        goodbye.detail = detail
        return goodbye
    }

    public static func == (lhs: ProtocolError, rhs: ProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
