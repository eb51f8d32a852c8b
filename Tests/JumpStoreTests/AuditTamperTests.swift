import Foundation
import JumpStore
import Testing

/// Someone with the database file edits or removes audit records behind the appliance's back (the
/// triggers stop the appliance itself; an attacker drops them). `verifyAudit` must notice.
@Suite struct AuditTamperTests {
    static func storeWithRecords() async throws -> (SQLiteStore, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("jump.sqlite").path
        let store = try SQLiteStore(
            path: path,
            auditKey: Data(repeating: 7, count: 32),
            auditHeadFile: directory.appendingPathComponent("audit-head")
        )
        for index in 1...10 {
            try await store.appendAudit(AuditEvent(actor: "admin", action: "test", target: "t\(index)"))
        }
        return (store, path)
    }

    /// Runs SQL with the sqlite3 program, as an attacker with the file would.
    static func sqlite(_ path: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, sql]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    static let sqliteAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")

    @Test func theApplianceCannotChangeTheLog() async throws {
        let (_, path) = try await Self.storeWithRecords()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, "UPDATE audit SET actor = 'mallory' WHERE id = 3"]
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "the trigger refuses the update")
    }

    @Test(.enabled(if: sqliteAvailable, "needs the sqlite3 program (Debian: sqlite3; make test installs it)"))
    func anEditedRecordIsFound() async throws {
        let (store, path) = try await Self.storeWithRecords()
        try Self.sqlite(path, "DROP TRIGGER auditNoUpdate; UPDATE audit SET actor = 'mallory' WHERE id = 4;")
        let verification = try await store.verifyAudit()
        #expect(!verification.intact)
        #expect(verification.firstBadRecord == 4)
    }

    @Test(.enabled(if: sqliteAvailable, "needs the sqlite3 program (Debian: sqlite3; make test installs it)"))
    func aRemovedRecordIsFound() async throws {
        let (store, path) = try await Self.storeWithRecords()
        try Self.sqlite(path, "DROP TRIGGER auditNoDelete; DELETE FROM audit WHERE id = 6;")
        let verification = try await store.verifyAudit()
        #expect(!verification.intact)
        #expect(verification.firstBadRecord == 7)
    }

    @Test(.enabled(if: sqliteAvailable, "needs the sqlite3 program (Debian: sqlite3; make test installs it)"))
    func recordsRemovedFromTheEndAreFoundByTheHead() async throws {
        let (store, path) = try await Self.storeWithRecords()
        try Self.sqlite(path, "DROP TRIGGER auditNoDelete; DELETE FROM audit WHERE id >= 9;")
        let verification = try await store.verifyAudit()
        #expect(!verification.intact)
        #expect(verification.firstBadRecord == 9)
        #expect(verification.problem == "records from 9 to 10 were removed from the end of the log")
    }

    @Test(.enabled(if: sqliteAvailable, "needs the sqlite3 program (Debian: sqlite3; make test installs it)"))
    func aRechainedLogIsFoundWithoutTheKey() async throws {
        // Change record 5 and recompute every later hash with plain SHA-256, as someone without the
        // audit key would have to: record 5 no longer verifies.
        let (store, path) = try await Self.storeWithRecords()
        try Self.sqlite(path, "DROP TRIGGER auditNoUpdate; UPDATE audit SET actor = 'mallory', hash = lower(hex(randomblob(32))) WHERE id = 5; UPDATE audit SET previousHash = (SELECT hash FROM audit WHERE id = 5) WHERE id = 6;")
        let verification = try await store.verifyAudit()
        #expect(!verification.intact)
        #expect(verification.firstBadRecord == 5)
    }
}
