import JumpPolicy
import Testing

@Suite struct Base32Tests {
    /// RFC 4648 section 10, with the padding the RFC shows.
    static let rfcVectors: [(String, String)] = [
        ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
    ]

    @Test(arguments: rfcVectors)
    func encodesTheRFCVectorsWithoutPadding(plain: String, encoded: String) {
        #expect(Base32.encode(Array(plain.utf8)) == encoded.filter { $0 != "=" })
    }

    @Test(arguments: rfcVectors)
    func decodesTheRFCVectorsWithAndWithoutPaddingInEitherCase(plain: String, encoded: String) throws {
        let unpadded = encoded.filter { $0 != "=" }
        for text in [encoded, unpadded, encoded.lowercased(), unpadded.lowercased()] {
            #expect(try Base32.decode(text) == Array(plain.utf8), "\(text)")
        }
    }

    @Test func spacesBetweenGroupsAreIgnored() throws {
        #expect(try Base32.decode("mzxw 6ytb oi") == Array("foobar".utf8))
        #expect(try Base32.decode(" MZXW6YTB OI====== ") == Array("foobar".utf8))
    }

    @Test func everyByteValueAndLengthRoundTrips() throws {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for count in 0...bytes.count {
            let prefix = Array(bytes.prefix(count))
            let encoded = Base32.encode(prefix)
            #expect(encoded.count == (count * 8 + 4) / 5)
            #expect(try Base32.decode(encoded) == prefix)
        }
    }

    @Test(arguments: [
        ("MZXW6YT1", Base32Error.Code.invalidCharacter),  // 1 is not in the alphabet (I is)
        ("MZXW0YTB", .invalidCharacter),  // nor is 0 (O is)
        ("MZXW6Y?B", .invalidCharacter),
        ("MZXW\u{E9}YTB", .invalidCharacter),  // non-ASCII
        ("MZXW6-YTB", .invalidCharacter),
        ("MZ==XW6", .invalidCharacter),  // padding in the middle
        ("MZXW6YTB\n", .invalidCharacter),  // only spaces are skipped
        ("M", .invalidLength), ("MZX", .invalidLength), ("MZXW6Y", .invalidLength), ("MZXW6YTBO", .invalidLength),
    ])
    func invalidTextIsAClearError(text: String, code: Base32Error.Code) {
        #expect(throws: Base32Error(code, "")) { try Base32.decode(text) }
    }

    @Test func theErrorNamesTheCharacterAndWhereItIs() {
        #expect {
            try Base32.decode("MZXW 6YT1")
        } throws: { error in
            (error as? Base32Error)?.detail == "'1' at position 9 is not a base32 character (A-Z and 2-7)"
        }
    }
}
