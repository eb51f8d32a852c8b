public import NIOCore

/// Cuts frames out of a byte stream.
///
/// The header is validated as soon as its 9 bytes are present, before the payload is awaited: a
/// frame that claims more than its kind's bound, or that breaks the layout, is refused at once and
/// nothing is allocated for it.
public struct FrameParser: Sendable {
    public init() {}

    /// The next complete frame, or nil when more bytes are needed. The buffer's reader index moves past
    /// a returned frame only.
    public mutating func next(from buffer: inout ByteBuffer) throws(ProtocolError) -> Frame? {
        guard
            let (length, kindByte, channel) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt32, UInt8, UInt32).self
            )
        else { return nil }
        let kind = FrameKind(rawValue: kindByte)
        try Self.validateHeader(kind: kind, channel: channel, length: length)

        let payloadLength = Int(length)
        guard buffer.readableBytes >= ProtocolLimits.frameHeaderLength + payloadLength else { return nil }
        buffer.moveReaderIndex(forwardBy: ProtocolLimits.frameHeaderLength)
        let payload = buffer.readSlice(length: payloadLength)!
        return Frame(kind: kind, channel: channel, payload: payload)
    }

    /// The checks a header must pass before its payload is read.
    static func validateHeader(kind: FrameKind, channel: UInt32, length: UInt32) throws(ProtocolError) {
        func require(_ condition: Bool, _ code: ProtocolError.Code, _ detail: @autoclosure () -> String)
            throws(ProtocolError)
        {
            if !condition { throw ProtocolError(code, detail()) }
        }
        switch kind {
        case .control:
            try require(channel == 0, .malformedFrame, "CONTROL frame on channel \(channel)")
            try require(
                length <= ProtocolLimits.maximumControlPayloadLength,
                .frameTooLarge,
                "CONTROL payload of \(length) bytes exceeds \(ProtocolLimits.maximumControlPayloadLength)"
            )
        case .data:
            try require(channel != 0, .malformedFrame, "DATA frame on channel 0")
            try require(length > 0, .malformedFrame, "empty DATA frame")
            try require(
                length <= ProtocolLimits.maximumDataPayloadLength,
                .frameTooLarge,
                "DATA payload of \(length) bytes exceeds \(ProtocolLimits.maximumDataPayloadLength)"
            )
        case .windowUpdate:
            try require(channel != 0, .malformedFrame, "WINDOW_UPDATE frame on channel 0")
            try require(
                length == ProtocolLimits.windowUpdatePayloadLength,
                length > ProtocolLimits.windowUpdatePayloadLength ? .frameTooLarge : .malformedFrame,
                "WINDOW_UPDATE payload of \(length) bytes, expected \(ProtocolLimits.windowUpdatePayloadLength)"
            )
        case .ping, .pong:
            try require(channel == 0, .malformedFrame, "\(kind) frame on channel \(channel)")
            try require(
                length == ProtocolLimits.pingPayloadLength,
                length > ProtocolLimits.pingPayloadLength ? .frameTooLarge : .malformedFrame,
                "\(kind) payload of \(length) bytes, expected \(ProtocolLimits.pingPayloadLength)"
            )
        case _ where kind.isExtension:
            try require(
                length <= ProtocolLimits.maximumExtensionPayloadLength,
                .frameTooLarge,
                "extension payload of \(length) bytes exceeds \(ProtocolLimits.maximumExtensionPayloadLength)"
            )
        default:
            throw ProtocolError(.unknownFrameKind, "frame kind \(kind) is not defined")
        }
    }
}

/// ``FrameParser`` as a NIO decoder: `ByteToMessageHandler(FrameDecoder())`.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    private var parser = FrameParser()

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        try parser.next(from: &buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try decode(buffer: &buffer)
    }
}

/// Writes frames: `MessageToByteHandler(FrameEncoder())`.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) {
        out.writeFrame(frame)
    }
}
