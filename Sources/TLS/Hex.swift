/// Lowercase hexadecimal, two digits a byte: how serial numbers, fingerprints and token hashes are
/// written. Without Foundation's `String(format:)`, which formats one byte at a time at a cost that
/// shows in every handshake's certificate serial.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `separator` goes between bytes: `UInt8(ascii: ":")` writes a MAC address as `00:1a:2b:...`.
    public static func lowercase(_ bytes: some Sequence<UInt8>, separator: UInt8? = nil) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 3)
        for byte in bytes {
            if let separator, !text.isEmpty { text.append(separator) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
