public import Foundation

/// When to warn a session that its Jump Policy's schedule is about to end it, and when to end it.
///
/// Pure: the session asks `next(now:)` whenever it wakes (at the instant of the last `.wait`, or for any other
/// reason) and carries out the action. Notices the clock skipped past (a suspended host, a wall-clock step)
/// collapse into one that tells the time actually left; once the end has passed it answers `.end` once, then
/// `.none`. The end time is shown as text the caller formats in the schedule's time zone.
public struct ForceEndTimer: Hashable, Sendable {
    /// `JumpPolicy.ForceEnd`: when the session is closed and when it is warned, earliest first.
    public struct Plan: Hashable, Sendable {
        public var end: Date
        public var notices: [Date]

        public init(end: Date, notices: [Date]) {
            self.end = end
            self.notices = notices
        }
    }

    public enum Action: Hashable, Sendable {
        /// Nothing to do before this instant; ask again then.
        case wait(until: Date)
        /// Show `text` to everyone in the session.
        case notice(text: String, minutesLeft: Int)
        /// Close the session, giving `reason` to its users and the audit log.
        case end(reason: String)
        /// Nothing more will happen: there is no forced end, or it has been carried out.
        case none
    }

    private let plan: Plan?
    private let endTimeText: String
    /// Index of the first notice not yet given.
    private var nextNotice = 0
    private var ended = false

    /// `endTimeText` is the end in the schedule's time zone as the users should read it, for example "17:00".
    /// Notices at or after the end are ignored; the plan's notices need not be sorted.
    public init(plan: Plan?, endTimeText: String) {
        self.plan = plan.map { plan in
            Plan(end: plan.end, notices: plan.notices.filter { $0 < plan.end }.sorted())
        }
        self.endTimeText = endTimeText
    }

    public mutating func next(now: Date) -> Action {
        guard let plan, !ended else { return .none }
        if now >= plan.end {
            ended = true
            return .end(
                reason:
                    "This session was ended: the Jump Policy's schedule does not permit access after \(endTimeText)."
            )
        }
        var due = nextNotice
        while due < plan.notices.count, plan.notices[due] <= now {
            due += 1
        }
        if due > nextNotice {
            nextNotice = due
            let minutes = Int((plan.end.timeIntervalSince(now) / 60).rounded(.up))
            let unit = minutes == 1 ? "minute" : "minutes"
            return .notice(
                text: "This session ends in \(minutes) \(unit): the Jump Policy's schedule does not permit access "
                    + "after \(endTimeText).",
                minutesLeft: minutes
            )
        }
        return .wait(until: nextNotice < plan.notices.count ? plan.notices[nextNotice] : plan.end)
    }
}
