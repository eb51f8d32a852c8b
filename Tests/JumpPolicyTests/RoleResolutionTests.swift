import JumpPolicy
import Testing

@Suite("Jump Item role resolution")
struct RoleResolutionTests {
    typealias F = RBACFixture

    static let reps = Named<GroupPolicyID>(1, "Reps")
    static let aliceAccount = SettingOrigin.userAccount(Named(F.alice, "alice"))

    static let onPage = RoleDecision.Source.jumpGroupPage(F.servers.named)
    static let byPolicy = RoleDecision.Source.groupPolicyMembership(F.servers.named, policy: reps)
    static let byDefault = RoleDecision.Source.defaultRole(F.servers.named, origin: aliceAccount)
    static let bySystem = RoleDecision.Source.systemRole(origin: aliceAccount)

    static func direct(_ role: JumpItemRoleID? = nil) -> JumpGroup.Member {
        JumpGroup.Member(user: F.alice, role: role)
    }

    /// Guide lines 47-51, most specific first: the Jump Group page, then a group policy, then the default role;
    /// not a member: the system role. Alice's account: default Technician, system No Access.
    static let precedence:
        [(direct: JumpGroup.Member?, policy: JumpGroupAssignment?, role: JumpItemRole, source: RoleDecision.Source)] = [
            (direct(F.deployer.id), .add(role: F.viewer.id), F.deployer, onPage),
            (direct(F.deployer.id), nil, F.deployer, onPage),
            (direct(), .add(role: F.viewer.id), F.viewer, byPolicy),
            (nil, .add(role: F.viewer.id), F.viewer, byPolicy),
            (direct(), nil, F.technician, byDefault),
            (direct(), .add(role: nil), F.technician, byDefault),
            (nil, .add(role: nil), F.technician, byDefault),
            (nil, nil, .noAccess, bySystem),
            (nil, .remove, .noAccess, bySystem),
            // A direct membership is kept whatever a group policy removes.
            (direct(F.deployer.id), .remove, F.deployer, onPage),
            (direct(), .remove, F.technician, byDefault),
        ]

    @Test(arguments: precedence)
    func mostSpecificRoleWins(
        direct: JumpGroup.Member?,
        policy: JumpGroupAssignment?,
        role: JumpItemRole,
        source: RoleDecision.Source
    ) throws {
        let directory = try F.directory(
            users: [F.user(F.alice, default: F.technician.id)],
            jumpGroups: [F.group(F.servers, members: direct.map { [$0] } ?? [])],
            groupPolicies: [
                GroupPolicy(
                    id: 1,
                    name: "Reps",
                    members: [F.alice],
                    jumpGroups: policy.map { [F.servers.id: .defined($0)] } ?? [:]
                )
            ],
            jumpItems: [JumpItem(id: F.web01, location: .jumpGroup(F.servers.id))]
        )
        let decision = directory.effectiveRole(user: F.alice, item: F.web01)
        #expect(decision.role == role)
        #expect(decision.source == source)
        #expect(decision.explanation.contains("“\(role.name)”"))
    }

    /// The default role comes from a group policy when one defines it, else from the account.
    @Test(arguments: [
        (PolicySetting<JumpItemRoleID>.notDefined, F.technician, aliceAccount),
        (.defined(F.viewer.id), F.viewer, .groupPolicy(reps, isFinal: false)),
    ])
    func defaultRoleFromGroupPolicyOrAccount(
        setting: PolicySetting<JumpItemRoleID>,
        role: JumpItemRole,
        origin: SettingOrigin
    ) throws {
        let directory = try F.directory(
            users: [F.user(F.alice, default: F.technician.id)],
            jumpGroups: [F.group(F.servers, members: [.init(user: F.alice)])],
            groupPolicies: [GroupPolicy(id: 1, name: "Reps", members: [F.alice], defaultJumpItemRole: setting)],
            jumpItems: [JumpItem(id: F.web01, location: .jumpGroup(F.servers.id))]
        )
        let decision = directory.effectiveRole(user: F.alice, item: F.web01)
        #expect(decision.role == role)
        #expect(decision.source == .defaultRole(F.servers.named, origin: origin))
    }

    @Test func systemRoleOpensGroupsTheUserIsNotIn() throws {
        let directory = try F.directory(users: [F.user(F.alice, system: F.viewer.id)])
        let decision = directory.effectiveRole(user: F.alice, item: F.web01)
        #expect(decision.role == F.viewer)
        #expect(decision.source == .systemRole(origin: Self.aliceAccount))
        #expect(directory.may(.startSessions, user: F.alice, item: F.web01).isAllowed)
    }

    @Test func personalItemsUseTheOwnersPersonalRoleAndOthersSystemRole() throws {
        let directory = try F.directory(
            users: [
                F.user(F.alice, personal: F.deployer.id), F.user(F.bob, default: F.deployer.id, system: F.viewer.id),
            ]
        )
        let owner = directory.effectiveRole(user: F.alice, item: F.alicesLaptop)
        #expect(owner.role == F.deployer)
        #expect(owner.source == .personalRole(origin: Self.aliceAccount))

        let other = directory.effectiveRole(user: F.bob, item: F.alicesLaptop)
        #expect(other.role == F.viewer)
        #expect(other.source == .systemRole(origin: .userAccount(Named(F.bob, "bob"))))
    }

    @Test(arguments: [
        (F.alice, F.web01, MissingEntry.jumpItem(F.web01)),
        (UserID(99), F.alicesLaptop, .user(99)),
    ])
    func unknownUserOrItemHasNoAccess(user: UserID, item: JumpItemID, missing: MissingEntry) throws {
        let directory = try F.directory(jumpItems: [JumpItem(id: F.alicesLaptop, location: .personal(F.alice))])
        let decision = directory.effectiveRole(user: user, item: item)
        #expect(decision.role == .noAccess)
        #expect(decision.source == .missing(missing))
        #expect(directory.may(.startSessions, user: user, item: item) == .deny(.missing(missing), missing.description))
    }

    @Test func unknownGroupHasNoAccess() throws {
        let decision = try F.directory().effectiveRole(user: F.alice, in: .jumpGroup(99))
        #expect(decision.source == .missing(.jumpGroup(99)))
    }

    /// Every Jump Item permission is granted exactly when the effective role holds it.
    @Test(arguments: JumpItemPermission.allCases)
    func mayFollowsTheEffectiveRole(permission: JumpItemPermission) throws {
        let directory = try F.directory(jumpGroups: [
            F.group(F.servers, members: [.init(user: F.alice, role: F.technician.id)])
        ])
        let decision = directory.may(permission, user: F.alice, item: F.web01)
        #expect(decision.isAllowed == F.technician.permissions.contains(permission))
        #expect(decision.rule == .jumpItemRole(F.technician.named, source: .jumpGroupPage(F.servers.named)))
        #expect(decision.explanation.contains(permission.title))
    }

    /// Creating an item is checked against the place, before the item exists.
    @Test func mayCreateInAGroup() throws {
        let directory = try F.directory(
            jumpGroups: [F.servers, F.group(F.desktops, members: [.init(user: F.bob, role: F.deployer.id)])]
        )
        #expect(directory.may(.createAndDeploy, user: F.bob, in: .jumpGroup(F.desktops.id)).isAllowed)
        #expect(!directory.may(.createAndDeploy, user: F.alice, in: .jumpGroup(F.desktops.id)).isAllowed)
    }
}
