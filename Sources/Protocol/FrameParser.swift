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

/// ``FrameParser`` as a NIO decoder, for `ByteToMessageHandler(FrameDecoder())`: tests and tools. The
/// connections use ``FrameDecodingHandler``, which keeps no reference to the bytes it is given.
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

/// Cuts the connection's bytes into frames without keeping a reference to the buffers it reads.
///
/// The handler in front of it is the TLS handler, which decrypts every read into one 32 KiB buffer it
/// reuses. NIO's `ByteToMessageHandler` keeps an incomplete frame as a slice of that buffer, and a
/// buffer still referenced elsewhere is copied whole before its next write: each such read then cost
/// a 32 KiB allocation and copy, and the copy stayed resident for the rest of the connection (one
/// 30 KB thumbnail arrives over several reads, so every client that sent one held 32 KiB more;
/// docs/performance.md). Here an incomplete frame is copied into a buffer of this handler's own,
/// sized to the frame, and a DATA frame's payload, which the session relay keeps until it is
/// written, is handed on as a copy. Control frames are decoded as they pass and handed on as slices.
///
/// A malformed header is reported with `fireErrorCaught(ProtocolError)`, after which the rest of the
/// connection's bytes are ignored, as `ByteToMessageHandler` does.
public final class FrameDecodingHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Frame

    private var parser = FrameParser()
    /// The start of a frame whose remaining bytes have not arrived yet: this handler's own copy.
    private var pending: ByteBuffer?
    /// Reads that arrived while frames were being handed on (a later handler made the pipeline read
    /// again): decoded after the current one, in order.
    private var queued: [ByteBuffer] = []
    private var decoding = false
    private var failed = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        queued.append(unwrapInboundIn(data))
        guard !decoding else { return }
        decoding = true
        defer { decoding = false }
        while !failed, !queued.isEmpty {
            var input = queued.removeFirst()
            if var buffered = pending {
                pending = nil
                buffered.writeBuffer(&input)
                decode(&buffered, owned: true, context: context)
            } else {
                decode(&input, owned: false, context: context)
            }
        }
        queued.removeAll()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        pending = nil
        queued.removeAll()
    }

    private func decode(_ buffer: inout ByteBuffer, owned: Bool, context: ChannelHandlerContext) {
        do {
            while let frame = try parser.next(from: &buffer) {
                context.fireChannelRead(wrapInboundOut(frame.kind == .data ? Self.copy(frame, context) : frame))
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
            return
        }
        guard buffer.readableBytes > 0 else { return }
        if owned && buffer.capacity <= 2 * Self.frameLength(startingIn: buffer) {
            buffer.discardReadBytes()
            pending = buffer
        } else {
            var copy = context.channel.allocator.buffer(capacity: Self.frameLength(startingIn: buffer))
            copy.writeBuffer(&buffer)
            pending = copy
        }
    }

    /// The whole length of the frame `buffer` starts with, once its header is there (the parser has
    /// checked it against the kind's bound); until then, the bytes there are.
    private static func frameLength(startingIn buffer: ByteBuffer) -> Int {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
            buffer.readableBytes >= ProtocolLimits.frameHeaderLength
        else { return max(buffer.readableBytes, ProtocolLimits.frameHeaderLength) }
        return ProtocolLimits.frameHeaderLength + Int(length)
    }

    private static func copy(_ frame: Frame, _ context: ChannelHandlerContext) -> Frame {
        var payload = context.channel.allocator.buffer(capacity: frame.payload.readableBytes)
        payload.writeImmutableBuffer(frame.payload)
        return Frame(kind: frame.kind, channel: frame.channel, payload: payload)
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
