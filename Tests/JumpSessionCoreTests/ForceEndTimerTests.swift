import Foundation
import JumpSessionCore
import Testing

@Suite struct ForceEndTimerTests {
    static let end = Date(timeIntervalSince1970: 1_773_176_400)  // 17:00 in the schedule's zone, say

    /// The plan `JumpPolicy.forceEnd(startingAt:)` makes: notices 15, 10 and 5 minutes and 1 minute before the
    /// end, those after the session's start only.
    static func plan(startingAt start: Date) -> ForceEndTimer.Plan {
        let leads: [TimeInterval] = [15 * 60, 10 * 60, 5 * 60, 60]
        return .init(end: end, notices: leads.map { end - $0 }.filter { $0 > start })
    }

    static func notice(_ minutes: Int) -> ForceEndTimer.Action {
        let unit = minutes == 1 ? "minute" : "minutes"
        return .notice(
            text: "This session ends in \(minutes) \(unit): the Jump Policy's schedule does not permit access "
                + "after 17:00.",
            minutesLeft: minutes
        )
    }

    static let ended = ForceEndTimer.Action.end(
        reason: "This session was ended: the Jump Policy's schedule does not permit access after 17:00."
    )

    static func wait(_ secondsBeforeEnd: TimeInterval) -> ForceEndTimer.Action {
        .wait(until: end - secondsBeforeEnd)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// Seconds before the end the session starts; nil for no plan.
        var start: TimeInterval?
        /// Each step: seconds before the end that `next(now:)` is called at, and the action it must return.
        var steps: [(TimeInterval, ForceEndTimer.Action)]

        var testDescription: String { name }
    }

    @Test(arguments: [
        Case(
            name: "starts 20 minutes before the end: every notice, woken on time",
            start: 20 * 60,
            steps: [
                (20 * 60, wait(15 * 60)),
                (15 * 60, notice(15)), (15 * 60, wait(10 * 60)),
                (10 * 60, notice(10)), (10 * 60, wait(5 * 60)),
                (5 * 60, notice(5)), (5 * 60, wait(60)),
                (60, notice(1)), (60, wait(0)),
                (0, ended), (0, .none), (-60, .none),
            ]
        ),
        Case(
            name: "starts 12 minutes before: the first notice is the 10-minute one",
            start: 12 * 60,
            steps: [
                (12 * 60, wait(10 * 60)),
                (10 * 60, notice(10)), (5 * 60, notice(5)), (60, notice(1)), (0, ended), (0, .none),
            ]
        ),
        Case(
            name: "starts 30 seconds before: only the end",
            start: 30,
            steps: [(30, wait(0)), (0.5, wait(0)), (0, ended), (0, .none)]
        ),
        Case(
            name: "the clock jumps past every notice: one end",
            start: 20 * 60,
            steps: [(20 * 60, wait(15 * 60)), (-3600, ended), (-3600, .none)]
        ),
        Case(
            name: "the clock jumps past three notices: one notice with the time actually left",
            start: 20 * 60,
            steps: [(20 * 60, wait(15 * 60)), (4 * 60 + 30, notice(5)), (4 * 60, wait(60)), (60, notice(1))]
        ),
        Case(
            name: "woken late: the notice tells the time left, rounded up",
            start: 20 * 60,
            steps: [(15 * 60 - 0.2, notice(15)), (10 * 60 - 61, notice(9)), (30, notice(1)), (-1, ended)]
        ),
        Case(
            name: "woken early: wait again",
            start: 20 * 60,
            steps: [(15 * 60 + 0.001, wait(15 * 60)), (15 * 60, notice(15))]
        ),
        Case(name: "no plan: nothing, ever", start: nil, steps: [(20 * 60, .none), (0, .none), (-60, .none)]),
    ])
    func virtualClock(_ test: Case) {
        var timer = ForceEndTimer(plan: test.start.map { Self.plan(startingAt: Self.end - $0) }, endTimeText: "17:00")
        for (secondsBeforeEnd, expected) in test.steps {
            #expect(timer.next(now: Self.end - secondsBeforeEnd) == expected, "at \(secondsBeforeEnd) s before the end")
        }
    }

    @Test func noticesAtOrAfterTheEndAndUnsortedOnesAreHandled() {
        let plan = ForceEndTimer.Plan(end: Self.end, notices: [Self.end - 60, Self.end + 60, Self.end, Self.end - 600])
        var timer = ForceEndTimer(plan: plan, endTimeText: "17:00")
        #expect(timer.next(now: Self.end - 700) == Self.wait(600))
        #expect(timer.next(now: Self.end - 600) == Self.notice(10))
        #expect(timer.next(now: Self.end - 60) == Self.notice(1))
        #expect(timer.next(now: Self.end - 1) == Self.wait(0))
        #expect(timer.next(now: Self.end) == Self.ended)
    }
}
