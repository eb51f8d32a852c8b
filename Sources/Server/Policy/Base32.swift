/// RFC 4648 base32: the alphabet authenticator apps expect a TOTP secret in, because people type it by hand
/// when a QR code cannot be scanned (no 0/O or 1/I/L confusion, case does not matter).
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Upper case and without `=` padding: the form the `otpauth://` key URI format asks for.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bitCount = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bitCount += 8
            while bitCount >= 5 {
                bitCount -= 5
                output.append(alphabet[Int(buffer >> UInt32(bitCount) & 0x1F)])
            }
        }
        if bitCount > 0 { output.append(alphabet[Int(buffer << UInt32(5 - bitCount) & 0x1F)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Accepts what people paste or type: lower case, spaces between groups, and trailing `=` padding (not
    /// necessarily the right amount of it). Bits left over after the last whole byte are ignored, as other
    /// implementations do.
    public static func decode(_ text: String) throws(Base32Error) -> [UInt8] {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bitCount = 0
        var characterCount = 0
        var paddingSeen = false
        for (position, character) in text.unicodeScalars.enumerated() {
            if character == " " { continue }
            if character == "=" {
                paddingSeen = true
                continue
            }
            guard let value = value(of: character) else {
                throw Base32Error(
                    .invalidCharacter,
                    "'\(character)' at position \(position + 1) is not a base32 character (A-Z and 2-7)"
                )
            }
            guard !paddingSeen else {
                throw Base32Error(.invalidCharacter, "'=' padding may only come at the end")
            }
            characterCount += 1
            buffer = buffer << 5 | value
            bitCount += 5
            if bitCount >= 8 {
                bitCount -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bitCount)))
            }
        }
        // A final group of 1, 3 or 6 characters cannot come from any number of whole bytes: the text was cut short.
        guard ![1, 3, 6].contains(characterCount % 8) else {
            throw Base32Error(.invalidLength, "\(characterCount) base32 characters cannot encode whole bytes")
        }
        return output
    }

    private static func value(of character: Unicode.Scalar) -> UInt32? {
        switch character {
        case "A"..."Z": character.value - Unicode.Scalar("A").value
        case "a"..."z": character.value - Unicode.Scalar("a").value
        case "2"..."7": character.value - Unicode.Scalar("2").value + 26
        default: nil
        }
    }
}

/// Text that is not base32.
public struct Base32Error: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// A character outside the alphabet (often 0, 1 or 8 typed for O, I or B), or padding before the end.
        public static let invalidCharacter = Code(name: "invalid character")
        /// A length that no whole number of bytes encodes to: part of the text is missing.
        public static let invalidLength = Code(name: "invalid length")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: Base32Error, rhs: Base32Error) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
