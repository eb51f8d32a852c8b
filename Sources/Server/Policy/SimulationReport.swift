public import Foundation

/// Where the simulator's answer to "is the customer present?" came from.
public enum CustomerPresenceSource: Hashable, Codable, Sendable {
    /// The question said so.
    case given
    /// The Jump Client's latest statistics, reported at `reportedAt`, read with or without the screen state as
    /// the "use screen state" setting says.
    case statistics(reportedAt: Date, screenStateUsed: Bool)
    /// The Jump Client has sent no statistics that tell: taken as not present, the stricter policy for a Jump.
    case unknown
    /// Only a Jump to a Jump Item has Customer Present and Not Present policies; here presence selects nothing.
    case notApplicable
}

/// The policy simulator's whole answer for one question: every session permission with the rule that decided it,
/// the Jump Item role with each of its permissions, and the Jump Policy's answer at the given instant.
public struct SimulationReport: Hashable, Codable, Sendable {
    public struct Question: Hashable, Codable, Sendable {
        public var user: Named<UserID>
        public var method: SessionMethod
        public var jumpItem: JumpItemID?
        public var customerPresent: Bool
        public var customerPresence: CustomerPresenceSource
        public var at: Date

        public init(
            user: Named<UserID>,
            method: SessionMethod,
            jumpItem: JumpItemID?,
            customerPresent: Bool,
            customerPresence: CustomerPresenceSource,
            at: Date
        ) {
            self.user = user
            self.method = method
            self.jumpItem = jumpItem
            self.customerPresent = customerPresent
            self.customerPresence = customerPresence
            self.at = at
        }
    }

    /// One permission of the effective Jump Item role.
    public struct RolePermission: Hashable, Codable, Sendable {
        public let permission: JumpItemPermission
        public let title: String
        public let granted: Bool
    }

    /// What the Jump Item's Jump Policy says about a session starting at the question's instant.
    public struct JumpPolicyAnswer: Hashable, Codable, Sendable {
        public let policy: Named<Int64>
        public let scheduleEnabled: Bool
        public let timeZone: String
        public let schedulePermits: Bool
        /// The first instant after the question's at which `schedulePermits` changes; nil when it never does.
        public let nextChange: Date?
        /// When a session started then would be closed, with its notices; nil when nothing closes it.
        public let forceEnd: JumpPolicy.ForceEnd?
        public let requireTicketID: Bool
        public let requireMFA: Bool
        public let simultaneousJumps: JumpPolicy.SimultaneousJumps
        /// Whether a second user may start a session while another is in one, with the global setting applied.
        public let simultaneousJumpsAllowed: Bool
        /// Whether the user may start a session when the schedule does not permit one.
        public let overrideSchedule: Decision
        public let explanation: String
    }

    public let question: Question
    /// Every `SessionPermission`, in declaration order.
    public let permissions: [SimulatedPermission]
    /// Highest precedence first, ending with the global default.
    public let appliedPolicies: [AppliedSessionPolicy]
    /// Present when a Jump Item was given.
    public let jumpItemRole: RoleDecision?
    /// Every `JumpItemPermission` of that role, in declaration order; empty without a Jump Item.
    public let jumpItemPermissions: [RolePermission]
    /// Present for a Jump to a Jump Item that has a Jump Policy.
    public let jumpPolicy: JumpPolicyAnswer?

    public subscript(permission: SessionPermission) -> Decision? {
        permissions.first { $0.permission == permission }?.decision
    }

    /// Answers the question from values. Throws when the Jump Policy's schedule cannot be evaluated (its time zone
    /// is missing from `timeZones`, or an entry is out of range).
    public init(
        directory: PolicyDirectory,
        jumpPolicies: [Int64: JumpPolicy],
        question: Question,
        globalAllowSimultaneousJumps: Bool,
        timeZones: TimeZoneDatabase
    ) throws {
        let simulation = SessionPolicySimulator(directory: directory).simulate(
            user: question.user.id,
            method: question.method,
            item: question.jumpItem,
            customerPresent: question.customerPresent,
            portal: nil
        )
        self.question = question
        permissions = simulation.permissions
        appliedPolicies = simulation.appliedPolicies
        jumpItemRole = simulation.jumpItemRole
        jumpItemPermissions =
            simulation.jumpItemRole.map { decision in
                JumpItemPermission.allCases.map {
                    RolePermission(permission: $0, title: $0.title, granted: decision.role.permissions.contains($0))
                }
            } ?? []
        if question.method == .jump, let item = question.jumpItem.flatMap({ directory.jumpItems[$0] }),
            let policy = item.jumpPolicy.flatMap({ jumpPolicies[$0] })
        {
            jumpPolicy = try JumpPolicyAnswer(
                policy,
                at: question.at,
                overrideSchedule: directory.representativePermission(
                    .overrideJumpPolicySchedule,
                    user: question.user.id
                ),
                globalAllowSimultaneousJumps: globalAllowSimultaneousJumps,
                timeZones: timeZones
            )
        } else {
            jumpPolicy = nil
        }
    }
}

extension SimulationReport.JumpPolicyAnswer {
    init(
        _ policy: JumpPolicy,
        at instant: Date,
        overrideSchedule: Decision,
        globalAllowSimultaneousJumps: Bool,
        timeZones: TimeZoneDatabase
    ) throws {
        let schedule = policy.schedule
        let permits = try schedule.permits(instant, in: timeZones)
        let nextChange = try schedule.nextChange(after: instant, in: timeZones)
        let forceEnd = permits ? try policy.forceEnd(startingAt: instant, db: timeZones) : nil
        self.policy = Named(policy.id, policy.name)
        scheduleEnabled = schedule.enabled
        timeZone = schedule.timeZone
        schedulePermits = permits
        self.nextChange = nextChange
        self.forceEnd = forceEnd
        requireTicketID = policy.requireTicketID
        requireMFA = policy.requireMFA
        simultaneousJumps = policy.simultaneousJumps
        simultaneousJumpsAllowed =
            switch policy.simultaneousJumps {
            case .allow: true
            case .disallow: false
            case .useGlobalSetting: globalAllowSimultaneousJumps
            }
        self.overrideSchedule = overrideSchedule

        var sentences: [String] = []
        if !schedule.enabled {
            sentences.append("The Jump Policy “\(policy.name)” has no schedule, so a session may start at any time.")
        } else {
            let zone = try timeZones.zone(schedule.timeZone)
            func local(_ date: Date) -> String {
                let time = zone.localTime(at: date)
                return "\("\(time.weekday)".capitalized) \(time) \(zone.abbreviation(at: date)) (\(schedule.timeZone))"
            }
            var sentence =
                "The schedule of the Jump Policy “\(policy.name)” \(permits ? "permits" : "does not permit") a session"
                + " to start at \(local(instant))"
            if let nextChange {
                sentence += "; it \(permits ? "stops permitting" : "next permits") one at \(local(nextChange))."
            } else {
                sentence += ", and that never changes."
            }
            sentences.append(sentence)
            if !permits {
                sentences.append(
                    overrideSchedule.isAllowed
                        ? "The user may override the schedule." : "The user may not override the schedule."
                )
            }
            if let forceEnd {
                sentences.append("A session started then is ended at \(local(forceEnd.end)).")
            }
        }
        if policy.requireTicketID { sentences.append("A ticket ID is required.") }
        if policy.requireMFA { sentences.append("Multi-factor authentication is required.") }
        sentences.append(
            simultaneousJumpsAllowed
                ? "Another user may jump in while a session is open."
                : "Another user may join an open session only when invited."
        )
        explanation = sentences.joined(separator: " ")
    }
}
