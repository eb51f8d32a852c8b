public import NIOCore
import SwiftProtobuf

/// A control message: the body of an `Envelope`.
public typealias ControlMessage = WireEnvelope.OneOf_Body

/// Turns CONTROL payloads into validated `Envelope`s and back.
public enum ControlCodec {
    /// Nesting in this protocol is at most five deep (Envelope, StatsReport, NetworkFacts,
    /// NetworkInterface, InterfaceAddress); anything deeper is garbage.
    public static let maximumMessageDepth = 8

    private static let decodingOptions: BinaryDecodingOptions = {
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        options.messageDepthLimit = maximumMessageDepth
        return options
    }()

    /// Decodes and validates one envelope. Unknown fields are skipped; an envelope whose body is a
    /// message this version does not know comes back with a nil `body` (see ``ControlMessage``).
    public static func decode(_ payload: ByteBuffer) throws(ProtocolError) -> WireEnvelope {
        let envelope: WireEnvelope
        do {
            envelope = try WireEnvelope(
                serializedBytes: ProtobufBytes(payload),
                extensions: nil,
                partial: true,
                options: decodingOptions
            )
        } catch {
            throw ProtocolError(.malformedMessage, "CONTROL payload is not a valid Envelope")
        }
        try envelope.validate()
        return envelope
    }

    /// The serialized envelope, ready to be a CONTROL payload.
    public static func encode(_ envelope: WireEnvelope) -> ByteBuffer {
        do {
            let bytes: ProtobufBytes = try envelope.serializedBytes()
            return bytes.buffer
        } catch {
            // Only `required` fields (proto2) make binary encoding fail; this protocol has none.
            preconditionFailure("encoding an Envelope cannot fail: \(error)")
        }
    }

    /// A whole CONTROL frame for `message` with envelope id `id`.
    public static func frame(id: UInt64, _ message: ControlMessage) -> ByteBuffer {
        var envelope = WireEnvelope()
        envelope.id = id
        envelope.body = message
        let payload = encode(envelope)
        var frame = ByteBuffer()
        frame.reserveCapacity(ProtocolLimits.frameHeaderLength + payload.readableBytes)
        frame.writeFrame(kind: .control, payload: payload)
        return frame
    }
}

/// Lets swift-protobuf read from and write into a `ByteBuffer` without an intermediate array.
struct ProtobufBytes: SwiftProtobufContiguousBytes {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    init(repeating: UInt8, count: Int) {
        buffer = ByteBuffer(repeating: repeating, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        buffer = ByteBuffer(bytes: sequence)
    }

    var count: Int { buffer.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutableReadableBytes(body)
    }
}
