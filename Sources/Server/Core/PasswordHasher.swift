import Dispatch
import HummingbirdBcrypt

/// Passwords are stored as bcrypt hashes.
public enum PasswordHasher {
    /// bcrypt's cost: 2^12 rounds, about 0.2 s here, so guessing is slow and logging in is not.
    public static let cost: UInt8 = 12

    /// A hash to check against when the user does not exist.
    public static let decoyHash = Bcrypt.hash("no such user", cost: cost)

    public static func hash(_ password: String) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    public static func verify(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }

    /// Checks a password on a Dispatch thread: bcrypt takes a fifth of a second by design, too long
    /// to hold a thread of Swift's cooperative pool (or an event loop).
    public static func verifyOffloaded(_ password: String, hash: String) async -> Bool {
        await offloaded { verify(password, hash: hash) }
    }

    /// Hashes a password on a Dispatch thread, for the same reason.
    public static func hashOffloaded(_ password: String) async -> String {
        await offloaded { hash(password) }
    }

    private static func offloaded<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }
}
