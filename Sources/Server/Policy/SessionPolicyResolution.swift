/// A level of session policy precedence. Levels are consulted in the order of the cases, highest first:
/// the Jump Item, the public portal, the representative (group policies, then the account), the global default.
public enum SessionPolicyLevel: Hashable, Codable, Sendable {
    /// The Jump Item's Customer Present or Customer Not Present policy; Jumps only.
    case jumpItem(JumpItemID, customerPresent: Bool)
    /// The portal the customer came through; attended sessions only.
    case publicPortal(Named<PublicPortalID>)
    /// The representative's attended or unattended policy held by a group policy.
    case groupPolicy(Named<GroupPolicyID>)
    /// The representative's own attended or unattended policy.
    case user(Named<UserID>)
    case globalDefault

    var phrase: String {
        switch self {
        case .jumpItem(let item, let present):
            "the Customer \(present ? "Present" : "Not Present") session policy of Jump Item \(item)"
        case .publicPortal(let portal): "the session policy of public portal “\(portal.name)”"
        case .groupPolicy(let policy): "the session policy set by group policy “\(policy.name)”"
        case .user(let user): "the session policy on the account of \(user.name)"
        case .globalDefault: "the global default session policy"
        }
    }
}

/// A session policy that applies to a session, and at which level.
public struct AppliedSessionPolicy: Hashable, Codable, Sendable {
    public let level: SessionPolicyLevel
    public let policy: SessionPolicy
}

extension PolicyDirectory {
    /// The policies that apply to a session, highest precedence first, always ending with the global default.
    ///
    /// A Jump Item's policy counts only for Jumps and a portal's only for attended sessions; the other is ignored.
    public func appliedSessionPolicies(
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        customerPresent: Bool,
        portal: PublicPortalID?
    ) -> [AppliedSessionPolicy] {
        var applied: [AppliedSessionPolicy] = []
        func add(_ level: SessionPolicyLevel, _ id: SessionPolicyID?) {
            if let id, let policy = sessionPolicies[id] {
                applied.append(AppliedSessionPolicy(level: level, policy: policy))
            }
        }
        if method == .jump, let item = item.flatMap({ jumpItems[$0] }) {
            add(
                .jumpItem(item.id, customerPresent: customerPresent),
                item.sessionPolicy(customerPresent: customerPresent)
            )
        }
        if method == .attended, let portal = portal.flatMap({ publicPortals[$0] }) {
            add(.publicPortal(portal.named), portal.sessionPolicy)
        }
        if let user = users[user] {
            if let held = groupPolicies(of: user.id).holder(of: { $0.sessionPolicy(for: method) }) {
                add(.groupPolicy(held.policy), held.value)
            }
            add(.user(user.named), user.sessionPolicy(for: method))
        }
        applied.append(AppliedSessionPolicy(level: .globalDefault, policy: globalDefaultSessionPolicy))
        return applied
    }

    /// The first level that defines the permission decides; Not Defined falls through to the next.
    public func sessionPermission(
        _ permission: SessionPermission,
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        customerPresent: Bool,
        portal: PublicPortalID?
    ) -> Decision {
        if let missing = missingEntry(user: user, method: method, item: item, portal: portal) {
            return .deny(.missing(missing), missing.description)
        }
        let applied = appliedSessionPolicies(
            user: user,
            method: method,
            item: item,
            customerPresent: customerPresent,
            portal: portal
        )
        return decide(permission, applied)
    }

    /// Pinning follows the session policies, but only for the session's owner: rep-invited users never own one.
    public func mayPinOrUnpin(
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        customerPresent: Bool,
        portal: PublicPortalID?,
        isSessionOwner: Bool
    ) -> Decision {
        guard isSessionOwner else {
            let name = users[user]?.username ?? "user \(user)"
            return .deny(
                .notSessionOwner,
                "Only the owner of a session may pin or unpin its Jump Client, and \(name) does not own this session."
            )
        }
        return sessionPermission(
            .jumpClientPinning,
            user: user,
            method: method,
            item: item,
            customerPresent: customerPresent,
            portal: portal
        )
    }

    private func decide(_ permission: SessionPermission, _ applied: [AppliedSessionPolicy]) -> Decision {
        let index =
            applied.firstIndex { $0.policy[permission] != .notDefined } ?? applied.index(before: applied.endIndex)
        let decider = applied[index]
        let rule = Decision.Rule.sessionPolicy(decider.policy.named, level: decider.level)
        let allowed = decider.policy[permission] == .allow
        var explanation =
            "“\(permission.title)” is \(allowed ? "allowed" : "denied") by session policy “\(decider.policy.name)”,"
            + " \(decider.level.phrase)."
        if index > 0 {
            let skipped = applied[..<index].map { "“\($0.policy.name)”" }.joined(separator: ", ")
            let higher = index == 1 ? "policy \(skipped) leaves" : "policies \(skipped) leave"
            explanation += " The higher \(higher) it Not Defined."
        }
        return allowed ? .allow(rule, explanation) : .deny(rule, explanation)
    }

    /// Only what the session's method uses is checked: a stale portal id does not block a Jump.
    private func missingEntry(
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        portal: PublicPortalID?
    ) -> MissingEntry? {
        if users[user] == nil { return .user(user) }
        if method == .jump, let item, jumpItems[item] == nil { return .jumpItem(item) }
        if method == .attended, let portal, publicPortals[portal] == nil { return .publicPortal(portal) }
        return nil
    }
}
