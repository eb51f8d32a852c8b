/// Where a user's effective setting came from.
public enum SettingOrigin: Hashable, Codable, Sendable {
    /// A group policy the user is a member of holds it; the Users page shows such a setting locked.
    case groupPolicy(Named<GroupPolicyID>, isFinal: Bool)
    /// No group policy of the user defines it, so the user's own account setting applies.
    case userAccount(Named<UserID>)

    var phrase: String {
        switch self {
        case .groupPolicy(let policy, let isFinal): "set by group policy “\(policy.name)”\(isFinal ? ", Final" : "")"
        case .userAccount(let user): "set on the account of \(user.name)"
        }
    }
}

/// A user's setting after the group policies have had their say.
struct EffectiveSetting<Value: Hashable & Codable & Sendable>: Hashable, Sendable {
    let value: Value
    let origin: SettingOrigin
}

extension PolicyDirectory {
    /// The held group-policy value wins over the account's own value for the same setting.
    func effective<Value>(
        _ setting: (GroupPolicy) -> PolicySetting<Value>,
        account: (User) -> Value,
        for user: User
    ) -> EffectiveSetting<Value> {
        if let held = groupPolicies(of: user.id).holder(of: setting) {
            return EffectiveSetting(value: held.value, origin: .groupPolicy(held.policy, isFinal: held.isFinal))
        }
        return EffectiveSetting(value: account(user), origin: .userAccount(user.named))
    }

    func defaultJumpItemRole(of user: User) -> EffectiveSetting<JumpItemRoleID> {
        effective(\.defaultJumpItemRole, account: \.defaultJumpItemRole, for: user)
    }

    func personalJumpItemsRole(of user: User) -> EffectiveSetting<JumpItemRoleID> {
        effective(\.personalJumpItemsRole, account: \.personalJumpItemsRole, for: user)
    }

    func systemJumpItemRole(of user: User) -> EffectiveSetting<JumpItemRoleID> {
        effective(\.systemJumpItemRole, account: \.systemJumpItemRole, for: user)
    }

    /// Whether the user holds a representative permission, such as overriding a Jump Policy's schedule.
    public func representativePermission(_ permission: RepresentativePermission, user id: UserID) -> Decision {
        guard let user = users[id] else { return .deny(.missing(.user(id)), MissingEntry.user(id).description) }
        let held = effective(\.representativePermissions, account: \.representativePermissions, for: user)
        let rule = Decision.Rule.representativePermission(origin: held.origin)
        let has = held.value.contains(permission)
        let explanation =
            "\(user.username) \(has ? "has" : "does not have") “\(permission.title)” (representative permissions"
            + " \(held.origin.phrase))."
        return has ? .allow(rule, explanation) : .deny(rule, explanation)
    }
}
