import Foundation
import JumpAgentCore
import Testing

/// The offline lease with its clocks in the test's hand: boot id, boot clock, wall clock.
@Suite struct OfflineLeaseTests {
    struct Clock: LeaseClock {
        var bootID = "boot-1"
        var sinceBoot: Double = 1000
        var wall = Date(timeIntervalSince1970: 1_795_000_000)
    }

    static let day: Double = 86_400

    @Test func theDeletionPeriodPassesOnTheBootClock() {
        var clock = Clock()
        var lease = OfflineLease()
        lease.contact(clock)
        clock.sinceBoot += 15 * Self.day - 1
        clock.wall += 15 * Self.day - 1
        lease.advance(clock)
        #expect(!lease.expired(deleteAfterDays: 15))
        #expect(lease.remaining(deleteAfterDays: 15) == 1)
        clock.sinceBoot += 1
        lease.advance(clock)
        #expect(lease.expired(deleteAfterDays: 15))
        #expect(!lease.expired(deleteAfterDays: 0), "no period: never")
        #expect(lease.remaining(deleteAfterDays: 0) == nil)
    }

    @Test func wallClockJumpsWithinABootChangeNothing() {
        var clock = Clock()
        var lease = OfflineLease()
        lease.contact(clock)
        clock.wall += 400 * Self.day  // set forward by a year
        clock.sinceBoot += 60
        lease.advance(clock)
        #expect(lease.offlineSeconds == 60)
        clock.wall -= 800 * Self.day  // and back
        clock.sinceBoot += 60
        lease.advance(clock)
        #expect(lease.offlineSeconds == 120)
    }

    @Test func acrossARebootTheTimeOffCountsByTheWallClock() {
        var clock = Clock()
        var lease = OfflineLease()
        lease.contact(clock)
        // Off for ten days, then up for an hour.
        clock.bootID = "boot-2"
        clock.wall += 10 * Self.day + 3600
        clock.sinceBoot = 3600
        lease.advance(clock)
        #expect(lease.offlineSeconds == 10 * Self.day + 3600)
        // Within the new boot, the boot clock again.
        clock.sinceBoot += 5 * Self.day
        clock.wall += 1
        lease.advance(clock)
        #expect(lease.expired(deleteAfterDays: 15))
    }

    @Test func aWallClockBehindAfterARebootCountsTheNewBootOnly() {
        var clock = Clock()
        var lease = OfflineLease()
        lease.contact(clock)
        clock.bootID = "boot-2"
        clock.wall -= 30 * Self.day  // a dead RTC battery
        clock.sinceBoot = 600
        lease.advance(clock)
        #expect(lease.offlineSeconds == 600)
    }

    @Test func contactStartsAgainAndAFirstCheckStartsFromNothing() {
        var clock = Clock()
        var lease = OfflineLease()
        lease.advance(clock)
        #expect(lease.offlineSeconds == 0, "no checkpoint yet: nothing is owed")
        clock.sinceBoot += 20 * Self.day
        lease.advance(clock)
        #expect(lease.expired(deleteAfterDays: 15))
        lease.contact(clock)
        #expect(lease.offlineSeconds == 0)
        #expect(!lease.expired(deleteAfterDays: 15))
    }

    @Test func theLeaseSurvivesTheStateFileAndOlderFilesWithoutOne() throws {
        var clock = Clock()
        var state = AgentState()
        state.deleteAfterDays = 15
        state.contacted(clock)
        clock.sinceBoot += 14 * Self.day
        let early = state.leaseExpired(clock)
        #expect(!early)
        let data = try JSONEncoder.agentFiles.encode(state)
        var restored = try JSONDecoder.agentFiles.decode(AgentState.self, from: data)
        // A period raised on the appliance after contact was lost never reaches the agent; the
        // one it has holds.
        clock.sinceBoot += Self.day
        let late = restored.leaseExpired(clock)
        #expect(late)
        let old = #"{"lastCommandSequence":0,"configRevision":0,"statistics":[],"statisticsIntervalSeconds":60,"deleteAfterDays":30,"restrictLocalUninstall":false,"screenStatePresence":true}"#
        var upgraded = try JSONDecoder.agentFiles.decode(AgentState.self, from: Data(old.utf8))
        #expect(upgraded.lease == nil)
        #expect(upgraded.reconnectSpreadMilliseconds == nil)
        let fresh = upgraded.leaseExpired(clock)
        #expect(!fresh)
    }

    /// A clock that moves on a hundredth of a second each time it is read, as /proc/uptime may
    /// between two reads.
    final class TickingClock: LeaseClock, @unchecked Sendable {
        var reads = 0
        var bootID: String { "boot-1" }
        var sinceBoot: Double {
            reads += 1
            return 1000 + Double(reads) / 100
        }
        var wall: Date { Date(timeIntervalSince1970: 1_795_000_000 + sinceBoot) }
    }

    /// The time counted ends where the next count starts: nothing falls between two reads.
    @Test func aCheckpointIsTheMomentTheCountEndedAt() {
        let clock = TickingClock()
        var lease = OfflineLease()
        lease.contact(clock)
        let start = lease.checkpointSinceBoot
        for _ in 0..<5 { lease.advance(clock) }
        #expect(lease.offlineSeconds > 0)
        #expect(abs(lease.offlineSeconds - (lease.checkpointSinceBoot - start)) < 1e-9)
    }

