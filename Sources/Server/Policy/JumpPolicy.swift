public import Foundation

/// Extra conditions on starting a session on the Jump Items a policy is applied to: when (a schedule), what
/// the user must supply first (a ticket ID, a multi-factor check), and whether a second user may jump in.
public struct JumpPolicy: Identifiable, Codable, Hashable, Sendable {
    /// The guide: "recurring notifications beginning 15 minutes prior to being disconnected".
    public static let firstNoticeLead: TimeInterval = 15 * 60
    /// How often the notice recurs after the first one.
    public static let noticeInterval: TimeInterval = 5 * 60
    /// A last notice a minute before the end, so the user can save their work whatever the interval.
    public static let finalNoticeLead: TimeInterval = 60
    /// Ticket IDs are references into a ticketing system and are written to the audit log with the session;
    /// 128 bytes of UTF-8 holds any real ticket reference.
    public static let maximumTicketIDLength = 128

    public var id: Int64
    public var name: String
    /// A stable name for integrations.
    public var codeName: String
    public var description: String
    public var schedule: AccessSchedule
    /// Close sessions when the schedule stops permitting access, instead of letting them run on.
    public var forceEndAtScheduleEnd: Bool
    public var requireTicketID: Bool
    public var requireMFA: Bool
    public var simultaneousJumps: SimultaneousJumps

    public enum SimultaneousJumps: String, CaseIterable, Codable, Hashable, Sendable {
        /// Follow the global Jump Item setting.
        case useGlobalSetting
        /// Several users may be in sessions on the same Jump Item at once.
        case allow
        /// One user at a time, unless the user who started the session invites another.
        case disallow
    }

    /// When a session is closed because the schedule ends, and when the user is warned.
    public struct ForceEnd: Codable, Hashable, Sendable {
        public var end: Date
        /// Earliest first; only those after the session's start.
        public var notices: [Date]

        public init(end: Date, notices: [Date]) {
            self.end = end
            self.notices = notices
        }
    }

    public init(
        id: Int64,
        name: String,
        codeName: String,
        description: String = "",
        schedule: AccessSchedule,
        forceEndAtScheduleEnd: Bool = false,
        requireTicketID: Bool = false,
        requireMFA: Bool = false,
        simultaneousJumps: SimultaneousJumps = .useGlobalSetting
    ) {
        self.id = id
        self.name = name
        self.codeName = codeName
        self.description = description
        self.schedule = schedule
        self.forceEndAtScheduleEnd = forceEndAtScheduleEnd
        self.requireTicketID = requireTicketID
        self.requireMFA = requireMFA
        self.simultaneousJumps = simultaneousJumps
    }

    /// Whether this policy lets `attempt` start a session, and if so under which conditions.
    ///
    /// The rules are checked in this order and the first that fails decides: the schedule (and, outside it,
    /// the user's request and permission to override it), the ticket ID, multi-factor authentication, then
    /// simultaneous Jumps. A session started by overriding the schedule gets no forced end: the override is an
    /// explicit decision the caller audits, and ending the session at the next window's close would be arbitrary.
    /// Throws when the schedule is invalid or its time zone cannot be loaded.
    public func check(_ attempt: JumpAttempt, db: TimeZoneDatabase) throws -> JumpPolicyOutcome {
        var scheduleOverridden = false
        if try !schedule.permits(attempt.at, in: db) {
            let opensAt = try schedule.nextChange(after: attempt.at, in: db)
            guard attempt.overrideSchedule, attempt.mayOverrideSchedule else {
                let rule: JumpPolicyDenial.Rule = attempt.overrideSchedule ? .overrideNotPermitted : .outsideSchedule
                return .denied(try scheduleDenial(rule, opensAt: opensAt, db: db))
            }
            scheduleOverridden = true
        }
        if let denial = ticketDenial(attempt.ticketID) {
            return .denied(denial)
        }
        if requireMFA && !attempt.mfaVerified {
            return .denied(
                denial(
                    .mfaRequired,
                    "The Jump Policy \"\(name)\" requires multi-factor authentication before a session starts; "
                        + "confirm your identity and try again."
                )
            )
        }
        if let denial = simultaneousJumpsDenial(attempt) {
            return .denied(denial)
        }
        let forceEnd = scheduleOverridden ? nil : try forceEnd(startingAt: attempt.at, db: db)
        return .allowed(scheduleOverridden: scheduleOverridden, forceEnd: forceEnd)
    }

    /// The forced end of a session started at `start` inside the schedule, with its notices: from
    /// `firstNoticeLead` before the end every `noticeInterval`, and a last one `finalNoticeLead` before it.
    func forceEnd(startingAt start: Date, db: TimeZoneDatabase) throws -> ForceEnd? {
        guard forceEndAtScheduleEnd, let end = try schedule.windowEnd(containing: start, in: db) else { return nil }
        let leads = Array(stride(from: Self.firstNoticeLead, to: 0, by: -Self.noticeInterval)) + [Self.finalNoticeLead]
        return ForceEnd(end: end, notices: leads.map { end - $0 }.filter { $0 > start })
    }

