@preconcurrency public import Crypto
public import FoundationEssentials
import Glibc
public import JumpTLS
public import X509

/// When a Jump Client asks for a new certificate, and how it keeps the new key and certificate.
///
/// Certificates last `CertificateAuthority.clientValidity` (a year). The agent asks over its
/// authenticated connection when less than `renewBefore` is left, so a month of connections, each
/// able to try again every `retryInterval`, lies between the first attempt and the end.
public struct CertificateRenewal: Sendable {
    /// Renew when less than this is left (or a third of the lifetime, for short certificates).
    public static let renewBefore: TimeInterval = 30 * 86_400
    /// After an attempt that got no certificate, the next one waits this long.
    public static let retryInterval: TimeInterval = 3600

    /// The key of the request on its way, and when it was sent.
    public private(set) var pendingKey: P256.Signing.PrivateKey?
    public private(set) var lastAttempt: Date?

    public init() {}

    /// Whether `certificate` should be renewed at `now`.
    public static func due(_ certificate: Certificate, now: Date) -> Bool {
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        let threshold = min(renewBefore, lifetime / 3)
        return certificate.notValidAfter.timeIntervalSince(now) < threshold
    }

    /// A new key to request a certificate for, or nil when none is due, one is on its way, or the
    /// last attempt was too recent.
    public mutating func begin(for certificate: Certificate, now: Date) -> P256.Signing.PrivateKey? {
        guard pendingKey == nil, Self.due(certificate, now: now) else { return nil }
        if let lastAttempt, now.timeIntervalSince(lastAttempt) < Self.retryInterval { return nil }
        let key = P256.Signing.PrivateKey()
        pendingKey = key
        lastAttempt = now
        return key
    }

    /// The answer arrived, or the connection that carried the request closed.
    public mutating func finish() -> P256.Signing.PrivateKey? {
        defer { pendingKey = nil }
        return pendingKey
    }

    /// Checks that an issued certificate is for `key`, names `clientID`, and was signed by `ca`.
    public static func accept(
        _ der: [UInt8],
        key: P256.Signing.PrivateKey,
        clientID: String,
        ca: Certificate
    ) throws -> TLSIdentity {
        let certificate: Certificate
        do {
            certificate = try Certificate(derBytes: der)
        } catch {
            throw AgentError(.data, "the appliance sent a certificate that cannot be read")
        }
        guard certificate.jumpClientID == clientID else {
            throw AgentError(.data, "the new certificate names another Jump Client (\(certificate.jumpClientID ?? "none"))")
        }
        guard certificate.issuer == ca.subject, ca.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            throw AgentError(.data, "the new certificate was not issued by the appliance's CA")
        }
        guard P256.Signing.PublicKey(certificate.publicKey)?.rawRepresentation == key.publicKey.rawRepresentation else {
            throw AgentError(.data, "the new certificate is not for the key that was sent")
        }
        return TLSIdentity(certificate: certificate, privateKey: key)
    }
}

extension AgentFiles {
    var pendingKey: URL { etc.appendingPathComponent("key.pem.new") }
    var pendingCertificate: URL { etc.appendingPathComponent("cert.pem.new") }

    /// Replaces the key and certificate so that a crash at any point leaves a pair that belongs
    /// together: both are written beside the old ones first, then renamed key first. `readIdentity`
    /// finishes a replacement a crash interrupted.
    public func replaceIdentity(_ identity: TLSIdentity) throws {
        try writeAtomically(Data(identity.privateKeyPEM.utf8), to: pendingKey, mode: 0o600)
        try writeAtomically(Data(try identity.certificatePEM.utf8), to: pendingCertificate, mode: 0o644)
        try rename(pendingKey, to: key)
        try rename(pendingCertificate, to: certificate)
    }

    /// The agent's key and certificate, finishing a replacement that a crash interrupted.
    public func readIdentity() throws -> TLSIdentity {
        let manager = FileManager.default
        if manager.fileExists(atPath: pendingCertificate.path) {
            // Written completely (each file is itself written atomically), so the new pair is whole
            // once the certificate matches the key beside it, pending or already renamed.
            let newKey = manager.fileExists(atPath: pendingKey.path) ? pendingKey : key
            if let identity = try? TLSIdentity(
                certificatePEM: String(contentsOf: pendingCertificate, encoding: .utf8),
                privateKeyPEM: String(contentsOf: newKey, encoding: .utf8)
            ) {
                if newKey == pendingKey { try rename(pendingKey, to: key) }
                try rename(pendingCertificate, to: certificate)
                return identity
            }
            // Only while the new key is still pending is the old pair intact; otherwise the key is
            // already the new one and dropping its certificate would leave nothing that works.
            guard newKey == pendingKey else {
                throw AgentError(.data, "\(certificate.path) does not match \(key.path) and \(pendingCertificate.path) cannot be read")
            }
            try? manager.removeItem(at: pendingCertificate)
            try? manager.removeItem(at: pendingKey)
        } else if manager.fileExists(atPath: pendingKey.path) {
            try? manager.removeItem(at: pendingKey)
        }
        return try TLSIdentity(
            certificatePEM: String(contentsOf: certificate, encoding: .utf8),
            privateKeyPEM: String(contentsOf: key, encoding: .utf8)
        )
    }

    private func rename(_ from: URL, to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else {
            throw AgentError(.io, "cannot rename \(from.path): \(String(cString: strerror(errno)))")
        }
    }
}
