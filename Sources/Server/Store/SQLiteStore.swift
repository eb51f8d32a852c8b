public import Foundation
import Crypto
import GRDB
import Synchronization

/// The embedded store: SQLite through GRDB, in WAL mode, `synchronous=FULL` so a committed audit
/// record survives a power cut. All SQL is parameterised.
public final class SQLiteStore: Store {
    private let writer: any DatabaseWriter
    /// The key of the audit chain's HMAC: without it, a changed record cannot be given a valid hash.
    private let auditKey: Data
    /// Where the newest audit record's id and hash are kept outside the database, so removing records
    /// from the end of the log is noticed too.
    private let auditHeadFile: URL?
    /// The head written by the transaction in progress (writes are serialised).
    private let pendingHead = Mutex<(id: Int64, hash: String)?>(nil)

    /// Opens (and migrates) the database file at `path`. `auditKey` keys the audit chain; the audit
    /// head is kept in `auditHeadFile`.
    public init(path: String, auditKey: Data, auditHeadFile: URL? = nil) throws {
        self.auditKey = auditKey
        self.auditHeadFile = auditHeadFile
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(5)
        do {
            writer = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError(.unavailable, "cannot open the database at \(path): \(error)")
        }
        try Self.migrator.migrate(writer)
    }

    /// A store in memory, for tests.
    public init() throws {
        auditKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        auditHeadFile = nil
        writer = try DatabaseQueue()
        try Self.migrator.migrate(writer)
    }

