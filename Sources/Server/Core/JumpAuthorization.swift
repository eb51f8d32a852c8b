import Foundation
public import JumpPolicy

/// Whether a user may start a Jump (a remote shell) on a Jump Client now, decided in the order the guide gives:
/// the Jump Item Role must grant Start Sessions, the session policies chosen by customer presence must allow
/// starting a session and the command shell, then the Jump Policy's schedule, ticket ID, MFA and simultaneous
/// Jumps. Pure: the caller gathers the facts (the simulation report answers the first two, the attempt the rest).
public enum JumpAuthorization {
    /// What an allowed Jump records and enforces.
    public struct Grant: Hashable, Sendable {
        public var jumpPolicy: JumpPolicy?
        public var sessionPolicies: [String]
        public var customerPresent: Bool
        public var scheduleOverridden: Bool
        public var forceEnd: JumpPolicy.ForceEnd?
        /// The force-end instant as the schedule's time zone shows it ("17:00 CET"), for the notices.
        public var endTimeText: String
        /// Whether another user may start a session beside one that is open (the Jump Policy's setting, or the
        /// global one); the session registry enforces it again when the session is registered.
        public var simultaneousJumpsAllowed: Bool

        public init(
            jumpPolicy: JumpPolicy?,
            sessionPolicies: [String],
            customerPresent: Bool,
            scheduleOverridden: Bool,
            forceEnd: JumpPolicy.ForceEnd?,
            endTimeText: String,
            simultaneousJumpsAllowed: Bool = true
        ) {
            self.jumpPolicy = jumpPolicy
            self.sessionPolicies = sessionPolicies
            self.customerPresent = customerPresent
            self.scheduleOverridden = scheduleOverridden
            self.forceEnd = forceEnd
            self.endTimeText = endTimeText
            self.simultaneousJumpsAllowed = simultaneousJumpsAllowed
        }
    }

    /// Which rule refused, for programs (`rule`) and for the representative (`message`).
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        public var rule: String
        public var message: String
        public var description: String { message }

        public init(rule: String, message: String) {
            self.rule = rule
            self.message = message
        }
    }

    /// An attended support session: no Jump Item, so no Jump Item Role and no Jump Policy; the session policies for
    /// attended sessions (the representative's group policies and account, then the global default) must allow
    /// starting a session and the command shell. The customer is there by definition.
    public static func decideAttended(report: SimulationReport, computer: String) throws(Refusal) -> Grant {
        try checkSessionPolicies(report, itemName: computer)
        return Grant(
            jumpPolicy: nil,
            sessionPolicies: report.appliedPolicies.map(\.policy.name),
            customerPresent: true,
            scheduleOverridden: false,
            forceEnd: nil,
            endTimeText: ""
        )
    }

    static func checkSessionPolicies(_ report: SimulationReport, itemName: String) throws(Refusal) {
        for permission in [SessionPermission.startSession, .shellAccess] {
            // Fails closed: a permission the report does not answer is not granted.
            let decision = report[permission]
            guard let decision, decision.isAllowed else {
                let rule = permission == .startSession ? "session-policy:start-session" : "session-policy:command-shell"
                let presence =
                    report.question.method == .attended
                    ? "attended" : "customer \(report.question.customerPresent ? "present" : "not present")"
                throw Refusal(
                    rule: rule,
                    message: "The session policy denies “\(permission.title)” on \(itemName) (\(presence)). "
                        + (decision?.explanation ?? "No session policy answers it.")
                )
            }
        }
    }

    public static func decide(
        report: SimulationReport,
        jumpPolicy: JumpPolicy?,
        attempt: JumpAttempt,
        itemName: String,
        timeZones: TimeZoneDatabase
    ) throws(Refusal) -> Grant {
        guard let role = report.jumpItemRole else {
            throw Refusal(rule: "jump-item-role", message: "No Jump Item Role applies to \(itemName).")
        }
        guard role.role.permissions.contains(.startSessions) else {
            throw Refusal(
                rule: "jump-item-role",
                message: "Your Jump Item Role on \(itemName) is “\(role.role.name)”, which does not grant Start Sessions. "
                    + role.explanation
            )
        }
        try checkSessionPolicies(report, itemName: itemName)
        let names = report.appliedPolicies.map(\.policy.name)
        guard let jumpPolicy else {
            // Without a Jump Policy the global Jump Item setting decides simultaneous Jumps.
            if !attempt.globalAllowSimultaneousJumps, attempt.activeSessionsOnItem > 0, !attempt.invitedByOwner {
                throw Refusal(
                    rule: "jump-policy:simultaneousJumpsDisallowedGlobally",
                    message: "Another user is in a session on \(itemName) and the global Jump Item setting does not "
                        + "allow simultaneous Jumps; ask that user to invite you."
                )
            }
            return Grant(
                jumpPolicy: nil,
                sessionPolicies: names,
                customerPresent: report.question.customerPresent,
                scheduleOverridden: false,
                forceEnd: nil,
                endTimeText: "",
                simultaneousJumpsAllowed: attempt.globalAllowSimultaneousJumps
            )
        }
        let outcome: JumpPolicyOutcome
        do {
            outcome = try jumpPolicy.check(attempt, db: timeZones)
        } catch {
            throw Refusal(
                rule: "jump-policy:schedule-invalid",
                message: "The schedule of the Jump Policy “\(jumpPolicy.name)” cannot be evaluated: \(error)"
            )
        }
        switch outcome {
        case .denied(let denial):
            throw Refusal(rule: "jump-policy:\(denial.rule.rawValue)", message: denial.message)
        case .allowed(let overridden, let forceEnd):
            var endText = ""
            if let forceEnd, let zone = try? timeZones.zone(jumpPolicy.schedule.timeZone) {
                let local = zone.localTime(at: forceEnd.end)
                endText = String(format: "%02d:%02d", local.hour, local.minute) + " " + zone.abbreviation(at: forceEnd.end)
            }
            let simultaneous =
                switch jumpPolicy.simultaneousJumps {
                case .allow: true
                case .disallow: false
                case .useGlobalSetting: attempt.globalAllowSimultaneousJumps
                }
            return Grant(
                jumpPolicy: jumpPolicy,
                sessionPolicies: names,
                customerPresent: report.question.customerPresent,
                scheduleOverridden: overridden,
                forceEnd: forceEnd,
                endTimeText: endText,
                simultaneousJumpsAllowed: simultaneous
            )
        }
    }
}
