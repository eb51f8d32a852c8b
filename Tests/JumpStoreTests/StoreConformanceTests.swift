import Foundation
import JumpStore
import Testing

/// The behaviour every ``Store`` must have, run against each implementation: SQLite in a file (as the
/// appliance runs it) and SQLite in memory.
@Suite struct StoreConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqliteFile = "SQLite file"
        case sqliteMemory = "SQLite in memory"
        var testDescription: String { rawValue }
    }

    static func makeStore(_ kind: Kind) throws -> any Store {
        switch kind {
        case .sqliteFile:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try SQLiteStore(
                path: directory.appendingPathComponent("jump.sqlite").path,
                auditKey: Data(repeating: 7, count: 32),
                auditHeadFile: directory.appendingPathComponent("audit-head")
            )
        case .sqliteMemory:
            return try SQLiteStore()
        }
    }

    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static func audit(_ action: String, _ target: String = "x") -> AuditEvent {
        AuditEvent(actor: "admin", action: action, target: target)
    }

    static func seeded(_ kind: Kind) async throws -> (any Store, JumpGroup) {
        let store = try makeStore(kind)
        let group = try await store.createGroup(JumpGroup(name: "Default", codeName: "default"), audit: audit("group.create"))
        return (store, group)
    }

    static func installer(_ id: String, group: JumpGroup, maxUses: Int? = nil, expires: Date = t0 + 3600) -> Installer {
        Installer(
            id: id,
            tokenHash: "hash-\(id)",
            createdAt: t0,
            createdBy: "admin",
            expiresAt: expires,
            maxUses: maxUses,
            groupID: group.id,
            allowedOverrides: [.name, .installDir]
        )
    }

    static func client(_ id: String, group: JumpGroup, name: String = "kiosk") -> ClientRecord {
        ClientRecord(
            id: id,
            name: name,
            groupID: group.id,
            hostname: "host-\(id)",
            installerID: "in-1",
            certificateSerial: "01",
            certificateExpiresAt: t0 + 86_400,
            enrolledAt: t0,
            stateChangedAt: t0
        )
    }

    @Test(arguments: Kind.allCases)
    func settingsRoundTrip(_ kind: Kind) async throws {
        let store = try Self.makeStore(kind)
        #expect(try await store.settings().isEmpty)
        try await store.setSettings(["connection-rate": "75", "lost-days": "20"], audit: Self.audit("settings.set"))
        try await store.setSettings(["connection-rate": "80"], audit: Self.audit("settings.set"))
        #expect(try await store.settings() == ["connection-rate": "80", "lost-days": "20"])
    }

    @Test(arguments: Kind.allCases)
    func usersAndSessions(_ kind: Kind) async throws {
        let store = try Self.makeStore(kind)
        let user = try await store.createUser(
            User(name: "admin", passwordHash: "h", role: .administrator, createdAt: Self.t0),
            audit: Self.audit("user.create")
        )
        #expect(try await store.user(named: "admin") == user)
        #expect(try await store.user(id: user.id)?.name == "admin")
        await #expect(throws: StoreError(.duplicate, "")) {
            _ = try await store.createUser(User(name: "admin", passwordHash: "h", role: .representative, createdAt: Self.t0), audit: Self.audit("user.create"))
        }
        let session = APISession(tokenHash: "t", userID: user.id, createdAt: Self.t0, expiresAt: Self.t0 + 60)
        try await store.createSession(session)
        #expect(try await store.session(tokenHash: "t") == session)
        try await store.deleteSessions(expiredBefore: Self.t0 + 61)
        #expect(try await store.session(tokenHash: "t") == nil)
    }

    @Test(arguments: Kind.allCases)
    func installersAreUsedUpExpireAndDelete(_ kind: Kind) async throws {
        let (store, group) = try await Self.seeded(kind)
        try await store.createInstaller(Self.installer("in-1", group: group, maxUses: 2), audit: Self.audit("installer.create"))
        #expect(try await store.installer(tokenHash: "hash-in-1")?.allowedOverrides == [.name, .installDir])

        try await store.registerClient(Self.client("jc-1", group: group), installerID: "in-1", now: Self.t0, audit: Self.audit("client.enroll"))
        try await store.registerClient(Self.client("jc-2", group: group), installerID: "in-1", now: Self.t0, audit: Self.audit("client.enroll"))
        await #expect(throws: StoreError(.installerUnavailable, ""), "a third use is beyond the limit") {
            try await store.registerClient(Self.client("jc-3", group: group), installerID: "in-1", now: Self.t0, audit: Self.audit("client.enroll"))
        }
        #expect(try await store.installer(id: "in-1")?.uses == 2)
        #expect(try await store.client(id: "jc-3") == nil, "a refused enrollment leaves nothing behind")

        try await store.createInstaller(Self.installer("in-2", group: group), audit: Self.audit("installer.create"))
        await #expect(throws: StoreError(.installerUnavailable, ""), "expired") {
            try await store.registerClient(Self.client("jc-4", group: group), installerID: "in-2", now: Self.t0 + 7200, audit: Self.audit("client.enroll"))
        }
        let extended = try await store.extendInstaller(id: "in-2", until: Self.t0 + 86_400, audit: Self.audit("installer.extend"))
        #expect(extended?.expiresAt == Self.t0 + 86_400)
        try await store.registerClient(Self.client("jc-4", group: group), installerID: "in-2", now: Self.t0 + 7200, audit: Self.audit("client.enroll"))

        #expect(try await store.deleteInstaller(id: "in-2", audit: Self.audit("installer.delete")))
        #expect(try await store.deleteInstaller(id: "in-2", audit: Self.audit("installer.delete")) == false)
        #expect(try await store.installer(tokenHash: "hash-in-2") == nil)
        await #expect(throws: StoreError(.installerUnavailable, "")) {
            try await store.registerClient(Self.client("jc-5", group: group), installerID: "in-2", now: Self.t0, audit: Self.audit("client.enroll"))
        }
    }

    @Test(arguments: Kind.allCases)
    func namesAreStoredVerbatimAndNeverExecuted(_ kind: Kind) async throws {
        let (store, group) = try await Self.seeded(kind)
        try await store.createInstaller(Self.installer("in-1", group: group), audit: Self.audit("installer.create"))
        let hostile = "Robert'); DROP TABLE client;-- \u{202E}ü\u{7}"
        var record = Self.client("jc-1", group: group, name: hostile)
        record.tag = "' OR '1'='1"
        try await store.registerClient(record, installerID: "in-1", now: Self.t0, audit: Self.audit("client.enroll", hostile))
        #expect(try await store.client(id: "jc-1")?.name == hostile)
        #expect(try await store.client(id: "jc-1")?.tag == "' OR '1'='1")
        #expect(try await store.clients().count == 1)
        #expect(try await store.auditRecords(afterID: 0, limit: 10).last?.target == hostile)
    }

    @Test(arguments: Kind.allCases)
    func clientsUpdateAndStatsBatch(_ kind: Kind) async throws {
        let (store, group) = try await Self.seeded(kind)
        try await store.createInstaller(Self.installer("in-1", group: group), audit: Self.audit("installer.create"))
        try await store.registerClient(Self.client("jc-1", group: group), installerID: "in-1", now: Self.t0, audit: Self.audit("client.enroll"))
        var record = try #require(try await store.client(id: "jc-1"))
        record.state = .deleted
        try await store.updateClient(record, audit: Self.audit("client.delete"))
        #expect(try await store.client(id: "jc-1")?.state == .deleted)
        await #expect(throws: StoreError(.notFound, "")) {
            try await store.updateClient(Self.client("jc-none", group: group), audit: Self.audit("client.delete"))
        }

        let stats = [
            ClientStats(clientID: "jc-1", updatedAt: Self.t0 + 5, report: Data([1, 2, 3]), thumbnail: .jpeg(Data([0xFF, 0xD8]))),
            ClientStats(clientID: "jc-unknown", updatedAt: Self.t0 + 5, report: Data([9]), thumbnail: .none),
        ]
        try await store.saveStats(stats, contacts: ["jc-1": Self.t0 + 5, "jc-unknown": Self.t0 + 5])
        #expect(try await store.stats(clientID: "jc-1") == stats[0])
        #expect(try await store.allStats().first?.thumbnail == .stored, "every client's statistics without their pictures")
        try await store.saveStats([ClientStats(clientID: "jc-1", updatedAt: Self.t0 + 6, report: Data([4]), thumbnail: .stored)], contacts: [:])
        #expect(try await store.stats(clientID: "jc-1")?.thumbnail == .jpeg(Data([0xFF, 0xD8])), ".stored keeps the picture")
        #expect(try await store.stats(clientID: "jc-1")?.report == Data([4]))
        try await store.saveStats([ClientStats(clientID: "jc-1", updatedAt: Self.t0 + 7, report: Data([5]), thumbnail: .none)], contacts: [:])
        #expect(try await store.allStats().first?.thumbnail == ClientStats.Thumbnail.none, ".none removes it")
        #expect(try await store.client(id: "jc-1")?.lastContact == Self.t0 + 5, "statistics alone leave the contact time")
        try await store.saveStats([stats[0]], contacts: [:])
        #expect(try await store.stats(clientID: "jc-unknown") == nil, "statistics of unknown clients are dropped")
        try await store.saveStats([], contacts: ["jc-1": Self.t0 + 9])
        #expect(try await store.client(id: "jc-1")?.lastContact == Self.t0 + 9)
        #expect(try await store.allStats().count == 1)
    }

    @Test(arguments: Kind.allCases)
    func auditChainVerifies(_ kind: Kind) async throws {
        let store = try Self.makeStore(kind)
        for index in 0..<20 { try await store.appendAudit(Self.audit("test.\(index)", "t\(index)")) }
        let verification = try await store.verifyAudit()
        #expect(verification.intact)
        #expect(verification.records == 20)
        let records = try await store.auditRecords(afterID: 5, limit: 3)
        #expect(records.map(\.id) == [6, 7, 8])
        #expect(records[1].previousHash == records[0].hash)
    }

    @Test(arguments: Kind.allCases)
    func duplicateGroupsAreRefused(_ kind: Kind) async throws {
        let (store, _) = try await Self.seeded(kind)
        await #expect(throws: StoreError(.duplicate, "")) {
            _ = try await store.createGroup(JumpGroup(name: "Default", codeName: "other"), audit: Self.audit("group.create"))
        }
        let before = try await store.auditRecords(afterID: 0, limit: 100).count
        #expect(before == 1, "a refused change writes no audit record")
    }
}