    // MARK: Schema

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE setting (
                        key TEXT PRIMARY KEY NOT NULL,
                        value TEXT NOT NULL
                    );
                    CREATE TABLE user (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL UNIQUE,
                        passwordHash TEXT NOT NULL,
                        role TEXT NOT NULL,
                        createdAt DOUBLE NOT NULL
                    );
                    CREATE TABLE apiSession (
                        tokenHash TEXT PRIMARY KEY NOT NULL,
                        userID INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        createdAt DOUBLE NOT NULL,
                        expiresAt DOUBLE NOT NULL
                    );
                    CREATE TABLE jumpGroup (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL UNIQUE,
                        codeName TEXT NOT NULL UNIQUE,
                        comments TEXT NOT NULL
                    );
                    CREATE TABLE installer (
                        id TEXT PRIMARY KEY NOT NULL,
                        tokenHash TEXT NOT NULL UNIQUE,
                        createdAt DOUBLE NOT NULL,
                        createdBy TEXT NOT NULL,
                        expiresAt DOUBLE NOT NULL,
                        maxUses INTEGER,
                        uses INTEGER NOT NULL,
                        groupID INTEGER NOT NULL REFERENCES jumpGroup(id),
                        jumpPolicy TEXT NOT NULL,
                        name TEXT NOT NULL,
                        tag TEXT NOT NULL,
                        comments TEXT NOT NULL,
                        allowedOverrides TEXT NOT NULL
                    );
                    CREATE TABLE client (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        groupID INTEGER NOT NULL REFERENCES jumpGroup(id),
                        tag TEXT NOT NULL,
                        comments TEXT NOT NULL,
                        jumpPolicy TEXT NOT NULL,
                        hostname TEXT NOT NULL,
                        installDir TEXT NOT NULL,
                        installerID TEXT NOT NULL,
                        certificateSerial TEXT NOT NULL,
                        certificateExpiresAt DOUBLE NOT NULL,
                        enrolledAt DOUBLE NOT NULL,
                        lastContact DOUBLE,
                        state TEXT NOT NULL,
                        stateChangedAt DOUBLE NOT NULL,
                        lastCommandSequence INTEGER NOT NULL
                    );
                    CREATE TABLE clientStats (
                        clientID TEXT PRIMARY KEY NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        updatedAt DOUBLE NOT NULL,
                        report BLOB NOT NULL,
                        thumbnail BLOB
                    );
                    CREATE TABLE audit (
                        id INTEGER PRIMARY KEY,
                        at DOUBLE NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        previousHash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE TRIGGER auditNoUpdate BEFORE UPDATE ON audit
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER auditNoDelete BEFORE DELETE ON audit
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """
            )
        }
        migrator.registerMigration("v2: renewed certificates") { db in
            try db.execute(
                sql: """
                    ALTER TABLE client ADD COLUMN previousCertificateSerial TEXT;
                    ALTER TABLE client ADD COLUMN previousCertificateAcceptedUntil DOUBLE;
                    """
            )
        }
        // Policy values are stored as the JSON of their JumpPolicy types, one row each; what attaches to an
        // account, a Jump Group or a Jump Client has its own table, so that removing the row removes it too.
        migrator.registerMigration("v3: access control") { db in
            try db.execute(
                sql: """
                    CREATE TABLE policyObject (
                        kind TEXT NOT NULL,
                        id INTEGER NOT NULL,
                        name TEXT COLLATE NOCASE,
                        position INTEGER,
                        body BLOB NOT NULL,
                        PRIMARY KEY (kind, id),
                        UNIQUE (kind, name)
                    );
                    CREATE TABLE userAccess (
                        userID INTEGER PRIMARY KEY NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        body BLOB NOT NULL
                    );
                    CREATE TABLE jumpGroupMember (
                        groupID INTEGER NOT NULL REFERENCES jumpGroup(id) ON DELETE CASCADE,
                        userID INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        role INTEGER,
                        PRIMARY KEY (groupID, userID)
                    );
                    CREATE TABLE clientAccess (
                        clientID TEXT PRIMARY KEY NOT NULL REFERENCES client(id) ON DELETE CASCADE,
                        jumpPolicy INTEGER,
                        customerPresentSessionPolicy INTEGER,
                        customerNotPresentSessionPolicy INTEGER
                    );
                    CREATE TABLE userMFA (
                        userID INTEGER PRIMARY KEY NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        secret BLOB NOT NULL,
                        confirmed INTEGER NOT NULL,
                        lastStep INTEGER,
                        failures INTEGER NOT NULL,
                        lockedUntil DOUBLE
                    );
                    """
            )
            try seedGlobalDefault(db)
        }
        // A session is a JSON row like the policy values; the columns a listing filters and sorts on are
        // copied out of it. No foreign key to the client: the record outlives a deleted Jump Client.
        migrator.registerMigration("v4: jump sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jumpSession (
                        id TEXT PRIMARY KEY NOT NULL,
                        clientID TEXT NOT NULL,
                        state TEXT NOT NULL,
                        startedAt DOUBLE NOT NULL,
                        body BLOB NOT NULL
                    );
                    CREATE INDEX jumpSessionByClient ON jumpSession (clientID, startedAt);
                    CREATE INDEX jumpSessionByStart ON jumpSession (startedAt);
                    """
            )
        }
        return migrator
    }

    // MARK: Running statements

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.read(body)
        } catch let error as DatabaseError {
            throw Self.storeError(error)
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result: T
        do {
            result = try await writer.write(body)
        } catch let error as DatabaseError {
            pendingHead.withLock { $0 = nil }
            throw Self.storeError(error)
        } catch {
            pendingHead.withLock { $0 = nil }
            throw error
        }
        if let head = pendingHead.withLock({ head in defer { head = nil }; return head }), let auditHeadFile {
            Self.writeHead(head, to: auditHeadFile)
        }
        return result
    }

    /// Best effort: a head file one record behind (a crash between commit and this write) is allowed
    /// by verification; one ahead of the database means records were removed.
    private static func writeHead(_ head: (id: Int64, hash: String), to url: URL) {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        let data = Data("\(head.id) \(head.hash)\n".utf8)
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        let written = data.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        if written == data.count, synced { rename(temporary.path, url.path) }
    }

    private func readHead() -> (id: Int64, hash: String)? {
        guard let auditHeadFile, let text = try? String(contentsOf: auditHeadFile, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard parts.count == 2, let id = Int64(parts[0]) else { return nil }
        return (id, parts[1])
    }

    static func storeError(_ error: DatabaseError) -> StoreError {
        switch error.resultCode {
        case .SQLITE_CONSTRAINT:
            StoreError(.duplicate, error.message ?? "constraint failed")
        case .SQLITE_FULL:
            StoreError(.unavailable, "the disk is full; nothing was changed")
        default:
            StoreError(.unavailable, "database error: \(error.message ?? "\(error.resultCode)")")
        }
    }

    // MARK: Jump sessions

    private static let sessionEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    private static func sessionBody(_ session: JumpSessionRecord) throws -> Data {
        try sessionEncoder.encode(session)
    }

    private static func session(_ row: Row) throws -> JumpSessionRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try decoder.decode(JumpSessionRecord.self, from: row["body"] as Data)
    }

    public func createJumpSession(_ session: JumpSessionRecord, audit: AuditEvent) async throws {
        let body = try Self.sessionBody(session)
        try await write { db in
            try db.execute(
                sql: "INSERT INTO jumpSession (id, clientID, state, startedAt, body) VALUES (?, ?, ?, ?, ?)",
                arguments: [session.id, session.clientID, session.state.rawValue, session.startedAt.timeIntervalSince1970, body]
            )
            try self.append(audit, db)
        }
    }

    public func updateJumpSession(_ session: JumpSessionRecord, audit: AuditEvent?) async throws {
        let body = try Self.sessionBody(session)
        try await write { db in
            // A change to a live session (a join, an invitation) never overwrites its end, whatever the order in
            // which the writes arrive.
            try db.execute(
                sql: "UPDATE jumpSession SET state = ?, body = ? WHERE id = ? AND (? = 'ended' OR state = 'active')",
                arguments: [session.state.rawValue, body, session.id, session.state.rawValue]
            )
            if db.changesCount == 0, try Row.fetchOne(db, sql: "SELECT 1 FROM jumpSession WHERE id = ?", arguments: [session.id]) == nil {
                throw StoreError(.notFound, "no session \(session.id)")
            }
            if let audit { try self.append(audit, db) }
        }
    }

    public func jumpSession(id: String) async throws -> JumpSessionRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT body FROM jumpSession WHERE id = ?", arguments: [id]).map(Self.session)
        }
    }

    public func jumpSessions(_ filter: JumpSessionFilter) async throws -> [JumpSessionRecord] {
        try await read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let clientID = filter.clientID {
                conditions.append("clientID = ?")
                arguments += [clientID]
            }
            if filter.activeOnly {
                conditions.append("state = ?")
                arguments += [JumpSessionRecord.State.active.rawValue]
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [max(filter.limit, 0)]
            return try Row.fetchAll(
                db,
                sql: "SELECT body FROM jumpSession \(whereClause) ORDER BY startedAt DESC, id LIMIT ?",
                arguments: arguments
            ).map(Self.session)
        }
    }

    // MARK: Settings

    public func settings() async throws -> [String: String] {
        try await read { db in
            var values: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM setting") {
                values[row["key"]] = row["value"]
            }
            return values
        }
    }

    public func setSettings(_ values: [String: String], audit: AuditEvent) async throws {
        try await write { db in
            for (key, value) in values {
                try db.execute(
                    sql: "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    arguments: [key, value]
                )
            }
            try self.append(audit, db)
        }
    }

    // MARK: Users and sessions

    static func user(_ row: Row) -> User {
        User(
            id: row["id"],
            name: row["name"],
            passwordHash: row["passwordHash"],
            role: User.Role(rawValue: row["role"]) ?? .representative,
            createdAt: Date(timeIntervalSince1970: row["createdAt"])
        )
    }

    public func users() async throws -> [User] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM user ORDER BY name").map(Self.user) }
    }

    public func user(named name: String) async throws -> User? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM user WHERE name = ?", arguments: [name]).map(Self.user) }
    }

    public func user(id: Int64) async throws -> User? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM user WHERE id = ?", arguments: [id]).map(Self.user) }
    }

    public func createUser(_ user: User, audit: AuditEvent) async throws -> User {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO user (name, passwordHash, role, createdAt) VALUES (?, ?, ?, ?)",
                arguments: [user.name, user.passwordHash, user.role.rawValue, user.createdAt.timeIntervalSince1970]
            )
            var created = user
            created.id = db.lastInsertedRowID
            try self.append(audit, db)
            return created
        }
    }

    public func createSession(_ session: APISession) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO apiSession (tokenHash, userID, createdAt, expiresAt) VALUES (?, ?, ?, ?)",
                arguments: [
                    session.tokenHash, session.userID, session.createdAt.timeIntervalSince1970,
                    session.expiresAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func session(tokenHash: String) async throws -> APISession? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM apiSession WHERE tokenHash = ?", arguments: [tokenHash]).map { row in
                APISession(
                    tokenHash: row["tokenHash"],
                    userID: row["userID"],
                    createdAt: Date(timeIntervalSince1970: row["createdAt"]),
                    expiresAt: Date(timeIntervalSince1970: row["expiresAt"])
                )
            }
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM apiSession WHERE tokenHash = ?", arguments: [tokenHash]) }
    }

    public func deleteSessions(expiredBefore date: Date) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM apiSession WHERE expiresAt < ?", arguments: [date.timeIntervalSince1970])
        }
    }

    // MARK: Groups

    static func group(_ row: Row) -> JumpGroup {
        JumpGroup(id: row["id"], name: row["name"], codeName: row["codeName"], comments: row["comments"])
    }

    public func groups() async throws -> [JumpGroup] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM jumpGroup ORDER BY name").map(Self.group) }
    }

    public func group(named name: String) async throws -> JumpGroup? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jumpGroup WHERE name = ?", arguments: [name]).map(Self.group)
        }
    }

    public func group(id: Int64) async throws -> JumpGroup? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM jumpGroup WHERE id = ?", arguments: [id]).map(Self.group) }
    }

    public func createGroup(_ group: JumpGroup, audit: AuditEvent) async throws -> JumpGroup {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO jumpGroup (name, codeName, comments) VALUES (?, ?, ?)",
                arguments: [group.name, group.codeName, group.comments]
            )
            var created = group
            created.id = db.lastInsertedRowID
            try self.append(audit, db)
            return created
        }
    }

    // MARK: Installers

    private static func installer(_ row: Row) -> Installer {
        let overrides = (row["allowedOverrides"] as String).split(separator: ",").compactMap {
            InstallOverride(rawValue: String($0))
        }
        return Installer(
            id: row["id"],
            tokenHash: row["tokenHash"],
            createdAt: Date(timeIntervalSince1970: row["createdAt"]),
            createdBy: row["createdBy"],
            expiresAt: Date(timeIntervalSince1970: row["expiresAt"]),
            maxUses: row["maxUses"],
            uses: row["uses"],
            groupID: row["groupID"],
            jumpPolicy: row["jumpPolicy"],
            name: row["name"],
            tag: row["tag"],
            comments: row["comments"],
            allowedOverrides: Set(overrides)
        )
    }

    public func installers() async throws -> [Installer] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM installer ORDER BY createdAt").map(Self.installer) }
    }

    public func installer(id: String) async throws -> Installer? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM installer WHERE id = ?", arguments: [id]).map(Self.installer)
        }
    }

    public func installer(tokenHash: String) async throws -> Installer? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM installer WHERE tokenHash = ?", arguments: [tokenHash]).map(Self.installer)
        }
    }

    public func createInstaller(_ installer: Installer, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO installer (id, tokenHash, createdAt, createdBy, expiresAt, maxUses, uses, groupID,
                        jumpPolicy, name, tag, comments, allowedOverrides)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    installer.id, installer.tokenHash, installer.createdAt.timeIntervalSince1970, installer.createdBy,
                    installer.expiresAt.timeIntervalSince1970, installer.maxUses, installer.uses, installer.groupID,
                    installer.jumpPolicy, installer.name, installer.tag, installer.comments,
                    installer.allowedOverrides.map(\.rawValue).sorted().joined(separator: ","),
                ]
            )
            try self.append(audit, db)
        }
    }

    public func deleteInstaller(id: String, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM installer WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try self.append(audit, db)
            return true
        }
    }

    public func extendInstaller(id: String, until expiry: Date, audit: AuditEvent) async throws -> Installer? {
        try await write { db in
            try db.execute(
                sql: "UPDATE installer SET expiresAt = ? WHERE id = ?",
                arguments: [expiry.timeIntervalSince1970, id]
            )
            guard db.changesCount > 0 else { return nil }
            try self.append(audit, db)
            return try Row.fetchOne(db, sql: "SELECT * FROM installer WHERE id = ?", arguments: [id]).map(Self.installer)
        }
    }

    // MARK: Clients

    static func client(_ row: Row) -> ClientRecord {
        ClientRecord(
            id: row["id"],
            name: row["name"],
            groupID: row["groupID"],
            tag: row["tag"],
            comments: row["comments"],
            jumpPolicy: row["jumpPolicy"],
            hostname: row["hostname"],
            installDir: row["installDir"],
            installerID: row["installerID"],
            certificateSerial: row["certificateSerial"],
            certificateExpiresAt: Date(timeIntervalSince1970: row["certificateExpiresAt"]),
            previousCertificateSerial: row["previousCertificateSerial"],
            previousCertificateAcceptedUntil: (row["previousCertificateAcceptedUntil"] as Double?).map(Date.init(timeIntervalSince1970:)),
            enrolledAt: Date(timeIntervalSince1970: row["enrolledAt"]),
            lastContact: (row["lastContact"] as Double?).map(Date.init(timeIntervalSince1970:)),
            state: ClientRecord.State(rawValue: row["state"]) ?? .deleted,
            stateChangedAt: Date(timeIntervalSince1970: row["stateChangedAt"]),
            lastCommandSequence: row["lastCommandSequence"]
        )
    }

    private static func arguments(_ c: ClientRecord) -> StatementArguments {
        [
            "id": c.id, "name": c.name, "groupID": c.groupID, "tag": c.tag, "comments": c.comments,
            "jumpPolicy": c.jumpPolicy, "hostname": c.hostname, "installDir": c.installDir,
            "installerID": c.installerID, "certificateSerial": c.certificateSerial,
            "certificateExpiresAt": c.certificateExpiresAt.timeIntervalSince1970,
            "previousCertificateSerial": c.previousCertificateSerial,
            "previousCertificateAcceptedUntil": c.previousCertificateAcceptedUntil?.timeIntervalSince1970,
            "enrolledAt": c.enrolledAt.timeIntervalSince1970,
            "lastContact": c.lastContact?.timeIntervalSince1970, "state": c.state.rawValue,
            "stateChangedAt": c.stateChangedAt.timeIntervalSince1970, "lastCommandSequence": c.lastCommandSequence,
        ]
    }

    public func clients() async throws -> [ClientRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM client ORDER BY name, id").map(Self.client) }
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM client WHERE id = ?", arguments: [id]).map(Self.client) }
    }

    public func registerClient(_ client: ClientRecord, installerID: String, now: Date, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE installer SET uses = uses + 1
                    WHERE id = ? AND expiresAt > ? AND (maxUses IS NULL OR uses < maxUses)
                    """,
                arguments: [installerID, now.timeIntervalSince1970]
            )
            guard db.changesCount == 1 else {
                throw StoreError(.installerUnavailable, "the installer is deleted, expired or used up")
            }
            try db.execute(
                sql: """
                    INSERT INTO client (id, name, groupID, tag, comments, jumpPolicy, hostname, installDir, installerID,
                        certificateSerial, certificateExpiresAt, previousCertificateSerial,
                        previousCertificateAcceptedUntil, enrolledAt, lastContact, state, stateChangedAt,
                        lastCommandSequence)
                    VALUES (:id, :name, :groupID, :tag, :comments, :jumpPolicy, :hostname, :installDir, :installerID,
                        :certificateSerial, :certificateExpiresAt, :previousCertificateSerial,
                        :previousCertificateAcceptedUntil, :enrolledAt, :lastContact, :state, :stateChangedAt,
                        :lastCommandSequence)
                    """,
                arguments: Self.arguments(client)
            )
            try self.append(audit, db)
        }
    }

    public func updateClient(_ client: ClientRecord, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE client SET name = :name, groupID = :groupID, tag = :tag, comments = :comments,
                        jumpPolicy = :jumpPolicy, hostname = :hostname, installDir = :installDir,
                        installerID = :installerID, certificateSerial = :certificateSerial,
                        certificateExpiresAt = :certificateExpiresAt,
                        previousCertificateSerial = :previousCertificateSerial,
                        previousCertificateAcceptedUntil = :previousCertificateAcceptedUntil, enrolledAt = :enrolledAt,
                        lastContact = :lastContact, state = :state, stateChangedAt = :stateChangedAt,
                        lastCommandSequence = :lastCommandSequence
                    WHERE id = :id
                    """,
                arguments: Self.arguments(client)
            )
            guard db.changesCount == 1 else { throw StoreError(.notFound, "no Jump Client \(client.id)") }
            try self.append(audit, db)
        }
    }

    public func renewClientCertificate(
        id: String,
        replacing current: String,
        serial: String,
        expiresAt: Date,
        previousSerial: String,
        previousAcceptedUntil: Date,
        audit: AuditEvent
    ) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE client SET certificateSerial = ?, certificateExpiresAt = ?,
                        previousCertificateSerial = ?, previousCertificateAcceptedUntil = ?
                    WHERE id = ? AND state = 'active' AND certificateSerial = ?
                    """,
                arguments: [
                    serial, expiresAt.timeIntervalSince1970, previousSerial,
                    previousAcceptedUntil.timeIntervalSince1970, id, current,
                ]
            )
            guard db.changesCount == 1 else { return false }
            try self.append(audit, db)
            return true
        }
    }

    // MARK: Statistics

    public func saveStats(_ stats: [ClientStats], contacts: [String: Date]) async throws {
        guard !stats.isEmpty || !contacts.isEmpty else { return }
        try await write { db in
            let upsert = try db.cachedStatement(
                sql: """
                    INSERT INTO clientStats (clientID, updatedAt, report, thumbnail) VALUES (?, ?, ?, ?)
                    ON CONFLICT(clientID) DO UPDATE SET updatedAt = excluded.updatedAt, report = excluded.report,
                        thumbnail = excluded.thumbnail
                    """
            )
            // A report whose picture did not change leaves the stored one: the common case, and a write of
            // a few hundred bytes rather than tens of kilobytes.
            let upsertKeepingThumbnail = try db.cachedStatement(
                sql: """
                    INSERT INTO clientStats (clientID, updatedAt, report, thumbnail) VALUES (?, ?, ?, NULL)
                    ON CONFLICT(clientID) DO UPDATE SET updatedAt = excluded.updatedAt, report = excluded.report
                    """
            )
            // Prepared once, like the others: parsing this SQL anew for each row was most of the writer's
            // cost. (One `INSERT ... SELECT ... WHERE EXISTS` in place of the two statements made SQLite map
            // and unmap a buffer of 16 KiB or more for every row: the appliance maps allocations from that
            // size on their own, `HeapTuning`.)
            let known = try db.cachedStatement(sql: "SELECT 1 FROM client WHERE id = ?")
            for entry in stats {
                // Statistics of a client deleted meanwhile are dropped, rather than failing the foreign key and the batch.
                guard try Bool.fetchOne(known, arguments: [entry.clientID]) ?? false else { continue }
                let time = entry.updatedAt.timeIntervalSince1970
                switch entry.thumbnail {
                case .stored:
                    try upsertKeepingThumbnail.execute(arguments: [entry.clientID, time, entry.report])
                case .none:
                    try upsert.execute(arguments: [entry.clientID, time, entry.report, nil as Data?])
                case .jpeg(let jpeg):
                    try upsert.execute(arguments: [entry.clientID, time, entry.report, jpeg])
                }
            }
            let contact = try db.cachedStatement(sql: "UPDATE client SET lastContact = ? WHERE id = ?")
            for (id, date) in contacts {
                try contact.execute(arguments: [date.timeIntervalSince1970, id])
            }
        }
    }

    private static func stats(_ row: Row, withThumbnail: Bool) -> ClientStats {
        let thumbnail: ClientStats.Thumbnail
        if withThumbnail {
            thumbnail = (row["thumbnail"] as Data?).map { .jpeg($0) } ?? .none
        } else {
            thumbnail = row["hasThumbnail"] == true ? .stored : .none
        }
        return ClientStats(
            clientID: row["clientID"],
            updatedAt: Date(timeIntervalSince1970: row["updatedAt"]),
            report: row["report"],
            thumbnail: thumbnail
        )
    }

    public func stats(clientID: String) async throws -> ClientStats? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM clientStats WHERE clientID = ?", arguments: [clientID])
                .map { Self.stats($0, withThumbnail: true) }
        }
    }

    public func allStats() async throws -> [ClientStats] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT clientID, updatedAt, report, thumbnail IS NOT NULL AS hasThumbnail FROM clientStats"
            ).map { Self.stats($0, withThumbnail: false) }
        }
    }

    // MARK: Audit log

    public func appendAudit(_ event: AuditEvent) async throws {
        try await write { db in try self.append(event, db) }
    }

    /// Appends inside the caller's transaction: the record's hash covers its fields and the previous
    /// record's hash, so editing or removing any record breaks the chain from there on.
    func append(_ event: AuditEvent, _ db: Database, at date: Date = Date()) throws {
        let last = try Row.fetchOne(db, sql: "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
        let id: Int64 = (last?["id"] as Int64? ?? 0) + 1
        let previousHash: String = last?["hash"] ?? ""
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let hash = AuditChain.hash(
            key: auditKey,
            id: id,
            milliseconds: Int64(milliseconds),
            event: event,
            previousHash: previousHash
        )
        try db.execute(
            sql: "INSERT INTO audit (id, at, actor, action, target, detail, previousHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [id, milliseconds / 1000, event.actor, event.action, event.target, event.detail, previousHash, hash]
        )
        pendingHead.withLock { $0 = (id, hash) }
    }

    private static func audit(_ row: Row) -> AuditRecord {
        AuditRecord(
            id: row["id"],
            at: Date(timeIntervalSince1970: row["at"]),
            actor: row["actor"],
            action: row["action"],
            target: row["target"],
            detail: row["detail"],
            previousHash: row["previousHash"],
            hash: row["hash"]
        )
    }

    public func auditRecords(afterID: Int64, limit: Int) async throws -> [AuditRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", arguments: [afterID, limit])
                .map(Self.audit)
        }
    }

    public func verifyAudit() async throws -> AuditVerification {
        let head = readHead()
        let auditKey = self.auditKey
        return try await read { db in
            var expectedID: Int64 = 1
            var previousHash = ""
            var count = 0
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY id")
            while let row = try cursor.next() {
                let record = Self.audit(row)
                count += 1
                func bad(_ problem: String) -> AuditVerification {
                    AuditVerification(records: count, intact: false, firstBadRecord: record.id, problem: problem)
                }
                if record.id != expectedID {
                    return bad("record \(expectedID) is missing")
                }
                if record.previousHash != previousHash {
                    return bad("record \(record.id) does not follow the record before it")
                }
                let event = AuditEvent(actor: record.actor, action: record.action, target: record.target, detail: record.detail)
                let hash = AuditChain.hash(
                    key: auditKey,
                    id: record.id,
                    milliseconds: Int64((record.at.timeIntervalSince1970 * 1000).rounded()),
                    event: event,
                    previousHash: record.previousHash
                )
                if hash != record.hash {
                    return bad("record \(record.id) was changed after it was written")
                }
                previousHash = record.hash
                expectedID += 1
            }
            let lastID = expectedID - 1
            if let head {
                if head.id > lastID {
                    return AuditVerification(
                        records: count,
                        intact: false,
                        firstBadRecord: lastID + 1,
                        problem: "records from \(lastID + 1) to \(head.id) were removed from the end of the log"
                    )
                }
                if head.id == lastID, head.hash != previousHash {
                    return AuditVerification(records: count, intact: false, firstBadRecord: lastID, problem: "the last record does not match the audit head")
                }
            }
            return AuditVerification(records: count, intact: true, firstBadRecord: nil, problem: nil)
        }
    }
}

/// The audit chain's hash: HMAC-SHA256, under a key kept outside the database, of the record's fields
/// (each length-prefixed so that no two different records serialise alike) and the previous record's
/// hash. Someone who can write the database but not read the key cannot re-chain edited records.
enum AuditChain {
    static func hash(key: Data, id: Int64, milliseconds: Int64, event: AuditEvent, previousHash: String) -> String {
        var hasher = HMAC<SHA256>(key: SymmetricKey(data: key))
        func field(_ bytes: some Collection<UInt8>) {
            hasher.update(data: withUnsafeBytes(of: UInt64(bytes.count).bigEndian, Array.init))
            hasher.update(data: Array(bytes))
        }
        field(withUnsafeBytes(of: id.bigEndian, Array.init))
        field(withUnsafeBytes(of: milliseconds.bigEndian, Array.init))
        field(Array(event.actor.utf8))
        field(Array(event.action.utf8))
        field(Array(event.target.utf8))
        field(Array(event.detail.utf8))
        field(Array(previousHash.utf8))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
