public import Foundation

/// A user of the appliance: an administrator or a representative.
public struct User: Codable, Hashable, Sendable {
    public enum Role: String, Codable, Sendable, CaseIterable {
        case administrator
        case representative
    }

    public var id: Int64
    public var name: String
    public var passwordHash: String
    public var role: Role
    public var createdAt: Date

    public init(id: Int64 = 0, name: String, passwordHash: String, role: Role, createdAt: Date) {
        self.id = id
        self.name = name
        self.passwordHash = passwordHash
        self.role = role
        self.createdAt = createdAt
    }
}

/// A logged-in API session; only the SHA-256 of its token is stored.
public struct APISession: Codable, Hashable, Sendable {
    public var tokenHash: String
    public var userID: Int64
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, userID: Int64, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A Jump Group: a set of Jump Items and the users who may reach them.
public struct JumpGroup: Codable, Hashable, Sendable {
    public var id: Int64
    public var name: String
    public var codeName: String
    public var comments: String

    public init(id: Int64 = 0, name: String, codeName: String, comments: String = "") {
        self.id = id
        self.name = name
        self.codeName = codeName
        self.comments = comments
    }
}

/// What an installer lets the person who runs it change at install time.
public enum InstallOverride: String, Codable, Hashable, Sendable, CaseIterable {
    case name
    case tag
    case comments
    case group
    case installDir = "install-dir"
    case jumpPolicy = "jump-policy"
}

/// An entry of the Jump Client installers list: an enrollment token (stored as its SHA-256 only)
/// with the parameters every Jump Client it installs receives.
public struct Installer: Codable, Hashable, Sendable {
    public var id: String
    public var tokenHash: String
    public var createdAt: Date
    public var createdBy: String
    public var expiresAt: Date
    /// nil: unlimited, the default for mass deployment.
    public var maxUses: Int?
    public var uses: Int
    public var groupID: Int64
    public var jumpPolicy: String
    public var name: String
    public var tag: String
    public var comments: String
    public var allowedOverrides: Set<InstallOverride>

    public init(
        id: String,
        tokenHash: String,
        createdAt: Date,
        createdBy: String,
        expiresAt: Date,
        maxUses: Int?,
        uses: Int = 0,
        groupID: Int64,
        jumpPolicy: String = "",
        name: String = "",
        tag: String = "",
        comments: String = "",
        allowedOverrides: Set<InstallOverride> = []
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = uses
        self.groupID = groupID
        self.jumpPolicy = jumpPolicy
        self.name = name
        self.tag = tag
        self.comments = comments
        self.allowedOverrides = allowedOverrides
    }
}

/// A Jump Client as the appliance keeps it.
public struct ClientRecord: Codable, Hashable, Sendable {
    public enum State: String, Codable, Sendable {
        /// Installed and allowed to connect.
        case active
        /// The end user uninstalled it and the "keep" behaviour kept it in the list.
        case uninstalled
        /// Deleted on the appliance (by a person or after the deletion period); its certificate is
        /// refused and, should it ever connect, it is told to uninstall itself.
        case deleted
    }

    public var id: String
    public var name: String
    public var groupID: Int64
    public var tag: String
    public var comments: String
    public var jumpPolicy: String
    public var hostname: String
    public var installDir: String
    public var installerID: String
    public var certificateSerial: String
    public var certificateExpiresAt: Date
    /// The certificate a renewal replaced, still accepted until `previousCertificateAcceptedUntil`: an
    /// agent that dies between receiving its new certificate and saving it comes back with the old one.
    public var previousCertificateSerial: String?
    public var previousCertificateAcceptedUntil: Date?
    public var enrolledAt: Date
    public var lastContact: Date?
    public var state: State
    public var stateChangedAt: Date
    public var lastCommandSequence: Int64

    /// Whether a connection presenting the certificate with `serial` belongs to this client at `now`.
    public func accepts(certificateSerial serial: String?, now: Date) -> Bool {
        guard let serial else { return false }
        if serial == certificateSerial { return true }
        guard let previous = previousCertificateSerial, let until = previousCertificateAcceptedUntil else { return false }
        return serial == previous && now < until
    }

    public init(
        id: String,
        name: String,
        groupID: Int64,
        tag: String = "",
        comments: String = "",
        jumpPolicy: String = "",
        hostname: String,
        installDir: String = "",
        installerID: String,
        certificateSerial: String,
        certificateExpiresAt: Date,
        previousCertificateSerial: String? = nil,
        previousCertificateAcceptedUntil: Date? = nil,
        enrolledAt: Date,
        lastContact: Date? = nil,
        state: State = .active,
        stateChangedAt: Date,
        lastCommandSequence: Int64 = 0
    ) {
        self.id = id
        self.name = name
        self.groupID = groupID
        self.tag = tag
        self.comments = comments
        self.jumpPolicy = jumpPolicy
        self.hostname = hostname
        self.installDir = installDir
        self.installerID = installerID
        self.certificateSerial = certificateSerial
        self.certificateExpiresAt = certificateExpiresAt
        self.previousCertificateSerial = previousCertificateSerial
        self.previousCertificateAcceptedUntil = previousCertificateAcceptedUntil
        self.enrolledAt = enrolledAt
        self.lastContact = lastContact
        self.state = state
        self.stateChangedAt = stateChangedAt
        self.lastCommandSequence = lastCommandSequence
    }
}

/// The latest statistics of a client: the report (protobuf bytes, host and network facts merged in)
/// and the last thumbnail, which later reports leave out while the screen does not change.
public struct ClientStats: Hashable, Sendable {
    public var clientID: String
    public var updatedAt: Date
    public var report: Data
    public var thumbnail: Thumbnail

    /// A client's last picture. Pictures are large beside the rest (up to 64 KB against a few hundred
    /// bytes), so the appliance keeps them in the store and reads one when it is asked for.
    public enum Thumbnail: Hashable, Sendable {
        /// No picture.
        case none
        /// The picture in the store, not read: ``Store/allStats()`` says only that there is one, and
        /// saving statistics with `.stored` leaves the stored picture as it is.
        case stored
        /// The picture.
        case jpeg(Data)

        /// Whether there is a picture.
        public var exists: Bool { self != .none }
    }

    public init(clientID: String, updatedAt: Date, report: Data, thumbnail: Thumbnail) {
        self.clientID = clientID
        self.updatedAt = updatedAt
        self.report = report
        self.thumbnail = thumbnail
    }
}

/// What a change is recorded as in the audit log.
public struct AuditEvent: Hashable, Sendable {
    public var actor: String
    public var action: String
    public var target: String
    public var detail: String

    public init(actor: String, action: String, target: String, detail: String = "") {
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
    }
}

/// One record of the append-only, hash-chained audit log.
public struct AuditRecord: Codable, Hashable, Sendable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var target: String
    public var detail: String
    public var previousHash: String
    public var hash: String
}

/// What ``Store/verifyAudit()`` found.
public struct AuditVerification: Codable, Hashable, Sendable {
    public var records: Int
    public var intact: Bool
    /// The first record that does not fit the chain (edited, or following a removed one).
    public var firstBadRecord: Int64?
    public var problem: String?
}
