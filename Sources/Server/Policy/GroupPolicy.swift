/// One setting of a group policy: Not Defined, or Defined with a value and whether later policies may replace it.
public struct PolicySetting<Value: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    /// nil: Not Defined, so the policy leaves this setting to the policies below it and to the user's account.
    public var value: Value?
    /// "Final" on one page is "Allow this policy to be overridden?" left unchecked on the other.
    public var isFinal: Bool

    public init(_ value: Value?, isFinal: Bool) {
        self.value = value
        self.isFinal = isFinal
    }

    public static var notDefined: Self { Self(nil, isFinal: false) }
    /// Defined and open to override, as the page leaves it until Final is checked.
    public static func defined(_ value: Value) -> Self { Self(value, isFinal: false) }
    public static func final(_ value: Value) -> Self { Self(value, isFinal: true) }
}

/// What a group policy says about one Jump Group.
///
/// "Add to Jump Groups" and "Remove from Jump Groups" for the same group are one setting, so that the
/// precedence of group policies decides between them like any other setting.
public enum JumpGroupAssignment: Hashable, Codable, Sendable {
    /// nil role: the member's default Jump Item role applies in that group.
    case add(role: JumpItemRoleID?)
    case remove
}

/// A group policy: settings that apply to its members, ordered against the other group policies.
///
/// The order lives in `PolicyDirectory.groupPolicies` (top first), not in a field, so it has one source of truth.
public struct GroupPolicy: Identifiable, Hashable, Codable, Sendable {
    public var id: GroupPolicyID
    public var name: String
    public var members: Set<UserID>
    public var defaultJumpItemRole: PolicySetting<JumpItemRoleID>
    public var personalJumpItemsRole: PolicySetting<JumpItemRoleID>
    public var systemJumpItemRole: PolicySetting<JumpItemRoleID>
    /// One setting for the whole set, as the page has one Defined / Final pair for the section.
    public var representativePermissions: PolicySetting<Set<RepresentativePermission>>
    public var jumpGroups: [JumpGroupID: PolicySetting<JumpGroupAssignment>]
    public var attendedSessionPolicy: PolicySetting<SessionPolicyID>
    public var unattendedSessionPolicy: PolicySetting<SessionPolicyID>

    public init(
        id: GroupPolicyID,
        name: String,
        members: Set<UserID> = [],
        defaultJumpItemRole: PolicySetting<JumpItemRoleID> = .notDefined,
        personalJumpItemsRole: PolicySetting<JumpItemRoleID> = .notDefined,
        systemJumpItemRole: PolicySetting<JumpItemRoleID> = .notDefined,
        representativePermissions: PolicySetting<Set<RepresentativePermission>> = .notDefined,
        jumpGroups: [JumpGroupID: PolicySetting<JumpGroupAssignment>] = [:],
        attendedSessionPolicy: PolicySetting<SessionPolicyID> = .notDefined,
        unattendedSessionPolicy: PolicySetting<SessionPolicyID> = .notDefined
    ) {
        self.id = id
        self.name = name
        self.members = members
        self.defaultJumpItemRole = defaultJumpItemRole
        self.personalJumpItemsRole = personalJumpItemsRole
        self.systemJumpItemRole = systemJumpItemRole
        self.representativePermissions = representativePermissions
        self.jumpGroups = jumpGroups
        self.attendedSessionPolicy = attendedSessionPolicy
        self.unattendedSessionPolicy = unattendedSessionPolicy
    }

    public var named: Named<GroupPolicyID> { Named(id, name) }

    public func jumpGroupAssignment(_ group: JumpGroupID) -> PolicySetting<JumpGroupAssignment> {
        jumpGroups[group] ?? .notDefined
    }

    public func sessionPolicy(for method: SessionMethod) -> PolicySetting<SessionPolicyID> {
        switch method {
        case .attended: attendedSessionPolicy
        case .jump: unattendedSessionPolicy
        }
    }
}

/// The value a group policy holds for a setting, and which policy holds it.
public struct HeldSetting<Value: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    public let value: Value
    public let policy: Named<GroupPolicyID>
    public let isFinal: Bool
}

extension Sequence<GroupPolicy> {
    /// The holder of one setting among policies listed top first (pass only those the user is a member of).
    ///
    /// The first policy that defines the setting holds it. A policy further down takes it over only while
    /// the holder allows override; once a Final holder is reached, nothing below can change the setting.
    public func holder<Value>(of setting: (GroupPolicy) -> PolicySetting<Value>) -> HeldSetting<Value>? {
        var holder: HeldSetting<Value>?
        for policy in self {
            if holder?.isFinal == true { break }
            let candidate = setting(policy)
            if let value = candidate.value {
                holder = HeldSetting(value: value, policy: policy.named, isFinal: candidate.isFinal)
            }
        }
        return holder
    }
}
