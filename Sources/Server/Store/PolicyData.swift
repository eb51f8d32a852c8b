import Foundation
public import JumpPolicy

/// The Jump Policy and the Customer Present / Not Present session policies of one Jump Client.
public struct ClientAccess: Codable, Hashable, Sendable {
    public var jumpPolicy: Int64?
    public var customerPresentSessionPolicy: SessionPolicyID?
    public var customerNotPresentSessionPolicy: SessionPolicyID?

    public init(
        jumpPolicy: Int64? = nil,
        customerPresentSessionPolicy: SessionPolicyID? = nil,
        customerNotPresentSessionPolicy: SessionPolicyID? = nil
    ) {
        self.jumpPolicy = jumpPolicy
        self.customerPresentSessionPolicy = customerPresentSessionPolicy
        self.customerNotPresentSessionPolicy = customerNotPresentSessionPolicy
    }
}

/// Everything the access rules read, as the store keeps it, read in one transaction: the policy values, the
/// settings attached to accounts, Jump Groups and Jump Clients, and those rows themselves.
///
/// A change edits a copy inside the write transaction (`Store.updatePolicy`); the store writes only what
/// differs, and only after `validate()` accepts the result, so what is stored always builds a `PolicyDirectory`.
public struct PolicyData: Hashable, Sendable {
    /// The global default session policy's id: stored session policies start at 1, so 0 names no other.
    public static let globalDefaultID = SessionPolicyID(0)

    /// The seed of a new appliance: sessions may start, show the screen, open a shell and move files;
    /// elevation and pinning need a policy that allows them.
    public static let initialGlobalDefault = SessionPolicy(
        id: globalDefaultID,
        name: "Global Default",
        codeName: "global-default",
        description: "Applies to every permission that no higher session policy defines.",
        availability: Set(SessionPolicy.Availability.allCases),
        permissions: [
            .startSession: .allow, .viewScreen: .allow, .shellAccess: .allow, .fileTransfer: .allow,
            .elevate: .deny, .jumpClientPinning: .deny,
        ]
    )

    // The store rows the policies attach to; changed through their own store methods, never here.
    public internal(set) var accounts: [User]
    public internal(set) var groups: [JumpGroup]
    /// Jump Clients that are not deleted: the Jump Items.
    public internal(set) var clients: [ClientRecord]

    public var roles: [JumpItemRoleID: JumpItemRole]
    public var jumpPolicies: [Int64: JumpPolicy]
    public var sessionPolicies: [SessionPolicyID: SessionPolicy]
    public var globalDefaultSessionPolicy: SessionPolicy
    /// Top first.
    public var groupPolicies: [GroupPolicy]
    public var publicPortals: [PublicPortalID: PublicPortal]
    /// The settings of accounts that have been given some; see `accessSettings(of:)` for every account.
    public var userAccess: [UserID: JumpPolicy::User]
    /// Members added on the Jump Group page.
    public var groupMembers: [JumpGroupID: [JumpPolicy::JumpGroup.Member]]
    /// Clients whose access was set through the API; see `access(of:)` for every client.
    public var clientAccess: [JumpItemID: ClientAccess]

    public init(
        accounts: [User] = [],
        groups: [JumpGroup] = [],
        clients: [ClientRecord] = [],
        roles: [JumpItemRoleID: JumpItemRole] = [:],
        jumpPolicies: [Int64: JumpPolicy] = [:],
        sessionPolicies: [SessionPolicyID: SessionPolicy] = [:],
        globalDefaultSessionPolicy: SessionPolicy = initialGlobalDefault,
        groupPolicies: [GroupPolicy] = [],
        publicPortals: [PublicPortalID: PublicPortal] = [:],
        userAccess: [UserID: JumpPolicy::User] = [:],
        groupMembers: [JumpGroupID: [JumpPolicy::JumpGroup.Member]] = [:],
        clientAccess: [JumpItemID: ClientAccess] = [:]
    ) {
        self.accounts = accounts
        self.groups = groups
        self.clients = clients
        self.roles = roles
        self.jumpPolicies = jumpPolicies
        self.sessionPolicies = sessionPolicies
        self.globalDefaultSessionPolicy = globalDefaultSessionPolicy
        self.groupPolicies = groupPolicies
        self.publicPortals = publicPortals
        self.userAccess = userAccess
        self.groupMembers = groupMembers
        self.clientAccess = clientAccess
    }

    // MARK: Lookups

    public func account(named name: String) -> User? { accounts.first { $0.name == name } }

    public func account(id: UserID) -> User? { accounts.first { $0.id == id.rawValue } }

    public func group(id: JumpGroupID) -> JumpGroup? { groups.first { $0.id == id.rawValue } }

    public func client(id: JumpItemID) -> ClientRecord? { clients.first { $0.id == id.rawValue } }

    /// An account's access settings: the stored ones, or No Access everywhere for an account never given any.
    /// The id and username always come from the account.
    public func accessSettings(of account: User) -> JumpPolicy::User {
        var settings =
            userAccess[UserID(account.id)] ?? JumpPolicy::User(id: UserID(account.id), username: account.name)
        settings.id = UserID(account.id)
        settings.username = account.name
        return settings
    }

