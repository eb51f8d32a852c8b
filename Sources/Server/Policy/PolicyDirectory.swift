/// Everything the access rules read, checked once when built so that every answer can rely on it.
///
/// Building it is also how an assignment is validated: a change that would break a rule (an unknown id, a
/// session policy assigned where its Availability does not allow, an incomplete global default) throws.
public struct PolicyDirectory: Hashable, Sendable {
    /// Stored roles; the built-in No Access role is not among them (see `role(_:)`).
    public let roles: [JumpItemRoleID: JumpItemRole]
    public let users: [UserID: User]
    public let jumpGroups: [JumpGroupID: JumpGroup]
    /// Top first: the order decides which group policy holds a setting.
    public let groupPolicies: [GroupPolicy]
    public let sessionPolicies: [SessionPolicyID: SessionPolicy]
    /// The last level of session policy precedence; it defines every permission, so every question has an answer.
    public let globalDefaultSessionPolicy: SessionPolicy
    public let publicPortals: [PublicPortalID: PublicPortal]
    public let jumpItems: [JumpItemID: JumpItem]

    public init(
        roles: [JumpItemRole] = [],
        users: [User] = [],
        jumpGroups: [JumpGroup] = [],
        groupPolicies: [GroupPolicy] = [],
        sessionPolicies: [SessionPolicy] = [],
        globalDefaultSessionPolicy: SessionPolicy,
        publicPortals: [PublicPortal] = [],
        jumpItems: [JumpItem] = []
    ) throws(PolicyDirectoryError) {
        if let reserved = roles.first(where: { $0.id == .noAccess }) {
            throw PolicyDirectoryError(
                .duplicateID,
                "Role “\(reserved.name)” uses id \(JumpItemRoleID.noAccess), which belongs to the built-in No Access"
                    + " role."
            )
        }
        self.roles = try Self.index(roles, kind: "Jump Item roles")
        self.users = try Self.index(users, kind: "users")
        self.jumpGroups = try Self.index(jumpGroups, kind: "Jump Groups")
        _ = try Self.index(groupPolicies, kind: "group policies")
        self.groupPolicies = groupPolicies
        self.sessionPolicies = try Self.index(sessionPolicies, kind: "session policies")
        self.globalDefaultSessionPolicy = globalDefaultSessionPolicy
        self.publicPortals = try Self.index(publicPortals, kind: "public portals")
        self.jumpItems = try Self.index(jumpItems, kind: "Jump Items")
        try validate()
    }

    /// A stored role, or the built-in No Access role.
    public func role(_ id: JumpItemRoleID) -> JumpItemRole? {
        id == .noAccess ? .noAccess : roles[id]
    }

    /// The group policies a user is a member of, top first.
    public func groupPolicies(of user: UserID) -> [GroupPolicy] {
        groupPolicies.filter { $0.members.contains(user) }
    }

    private static func index<Entry: Identifiable>(
        _ entries: [Entry],
        kind: String
    ) throws(PolicyDirectoryError) -> [Entry.ID: Entry] {
        var index: [Entry.ID: Entry] = [:]
        for entry in entries {
            guard index.updateValue(entry, forKey: entry.id) == nil else {
                throw PolicyDirectoryError(.duplicateID, "Two \(kind) share the id \(entry.id); ids must be unique.")
            }
        }
        return index
    }
}

// MARK: Validation

extension PolicyDirectory {
    private func validate() throws(PolicyDirectoryError) {
        let undefined = SessionPermission.allCases.filter { globalDefaultSessionPolicy[$0] == .notDefined }
        guard undefined.isEmpty else {
            throw PolicyDirectoryError(
                .incompleteGlobalDefault,
                "The global default session policy must choose Allow or Deny for every permission; "
                    + "Not Defined: \(undefined.map(\.title).joined(separator: ", "))."
            )
        }
        for user in users.values.sorted(by: { $0.id < $1.id }) {
            let owner = "user “\(user.username)”"
            try requireRole(user.defaultJumpItemRole, "the default Jump Item role of \(owner)")
            try requireRole(user.personalJumpItemsRole, "the personal Jump Items role of \(owner)")
            try requireRole(user.systemJumpItemRole, "the system Jump Item role of \(owner)")
            for method in SessionMethod.allCases {
                try requireSessionPolicy(user.sessionPolicy(for: method), for: .user(user.id))
            }
        }
        for group in jumpGroups.values.sorted(by: { $0.id < $1.id }) {
            guard Set(group.members.map(\.user)).count == group.members.count else {
                throw PolicyDirectoryError(
                    .duplicateID,
                    "A user is listed twice in Jump Group “\(group.name)”; keep one membership per user."
                )
            }
            for member in group.members {
                try requireUser(member.user, "a member of Jump Group “\(group.name)”")
                if let role = member.role {
                    try requireRole(role, "the role of user \(member.user) in Jump Group “\(group.name)”")
                }
            }
        }
        for policy in groupPolicies {
            try validate(policy)
        }
        for portal in publicPortals.values.sorted(by: { $0.id < $1.id }) {
            try requireSessionPolicy(portal.sessionPolicy, for: .publicPortal(portal.id))
        }
        for item in jumpItems.values.sorted(by: { $0.id < $1.id }) {
            switch item.location {
            case .jumpGroup(let group):
                guard jumpGroups[group] == nil else { break }
                throw unknown("Jump Group \(group)", "the Jump Group of Jump Item \(item.id)")
            case .personal(let owner):
                try requireUser(owner, "the owner of personal Jump Item \(item.id)")
            }
            try requireSessionPolicy(item.customerPresentSessionPolicy, for: .jumpItem(item.id))
            try requireSessionPolicy(item.customerNotPresentSessionPolicy, for: .jumpItem(item.id))
        }
    }