    @Test func theSystemClockIsTheBootClock() throws {
        let clock = SystemLeaseClock()
        let uptime = try #require(Double(String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ")[0]))
        #expect(abs(clock.sinceBoot - uptime) < 1)
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
        #expect(clock.bootID == bootID.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(!clock.bootID.isEmpty)
    }

    /// Which saves can wait (AgentRuntime.persist): on the same boot and within the interval, when
    /// the file, counted on, says no less time without contact and less than the interval more;
    /// anything else is written.
    @Test func writesThatCanWait() {
        let clock = Clock()
        var written = AgentState()
        written.deleteAfterDays = 15
        written.contacted(clock)
        let interval: Double = 300

        func later(_ seconds: Double, boot: String = "boot-1") -> Clock {
            var later = clock
            later.bootID = boot
            later.sinceBoot += seconds
            later.wall += seconds
            return later
        }
        func contacted(after seconds: Double, _ change: (inout AgentState) -> Void = { _ in }) -> AgentState {
            var state = written
            change(&state)
            state.contacted(later(seconds))
            return state
        }
        func counted(_ state: AgentState, after seconds: Double) -> AgentState {
            var state = state
            _ = state.leaseExpired(later(seconds))
            return state
        }

        // A later contact.
        #expect(contacted(after: 60).writeCanWait(after: written, within: interval))
        #expect(contacted(after: 299).writeCanWait(after: written, within: interval))
        #expect(!contacted(after: 300).writeCanWait(after: written, within: interval))
        #expect(contacted(after: 60) { $0.reconnectSpreadMilliseconds = 1050 }.writeCanWait(after: written, within: interval))
        #expect(!contacted(after: 60) { $0.configRevision += 1 }.writeCanWait(after: written, within: interval))
        #expect(!contacted(after: 60) { $0.deleteAfterDays = 30 }.writeCanWait(after: written, within: interval))
        #expect(!contacted(after: 60) { $0.lastCommandSequence = 7 }.writeCanWait(after: written, within: interval))

        // Time without contact counted on from the file's (a start, an attempt): the file says as much.
        let attempt = counted(written, after: 40)
        #expect(attempt.lease!.offlineSeconds == 40)
        #expect(attempt.writeCanWait(after: written, within: interval))
        #expect(counted(attempt, after: 100).writeCanWait(after: attempt, within: interval))
        #expect(counted(attempt, after: 100).writeCanWait(after: written, within: interval))
        #expect(!counted(written, after: 300).writeCanWait(after: written, within: interval), "a long outage is written")
        #expect(
            !counted(written, after: 40).writeCanWait(after: contacted(after: 10), within: interval),
            "the file would say less time without contact than there was"
        )

        // A contact, then time counted from it (the next attempt): the file says 60 s more.
        #expect(counted(contacted(after: 60), after: 120).writeCanWait(after: written, within: interval))
        // A contact after time without contact on disk: it waits only if the file says less than the
        // interval more than there was; days of it are written at once, or a crash would count them
        // again.
        #expect(contacted(after: 60).writeCanWait(after: attempt, within: interval))
        var away = written
        _ = away.leaseExpired(later(250))
        #expect(contacted(after: 260).writeCanWait(after: away, within: interval))  // 260 s more
        _ = away.leaseExpired(later(299))
        #expect(!contacted(after: 300).writeCanWait(after: away, within: interval))  // 300 s more
        var longAway = AgentState()
        longAway.deleteAfterDays = 15
        longAway.contacted(later(-14 * Self.day))
        _ = longAway.leaseExpired(clock)
        #expect(longAway.lease!.offlineSeconds == 14 * Self.day)
        #expect(!contacted(after: 1).writeCanWait(after: longAway, within: interval))
        // A file checked later than this state: written.
        #expect(!counted(written, after: 100).writeCanWait(after: counted(written, after: 200), within: interval))

        // Another boot (counted by the wall clock), or a file without a lease.
        var rebooted = written
        rebooted.contacted(later(60, boot: "boot-2"))
        #expect(!rebooted.writeCanWait(after: written, within: interval))
        var countedAfterReboot = written
        _ = countedAfterReboot.leaseExpired(later(60, boot: "boot-2"))
        #expect(!countedAfterReboot.writeCanWait(after: written, within: interval))
        var old = written
        old.lease = nil
        #expect(!written.writeCanWait(after: old, within: interval))
    }
}

@Suite struct LocalControlPolicyTests {
    @Test(arguments: [
        (UInt32(0), UInt32?.none, true, true),
        (1000, 1000, false, true),
        (1000, 1000, true, false),
        (1001, 1000, false, false),
        (1000, nil, false, false),
    ])
    func rootAlwaysTheConsoleUserUnlessRestricted(uid: UInt32, consoleUID: UInt32?, restricted: Bool, allowed: Bool) {
        for request in LocalControlPolicy.Request.allCases {
            let decision = LocalControlPolicy.decide(request, uid: uid, consoleUID: consoleUID, restricted: restricted)
            #expect((decision == .allowed) == allowed, "\(request) by \(uid)")
        }
    }
}
