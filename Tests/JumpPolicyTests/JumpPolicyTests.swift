import Foundation
import JumpPolicy
import Testing

@Suite struct JumpPolicyTests {
    /// Every condition on: 8 PM to 5 PM New York time, a ticket ID, MFA, one user at a time.
    static let strict = JumpPolicy(
        id: 7,
        name: "Night shift",
        codeName: "night_shift",
        schedule: AccessScheduleTests.eightToFive,
        requireTicketID: true,
        requireMFA: true,
        simultaneousJumps: .disallow
    )
    /// Tuesday 10 March 2026, 4 PM EDT: inside the window, an hour before it ends.
    static let inside = ZoneFixtures.utc("2026-03-10T20:00:00Z")
    /// The same day at 6 PM EDT: outside.
    static let outside = ZoneFixtures.utc("2026-03-10T22:00:00Z")
    /// Monday 16 March 2026, 8 PM EDT: when the window opens again.
    static let reopens = ZoneFixtures.utc("2026-03-17T00:00:00Z")

    /// An attempt that meets every condition of `strict` unless told otherwise.
    static func attempt(
        at instant: Date = inside,
        ticketID: String? = "INC-1042",
        mfaVerified: Bool = true,
        overrideSchedule: Bool = false,
        mayOverrideSchedule: Bool = false,
        activeSessionsOnItem: Int = 0,
        invitedByOwner: Bool = false,
        globalAllowSimultaneousJumps: Bool = false
    ) -> JumpAttempt {
        JumpAttempt(
            at: instant,
            ticketID: ticketID,
            mfaVerified: mfaVerified,
            overrideSchedule: overrideSchedule,
            mayOverrideSchedule: mayOverrideSchedule,
            activeSessionsOnItem: activeSessionsOnItem,
            invitedByOwner: invitedByOwner,
            globalAllowSimultaneousJumps: globalAllowSimultaneousJumps
        )
    }

    static func strict(_ change: (inout JumpPolicy) -> Void) -> JumpPolicy {
        var policy = strict
        change(&policy)
        return policy
    }