    private func validate(_ policy: GroupPolicy) throws(PolicyDirectoryError) {
        let owner = "group policy “\(policy.name)”"
        for member in policy.members.sorted() {
            try requireUser(member, "a member of \(owner)")
        }
        for setting in [policy.defaultJumpItemRole, policy.personalJumpItemsRole, policy.systemJumpItemRole] {
            if let role = setting.value { try requireRole(role, "a Jump Item role setting of \(owner)") }
        }
        for (group, assignment) in policy.jumpGroups.sorted(by: { $0.key < $1.key }) {
            guard jumpGroups[group] != nil else {
                throw unknown("Jump Group \(group)", "the Jump Group settings of \(owner)")
            }
            if case .add(role: let role?) = assignment.value {
                try requireRole(role, "the role \(owner) gives in Jump Group \(group)")
            }
        }
        for method in SessionMethod.allCases {
            try requireSessionPolicy(policy.sessionPolicy(for: method).value, for: .groupPolicy(policy.id))
        }
    }

    private func requireRole(_ id: JumpItemRoleID, _ context: String) throws(PolicyDirectoryError) {
        guard role(id) == nil else { return }
        throw unknown("Jump Item role \(id)", context)
    }

    private func requireUser(_ id: UserID, _ context: String) throws(PolicyDirectoryError) {
        guard users[id] == nil else { return }
        throw unknown("user \(id)", context)
    }

    private func requireSessionPolicy(
        _ id: SessionPolicyID?,
        for assignee: Assignee
    ) throws(PolicyDirectoryError) {
        guard let id else { return }
        guard let policy = sessionPolicies[id] else {
            throw unknown("session policy \(id)", "the session policy of \(assignee)")
        }
        try policy.checkAssignable(to: assignee)
    }

    private func unknown(_ thing: String, _ context: String) -> PolicyDirectoryError {
        PolicyDirectoryError(.unknownReference, "Unknown \(thing) in \(context); choose one that exists.")
    }
}

// MARK: Codable

extension PolicyDirectory: Codable {
    private enum CodingKeys: String, CodingKey {
        case roles, users, jumpGroups, groupPolicies, sessionPolicies, globalDefaultSessionPolicy, publicPortals
        case jumpItems
    }

    /// Decoding validates like building does, so a stored or received directory is held to the same rules.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            roles: container.decode([JumpItemRole].self, forKey: .roles),
            users: container.decode([User].self, forKey: .users),
            jumpGroups: container.decode([JumpGroup].self, forKey: .jumpGroups),
            groupPolicies: container.decode([GroupPolicy].self, forKey: .groupPolicies),
            sessionPolicies: container.decode([SessionPolicy].self, forKey: .sessionPolicies),
            globalDefaultSessionPolicy: container.decode(SessionPolicy.self, forKey: .globalDefaultSessionPolicy),
            publicPortals: container.decode([PublicPortal].self, forKey: .publicPortals),
            jumpItems: container.decode([JumpItem].self, forKey: .jumpItems)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(roles.values.sorted { $0.id < $1.id }, forKey: .roles)
        try container.encode(users.values.sorted { $0.id < $1.id }, forKey: .users)
        try container.encode(jumpGroups.values.sorted { $0.id < $1.id }, forKey: .jumpGroups)
        try container.encode(groupPolicies, forKey: .groupPolicies)
        try container.encode(sessionPolicies.values.sorted { $0.id < $1.id }, forKey: .sessionPolicies)
        try container.encode(globalDefaultSessionPolicy, forKey: .globalDefaultSessionPolicy)
        try container.encode(publicPortals.values.sorted { $0.id < $1.id }, forKey: .publicPortals)
        try container.encode(jumpItems.values.sorted { $0.id < $1.id }, forKey: .jumpItems)
    }
}
