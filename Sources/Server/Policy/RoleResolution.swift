/// A user's Jump Item role in one place (a Jump Group or a personal list), and the rule that chose it.
public struct RoleDecision: Hashable, Codable, Sendable {
    /// Which rule chose the role, most specific first (guide: "the most specific role for a user is always used").
    public enum Source: Hashable, Codable, Sendable {
        /// The role on the user's membership, set on the Jump Group page.
        case jumpGroupPage(Named<JumpGroupID>)
        /// The role on the membership a group policy's "Add to Jump Groups" gives.
        case groupPolicyMembership(Named<JumpGroupID>, policy: Named<GroupPolicyID>)
        /// A member whose membership names no role: the user's default Jump Item role.
        case defaultRole(Named<JumpGroupID>, origin: SettingOrigin)
        /// The user's own personal Jump Items.
        case personalRole(origin: SettingOrigin)
        /// Not a member of the group, or another user's personal item: the system Jump Item role.
        case systemRole(origin: SettingOrigin)
        /// The user or the place is unknown: No Access.
        case missing(MissingEntry)
    }

    public let role: JumpItemRole
    public let source: Source
    public let explanation: String
}

/// How a user belongs to a Jump Group, directly and through group policies.
public struct JumpGroupMembership: Hashable, Codable, Sendable {
    /// Added on the Jump Group page; kept whatever the group policies say.
    public let direct: JumpGroup.Member?
    /// The group policy holding this group's add/remove setting for the user, if any defines it.
    public let policy: HeldSetting<JumpGroupAssignment>?

    public var isAddedByPolicy: Bool {
        if case .add = policy?.value { true } else { false }
    }

    public var isMember: Bool { direct != nil || isAddedByPolicy }
}

extension PolicyDirectory {
    /// nil when there is no such Jump Group.
    public func membership(of user: UserID, in group: JumpGroupID) -> JumpGroupMembership? {
        jumpGroups[group].map { membership(of: user, in: $0) }
    }

    func membership(of user: UserID, in group: JumpGroup) -> JumpGroupMembership {
        JumpGroupMembership(
            direct: group.member(user),
            policy: groupPolicies(of: user).holder { $0.jumpGroupAssignment(group.id) }
        )
    }

    public func effectiveRole(user: UserID, item: JumpItemID) -> RoleDecision {
        guard let item = jumpItems[item] else { return missing(.jumpItem(item)) }
        return effectiveRole(user: user, in: item.location)
    }

    /// The role for a place rather than an item, so that creating an item there can be checked before it exists.
    public func effectiveRole(user id: UserID, in location: JumpItem.Location) -> RoleDecision {
        guard let user = users[id] else { return missing(.user(id)) }
        switch location {
        case .personal(let owner) where owner == user.id:
            let role = personalJumpItemsRole(of: user)
            return decision(role.value, .personalRole(origin: role.origin)) {
                "\(user.username) owns these personal Jump Items, so the personal Jump Items role \($0) applies"
                    + " (\(role.origin.phrase))."
            }
        case .personal(let owner):
            let ownerName = users[owner]?.username ?? "user \(owner)"
            return systemRole(of: user, "\(user.username) does not own the personal Jump Items of \(ownerName)")
        case .jumpGroup(let groupID):
            guard let group = jumpGroups[groupID] else { return missing(.jumpGroup(groupID)) }
            return effectiveRole(of: user, in: group)
        }
    }

    private func effectiveRole(of user: User, in group: JumpGroup) -> RoleDecision {
        let membership = membership(of: user.id, in: group)
        let name = user.username
        if let role = membership.direct?.role {
            return decision(role, .jumpGroupPage(group.named)) {
                "\(name) has the role \($0) in Jump Group “\(group.name)”, set on the Jump Group page."
            }
        }
        if let held = membership.policy, case .add(role: let role?) = held.value {
            return decision(role, .groupPolicyMembership(group.named, policy: held.policy)) {
                "\(name) has the role \($0) in Jump Group “\(group.name)”, set by group policy “\(held.policy.name)”."
            }
        }
        if membership.isMember {
            let role = defaultJumpItemRole(of: user)
            return decision(role.value, .defaultRole(group.named, origin: role.origin)) {
                "\(name) is a member of Jump Group “\(group.name)” with no role named there, so the default Jump Item"
                    + " role \($0) applies (\(role.origin.phrase))."
            }
        }
        if let held = membership.policy {
            let because = "Group policy “\(held.policy.name)” removes \(name) from Jump Group “\(group.name)”"
            return systemRole(of: user, because)
        }
        return systemRole(of: user, "\(name) is not a member of Jump Group “\(group.name)”")
    }

    private func systemRole(of user: User, _ because: String) -> RoleDecision {
        let role = systemJumpItemRole(of: user)
        return decision(role.value, .systemRole(origin: role.origin)) {
            "\(because), so the system Jump Item role \($0) applies (\(role.origin.phrase))."
        }
    }

    /// - Parameter explain: a sentence, given the quoted role name.
    private func decision(
        _ id: JumpItemRoleID,
        _ source: RoleDecision.Source,
        _ explain: (String) -> String
    ) -> RoleDecision {
        let role = role(id) ?? .noAccess
        return RoleDecision(role: role, source: source, explanation: explain("“\(role.name)”"))
    }

    private func missing(_ entry: MissingEntry) -> RoleDecision {
        RoleDecision(role: .noAccess, source: .missing(entry), explanation: "\(entry) No Access.")
    }
}

// MARK: Permissions

extension PolicyDirectory {
    public func may(_ permission: JumpItemPermission, user: UserID, item: JumpItemID) -> Decision {
        may(permission, effectiveRole(user: user, item: item))
    }

    public func may(_ permission: JumpItemPermission, user: UserID, in location: JumpItem.Location) -> Decision {
        may(permission, effectiveRole(user: user, in: location))
    }

    private func may(_ permission: JumpItemPermission, _ role: RoleDecision) -> Decision {
        if case .missing(let entry) = role.source { return .deny(.missing(entry), entry.description) }
        let rule = Decision.Rule.jumpItemRole(role.role.named, source: role.source)
        if role.role.permissions.contains(permission) {
            return .allow(rule, "\(role.explanation) That role grants “\(permission.title)”.")
        }
        return .deny(rule, "\(role.explanation) That role does not grant “\(permission.title)”.")
    }
}
