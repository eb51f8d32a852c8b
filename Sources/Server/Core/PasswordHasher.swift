import HummingbirdBcrypt

/// Passwords are stored as bcrypt hashes.
public enum PasswordHasher {
    /// bcrypt's cost: 2^12 rounds, about 0.2 s here, so guessing is slow and logging in is not.
    public static let cost: UInt8 = 12

    public static func hash(_ password: String) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    public static func verify(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }
}
