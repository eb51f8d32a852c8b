import Crypto
public import Foundation
public import JumpStore
public import JumpTLS
import X509

/// The appliance's data directory: the CA, the server certificate, the database and, once, the
/// first administrator's password. Everything is created on first start; nothing is overwritten.
public struct DataDirectory: Sendable {
    public let url: URL

    public init(_ path: String) {
        url = URL(fileURLWithPath: path, isDirectory: true)
    }

    public var caCertificate: URL { url.appendingPathComponent("ca.pem") }
    public var caKey: URL { url.appendingPathComponent("ca-key.pem") }
    public var serverCertificate: URL { url.appendingPathComponent("server.pem") }
    public var serverKey: URL { url.appendingPathComponent("server-key.pem") }
    public var database: URL { url.appendingPathComponent("jump.sqlite") }
    public var initialAdminPassword: URL { url.appendingPathComponent("initial-admin-password") }
    public var installerKey: URL { url.appendingPathComponent("installer-key") }
    public var auditKey: URL { url.appendingPathComponent("audit-key") }
    public var auditHead: URL { url.appendingPathComponent("audit-head") }
    /// The secret the agent listener's session ticket keys come from (``SessionTicketKeys``).
    public var ticketKey: URL { url.appendingPathComponent("ticket-key") }
    /// Session recordings, one asciicast file per session, readable by the appliance alone.
    public var recordings: URL { url.appendingPathComponent("recordings", isDirectory: true) }

    /// What the appliance needs to run, read from (or first made in) the directory.
    public struct Contents: Sendable {
        public let ca: CertificateAuthority
        public let serverIdentity: TLSIdentity
        public let store: SQLiteStore
        public let installerTokens: InstallerTokens
        /// Seal and open the agent listener's session tickets, the same after a restart.
        public let ticketKeys: SessionTicketKeys
        /// Set on the first start only.
        public let initialAdminPassword: String?
    }

    /// Opens the directory, creating what is missing. `hostnames` and `ipAddresses` go into a newly
    /// made server certificate.
    public func open(hostnames: [String], ipAddresses: [[UInt8]], now: Date = Date()) async throws -> Contents {
        let files = FileManager.default
        try files.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        let ca: CertificateAuthority
        if files.fileExists(atPath: caCertificate.path) {
            ca = try CertificateAuthority(
                certificatePEM: String(contentsOf: caCertificate, encoding: .utf8),
                privateKeyPEM: String(contentsOf: caKey, encoding: .utf8)
            )
        } else {
            ca = try CertificateAuthority.create(commonName: "Jump appliance CA", now: now)
            try Self.write(ca.privateKeyPEM, to: caKey, mode: 0o600)
            try Self.write(ca.certificatePEM, to: caCertificate, mode: 0o644)
        }

        let identity: TLSIdentity
        if files.fileExists(atPath: serverCertificate.path) {
            identity = try TLSIdentity(
                certificatePEM: String(contentsOf: serverCertificate, encoding: .utf8),
                privateKeyPEM: String(contentsOf: serverKey, encoding: .utf8)
            )
        } else {
            let key = P256.Signing.PrivateKey()
            let certificate = try ca.issueServerCertificate(
                for: key.publicKey,
                hostnames: hostnames,
                ipAddresses: ipAddresses,
                now: now
            )
            identity = TLSIdentity(certificate: certificate, privateKey: key)
            try Self.write(identity.privateKeyPEM, to: serverKey, mode: 0o600)
            try Self.write(identity.certificatePEM, to: serverCertificate, mode: 0o644)
        }

        let store = try SQLiteStore(
            path: database.path,
            auditKey: try KeyFile.load(auditKey, length: 32),
            auditHeadFile: auditHead
        )
        for suffix in ["", "-wal", "-shm"] { chmod(database.path + suffix, 0o600) }
        var password: String?
        if try await store.users().isEmpty {
            let generated = Self.randomPassword()
            let admin = User(name: "admin", passwordHash: PasswordHasher.hash(generated), role: .administrator, createdAt: now)
            _ = try await store.createUser(
                admin,
                audit: AuditEvent(actor: "system", action: "user.create", target: "admin", detail: "first administrator")
            )
            try Self.write(generated + "\n", to: initialAdminPassword, mode: 0o600)
            password = generated
        }
        if try await store.group(named: "Default") == nil {
            _ = try await store.createGroup(
                JumpGroup(name: "Default", codeName: "default", comments: "Jump Clients not placed in another group"),
                audit: AuditEvent(actor: "system", action: "group.create", target: "Default")
            )
        }
        return Contents(
            ca: ca,
            serverIdentity: identity,
            store: store,
            installerTokens: try InstallerTokens.load(keyFile: installerKey),
            ticketKeys: try SessionTicketKeys(secret: Array(KeyFile.load(ticketKey, length: 32))),
            initialAdminPassword: password
        )
    }

    /// Writes a new file with `mode`; refuses to overwrite one that exists.
    static func write(_ text: String, to url: URL, mode: mode_t) throws {
        let descriptor = Foundation.open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: url.path])
        }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
    }

    /// 20 characters from an alphabet without look-alikes: about 115 bits.
    static func randomPassword() -> String {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
