// See AgentTLSServerContext.swift for how `CNIOBoringSSL` is reached.
import CNIOBoringSSL
import Crypto
import FoundationEssentials
import Synchronization

/// The keys that seal and open the appliance's session tickets, derived from a secret the appliance
/// keeps in its data directory (beside its CA key), so that a restarted appliance still opens the
/// tickets it gave and its agents resume rather than make full handshakes all at once.
///
/// Time is cut into periods of ``AgentTLSServerContext/resumptionLifetime``: a ticket is sealed with
/// the key of the period it is issued in and opened with that of the current period or the one
/// before, which covers its lifetime; an older one gives a full handshake. Each period's key is
/// HKDF-SHA256 of the secret with the period's number: AES-128-CBC and HMAC-SHA256, as BoringSSL's
/// own ticket keys. The key name (sent in the clear with the ticket) is `jumptkt1` and the period's
/// number. What the secret gives whoever holds it: the tickets' resumption secrets, and with them,
/// within a ticket's lifetime, resuming as the agent it was issued to, or answering that agent's
/// resumption as the appliance (a resuming agent checks no certificate), and so sending it commands;
/// the CA key beside it gives as much and more. Not past traffic: every resumption makes a fresh
/// (EC)DHE key exchange.
public final class SessionTicketKeys: Sendable {
    private let secret: SymmetricKey
    private let period: Int64
    private let now: @Sendable () -> Int64
    /// The keys of the last two periods used: a resumption opens one ticket and seals another.
    private let derived = Mutex<[(number: Int64, keys: Keys)]>([])

    private struct Keys {
        let name: [UInt8]
        let cipher: [UInt8]
        let mac: [UInt8]
    }

    /// `secret`: at least 32 random bytes. `now`: seconds since 1970, the system clock unless given
    /// (tests move it).
    public init(
        secret: [UInt8],
        period: UInt32 = AgentTLSServerContext.resumptionLifetime,
        now: (@Sendable () -> Int64)? = nil
    ) throws {
        guard secret.count >= 32 else { throw AgentTLSError.configuration("a session ticket secret needs 32 bytes, not \(secret.count)") }
        guard period > 0 else { throw AgentTLSError.configuration("a session ticket period cannot be 0") }
        self.secret = SymmetricKey(data: secret)
        self.period = Int64(period)
        self.now = now ?? { Int64(Date().timeIntervalSince1970) }
    }

    static let namePrefix = Array("jumptkt1".utf8)
    private static let cipherKeyLength = 16
    private static let macKeyLength = 32

    private var currentPeriod: Int64 { now() / period }

    /// The period's key name, AES key and HMAC key.
    private func keys(for number: Int64) -> Keys {
        if let known = derived.withLock({ $0.first { $0.number == number }?.keys }) { return known }
        let keys = derive(number)
        derived.withLock { derived in
            derived.removeAll { $0.number == number }
            derived.append((number, keys))
            if derived.count > 2 { derived.removeFirst(derived.count - 2) }
        }
        return keys
    }

    private func derive(_ number: Int64) -> Keys {
        let numberBytes = withUnsafeBytes(of: number.bigEndian) { Array($0) }
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: secret,
            info: Array("jump session tickets".utf8) + numberBytes,
            outputByteCount: Self.cipherKeyLength + Self.macKeyLength
        ).withUnsafeBytes { Array($0) }
        return Keys(
            name: Self.namePrefix + numberBytes,
            cipher: Array(derived.prefix(Self.cipherKeyLength)),
            mac: Array(derived.suffix(Self.macKeyLength))
        )
    }

    /// BoringSSL's ticket key callback, sealing: name, IV, keys. 1 on success, -1 on an error.
    func seal(
        name: UnsafeMutablePointer<UInt8>,
        iv: UnsafeMutablePointer<UInt8>,
        cipher: UnsafeMutablePointer<EVP_CIPHER_CTX>,
        mac: UnsafeMutablePointer<HMAC_CTX>
    ) -> Int32 {
        let keys = keys(for: currentPeriod)
        keys.name.withUnsafeBufferPointer { name.update(from: $0.baseAddress!, count: Int(SSL_TICKET_KEY_NAME_LEN)) }
        guard RAND_bytes(iv, Int(EVP_CIPHER_iv_length(EVP_aes_128_cbc()))) == 1,
              EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nil, keys.cipher, iv) == 1,
              HMAC_Init_ex(mac, keys.mac, keys.mac.count, EVP_sha256(), nil) == 1
        else { return -1 }
        return 1
    }

    /// BoringSSL's ticket key callback, opening: 1 with the keys of the ticket's period when it is
    /// the current one or the one before, 0 (a full handshake) for any other name, -1 on an error.
    func open(
        name: UnsafeMutablePointer<UInt8>,
        iv: UnsafeMutablePointer<UInt8>,
        cipher: UnsafeMutablePointer<EVP_CIPHER_CTX>,
        mac: UnsafeMutablePointer<HMAC_CTX>
    ) -> Int32 {
        let given = Array(UnsafeBufferPointer(start: name, count: Int(SSL_TICKET_KEY_NAME_LEN)))
        guard given.starts(with: Self.namePrefix) else { return 0 }
        let number = given.dropFirst(Self.namePrefix.count).reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let current = currentPeriod
        guard number == current || number == current - 1 else { return 0 }
        let keys = keys(for: number)
        guard HMAC_Init_ex(mac, keys.mac, keys.mac.count, EVP_sha256(), nil) == 1,
              EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nil, keys.cipher, iv) == 1
        else { return -1 }
        return 1
    }
}