    /// A client's access: set through the API, or else the Jump Policy its installer named, when a policy of
    /// that name exists.
    public func access(of client: ClientRecord) -> ClientAccess {
        if let stored = clientAccess[JumpItemID(rawValue: client.id)] { return stored }
        return ClientAccess(jumpPolicy: jumpPolicy(named: client.jumpPolicy)?.id)
    }

    public func jumpPolicy(named name: String) -> JumpPolicy? {
        guard !name.isEmpty else { return nil }
        return jumpPolicies.values.sorted { $0.id < $1.id }.first {
            $0.name.caseInsensitiveCompare(name) == .orderedSame
        }
    }

    // MARK: New ids

    /// One more than the largest id in use, so ids start at 1 and stay below 2^63 for any real number of rows.
    public static func nextID<ID: RowID>(after ids: some Sequence<ID>) -> ID {
        ID(ids.reduce(0) { max($0, $1.rawValue) } + 1)
    }

    public var nextRoleID: JumpItemRoleID { Self.nextID(after: roles.keys) }
    public var nextSessionPolicyID: SessionPolicyID { Self.nextID(after: sessionPolicies.keys) }
    public var nextGroupPolicyID: GroupPolicyID { Self.nextID(after: groupPolicies.map(\.id)) }
    public var nextPublicPortalID: PublicPortalID { Self.nextID(after: publicPortals.keys) }
    public var nextJumpPolicyID: Int64 { (jumpPolicies.keys.max() ?? 0) + 1 }

    // MARK: The directory

    /// The values as the access rules read them; throws when a reference dangles or a rule is broken.
    public func directory() throws(PolicyDirectoryError) -> PolicyDirectory {
        let groupIDs = Set(groups.map { JumpGroupID($0.id) })
        for group in groupMembers.keys.sorted() where !groupIDs.contains(group) {
            throw PolicyDirectoryError(
                .unknownReference,
                "Unknown Jump Group \(group) has members; choose one that exists."
            )
        }
        // A deleted Jump Client keeps its row (and its access settings) but is no Jump Item any more;
        // its settings are simply not read.
        let items = clients.map { client in
            let access = access(of: client)
            return JumpItem(
                id: JumpItemID(rawValue: client.id),
                location: .jumpGroup(JumpGroupID(client.groupID)),
                jumpPolicy: access.jumpPolicy,
                customerPresentSessionPolicy: access.customerPresentSessionPolicy,
                customerNotPresentSessionPolicy: access.customerNotPresentSessionPolicy
            )
        }
        // The directory does not hold Jump Policies, so their references are checked here.
        for item in items.sorted(by: { $0.id < $1.id }) {
            if let policy = item.jumpPolicy, jumpPolicies[policy] == nil {
                throw PolicyDirectoryError(
                    .unknownReference,
                    "Unknown Jump Policy \(policy) in the Jump Policy of Jump Item \(item.id); choose one that exists."
                )
            }
        }
        return try PolicyDirectory(
            roles: roles.values.sorted { $0.id < $1.id },
            users: accounts.map(accessSettings(of:)),
            jumpGroups: groups.map { group in
                JumpPolicy::JumpGroup(
                    id: JumpGroupID(group.id),
                    name: group.name,
                    codeName: group.codeName,
                    comments: group.comments,
                    members: groupMembers[JumpGroupID(group.id)] ?? []
                )
            },
            groupPolicies: groupPolicies,
            sessionPolicies: sessionPolicies.values.sorted { $0.id < $1.id },
            globalDefaultSessionPolicy: globalDefaultSessionPolicy,
            publicPortals: publicPortals.values.sorted { $0.id < $1.id },
            jumpItems: items
        )
    }

    /// What must hold before the values are stored: they build a directory (throws `PolicyDirectoryError`), and
    /// no two values of one kind share a name, compared as people read them, without case (throws `StoreError`).
    public func validate() throws {
        _ = try directory()
        if let session = sessionPolicies[Self.globalDefaultID] {
            throw PolicyDirectoryError(
                .duplicateID,
                "Session policy “\(session.name)” uses id 0, which belongs to the global default session policy."
            )
        }
        try Self.requireUniqueNames(
            roles.values.map { ($0.id.rawValue, $0.name) } + [
                (JumpItemRoleID.noAccess.rawValue, JumpItemRole.noAccess.name)
            ],
            kind: "Jump Item role"
        )
        try Self.requireUniqueNames(jumpPolicies.values.map { ($0.id, $0.name) }, kind: "Jump Policy")
        try Self.requireUniqueNames(sessionPolicies.values.map { ($0.id.rawValue, $0.name) }, kind: "session policy")
        try Self.requireUniqueNames(groupPolicies.map { ($0.id.rawValue, $0.name) }, kind: "group policy")
        try Self.requireUniqueNames(publicPortals.values.map { ($0.id.rawValue, $0.name) }, kind: "public portal")
    }

    private static func requireUniqueNames(_ entries: [(id: Int64, name: String)], kind: String) throws {
        var seen: [String: String] = [:]
        for entry in entries.sorted(by: { $0.id < $1.id }) {
            let key = entry.name.trimmingCharacters(in: .whitespaces).lowercased()
            if let existing = seen.updateValue(entry.name, forKey: key) {
                throw StoreError(.duplicate, "There is already a \(kind) named “\(existing)”; choose another name.")
            }
        }
    }
}
