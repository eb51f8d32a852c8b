import Foundation
import JumpPolicy
import Testing

@Suite("Policy directory validation")
struct PolicyDirectoryTests {
    typealias F = RBACFixture

    static let usersOnly = SessionPolicy(id: 201, name: "Users only", availability: [.users])
    static let itemsOnly = SessionPolicy(id: 202, name: "Items only", availability: [.jumpItems])
    static let inviteOnly = SessionPolicy(id: 203, name: "Invite only", availability: [.repInvite])

    /// Assigning a policy to a user, group policy or portal needs Users; to a Jump Item, Jump Items.
    static let availability: [(policy: SessionPolicy, assignee: Assignee, allowed: Bool)] = [
        (usersOnly, .user(1), true),
        (usersOnly, .groupPolicy(1), true),
        (usersOnly, .publicPortal(1), true),
        (usersOnly, .jumpItem("a"), false),
        (itemsOnly, .user(1), false),
        (itemsOnly, .groupPolicy(1), false),
        (itemsOnly, .publicPortal(1), false),
        (itemsOnly, .jumpItem("a"), true),
        (inviteOnly, .user(1), false),
        (inviteOnly, .jumpItem("a"), false),
    ]

    @Test(arguments: availability)
    func assignmentRequiresAvailability(policy: SessionPolicy, assignee: Assignee, allowed: Bool) {
        let result = Result { () throws(PolicyDirectoryError) in try policy.checkAssignable(to: assignee) }
        #expect(result.failure?.code == (allowed ? nil : .unavailablePolicy))
    }

