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
