/// The code a representative gives an end user to start an attended support session
/// (`jump-agent support --server ADDR --code CODE`).
///
/// It carries two things in 20 bytes, written as 32 Crockford base32 characters in groups of four
/// (`K7M2-9XQ4-…`):
/// - `key` (9 bytes, 72 random bits): the secret the appliance looks up, once, before it expires;
/// - `caPin` (11 bytes): the start of the SHA-256 fingerprint of the appliance CA's certificate. The
///   support agent has no installer and so no CA to trust; it accepts the appliance only if the
///   certificate chain it presents ends in a CA whose fingerprint starts with these bytes.
///
/// Reading is forgiving the way people type: case does not matter, `-` and spaces are ignored, and
/// `I`, `L` read as `1` and `O` as `0`.
public struct SupportCode: Hashable, Sendable, CustomStringConvertible {
    public static let keyLength = 9
    public static let caPinLength = 11
    static let byteCount = keyLength + caPinLength
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public let key: [UInt8]
    public let caPin: [UInt8]

    /// `caFingerprint` is the CA certificate's SHA-256 (32 bytes, or at least `caPinLength`).
    public init(key: [UInt8], caFingerprint: [UInt8]) {
        precondition(key.count == Self.keyLength && caFingerprint.count >= Self.caPinLength)
        self.key = key
        self.caPin = Array(caFingerprint.prefix(Self.caPinLength))
    }

    /// A new code with a random key.
    public static func random(caFingerprint: [UInt8]) -> SupportCode {
        var generator = SystemRandomNumberGenerator()
        return SupportCode(key: (0..<keyLength).map { _ in generator.next() }, caFingerprint: caFingerprint)
    }

    /// Whether a CA certificate with this SHA-256 fingerprint is the one the code names.
    public func names(caFingerprint: [UInt8]) -> Bool {
        caFingerprint.count >= Self.caPinLength && Array(caFingerprint.prefix(Self.caPinLength)) == caPin
    }

    /// Reads a code as typed; nil when it is not 32 base32 characters.
    public init?(_ text: String) {
        var bits: UInt32 = 0
        var bitCount = 0
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for character in text.utf8 {
            if character == UInt8(ascii: "-") || character == UInt8(ascii: " ") { continue }
            guard let value = Self.value(of: character), bytes.count < Self.byteCount else { return nil }
            bits = (bits << 5) | UInt32(value)
            bitCount += 5
            if bitCount >= 8 {
                bitCount -= 8
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(bitCount)))
                bits &= (1 << UInt32(bitCount)) - 1
            }
        }
        guard bytes.count == Self.byteCount, bitCount == 0 else { return nil }
        key = Array(bytes.prefix(Self.keyLength))
        caPin = Array(bytes.suffix(Self.caPinLength))
    }

    private static func value(of character: UInt8) -> UInt8? {
        var c = character
        if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { c -= 32 }
        switch c {
        case UInt8(ascii: "I"), UInt8(ascii: "L"): return 1
        case UInt8(ascii: "O"): return 0
        default: return alphabet.firstIndex(of: c).map { UInt8($0) }
        }
    }

    /// The code as a person reads it: eight groups of four characters.
    public var description: String {
        var characters: [UInt8] = []
        var bits: UInt32 = 0
        var bitCount = 0
        for byte in key + caPin {
            bits = (bits << 8) | UInt32(byte)
            bitCount += 8
            while bitCount >= 5 {
                bitCount -= 5
                characters.append(Self.alphabet[Int((bits >> UInt32(bitCount)) & 31)])
                bits &= (1 << UInt32(bitCount)) - 1
            }
        }
        var text = ""
        for (index, character) in characters.enumerated() {
            if index > 0, index % 4 == 0 { text.append("-") }
            text.append(Character(Unicode.Scalar(character)))
        }
        return text
    }
}
