import JumpSessionCore
import Testing

@Suite struct UTF8ChunkDecoderTests {
    /// One-, two-, three- and four-byte characters side by side.
    static let mixed = Array("a é € 𝄞 日本語 🇫🇷 z".utf8)

    static func decodeInChunks(_ bytes: [UInt8], cuts: [Int]) -> String {
        var decoder = UTF8ChunkDecoder()
        var text = ""
        var start = 0
        for cut in cuts + [bytes.count] {
            text += decoder.decode(bytes[start..<cut])
            #expect(decoder.heldByteCount <= UTF8ChunkDecoder.maximumHeldBytes)
            start = cut
        }
        return text + decoder.finish()
    }

    @Test func everySplitPointGivesTheWholeText() {
        for cut in 0...Self.mixed.count {
            #expect(Self.decodeInChunks(Self.mixed, cuts: [cut]) == String(decoding: Self.mixed, as: UTF8.self))
        }
    }

    @Test func byteByByte() {
        let text = Self.decodeInChunks(Self.mixed, cuts: Array(1..<Self.mixed.count))
        #expect(text == "a é € 𝄞 日本語 🇫🇷 z")
    }

    @Test func aCutCharacterIsHeldUntilTheNextChunk() {
        var decoder = UTF8ChunkDecoder()
        #expect(decoder.decode([0x61, 0xE2, 0x82]) == "a")
        #expect(decoder.heldByteCount == 2)
        #expect(decoder.decode([0xAC, 0x62]) == "€b")
        #expect(decoder.heldByteCount == 0)
    }

    @Test(
        arguments: [
            ([0xFF], "\u{FFFD}"),
            ([0x61, 0x80, 0x62], "a\u{FFFD}b"),
            ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),  // overlong "/"
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // a surrogate
            ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),  // past U+10FFFF
            ([0xE2, 0x82, 0x61], "\u{FFFD}a"),  // a character cut short by another
        ] as [([UInt8], String)]
    )
    func invalidBytesBecomeReplacementCharacters(bytes: [UInt8], expected: String) {
        #expect(Self.decodeInChunks(bytes, cuts: []) == expected)
        for cut in 0...bytes.count {
            #expect(Self.decodeInChunks(bytes, cuts: [cut]) == expected)
        }
    }

    @Test func anImpossiblePrefixIsNotHeld() {
        var decoder = UTF8ChunkDecoder()
        #expect(decoder.decode([0x61, 0xE0, 0x80]) == "a\u{FFFD}\u{FFFD}")
        #expect(decoder.heldByteCount == 0)
    }

    @Test func aCharacterCutOffAtTheEndBecomesOneReplacementCharacter() {
        var decoder = UTF8ChunkDecoder()
        #expect(decoder.decode([0x61, 0xF0, 0x9F, 0x98]) == "a")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(decoder.finish() == "")
    }

    /// Random bytes, biased towards UTF-8 lead and continuation bytes, cut at random: the chunked result always
    /// equals decoding the whole at once.
    @Test func randomBytesInRandomChunks() {
        var generator = SplitMix64(seed: 0x4A55_4D50)
        let alphabet: [UInt8] = [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...12, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator)!
            }
            let cuts = (0...bytes.count).filter { _ in Bool.random(using: &generator) }
            #expect(
                Self.decodeInChunks(bytes, cuts: cuts) == String(decoding: bytes, as: UTF8.self),
                "\(bytes) \(cuts)"
            )
        }
    }
}

/// A seeded generator, so a failure can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
