/// Whether a row of a Jump Group's member table can be edited or deleted there, and if not, where to go instead.
public enum MembershipEditability: Hashable, Codable, Sendable {
    /// Added on the Jump Group page, so it is changed there.
    case editable
    /// Only a group policy puts the user here; change the policy, which changes every group it names.
    case grantedByGroupPolicy(Named<GroupPolicyID>)
    /// Not a member: listed because the system Jump Item role is not No Access; change it on the user.
    case systemJumpItemRole(Named<JumpItemRoleID>, origin: SettingOrigin)

    public var isEditable: Bool { self == .editable }

    /// Why edit and delete are disabled; nil when they are not.
    public var reason: String? {
        switch self {
        case .editable:
            nil
        case .grantedByGroupPolicy(let policy):
            "Added by group policy “\(policy.name)”: change the group policy, or add the user on this page to"
                + " override it."
        case .systemJumpItemRole(let role, let origin):
            "Not a member: listed because the system Jump Item role is “\(role.name)” (\(origin.phrase)), not"
                + " No Access. Change the user's system Jump Item role, or add the user on this page to override it."
        }
    }
}

/// A row of a Jump Group's member table: the role in force, how it was granted, and whether it can be edited.
public struct JumpGroupMember: Hashable, Codable, Sendable {
    public let user: Named<UserID>
    public let displayName: String
    public let role: RoleDecision
    public let editability: MembershipEditability
}

extension PolicyDirectory {
    /// Everyone the group's table lists, by username: members (direct or by group policy) and users whose
    /// system Jump Item role reaches the group anyway.
    public func members(of group: JumpGroupID) -> [JumpGroupMember] {
        guard let group = jumpGroups[group] else { return [] }
        return users.values.sorted { $0.username < $1.username }.compactMap { member(user: $0, of: group) }
    }

    /// nil when the user is not listed in the group.
    public func membershipEditability(user: UserID, group: JumpGroupID) -> MembershipEditability? {
        guard let user = users[user], let group = jumpGroups[group] else { return nil }
        return member(user: user, of: group)?.editability
    }

    private func member(user: User, of group: JumpGroup) -> JumpGroupMember? {
        let membership = membership(of: user.id, in: group)
        let editability: MembershipEditability
        if membership.direct != nil {
            editability = .editable
        } else if membership.isAddedByPolicy, let held = membership.policy {
            editability = .grantedByGroupPolicy(held.policy)
        } else {
            let system = systemJumpItemRole(of: user)
            guard system.value != .noAccess, let role = role(system.value) else { return nil }
            editability = .systemJumpItemRole(role.named, origin: system.origin)
        }
        return JumpGroupMember(
            user: user.named,
            displayName: user.displayName,
            role: effectiveRole(user: user.id, in: .jumpGroup(group.id)),
            editability: editability
        )
    }
}
