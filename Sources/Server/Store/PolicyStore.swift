public import Foundation
import GRDB
import JumpPolicy

/// The kinds of row in `policyObject`; the raw value is what the `kind` column holds.
enum PolicyKind: String, CaseIterable {
    case role
    case jumpPolicy
    case sessionPolicy
    case globalDefaultSessionPolicy
    case groupPolicy
    case publicPortal
}

/// How policy values become stored bytes: their own Codable form, with sorted keys so equal values are equal bytes.
enum PolicyCoding {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(value)
    }

    static func decode<Value: Decodable>(
        _ type: Value.Type,
        from data: Data,
        what: @autoclosure () -> String
    ) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw StoreError(
                .unavailable,
                "the stored \(what()) cannot be read (\(error)); restore the database from a backup"
            )
        }
    }
}

/// A user's TOTP enrollment. The secret stays in the store: it is shown once, when the enrollment starts.
public struct MFAEnrollment: Hashable, Sendable {
    public var userID: Int64
    public var secret: [UInt8]
    /// False until a code from the authenticator app was accepted: until then the secret only proves the app works.
    public var confirmed: Bool
    /// The time step of the last accepted code; codes at or before it are replays.
    public var lastAcceptedStep: Int64?
    /// Wrong codes since the last accepted one.
    public var failures: Int
    public var lockedUntil: Date?

    public init(
        userID: Int64,
        secret: [UInt8],
        confirmed: Bool,
        lastAcceptedStep: Int64? = nil,
        failures: Int = 0,
        lockedUntil: Date? = nil
    ) {
        self.userID = userID
        self.secret = secret
        self.confirmed = confirmed
        self.lastAcceptedStep = lastAcceptedStep
        self.failures = failures
        self.lockedUntil = lockedUntil
    }
}

// MARK: Policy values

extension SQLiteStore {
    public func policyData() async throws -> PolicyData {
        try await read { db in try Self.loadPolicyData(db) }
    }

    public func updatePolicy<Result: Sendable>(
        _ change: @escaping @Sendable (inout PolicyData) throws -> (result: Result, audit: AuditEvent)
    ) async throws -> Result {
        try await write { db in
            let old = try Self.loadPolicyData(db)
            var new = old
            let (result, audit) = try change(&new)
            try new.validate()
            try Self.savePolicyData(from: old, to: new, db)
            try self.append(audit, db)
            return result
        }
    }

    /// The global default session policy a new appliance starts with (a migration step: it must not change).
    static func seedGlobalDefault(_ db: Database) throws {
        try upsertObject(
            .globalDefaultSessionPolicy,
            id: PolicyData.globalDefaultID.rawValue,
            name: nil,
            position: nil,
            body: PolicyData.initialGlobalDefault,
            db
        )
    }

