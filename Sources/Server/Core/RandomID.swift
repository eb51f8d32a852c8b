/// The appliance's random identifiers: a prefix naming the kind ("jc-", "s-", "in-", "support-") and 64 random
/// bits in hex.
public enum RandomID {
    public static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let value: UInt64 = generator.next()
        let hex = String(value, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
