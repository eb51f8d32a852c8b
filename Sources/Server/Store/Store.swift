public import Foundation

/// Everything the appliance keeps. Every change takes the ``AuditEvent`` that records it and writes
/// both in one transaction, so a change is never without its audit record and an audit record never
/// describes a change that did not happen.
///
/// ``SQLiteStore`` is the implementation (a file for the appliance, memory for tests); the shared
/// conformance suite in `Tests/JumpStoreTests` runs against every implementation.
public protocol Store: Sendable {
    // MARK: Settings
    func settings() async throws -> [String: String]
    func setSettings(_ values: [String: String], audit: AuditEvent) async throws

    // MARK: Users and API sessions
    func users() async throws -> [User]
    func user(named name: String) async throws -> User?
    func user(id: Int64) async throws -> User?
    func createUser(_ user: User, audit: AuditEvent) async throws -> User
    func createSession(_ session: APISession) async throws
    func session(tokenHash: String) async throws -> APISession?
    func deleteSession(tokenHash: String) async throws
    func deleteSessions(expiredBefore date: Date) async throws

    // MARK: Jump Groups
    func groups() async throws -> [JumpGroup]
    func group(named name: String) async throws -> JumpGroup?
    func group(id: Int64) async throws -> JumpGroup?
    func createGroup(_ group: JumpGroup, audit: AuditEvent) async throws -> JumpGroup

    // MARK: Installers
    func installers() async throws -> [Installer]
    func installer(id: String) async throws -> Installer?
    func installer(tokenHash: String) async throws -> Installer?
    func createInstaller(_ installer: Installer, audit: AuditEvent) async throws
    /// Deletes an installer; its token stops working at once. False when there was none.
    func deleteInstaller(id: String, audit: AuditEvent) async throws -> Bool
    func extendInstaller(id: String, until expiry: Date, audit: AuditEvent) async throws -> Installer?

    // MARK: Jump Clients
    func clients() async throws -> [ClientRecord]
    func client(id: String) async throws -> ClientRecord?
    /// Takes one use of the installer, if it is still valid at `now` and has uses left, and records
    /// the client; throws ``StoreError/Code/installerUnavailable`` otherwise.
    func registerClient(_ client: ClientRecord, installerID: String, now: Date, audit: AuditEvent) async throws
    func updateClient(_ client: ClientRecord, audit: AuditEvent) async throws
    /// Records a renewed certificate, only while the client is active and still holds the
    /// certificate `replacing`; false when it does not (deleted, or renewed meanwhile).
    func renewClientCertificate(
        id: String,
        replacing current: String,
        serial: String,
        expiresAt: Date,
        previousSerial: String,
        previousAcceptedUntil: Date,
        audit: AuditEvent
    ) async throws -> Bool
    // MARK: Statistics
    /// Writes the latest statistics of many clients and contact times, in one transaction, without an
    /// audit record (the connection log is not an audited change). A thumbnail of `.stored` leaves the
    /// stored picture as it is; `.none` removes it. Statistics and contacts of clients that are not
    /// registered are dropped.
    func saveStats(_ stats: [ClientStats], contacts: [String: Date]) async throws
    /// One client's statistics with its picture.
    func stats(clientID: String) async throws -> ClientStats?
    /// Every client's statistics, pictures left out (`.stored` says there is one).
    func allStats() async throws -> [ClientStats]

    // MARK: Access control
    /// Every policy value and what it attaches to, read in one transaction.
    func policyData() async throws -> PolicyData
    /// Runs `change` on the stored values inside one write transaction, validates the result
    /// (``PolicyData/validate()``: throws `PolicyDirectoryError`, or ``StoreError/Code/duplicate`` for a
    /// name in use), writes what differs and the audit record `change` returns, and returns its result.
    /// Nothing is written when `change` or the validation throws.
    func updatePolicy<Result: Sendable>(
        _ change: @escaping @Sendable (inout PolicyData) throws -> (result: Result, audit: AuditEvent)
    ) async throws -> Result

    // MARK: Multi-factor authentication
    func mfaEnrollment(userID: Int64) async throws -> MFAEnrollment?
    /// Stores a new, unconfirmed secret (replacing an unconfirmed one); throws ``StoreError/Code/duplicate``
    /// when the user has a confirmed enrollment.
    func startMFAEnrollment(userID: Int64, secret: [UInt8], audit: AuditEvent) async throws
    /// Records `step` as the last accepted one if it is later than the stored one and the enrollment is
    /// unconfirmed (`confirming`) or confirmed (not `confirming`); confirms it and clears failures. False,
    /// with no audit record, when not.
    /// Accepts `step` once, and not while failures pause checking (`lockedUntil` after `now`).
    func acceptMFAStep(userID: Int64, step: Int64, confirming: Bool, now: Date, audit: AuditEvent) async throws -> Bool
    /// Counts a wrong code; the `maximumFailures`th in a row locks verification until `lockedUntil`.
    func recordMFAFailure(userID: Int64, lockAfter maximumFailures: Int, until lockedUntil: Date, audit: AuditEvent) async throws
    /// False when there was no enrollment.
    func deleteMFAEnrollment(userID: Int64, audit: AuditEvent) async throws -> Bool

    // MARK: Jump sessions
    /// Records a session that is starting; throws ``StoreError/Code/duplicate`` for an id in use.
    func createJumpSession(_ session: JumpSessionRecord, audit: AuditEvent) async throws
    /// Replaces a session's record; throws ``StoreError/Code/notFound`` when there is none.
    func updateJumpSession(_ session: JumpSessionRecord, audit: AuditEvent?) async throws
    func jumpSession(id: String) async throws -> JumpSessionRecord?
    func jumpSessions(_ filter: JumpSessionFilter) async throws -> [JumpSessionRecord]

    // MARK: Audit log
    /// Records an event that changes nothing else (a login, a refused connection).
    func appendAudit(_ event: AuditEvent) async throws
    func auditRecords(afterID: Int64, limit: Int) async throws -> [AuditRecord]
    func verifyAudit() async throws -> AuditVerification
}

/// A store failure with a code the caller can act on.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// A name that must be unique is taken.
        public static let duplicate = Code(name: "duplicate")
        /// The installer is unknown, deleted, expired or used up.
        public static let installerUnavailable = Code(name: "installer unavailable")
        /// The thing to change does not exist.
        public static let notFound = Code(name: "not found")
        /// The disk is full or the database cannot be written; nothing was changed.
        public static let unavailable = Code(name: "store unavailable")
        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