    enum Expected: Sendable {
        case allowed(scheduleOverridden: Bool)
        case denied(JumpPolicyDenial.Rule)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var policy: JumpPolicy = JumpPolicyTests.strict
        var attempt: JumpAttempt
        var expected: Expected

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "every condition met", attempt: attempt(), expected: .allowed(scheduleOverridden: false)),
        Case(name: "outside the schedule", attempt: attempt(at: outside), expected: .denied(.outsideSchedule)),
        Case(
            name: "outside, override asked without the permission",
            attempt: attempt(at: outside, overrideSchedule: true),
            expected: .denied(.overrideNotPermitted)
        ),
        Case(
            name: "outside, the permission held but no override asked",
            attempt: attempt(at: outside, mayOverrideSchedule: true),
            expected: .denied(.outsideSchedule)
        ),
        Case(
            name: "outside, overridden with the permission",
            attempt: attempt(at: outside, overrideSchedule: true, mayOverrideSchedule: true),
            expected: .allowed(scheduleOverridden: true)
        ),
        Case(
            name: "inside, an override asked for is not needed",
            attempt: attempt(overrideSchedule: true, mayOverrideSchedule: true),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "schedule disabled",
            policy: strict { $0.schedule.enabled = false },
            attempt: attempt(at: outside),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(name: "no ticket ID", attempt: attempt(ticketID: nil), expected: .denied(.ticketIDRequired)),
        Case(name: "a blank ticket ID", attempt: attempt(ticketID: " \t\n "), expected: .denied(.ticketIDRequired)),
        Case(
            name: "a ticket ID at the length limit",
            attempt: attempt(ticketID: String(repeating: "7", count: JumpPolicy.maximumTicketIDLength)),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "a ticket ID over the length limit",
            attempt: attempt(ticketID: String(repeating: "7", count: JumpPolicy.maximumTicketIDLength + 1)),
            expected: .denied(.ticketIDTooLong)
        ),
        Case(
            name: "a ticket ID over the length limit where none is required",
            policy: strict { $0.requireTicketID = false },
            attempt: attempt(ticketID: String(repeating: "é", count: JumpPolicy.maximumTicketIDLength / 2 + 1)),
            expected: .denied(.ticketIDTooLong)
        ),
        Case(
            name: "no ticket ID where none is required",
            policy: strict { $0.requireTicketID = false },
            attempt: attempt(ticketID: nil),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(name: "no MFA", attempt: attempt(mfaVerified: false), expected: .denied(.mfaRequired)),
        Case(
            name: "no MFA where none is required",
            policy: strict { $0.requireMFA = false },
            attempt: attempt(mfaVerified: false),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "another session, the policy disallows",
            attempt: attempt(activeSessionsOnItem: 1),
            expected: .denied(.simultaneousJumpsDisallowed)
        ),
        Case(
            name: "another session, the policy disallows, the global setting allows",
            attempt: attempt(activeSessionsOnItem: 1, globalAllowSimultaneousJumps: true),
            expected: .denied(.simultaneousJumpsDisallowed)
        ),
        Case(
            name: "another session, invited by its owner",
            attempt: attempt(activeSessionsOnItem: 1, invitedByOwner: true),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "another session, the policy allows, the global setting disallows",
            policy: strict { $0.simultaneousJumps = .allow },
            attempt: attempt(activeSessionsOnItem: 2),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "another session, the global setting disallows",
            policy: strict { $0.simultaneousJumps = .useGlobalSetting },
            attempt: attempt(activeSessionsOnItem: 1),
            expected: .denied(.simultaneousJumpsDisallowedGlobally)
        ),
        Case(
            name: "another session, the global setting allows",
            policy: strict { $0.simultaneousJumps = .useGlobalSetting },
            attempt: attempt(activeSessionsOnItem: 1, globalAllowSimultaneousJumps: true),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "no other session, simultaneous Jumps disallowed everywhere",
            policy: strict { $0.simultaneousJumps = .useGlobalSetting },
            attempt: attempt(activeSessionsOnItem: 0),
            expected: .allowed(scheduleOverridden: false)
        ),
        Case(
            name: "every rule broken: the schedule decides",
            attempt: attempt(at: outside, ticketID: nil, mfaVerified: false, activeSessionsOnItem: 1),
            expected: .denied(.outsideSchedule)
        ),
        Case(
            name: "schedule overridden, the rest broken: the ticket ID decides",
            attempt: attempt(
                at: outside,
                ticketID: nil,
                mfaVerified: false,
                overrideSchedule: true,
                mayOverrideSchedule: true,
                activeSessionsOnItem: 1
            ),
            expected: .denied(.ticketIDRequired)
        ),
        Case(
            name: "ticket ID given, MFA and simultaneous broken: MFA decides",
            attempt: attempt(mfaVerified: false, activeSessionsOnItem: 1),
            expected: .denied(.mfaRequired)
        ),
    ]

    @Test(arguments: cases)
    func check(_ example: Case) throws {
        let outcome = try example.policy.check(example.attempt, db: ZoneFixtures.db)
        switch (outcome, example.expected) {
        case (.allowed(let overridden, let forceEnd), .allowed(let expected)):
            #expect(overridden == expected)
            #expect(forceEnd == nil, "force end is off")
        case (.denied(let denial), .denied(let rule)):
            #expect(denial.rule == rule)
            #expect(denial.policyID == example.policy.id)
            #expect(denial.message.contains("\"Night shift\""), "the message names the policy: \(denial.message)")
            let isSchedule = rule == .outsideSchedule || rule == .overrideNotPermitted
            #expect(denial.opensAt == (isSchedule ? Self.reopens : nil))
        default:
            Issue.record("expected \(example.expected), got \(outcome)")
        }
    }

    /// The documented order: schedule, ticket ID, MFA, simultaneous Jumps. Each step meets one more condition.
    @Test func rulesAreCheckedInTheDocumentedOrder() throws {
        var attempt = Self.attempt(at: Self.outside, ticketID: nil, mfaVerified: false, activeSessionsOnItem: 1)
        let fixes: [(inout JumpAttempt) -> Void] = [
            {
                $0.overrideSchedule = true
                $0.mayOverrideSchedule = true
            },
            { $0.ticketID = "INC-1042" },
            { $0.mfaVerified = true },
            { $0.invitedByOwner = true },
        ]
        var rules: [JumpPolicyDenial.Rule] = []
        for fix in fixes {
            guard case .denied(let denial) = try Self.strict.check(attempt, db: ZoneFixtures.db) else { break }
            rules.append(denial.rule)
            fix(&attempt)
        }
        #expect(rules == [.outsideSchedule, .ticketIDRequired, .mfaRequired, .simultaneousJumpsDisallowed])
        #expect(
            try Self.strict.check(attempt, db: ZoneFixtures.db) == .allowed(scheduleOverridden: true, forceEnd: nil)
        )
    }

