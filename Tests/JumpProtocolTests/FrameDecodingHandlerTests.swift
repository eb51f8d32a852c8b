import JumpProtocol
import NIOCore
import NIOEmbedded
import Testing

/// The connections' frame decoder: the same frames as the parser however the bytes are cut, and no
/// reference kept to the buffers it reads (the TLS handler reuses its one decryption buffer and
/// copies it whole when another reference holds it; see FrameDecodingHandler).
@Suite struct FrameDecodingHandlerTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(FrameDecodingHandler())
        return channel
    }

    static func read(_ channel: EmbeddedChannel) throws -> [Frame] {
        var frames: [Frame] = []
        while let frame = try channel.readInbound(as: Frame.self) { frames.append(frame) }
        return frames
    }

    @Test func randomCutsGiveTheSameFrames() throws {
        var generator = SplitMix64(seed: 0xF4A3E)
        let whole = FrameParserTests.bytes(FrameParserTests.validFrames)
        for round in 0..<30 {
            let channel = try Self.channel()
            var input = whole
            var frames: [Frame] = []
            while input.readableBytes > 0 {
                // Byte by byte in the first round, then random cuts of up to 40 KB.
                let length = round == 0 ? 1 : Int(generator.next() % 40_000) + 1
                try channel.writeInbound(input.readSlice(length: min(input.readableBytes, length))!)
                frames += try Self.read(channel)
            }
            #expect(frames == FrameParserTests.validFrames, "round \(round)")
            #expect(try channel.finish().isClean)
        }
    }

    /// The base address of `buffer`'s storage after the next write into it the way the TLS handler
    /// writes (indices back to zero, then bytes): it changes when another reference forced a copy.
    static func addressAfterReuse(_ buffer: inout ByteBuffer) -> UInt {
        buffer.moveReaderIndex(to: 0)
        buffer.moveWriterIndex(to: 0)
        buffer.writeBytes([1, 2, 3])
        return buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    @Test func keepsNoReferenceToAnIncompleteFramesBytes() throws {
        let channel = try Self.channel()
        let thumbnail = FrameParserTests.frame(.control, Array(repeating: 7, count: 30_000))
        let whole = FrameParserTests.bytes([thumbnail])
        var offset = 0
        var read = ByteBufferAllocator().buffer(capacity: 32_768)
        while offset < whole.readableBytes {
            let chunk = whole.getSlice(at: offset, length: min(8_192, whole.readableBytes - offset))!
            offset += chunk.readableBytes
            read.moveReaderIndex(to: 0)
            read.moveWriterIndex(to: 0)
            read.writeImmutableBuffer(chunk)
            let address = read.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            try channel.writeInbound(read)
            #expect(Self.addressAfterReuse(&read) == address, "the decoder held on to read \(offset)")
        }
        #expect(try Self.read(channel) == [thumbnail])
        #expect(try channel.finish().isClean)
    }

    @Test func handsOnDataPayloadsAsCopies() throws {
        let channel = try Self.channel()
        let data = FrameParserTests.frame(.data, channel: 5, Array(repeating: 0x41, count: 1_000))
        var read = ByteBufferAllocator().buffer(capacity: 32_768)
        read.writeImmutableBuffer(FrameParserTests.bytes([data]))
        let address = read.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        try channel.writeInbound(read)
        // The session relay keeps a DATA payload until it is written; it must not pin the read buffer.
        let frames = try Self.read(channel)
        #expect(Self.addressAfterReuse(&read) == address)
        #expect(frames == [data])
        #expect(try channel.finish().isClean)
    }

    @Test func aMalformedHeaderIsAProtocolErrorAndTheRestIsIgnored() throws {
        let channel = try Self.channel()
        var bad = ByteBuffer()
        bad.writeFrameHeader(kind: .data, channel: 0, payloadLength: 1)
        bad.writeBytes([0])
        #expect(throws: ProtocolError.self) { try channel.writeInbound(bad) }
        try channel.writeInbound(FrameParserTests.bytes([FrameParserTests.frame(.control, [1])]))
        #expect(try Self.read(channel).isEmpty)
        _ = try channel.finish()
    }
}

/// A handler after the decoder that makes the pipeline read again while a frame is handed on: the
/// frames still come out in the order of the bytes.
final class ReadsAgainOnFirstFrame: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame
    let again: ByteBuffer
    var done = false

    init(again: ByteBuffer) { self.again = again }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done {
            done = true
            context.pipeline.fireChannelRead(NIOAny(again))
        }
        context.fireChannelRead(data)
    }
}

extension FrameDecodingHandlerTests {
    @Test func aReadDuringDecodingIsDecodedAfterTheCurrentOne() throws {
        let frames = (1...4).map { FrameParserTests.frame(.control, [UInt8($0)]) }
        let first = FrameParserTests.bytes(Array(frames[0..<2]))
        var rest = FrameParserTests.bytes(Array(frames[2...]))
        // The re-entrant read finishes the frame the first read left incomplete.
        var firstRead = first
        firstRead.writeBuffer(&rest)
        let cut = first.readableBytes + 5
        let channel = try Self.channel()
        try channel.pipeline.syncOperations.addHandler(ReadsAgainOnFirstFrame(again: firstRead.getSlice(at: cut, length: firstRead.readableBytes - cut)!))
        try channel.writeInbound(firstRead.getSlice(at: 0, length: cut)!)
        #expect(try Self.read(channel) == frames)
        #expect(try channel.finish().isClean)
    }
}