    @Test func unavailableMessageSaysWhatToChange() throws {
        let error = try #require(throws: PolicyDirectoryError.self) {
            try Self.itemsOnly.checkAssignable(to: .user(7))
        }
        #expect(error.detail.contains("“Items only”"))
        #expect(error.detail.contains("user 7"))
        #expect(error.detail.contains("Allow Users"))
    }

    static func portal(_ policy: SessionPolicyID?) -> [PublicPortal] {
        [PublicPortal(id: 30, name: "Customers", sessionPolicy: policy)]
    }

    static func item(present: SessionPolicyID? = nil, group: JumpGroupID = 10) -> [JumpItem] {
        [JumpItem(id: "web-01", location: .jumpGroup(group), customerPresentSessionPolicy: present)]
    }

    static let policies = [usersOnly, itemsOnly, inviteOnly]

    struct Invalid: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let code: PolicyDirectoryError.Code
        let build: @Sendable () throws -> PolicyDirectory

        init(_ name: String, _ code: PolicyDirectoryError.Code, build: @escaping @Sendable () throws -> PolicyDirectory)
        {
            self.testDescription = name
            self.code = code
            self.build = build
        }
    }

    /// Each case builds a directory that breaks one rule.
    static let invalid = [
        Invalid("global default leaves a permission Not Defined", .incompleteGlobalDefault) {
            var global = F.globalDefault
            global.permissions[.elevate] = .notDefined
            return try F.directory(globalDefault: global)
        },
        Invalid("user's attended policy lacks Users", .unavailablePolicy) {
            try F.directory(users: [F.user(F.alice, attended: itemsOnly.id)], sessionPolicies: policies)
        },
        Invalid("group policy's unattended policy lacks Users", .unavailablePolicy) {
            let policy = GroupPolicy(id: 1, name: "Reps", unattendedSessionPolicy: .defined(inviteOnly.id))
            return try F.directory(groupPolicies: [policy], sessionPolicies: policies)
        },
        Invalid("portal's policy lacks Users", .unavailablePolicy) {
            try F.directory(sessionPolicies: policies, portals: portal(itemsOnly.id))
        },
        Invalid("Jump Item's policy lacks Jump Items", .unavailablePolicy) {
            try F.directory(sessionPolicies: policies, jumpItems: item(present: usersOnly.id))
        },
        Invalid("Jump Item names an unknown policy", .unknownReference) {
            try F.directory(sessionPolicies: policies, jumpItems: item(present: 999))
        },
        Invalid("Jump Item in an unknown group", .unknownReference) {
            try F.directory(jumpItems: item(group: 99))
        },
        Invalid("personal Jump Item of an unknown user", .unknownReference) {
            try F.directory(jumpItems: [JumpItem(id: "x", location: .personal(99))])
        },
        Invalid("user's default role is unknown", .unknownReference) {
            try F.directory(users: [F.user(F.alice, default: 99)])
        },
        Invalid("Jump Group member is unknown", .unknownReference) {
            try F.directory(jumpGroups: [F.group(F.servers, members: [.init(user: 99)])])
        },
        Invalid("a user listed twice in a Jump Group", .duplicateID) {
            try F.directory(jumpGroups: [F.group(F.servers, members: [.init(user: F.alice), .init(user: F.alice)])])
        },
        Invalid("Jump Group member's role is unknown", .unknownReference) {
            try F.directory(jumpGroups: [F.group(F.servers, members: [.init(user: F.alice, role: 99)])])
        },
        Invalid("group policy member is unknown", .unknownReference) {
            try F.directory(groupPolicies: [GroupPolicy(id: 1, name: "Reps", members: [99])])
        },
        Invalid("group policy adds to an unknown group", .unknownReference) {
            try F.directory(groupPolicies: [GroupPolicy(id: 1, name: "Reps", jumpGroups: [99: .defined(.remove)])])
        },
        Invalid("group policy gives an unknown role", .unknownReference) {
            try F.directory(groupPolicies: [
                GroupPolicy(id: 1, name: "Reps", jumpGroups: [10: .defined(.add(role: 99))])
            ])
        },
        Invalid("group policy's system role is unknown", .unknownReference) {
            try F.directory(groupPolicies: [GroupPolicy(id: 1, name: "Reps", systemJumpItemRole: .final(99))])
        },
        Invalid("two users share an id", .duplicateID) {
            try F.directory(users: [F.user(F.alice), F.user(F.alice)])
        },
        Invalid("two group policies share an id", .duplicateID) {
            try F.directory(groupPolicies: [GroupPolicy(id: 1, name: "A"), GroupPolicy(id: 1, name: "B")])
        },
        Invalid("a stored role takes the No Access id", .duplicateID) {
            try PolicyDirectory(
                roles: [JumpItemRole(id: .noAccess, name: "Mine", permissions: [])],
                globalDefaultSessionPolicy: F.globalDefault
            )
        },
    ]

    @Test(arguments: invalid)
    func invalidDirectoriesAreRefused(_ invalid: Invalid) throws {
        let error = try #require(throws: PolicyDirectoryError.self) { try invalid.build() }
        #expect(error.code == invalid.code, "\(error)")
        #expect(!error.detail.isEmpty)
    }

    @Test func incompleteGlobalDefaultNamesTheMissingPermissions() throws {
        var global = F.globalDefault
        global.permissions = [:]
        let error = try #require(throws: PolicyDirectoryError.self) { try F.directory(globalDefault: global) }
        for permission in SessionPermission.allCases {
            #expect(error.detail.contains(permission.title))
        }
    }

    @Test func validDirectoryRoundTripsThroughJSON() throws {
        let directory = try F.directory(
            users: [F.user(F.alice, default: F.technician.id, unattended: Self.usersOnly.id), F.user(F.bob)],
            jumpGroups: [F.group(F.servers, members: [.init(user: F.alice, role: F.deployer.id)]), F.desktops],
            groupPolicies: [
                GroupPolicy(id: 2, name: "B", members: [F.bob], jumpGroups: [11: .final(.add(role: nil))]),
                GroupPolicy(id: 1, name: "A", members: [F.alice], attendedSessionPolicy: .defined(Self.usersOnly.id)),
            ],
            sessionPolicies: Self.policies,
            jumpItems: Self.item(present: Self.itemsOnly.id)
        )
        let decoded = try JSONDecoder().decode(PolicyDirectory.self, from: JSONEncoder().encode(directory))
        #expect(decoded == directory)
        #expect(decoded.groupPolicies.map(\.name) == ["B", "A"])
    }

    @Test func decodingValidates() throws {
        struct Loose: Encodable {
            var roles: [JumpItemRole] = []
            var users = [RBACFixture.user(1, default: 99)]
            var jumpGroups: [JumpGroup] = []
            var groupPolicies: [GroupPolicy] = []
            var sessionPolicies: [SessionPolicy] = []
            var globalDefaultSessionPolicy = RBACFixture.globalDefault
            var publicPortals: [PublicPortal] = []
            var jumpItems: [JumpItem] = []
        }
        let data = try JSONEncoder().encode(Loose())
        #expect(throws: PolicyDirectoryError(.unknownReference, "")) {
            try JSONDecoder().decode(PolicyDirectory.self, from: data)
        }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
