import JumpProtocol
import NIOCore
import NIOTestUtils
import Testing

@Suite struct FrameParserTests {
    static func frame(_ kind: FrameKind, channel: UInt32 = 0, _ payload: [UInt8]) -> Frame {
        Frame(kind: kind, channel: channel, payload: ByteBuffer(bytes: payload))
    }

    static func bytes(_ frames: [Frame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { buffer.writeFrame(frame) }
        return buffer
    }

    static let validFrames: [Frame] = [
        frame(.control, Array("abc".utf8)),
        frame(.control, []),
        frame(.data, channel: 1, Array(repeating: 0x41, count: ProtocolLimits.maximumDataPayloadLength)),
        frame(.windowUpdate, channel: 3, [0, 1, 0, 0]),
        frame(.ping, [1, 2, 3, 4, 5, 6, 7, 8]),
        frame(.pong, [8, 7, 6, 5, 4, 3, 2, 1]),
        frame(FrameKind(rawValue: 0x80), channel: 9, [0xFF]),
        frame(FrameKind(rawValue: 0xFF), []),
        frame(.control, Array(repeating: 0, count: ProtocolLimits.maximumControlPayloadLength)),
    ]

    @Test func headerLayoutIsLengthKindChannel() {
        let buffer = Self.bytes([Self.frame(.data, channel: 0x0102_0304, [0xAA, 0xBB])])
        #expect(buffer.hex == "00000002" + "02" + "01020304" + "aabb")
    }

    @Test(arguments: validFrames)
    func parsesEveryValidKind(_ frame: Frame) throws {
        var parser = FrameParser()
        var buffer = Self.bytes([frame])
        #expect(try parser.next(from: &buffer) == frame)
        #expect(buffer.readableBytes == 0)
    }

    @Test func decoderVerifierByteByByteAndInChunks() throws {
        // The verifier feeds the input whole, byte by byte and in random chunks; byte by byte is
        // quadratic in NIO's cumulation buffer, so the largest frames are left to the next test.
        let small = Self.validFrames.filter { $0.payload.readableBytes < 1024 }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (Self.bytes(small), small),
                (Self.bytes([Self.validFrames[0]]), [Self.validFrames[0]]),
            ],
            decoderFactory: { FrameDecoder() }
        )
    }

    @Test func randomChunksGiveTheSameFrames() throws {
        var generator = SplitMix64(seed: 0x5EED)
        let whole = Self.bytes(Self.validFrames)
        for _ in 0..<50 {
            var parser = FrameParser()
            var pending = ByteBuffer()
            var input = whole
            var out: [Frame] = []
            while input.readableBytes > 0 {
                var chunk = input.readSlice(length: min(input.readableBytes, Int(generator.next() % 300) + 1))!
                pending.writeBuffer(&chunk)
                while let frame = try parser.next(from: &pending) { out.append(frame) }
            }
            #expect(out == Self.validFrames)
        }
    }

    @Test func truncatedFrameWaitsForMoreBytes() throws {
        var parser = FrameParser()
        let whole = Self.bytes([Self.frame(.control, [1, 2, 3, 4])])
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: 0, length: cut)!
            #expect(try parser.next(from: &partial) == nil)
            #expect(partial.readableBytes == cut, "the reader index must not move on a partial frame")
        }
    }

    /// A header alone is enough to refuse a frame: the payload is never awaited or allocated.
    @Test(arguments: [
        (UInt32(ProtocolLimits.maximumControlPayloadLength + 1), FrameKind.control, UInt32(0)),
        (UInt32.max, FrameKind.control, UInt32(0)),
        (UInt32(ProtocolLimits.maximumDataPayloadLength + 1), FrameKind.data, UInt32(1)),
        (UInt32(ProtocolLimits.maximumExtensionPayloadLength + 1), FrameKind(rawValue: 0x90), UInt32(0)),
        (UInt32(5), FrameKind.windowUpdate, UInt32(1)),
        (UInt32(9), FrameKind.ping, UInt32(0)),
    ])
    func oversizeIsRefusedFromTheHeader(length: UInt32, kind: FrameKind, channel: UInt32) {
        var parser = FrameParser()
        var header = ByteBuffer()
        header.writeMultipleIntegers(length, kind.rawValue, channel)
        #expect(throws: ProtocolError(.frameTooLarge, "")) { try parser.next(from: &header) }
    }

    @Test(arguments: [UInt8(0x00), 0x06, 0x10, 0x7F])
    func undefinedKindsBelow0x80AreRefused(_ kind: UInt8) {
        var parser = FrameParser()
        var header = ByteBuffer()
        header.writeMultipleIntegers(UInt32(0), kind, UInt32(0))
        #expect(throws: ProtocolError(.unknownFrameKind, "")) { try parser.next(from: &header) }
    }

    @Test(arguments: [
        (FrameKind.control, UInt32(5), UInt32(1)),  // control on a session channel
        (FrameKind.data, UInt32(0), UInt32(1)),  // data on channel 0
        (FrameKind.data, UInt32(1), UInt32(0)),  // empty data
        (FrameKind.windowUpdate, UInt32(0), UInt32(4)),  // window update on channel 0
        (FrameKind.windowUpdate, UInt32(1), UInt32(3)),  // short window update
        (FrameKind.ping, UInt32(2), UInt32(8)),  // ping on a session channel
        (FrameKind.pong, UInt32(0), UInt32(7)),  // short pong
    ])
    func malformedHeadersAreRefused(kind: FrameKind, channel: UInt32, length: UInt32) {
        var parser = FrameParser()
        var header = ByteBuffer()
        header.writeMultipleIntegers(length, kind.rawValue, channel)
        #expect(throws: ProtocolError(.malformedFrame, "")) { try parser.next(from: &header) }
    }

    @Test func garbageNeverCrashesAndNeverBuffersBeyondTheBound() {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2_000 {
            var parser = FrameParser()
            let count = Int(generator.next() % 64)
            var buffer = ByteBuffer(bytes: (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            do {
                while let frame = try parser.next(from: &buffer) {
                    #expect(frame.payload.readableBytes <= ProtocolLimits.maximumControlPayloadLength)
                }
            } catch {
                // Refusal is the expected outcome for most garbage.
            }
        }
    }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
