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

    /// Decodes a StatsReport alone (as ``statsReportBytes(in:)`` gives it, or as the appliance stored
    /// one) with the options of ``decode(_:)``: unknown fields dropped, nesting bounded. Not
    /// validated: the report was when it arrived.
    public static func decodeStatsReport(_ bytes: [UInt8]) throws(ProtocolError) -> WireStatsReport {
        do {
            return try WireStatsReport(serializedBytes: bytes, extensions: nil, partial: true, options: decodingOptions)
        } catch {
            throw ProtocolError(.malformedMessage, "not a valid StatsReport")
        }
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
        if case .ack(let ack) = message, let frame = plainAckFrame(id: id, ack) {
            // Every debug build and test run checks the hand-written frame against the general one.
            assert(frame == generalFrame(id: id, message), "plainAckFrame differs from swift-protobuf for \(ack)")
            return frame
        }
        return generalFrame(id: id, message)
    }

    private static func generalFrame(id: UInt64, _ message: ControlMessage) -> ByteBuffer {
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

extension ControlCodec {
    /// The appliance acknowledges every statistics report it stores, so an Ack with a reference and
    /// a result and nothing else is the message it sends most. Its frame is written here directly,
    /// byte for byte what swift-protobuf writes (fields in number order, proto3 defaults left out, the
    /// oneof's message always present), without an `Envelope`, its storage and a second buffer for
    /// the frame. nil for any other Ack, and for a result beyond Int32, which no decoder gives.
    /// ControlCodecTests compares the two encoders over every named result, three unrecognized
    /// ones, and ids and references at both ends of every varint length.
    static func plainAckFrame(id: UInt64, _ ack: WireAck) -> ByteBuffer? {
        guard ack.detail.isEmpty, ack.window == 0, ack.unknownFields.data.isEmpty,
              let raw32 = Int32(exactly: ack.result.rawValue)
        else { return nil }
        // An enum is an int32 on the wire, sign-extended to 64 bits.
        let result = UInt64(bitPattern: Int64(raw32))
        func fieldLength(_ value: UInt64) -> Int { value == 0 ? 0 : 1 + varintLength(value) }
        let ackLength = fieldLength(ack.ref) + fieldLength(result)
        let payloadLength = fieldLength(id) + 1 + varintLength(UInt64(ackLength)) + ackLength
        var frame = ByteBuffer()
        frame.reserveCapacity(ProtocolLimits.frameHeaderLength + payloadLength)
        frame.writeFrameHeader(kind: .control, channel: 0, payloadLength: payloadLength)
        frame.writeVarintField(1, id)  // Envelope.id
        frame.writeInteger(UInt8(9 << 3 | 2))  // Envelope.ack, length-delimited
        frame.writeVarint(UInt64(ackLength))
        frame.writeVarintField(1, ack.ref)  // Ack.ref
        frame.writeVarintField(2, result)  // Ack.result
        return frame
    }

    private static func varintLength(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }
}

extension ByteBuffer {
    /// A varint (at most ten bytes); nil, with the reader index anywhere, when it is cut short or longer.
    fileprivate mutating func readVarint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: 7) {
            guard let byte = readInteger(as: UInt8.self) else { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
        }
        return nil
    }

    fileprivate mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        writeInteger(UInt8(value))
    }

    /// A varint field (wire type 0) with a one-byte tag; nothing when `value` is 0, the default.
    fileprivate mutating func writeVarintField(_ number: UInt8, _ value: UInt64) {
        guard value != 0 else { return }
        writeInteger(number << 3)
        writeVarint(value)
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

extension ControlCodec {
    /// The Envelope field numbers of its `body` oneof (jump.proto); `stats_report` is 6.
    static let bodyFields: ClosedRange<UInt64> = 2...17
    static let statsReportField: UInt64 = 6

    /// The bytes of the StatsReport in a CONTROL payload as the agent wrote them, so that the
    /// appliance can store a report without encoding it again. The caller must have decoded the
    /// payload (``decode(_:)``) to a `statsReport` body: this walk checks the envelope's layout, not
    /// what ``decode(_:)`` validates. nil unless the envelope holds exactly one `stats_report` field
    /// (length-delimited) and no other field of its body, before or after it (a second occurrence
    /// would be merged into the first by decoding, a body field after it would replace it), so that
    /// the report decoded from the payload is the decoding of these bytes alone; nil too for a group
    /// or a body field of another wire type, which the decoder would skip. Unknown fields inside the
    /// report are in the bytes, where the decoder dropped them. The slice shares the payload's
    /// storage: copy what is kept.
    public static func statsReportBytes(in payload: ByteBuffer) -> ByteBuffer? {
        var rest = payload
        var report: ByteBuffer?
        while rest.readableBytes > 0 {
            guard let tag = rest.readVarint() else { return nil }
            let field = tag >> 3
            guard field != 0 else { return nil }
            let length: UInt64
            switch tag & 7 {
            case 0:
                guard rest.readVarint() != nil, !bodyFields.contains(field) else { return nil }
                continue
            case 1: length = 8
            case 5: length = 4
            case 2:
                guard let declared = rest.readVarint() else { return nil }
                length = declared
            default:
                return nil  // groups, and wire types that do not exist
            }
            guard length <= UInt64(rest.readableBytes), let value = rest.readSlice(length: Int(length)) else { return nil }
            if field == statsReportField, tag & 7 == 2 {
                guard report == nil else { return nil }
                report = value
            } else if bodyFields.contains(field) {
                return nil
            }
        }
        return report
    }
}