    static func loadPolicyData(_ db: Database) throws -> PolicyData {
        var data = PolicyData(
            accounts: try Row.fetchAll(db, sql: "SELECT * FROM user ORDER BY id").map(Self.user),
            groups: try Row.fetchAll(db, sql: "SELECT * FROM jumpGroup ORDER BY id").map(Self.group),
            clients: try Row.fetchAll(
                db,
                sql: "SELECT * FROM client WHERE state != ? ORDER BY id",
                arguments: [
                    ClientRecord.State.deleted.rawValue
                ]
            ).map(Self.client)
        )
        let rows = try Row.fetchAll(db, sql: "SELECT kind, id, body FROM policyObject ORDER BY kind, position, id")
        for row in rows {
            let id: Int64 = row["id"]
            let body: Data = row["body"]
            guard let kind = PolicyKind(rawValue: row["kind"]) else { continue }
            let what = "\(kind.rawValue) \(id)"
            switch kind {
            case .role:
                let role = try PolicyCoding.decode(JumpItemRole.self, from: body, what: what)
                data.roles[role.id] = role
            case .jumpPolicy:
                let policy = try PolicyCoding.decode(JumpPolicy.self, from: body, what: what)
                data.jumpPolicies[policy.id] = policy
            case .sessionPolicy:
                let policy = try PolicyCoding.decode(SessionPolicy.self, from: body, what: what)
                data.sessionPolicies[policy.id] = policy
            case .globalDefaultSessionPolicy:
                data.globalDefaultSessionPolicy = try PolicyCoding.decode(SessionPolicy.self, from: body, what: what)
            case .groupPolicy:
                data.groupPolicies.append(try PolicyCoding.decode(GroupPolicy.self, from: body, what: what))
            case .publicPortal:
                let portal = try PolicyCoding.decode(PublicPortal.self, from: body, what: what)
                data.publicPortals[portal.id] = portal
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT userID, body FROM userAccess") {
            let id = UserID(row["userID"])
            data.userAccess[id] = try PolicyCoding.decode(
                JumpPolicy::User.self,
                from: row["body"],
                what: "access of user \(id)"
            )
        }
        for row in try Row.fetchAll(
            db,
            sql: "SELECT groupID, userID, role FROM jumpGroupMember ORDER BY groupID, userID"
        ) {
            let member = JumpPolicy::JumpGroup.Member(
                user: UserID(row["userID"]),
                role: (row["role"] as Int64?).map(JumpItemRoleID.init)
            )
            data.groupMembers[JumpGroupID(row["groupID"]), default: []].append(member)
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM clientAccess") {
            data.clientAccess[JumpItemID(rawValue: row["clientID"])] = ClientAccess(
                jumpPolicy: row["jumpPolicy"],
                customerPresentSessionPolicy: (row["customerPresentSessionPolicy"] as Int64?).map(SessionPolicyID.init),
                customerNotPresentSessionPolicy: (row["customerNotPresentSessionPolicy"] as Int64?).map(
                    SessionPolicyID.init
                )
            )
        }
        return data
    }

    /// Writes what differs between `old` and `new`: deletions first, so a name freed by one row can be taken by another.
    static func savePolicyData(from old: PolicyData, to new: PolicyData, _ db: Database) throws {
        try saveObjects(.role, old.roles, new.roles, id: \.rawValue, name: \.name, db)
        try saveObjects(.jumpPolicy, old.jumpPolicies, new.jumpPolicies, id: { $0 }, name: \.name, db)
        try saveObjects(.sessionPolicy, old.sessionPolicies, new.sessionPolicies, id: \.rawValue, name: \.name, db)
        try saveObjects(.publicPortal, old.publicPortals, new.publicPortals, id: \.rawValue, name: \.name, db)
        if old.globalDefaultSessionPolicy != new.globalDefaultSessionPolicy {
            try upsertObject(
                .globalDefaultSessionPolicy,
                id: PolicyData.globalDefaultID.rawValue,
                name: nil,
                position: nil,
                body: new.globalDefaultSessionPolicy,
                db
            )
        }

        let kept = Set(new.groupPolicies.map(\.id))
        for policy in old.groupPolicies where !kept.contains(policy.id) {
            try deleteObject(.groupPolicy, id: policy.id.rawValue, db)
        }
        let oldPositions = Dictionary(uniqueKeysWithValues: old.groupPolicies.enumerated().map { ($1.id, ($0, $1)) })
        for (position, policy) in new.groupPolicies.enumerated() {
            if let (oldPosition, oldPolicy) = oldPositions[policy.id], oldPosition == position, oldPolicy == policy {
                continue
            }
            try upsertObject(
                .groupPolicy,
                id: policy.id.rawValue,
                name: policy.name,
                position: position,
                body: policy,
                db
            )
        }

        for id in Set(old.userAccess.keys).union(new.userAccess.keys) where old.userAccess[id] != new.userAccess[id] {
            if let settings = new.userAccess[id] {
                try db.execute(
                    sql: """
                        INSERT INTO userAccess (userID, body) VALUES (?, ?)
                        ON CONFLICT(userID) DO UPDATE SET body = excluded.body
                        """,
                    arguments: [id.rawValue, try PolicyCoding.encode(settings)]
                )
            } else {
                try db.execute(sql: "DELETE FROM userAccess WHERE userID = ?", arguments: [id.rawValue])
            }
        }

        for group in Set(old.groupMembers.keys).union(new.groupMembers.keys)
        where old.groupMembers[group] ?? [] != new.groupMembers[group] ?? [] {
            try db.execute(sql: "DELETE FROM jumpGroupMember WHERE groupID = ?", arguments: [group.rawValue])
            for member in new.groupMembers[group] ?? [] {
                try db.execute(
                    sql: "INSERT INTO jumpGroupMember (groupID, userID, role) VALUES (?, ?, ?)",
                    arguments: [group.rawValue, member.user.rawValue, member.role?.rawValue]
                )
            }
        }

        for client in Set(old.clientAccess.keys).union(new.clientAccess.keys)
        where old.clientAccess[client] != new.clientAccess[client] {
            guard let access = new.clientAccess[client] else {
                try db.execute(sql: "DELETE FROM clientAccess WHERE clientID = ?", arguments: [client.rawValue])
                continue
            }
            try db.execute(
                sql: """
                    INSERT INTO clientAccess (clientID, jumpPolicy, customerPresentSessionPolicy,
                        customerNotPresentSessionPolicy)
                    VALUES (?, ?, ?, ?)
                    ON CONFLICT(clientID) DO UPDATE SET jumpPolicy = excluded.jumpPolicy,
                        customerPresentSessionPolicy = excluded.customerPresentSessionPolicy,
                        customerNotPresentSessionPolicy = excluded.customerNotPresentSessionPolicy
                    """,
                arguments: [
                    client.rawValue, access.jumpPolicy, access.customerPresentSessionPolicy?.rawValue,
                    access.customerNotPresentSessionPolicy?.rawValue,
                ]
            )
        }
    }

    private static func saveObjects<ID: Hashable, Value: Encodable & Equatable>(
        _ kind: PolicyKind,
        _ old: [ID: Value],
        _ new: [ID: Value],
        id: (ID) -> Int64,
        name: (Value) -> String,
        _ db: Database
    ) throws {
        for key in old.keys where new[key] == nil {
            try deleteObject(kind, id: id(key), db)
        }
        for (key, value) in new.sorted(by: { id($0.key) < id($1.key) }) where old[key] != value {
            try upsertObject(kind, id: id(key), name: name(value), position: nil, body: value, db)
        }
    }

    private static func upsertObject(
        _ kind: PolicyKind,
        id: Int64,
        name: String?,
        position: Int?,
        body: some Encodable,
        _ db: Database
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO policyObject (kind, id, name, position, body) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(kind, id) DO UPDATE SET name = excluded.name, position = excluded.position,
                    body = excluded.body
                """,
            arguments: [kind.rawValue, id, name, position, try PolicyCoding.encode(body)]
        )
    }

    private static func deleteObject(_ kind: PolicyKind, id: Int64, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM policyObject WHERE kind = ? AND id = ?", arguments: [kind.rawValue, id])
    }
}

// MARK: Multi-factor authentication

extension SQLiteStore {
    private static func mfa(_ row: Row) -> MFAEnrollment {
        MFAEnrollment(
            userID: row["userID"],
            secret: [UInt8](row["secret"] as Data),
            confirmed: row["confirmed"],
            lastAcceptedStep: row["lastStep"],
            failures: row["failures"],
            lockedUntil: (row["lockedUntil"] as Double?).map(Date.init(timeIntervalSince1970:))
        )
    }

    public func mfaEnrollment(userID: Int64) async throws -> MFAEnrollment? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM userMFA WHERE userID = ?", arguments: [userID]).map(Self.mfa)
        }
    }

    public func startMFAEnrollment(userID: Int64, secret: [UInt8], audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO userMFA (userID, secret, confirmed, lastStep, failures, lockedUntil)
                    VALUES (?, ?, 0, NULL, 0, NULL)
                    ON CONFLICT(userID) DO UPDATE SET secret = excluded.secret, lastStep = NULL, failures = 0,
                        lockedUntil = NULL
                    WHERE userMFA.confirmed = 0
                    """,
                arguments: [userID, Data(secret)]
            )
            guard db.changesCount == 1 else {
                throw StoreError(.duplicate, "multi-factor authentication is already enrolled; remove it first")
            }
            try self.append(audit, db)
        }
    }

    public func acceptMFAStep(
        userID: Int64,
        step: Int64,
        confirming: Bool,
        now: Date,
        audit: AuditEvent
    ) async throws -> Bool {
        try await write { db in
            // The step condition makes the check and the update one statement: of two requests with the same
            // code, only one changes the row.
            try db.execute(
                sql: """
                    UPDATE userMFA SET confirmed = 1, lastStep = ?, failures = 0, lockedUntil = NULL
                    WHERE userID = ? AND confirmed = ? AND (lastStep IS NULL OR lastStep < ?)
                        AND (lockedUntil IS NULL OR lockedUntil <= ?)
                    """,
                arguments: [step, userID, confirming ? 0 : 1, step, now.timeIntervalSince1970]
            )
            guard db.changesCount == 1 else { return false }
            try self.append(audit, db)
            return true
        }
    }

    public func recordMFAFailure(
        userID: Int64,
        lockAfter maximumFailures: Int,
        until lockedUntil: Date,
        audit: AuditEvent
    ) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE userMFA SET failures = failures + 1,
                        lockedUntil = CASE WHEN failures + 1 >= ? THEN ? ELSE lockedUntil END
                    WHERE userID = ?
                    """,
                arguments: [maximumFailures, lockedUntil.timeIntervalSince1970, userID]
            )
            try self.append(audit, db)
        }
    }

    public func deleteMFAEnrollment(userID: Int64, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM userMFA WHERE userID = ?", arguments: [userID])
            guard db.changesCount == 1 else { return false }
            try self.append(audit, db)
            return true
        }
    }
}
