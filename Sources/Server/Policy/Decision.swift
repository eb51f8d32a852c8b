/// An answer to "may this user do this?": allow, or deny, always with the rule that decided.
///
/// The rule is for programs (the audit log, the API); the explanation is for the administrator reading it.
public struct Decision: Hashable, Codable, Sendable {
    public enum Rule: Hashable, Codable, Sendable {
        /// The user's effective Jump Item role on the item grants the permission or lacks it.
        case jumpItemRole(Named<JumpItemRoleID>, source: RoleDecision.Source)
        /// The highest session policy, in precedence order, that defines the permission.
        case sessionPolicy(Named<SessionPolicyID>, level: SessionPolicyLevel)
        /// The user's effective representative permissions include the permission or not.
        case representativePermission(origin: SettingOrigin)
        /// Only the owner of a session may pin or unpin its Jump Client.
        case notSessionOwner
        /// The question names something the directory does not hold; nothing can be granted on it.
        case missing(MissingEntry)
    }

    public let isAllowed: Bool
    public let rule: Rule
    public let explanation: String

    public static func allow(_ rule: Rule, _ explanation: String) -> Decision {
        Decision(isAllowed: true, rule: rule, explanation: explanation)
    }

    public static func deny(_ rule: Rule, _ explanation: String) -> Decision {
        Decision(isAllowed: false, rule: rule, explanation: explanation)
    }
}

/// An id in a question that names nothing in the directory.
public enum MissingEntry: Hashable, Codable, Sendable, CustomStringConvertible {
    case user(UserID)
    case jumpGroup(JumpGroupID)
    case jumpItem(JumpItemID)
    case publicPortal(PublicPortalID)

    public var description: String {
        switch self {
        case .user(let id): "There is no user \(id)."
        case .jumpGroup(let id): "There is no Jump Group \(id)."
        case .jumpItem(let id): "There is no Jump Item \(id)."
        case .publicPortal(let id): "There is no public portal \(id)."
        }
    }
}
