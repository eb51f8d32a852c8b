import Foundation
import JumpProtocol
import JumpServerCore
import JumpStore
import JumpTLS
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

/// The data directory on a small tmpfs that fills up while statistics are written: the appliance
/// keeps serving, says so in its log, loses no acknowledged audit record, and catches up once there
/// is room again. Mounting needs root, which CI has.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FullDiskTests {
    static let isRoot = getuid() == 0

    static func run(_ program: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("\(program) \(arguments) failed") }
    }

    @Test(.enabled(if: isRoot, "mounting a tmpfs needs root; CI runs as root"))
    func statisticsWaitInMemoryWhileTheDiskIsFull() async throws {
        let mount = FileManager.default.temporaryDirectory.appendingPathComponent("jump-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount.path])
        defer { try? Self.run("/bin/umount", ["-l", mount.path]) }

        let harness = try await ApplianceHarness.start(in: mount.appendingPathComponent("data"))
        defer { Task { await harness.stop() } }
        let (agent, id) = try await harness.connectedAgent()
        let auditBefore = try await harness.store.auditRecords(afterID: 0, limit: 1000)

        // Fill the file system.
        let filler = mount.appendingPathComponent("filler")
        _ = FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let block = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: block)) != nil {}
        try handle.close()

        // Reports keep being accepted and acknowledged from memory.
        var report = WireStatsReport()
        report.cpuPermille = 10
        report.host.hostname = String(repeating: "h", count: 200)
        report.disks = (0..<40).map { index in
            var disk = WireDisk()
            disk.mountPoint = "/mnt/disk\(index)"
            disk.totalBytes = 1 << 40
            return disk
        }
        // With a field this version does not know (field 99, a varint), as a newer agent sends it:
        // what waited is written as it was sent.
        let sent: [UInt8] = try report.serializedBytes() + [0x98, 0x06, 0x01]
        report = try WireStatsReport(serializedBytes: sent)
        let before = agent.eventCount
        _ = try await #require(agent.connection.withLock { $0 }).send(.statsReport(report)).get()
        await agent.waitForEvents(before + 1)
        #expect(agent.acks.withLock { $0.last?.result } == .ok)
        #expect(await harness.hub.flushStats() == 0, "nothing can be written")
        #expect(harness.logs.messages.contains { $0.hasPrefix("error cannot write statistics") })
        #expect(harness.hub.clientView(id: id, groups: [:])?.cpuPercent == 1, "the latest statistics are still served")

        // Every audit record acknowledged before the disk filled is still there and the chain holds.
        let auditDuring = try await harness.store.auditRecords(afterID: 0, limit: 1000)
        #expect(Array(auditDuring.prefix(auditBefore.count)) == auditBefore)

        // Room again: the next flush writes what waited.
        try FileManager.default.removeItem(at: filler)
        #expect(await harness.hub.flushStats() == 1)
        #expect(harness.logs.messages.contains { $0.hasPrefix("notice statistics are being written again") })
        #expect(try await harness.store.stats(clientID: id)?.report == Data(sent))
        #expect(try await harness.store.verifyAudit().intact)
    }
}
