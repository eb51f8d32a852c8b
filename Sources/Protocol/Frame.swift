public import NIOCore

/// The kind byte of a frame header.
///
/// Kinds below 0x80 are defined by the protocol version; an unknown one closes the connection.
/// Kinds from 0x80 up are extensions: a receiver that does not know one skips its payload, so a
/// newer peer may send them to an older one.
public struct FrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A protobuf `Envelope` on channel 0.
    public static let control = FrameKind(rawValue: 0x01)
    /// Session bytes on a channel other than 0, counted against that channel's window.
    public static let data = FrameKind(rawValue: 0x02)
    /// A 32-bit increment of the sender's receive window on a channel other than 0.
    public static let windowUpdate = FrameKind(rawValue: 0x03)
    /// Eight opaque bytes on channel 0; the receiver answers with a PONG carrying the same bytes.
    public static let ping = FrameKind(rawValue: 0x04)
    /// The answer to a PING.
    public static let pong = FrameKind(rawValue: 0x05)

    /// True for the kinds a receiver skips when it does not know them.
    public var isExtension: Bool { rawValue >= 0x80 }

    public var description: String {
        switch self {
        case .control: "CONTROL"
        case .data: "DATA"
        case .windowUpdate: "WINDOW_UPDATE"
        case .ping: "PING"
        case .pong: "PONG"
        default: "0x" + String(rawValue, radix: 16, uppercase: true)
        }
    }
}

/// One frame: a 9-byte header (payload length, kind, channel id, all big-endian) and the payload.
public struct Frame: Hashable, Sendable {
    public var kind: FrameKind
    public var channel: UInt32
    public var payload: ByteBuffer

    public init(kind: FrameKind, channel: UInt32 = 0, payload: ByteBuffer) {
        self.kind = kind
        self.channel = channel
        self.payload = payload
    }
}

extension ByteBuffer {
    /// Writes a frame header followed by `payload`'s readable bytes.
    @discardableResult
    public mutating func writeFrame(kind: FrameKind, channel: UInt32 = 0, payload: ByteBuffer) -> Int {
        writeFrameHeader(kind: kind, channel: channel, payloadLength: payload.readableBytes)
            + writeImmutableBuffer(payload)
    }

    /// Writes a frame.
    @discardableResult
    public mutating func writeFrame(_ frame: Frame) -> Int {
        writeFrame(kind: frame.kind, channel: frame.channel, payload: frame.payload)
    }

    /// Writes only a header; the caller writes `payloadLength` bytes of payload after it.
    @discardableResult
    public mutating func writeFrameHeader(kind: FrameKind, channel: UInt32, payloadLength: Int) -> Int {
        precondition(payloadLength >= 0 && payloadLength <= Int(UInt32.max), "frame payload length out of range")
        return writeMultipleIntegers(UInt32(payloadLength), kind.rawValue, channel)
    }
}
