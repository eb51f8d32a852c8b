import JumpPolicy
import Testing

@Suite("Group policy precedence")
struct GroupPolicyTests {
    /// Policies top first, one letter each: D defined (override allowed), F defined Final, - Not Defined.
    /// Policy n defines role id n + 1, so the value shows which policy holds the setting.
    static let precedence: [(policies: String, holder: Int?)] = [
        ("", nil),
        ("-", nil),
        ("D", 0),
        ("F", 0),
        ("- -", nil),
        ("D D", 1),
        ("D F", 1),
        ("F D", 0),
        ("F F", 0),
        ("- D", 1),
        ("D -", 0),
        ("D D D", 2),
        ("D F D", 1),
        ("F D D", 0),
        ("D D F", 2),
        ("D - D", 2),
        ("F - D", 0),
        ("- F D", 1),
        ("- - F", 2),
        ("D F F", 1),
    ]

    @Test(arguments: precedence)
    func holderIsTheFirstDefinitionUntilAFinalOne(policies: String, holder: Int?) {
        let list = policies.split(separator: " ").enumerated().map { index, letter in
            let role = JumpItemRoleID(Int64(index + 1))
            let setting: PolicySetting<JumpItemRoleID> =
                switch letter {
                case "D": .defined(role)
                case "F": .final(role)
                default: .notDefined
                }
            return GroupPolicy(id: GroupPolicyID(Int64(index + 1)), name: "P\(index)", defaultJumpItemRole: setting)
        }
        let held = list.holder(of: \.defaultJumpItemRole)
        #expect(held?.policy.id.rawValue == holder.map { Int64($0 + 1) })
        #expect(held?.value.rawValue == holder.map { Int64($0 + 1) })
    }

    @Test func eachSettingHasItsOwnHolder() {
        let top = GroupPolicy(id: 1, name: "Top", defaultJumpItemRole: .final(1), systemJumpItemRole: .defined(1))
        let bottom = GroupPolicy(
            id: 2,
            name: "Bottom",
            defaultJumpItemRole: .defined(2),
            systemJumpItemRole: .defined(2)
        )
        let policies = [top, bottom]
        #expect(policies.holder(of: \.defaultJumpItemRole)?.policy == Named(1, "Top"))
        #expect(policies.holder(of: \.systemJumpItemRole)?.policy == Named(2, "Bottom"))
        #expect(policies.holder(of: \.personalJumpItemsRole) == nil)
    }

    @Test func onlyPoliciesTheUserIsAMemberOfCount() throws {
        let top = GroupPolicy(id: 1, name: "Others", members: [RBACFixture.bob], defaultJumpItemRole: .final(1))
        let bottom = GroupPolicy(id: 2, name: "Mine", members: [RBACFixture.alice], defaultJumpItemRole: .defined(2))
        let directory = try RBACFixture.directory(
            jumpGroups: [RBACFixture.group(RBACFixture.servers, members: [.init(user: RBACFixture.alice)])],
            groupPolicies: [top, bottom]
        )
        let role = directory.effectiveRole(user: RBACFixture.alice, item: RBACFixture.web01)
        #expect(role.role == RBACFixture.deployer)
        #expect(
            role.source
                == .defaultRole(RBACFixture.servers.named, origin: .groupPolicy(Named(2, "Mine"), isFinal: false))
        )
    }

    /// A Defined group-policy setting replaces the account's own value, whichever is more generous.
    @Test(arguments: [
        (PolicySetting<Set<RepresentativePermission>>.defined([]), false),
        (.final([.overrideJumpPolicySchedule]), true),
        (.notDefined, true),
    ])
    func groupPolicyWinsOverTheAccount(setting: PolicySetting<Set<RepresentativePermission>>, allowed: Bool) throws {
        var alice = RBACFixture.user(RBACFixture.alice)
        alice.representativePermissions = [.overrideJumpPolicySchedule]
        let policy = GroupPolicy(id: 1, name: "Reps", members: [alice.id], representativePermissions: setting)
        let directory = try RBACFixture.directory(users: [alice], groupPolicies: [policy])
        let decision = directory.representativePermission(.overrideJumpPolicySchedule, user: alice.id)
        #expect(decision.isAllowed == allowed)
        let origin: SettingOrigin =
            setting.value == nil ? .userAccount(alice.named) : .groupPolicy(Named(1, "Reps"), isFinal: setting.isFinal)
        #expect(decision.rule == .representativePermission(origin: origin))
    }

    @Test func unknownUserHasNoRepresentativePermissions() throws {
        let decision = try RBACFixture.directory().representativePermission(.overrideJumpPolicySchedule, user: 99)
        #expect(!decision.isAllowed)
        #expect(decision.rule == .missing(.user(99)))
    }
}