    private func scheduleDenial(
        _ rule: JumpPolicyDenial.Rule,
        opensAt: Date?,
        db: TimeZoneDatabase
    ) throws -> JumpPolicyDenial {
        var message = "The schedule of the Jump Policy \"\(name)\" does not permit a session to start now"
        if rule == .overrideNotPermitted {
            message += ", and you do not have permission to override it"
        }
        if let opensAt {
            let local = try db.zone(schedule.timeZone).localTime(at: opensAt)
            let date = String(format: "%04d-%02d-%02d", local.year, local.month, local.day)
            let time = String(format: "%02d:%02d", local.hour, local.minute)
            let weekday = "\(local.weekday)".capitalized
            message += "; it next permits one on \(weekday) \(date) \(time) (\(schedule.timeZone))."
        } else {
            message += "; it permits none at any time."
        }
        return JumpPolicyDenial(rule: rule, policyID: id, message: message, opensAt: opensAt)
    }

    private func ticketDenial(_ ticketID: String?) -> JumpPolicyDenial? {
        let ticketID = ticketID?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if ticketID.utf8.count > Self.maximumTicketIDLength {
            return denial(
                .ticketIDTooLong,
                "The ticket ID for the Jump Policy \"\(name)\" is longer than \(Self.maximumTicketIDLength) bytes; "
                    + "enter the ticket's reference, not its text."
            )
        }
        if requireTicketID && ticketID.isEmpty {
            return denial(
                .ticketIDRequired,
                "The Jump Policy \"\(name)\" requires a ticket ID before a session starts; enter one and try again."
            )
        }
        return nil
    }

    private func simultaneousJumpsDenial(_ attempt: JumpAttempt) -> JumpPolicyDenial? {
        guard attempt.activeSessionsOnItem > 0, !attempt.invitedByOwner else { return nil }
        switch simultaneousJumps {
        case .allow:
            return nil
        case .disallow:
            return denial(
                .simultaneousJumpsDisallowed,
                "Another user is in a session on this Jump Item and the Jump Policy \"\(name)\" does not allow "
                    + "simultaneous Jumps; ask that user to invite you."
            )
        case .useGlobalSetting:
            guard !attempt.globalAllowSimultaneousJumps else { return nil }
            return denial(
                .simultaneousJumpsDisallowedGlobally,
                "Another user is in a session on this Jump Item and the global Jump Item setting, which the Jump "
                    + "Policy \"\(name)\" follows, does not allow simultaneous Jumps; ask that user to invite you."
            )
        }
    }

    private func denial(_ rule: JumpPolicyDenial.Rule, _ message: String) -> JumpPolicyDenial {
        JumpPolicyDenial(rule: rule, policyID: id, message: message, opensAt: nil)
    }
}

/// A request to start a session on a Jump Item under a Jump Policy, with the facts decided elsewhere.
public struct JumpAttempt: Codable, Hashable, Sendable {
    public var at: Date
    public var ticketID: String?
    /// The user passed a multi-factor challenge for this attempt.
    public var mfaVerified: Bool
    /// The user asked to start the session although the schedule does not permit it.
    public var overrideSchedule: Bool
    /// The user holds the permission to override Jump Policy schedules.
    public var mayOverrideSchedule: Bool
    /// Sessions other users have open on the Jump Item now.
    public var activeSessionsOnItem: Int
    /// The user who started the open session invited this user into it.
    public var invitedByOwner: Bool
    /// The global Jump Item setting, consulted when the policy says `.useGlobalSetting`.
    public var globalAllowSimultaneousJumps: Bool

    public init(
        at: Date,
        ticketID: String? = nil,
        mfaVerified: Bool = false,
        overrideSchedule: Bool = false,
        mayOverrideSchedule: Bool = false,
        activeSessionsOnItem: Int = 0,
        invitedByOwner: Bool = false,
        globalAllowSimultaneousJumps: Bool = false
    ) {
        self.at = at
        self.ticketID = ticketID
        self.mfaVerified = mfaVerified
        self.overrideSchedule = overrideSchedule
        self.mayOverrideSchedule = mayOverrideSchedule
        self.activeSessionsOnItem = activeSessionsOnItem
        self.invitedByOwner = invitedByOwner
        self.globalAllowSimultaneousJumps = globalAllowSimultaneousJumps
    }
}

public enum JumpPolicyOutcome: Codable, Hashable, Sendable {
    /// `scheduleOverridden` is true when the session starts outside the schedule by the user's override, which
    /// the caller records in the audit log; `forceEnd` is when the session must be closed, if it must.
    case allowed(scheduleOverridden: Bool, forceEnd: JumpPolicy.ForceEnd?)
    case denied(JumpPolicyDenial)
}

/// Why a Jump Policy refused a session: the rule that decided, and a message for the user that names the policy.
public struct JumpPolicyDenial: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Rule: String, CaseIterable, Codable, Hashable, Sendable {
        /// The schedule does not permit a session now and the user did not ask to override it.
        case outsideSchedule
        /// The user asked to override the schedule without the permission to.
        case overrideNotPermitted
        case ticketIDRequired
        /// Longer than `JumpPolicy.maximumTicketIDLength`.
        case ticketIDTooLong
        case mfaRequired
        /// The policy disallows simultaneous Jumps and another user is in a session.
        case simultaneousJumpsDisallowed
        /// The policy follows the global setting, which disallows them, and another user is in a session.
        case simultaneousJumpsDisallowedGlobally
    }

    public var rule: Rule
    public var policyID: Int64
    public var message: String
    /// For schedule denials: when the schedule next permits a session to start (nil if never).
    public var opensAt: Date?

    public var description: String { message }
}