    @Test func theScheduleDenialSaysWhenTheWindowOpens() throws {
        let outcome = try Self.strict.check(Self.attempt(at: Self.outside), db: ZoneFixtures.db)
        guard case .denied(let denial) = outcome else {
            Issue.record("expected a denial, got \(outcome)")
            return
        }
        #expect(denial.message.contains("Monday 2026-03-16 20:00 (America/New_York)"), "\(denial.message)")
    }

    /// `strict` with force-end on and nothing to supply but the time.
    static func forcing(_ schedule: AccessSchedule = AccessScheduleTests.eightToFive, on: Bool = true) -> JumpPolicy {
        strict {
            $0.schedule = schedule
            $0.forceEndAtScheduleEnd = on
            $0.requireTicketID = false
            $0.requireMFA = false
        }
    }

    static let disabled = AccessSchedule(enabled: false, timeZone: "America/New_York", entries: [])

    /// (case, policy, start, forced end, notices in minutes before the end), in UTC.
    static let forceEndCases: [(String, JumpPolicy, String, String?, [Int])] = [
        (
            "an hour before the end: every notice", forcing(), "2026-03-10T20:00:00Z", "2026-03-10T21:00:00Z",
            [15, 10, 5, 1]
        ),
        ("ten minutes before: the later notices", forcing(), "2026-03-10T20:50:00Z", "2026-03-10T21:00:00Z", [5, 1]),
        ("thirty seconds before: no notice", forcing(), "2026-03-10T20:59:30Z", "2026-03-10T21:00:00Z", []),
        (
            "ends in a gap: at the jump", forcing(AccessScheduleTests.endsInGap), "2026-03-08T05:30:00Z",
            "2026-03-08T07:00:00Z", [15, 10, 5, 1]
        ),
        ("force end off", forcing(on: false), "2026-03-10T20:00:00Z", nil, []),
        ("a whole-week schedule never ends", forcing(AccessScheduleTests.wholeWeek), "2026-03-10T20:00:00Z", nil, []),
        ("a disabled schedule never ends", forcing(disabled), "2026-03-10T22:00:00Z", nil, []),
    ]

    @Test(arguments: forceEndCases)
    func aSessionStartedInsideTheWindowIsForcedToEndWithIt(
        name: String,
        policy: JumpPolicy,
        start: String,
        end: String?,
        noticeMinutes: [Int]
    ) throws {
        let forceEnd = end.map(ZoneFixtures.utc).map { end in
            JumpPolicy.ForceEnd(end: end, notices: noticeMinutes.map { end - TimeInterval($0 * 60) })
        }
        let outcome = try policy.check(Self.attempt(at: ZoneFixtures.utc(start)), db: ZoneFixtures.db)
        #expect(outcome == .allowed(scheduleOverridden: false, forceEnd: forceEnd))
    }

    /// The override is an explicit, audited decision; ending the session at some later window's close would not be.
    @Test func aSessionThatOverrodeTheScheduleIsNotForcedToEnd() throws {
        let attempt = Self.attempt(at: Self.outside, overrideSchedule: true, mayOverrideSchedule: true)
        #expect(
            try Self.forcing().check(attempt, db: ZoneFixtures.db) == .allowed(scheduleOverridden: true, forceEnd: nil)
        )
    }

    @Test func anInvalidScheduleIsAnErrorNotADenial() {
        let broken = Self.strict { $0.schedule.timeZone = "../../etc/passwd" }
        #expect(throws: TimeZoneError(.invalidIdentifier, "")) { try broken.check(Self.attempt(), db: ZoneFixtures.db) }
    }

    @Test func aPolicyRoundTripsThroughJSON() throws {
        let data = try JSONEncoder().encode(Self.forcing())
        #expect(try JSONDecoder().decode(JumpPolicy.self, from: data) == Self.forcing())
    }
}
