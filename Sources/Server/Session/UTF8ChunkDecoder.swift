/// Turns bytes that arrive in arbitrary chunks into valid UTF-8 text, as asciicast requires of every event.
///
/// A terminal's output can be cut in the middle of a multi-byte character by any read, so the incomplete tail of
/// a chunk is held back until the next one; every invalid byte becomes U+FFFD. The text produced over all the
/// chunks, with `finish()`, equals decoding their concatenation at once, wherever the cuts fall.
public struct UTF8ChunkDecoder: Hashable, Sendable {
    /// The longest UTF-8 sequence is four bytes, so at most three can be waiting for the rest of theirs.
    public static let maximumHeldBytes = 3

    private var held: [UInt8] = []

    public init() {}

    /// Bytes held back because they begin a character that the next chunk may complete.
    public var heldByteCount: Int { held.count }

    public mutating func decode(_ chunk: some Collection<UInt8>) -> String {
        var bytes = held
        bytes.append(contentsOf: chunk)
        let keep = Self.incompleteTailLength(bytes)
        held = Array(bytes.suffix(keep))
        return String(decoding: bytes.dropLast(keep), as: UTF8.self)
    }

    /// The held bytes as text (U+FFFD: their character never came), at the end of the stream.
    public mutating func finish() -> String {
        defer { held = [] }
        return String(decoding: held, as: UTF8.self)
    }

    /// How many bytes at the end of `bytes` are a valid but incomplete start of a character.
    ///
    /// Only a prefix that some valid sequence could complete is held: anything else cannot become valid, so it is
    /// decoded (to U+FFFD) now rather than delayed.
    static func incompleteTailLength(_ bytes: [UInt8]) -> Int {
        var length = 1
        while length <= min(maximumHeldBytes, bytes.count) {
            let start = bytes.count - length
            let byte = bytes[start]
            if byte & 0xC0 == 0x80 {
                length += 1
                continue
            }
            guard let needed = sequenceLength(lead: byte), needed > length else { return 0 }
            for (offset, continuation) in bytes[(start + 1)...].enumerated()
            where !allowed(continuation, after: byte, at: offset + 1) {
                return 0
            }
            return length
        }
        return 0
    }

    private static func sequenceLength(lead: UInt8) -> Int? {
        switch lead {
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: nil
        }
    }

    /// The second byte's range depends on the lead (no overlong forms, no surrogates, nothing past U+10FFFF).
    private static func allowed(_ byte: UInt8, after lead: UInt8, at position: Int) -> Bool {
        guard position == 1 else { return (0x80...0xBF).contains(byte) }
        switch lead {
        case 0xE0: return (0xA0...0xBF).contains(byte)
        case 0xED: return (0x80...0x9F).contains(byte)
        case 0xF0: return (0x90...0xBF).contains(byte)
        case 0xF4: return (0x80...0x8F).contains(byte)
        default: return (0x80...0xBF).contains(byte)
        }
    }
}
