import JumpPolicy
import Testing

@Suite("Jump Group membership")
struct MembershipTests {
    typealias F = RBACFixture

    /// Group policies top first, separated by commas: "add" (default role), "add 2" (role 2) or "remove", then
    /// "Final" when it does not allow override and "others" when Alice is not a member of that policy.
    static let addAndRemove: [(policies: String, direct: Bool, isMember: Bool, heldBy: Int?)] = [
        ("add", false, true, 0),
        ("remove", false, false, 0),
        ("add, remove", false, false, 1),
        ("add Final, remove", false, true, 0),
        ("remove, add", false, true, 1),
        ("remove Final, add", false, false, 0),
        ("add 1, add 2", false, true, 1),
        ("add 1 Final, add 2", false, true, 0),
        ("remove Final others, add", false, true, 1),
        ("add, remove, add", false, true, 2),
        ("add, remove Final, add", false, false, 1),
        // "You also can add the individual to the group, overriding their settings as defined elsewhere."
        ("remove Final", true, true, 0),
        ("", true, true, nil),
        ("", false, false, nil),
    ]

    @Test(arguments: addAndRemove)
    func addAndRemoveAcrossPolicies(policies: String, direct: Bool, isMember: Bool, heldBy: Int?) throws {
        let list = policies.split(separator: ", ").enumerated().map { index, text in
            let words = text.split(separator: " ")
            let role = words.dropFirst().first.flatMap { Int64($0) }.map(JumpItemRoleID.init)
            return GroupPolicy(
                id: GroupPolicyID(Int64(index + 1)),
                name: "P\(index + 1)",
                members: words.contains("others") ? [] : [F.alice],
                jumpGroups: [
                    F.servers.id: PolicySetting(
                        words[0] == "add" ? .add(role: role) : .remove,
                        isFinal: words.contains("Final")
                    )
                ]
            )
        }
        let servers = F.group(F.servers, members: direct ? [.init(user: F.alice)] : [])
        let directory = try F.directory(jumpGroups: [servers], groupPolicies: list)
        let membership = try #require(directory.membership(of: F.alice, in: servers.id))
        #expect(membership.isMember == isMember)
        #expect(membership.policy?.policy.id.rawValue == heldBy.map { Int64($0 + 1) })
        #expect(membership.policy?.value == heldBy.flatMap { list[$0].jumpGroupAssignment(F.servers.id).value })
    }

    /// Guide line 125: edit and delete are disabled for users added by group policy and for users listed only
    /// because their system Jump Item role is not No Access; a user added on the page can always be edited.
    static let editability: [(direct: Bool, byPolicy: Bool, system: JumpItemRoleID, expected: MembershipEditability?)] =
        [
            (true, false, .noAccess, .editable),
            (true, true, .noAccess, .editable),
            (true, false, F.viewer.id, .editable),
            (false, true, .noAccess, .grantedByGroupPolicy(Named(1, "Reps"))),
            (false, true, F.viewer.id, .grantedByGroupPolicy(Named(1, "Reps"))),
            (
                false, false, F.viewer.id,
                .systemJumpItemRole(F.viewer.named, origin: .userAccount(Named(F.alice, "alice")))
            ),
            (false, false, .noAccess, nil),
        ]

    @Test(arguments: editability)
    func editAndDeleteAreDisabledForGrantsFromElsewhere(
        direct: Bool,
        byPolicy: Bool,
        system: JumpItemRoleID,
        expected: MembershipEditability?
    ) throws {
        let directory = try F.directory(
            users: [F.user(F.alice, system: system)],
            jumpGroups: [F.group(F.servers, members: direct ? [.init(user: F.alice)] : [])],
            groupPolicies: [
                GroupPolicy(
                    id: 1,
                    name: "Reps",
                    members: [F.alice],
                    jumpGroups: byPolicy ? [F.servers.id: .defined(.add(role: nil))] : [:]
                )
            ]
        )
        let editability = directory.membershipEditability(user: F.alice, group: F.servers.id)
        #expect(editability == expected)
        #expect(editability?.isEditable == expected.map { $0 == .editable })
        #expect((editability?.reason != nil) == (expected != nil && expected != .editable))
        #expect(directory.members(of: F.servers.id).map(\.user.id) == (expected == nil ? [] : [F.alice]))
    }

    @Test func lockedReasonsSayWhereToChangeIt() throws {
        let byPolicy = MembershipEditability.grantedByGroupPolicy(Named(1, "Reps")).reason ?? ""
        #expect(byPolicy.contains("“Reps”") && byPolicy.contains("change the group policy"))
        let bySystem = MembershipEditability.systemJumpItemRole(F.viewer.named, origin: .userAccount(Named(1, "alice")))
        #expect(bySystem.reason?.contains("system Jump Item role") == true)
    }

    @Test func memberTableShowsRoleAndHowItWasGranted() throws {
        let directory = try F.directory(
            users: [F.user(F.alice), F.user(F.bob, default: F.technician.id), F.user(F.carol, system: F.viewer.id)],
            jumpGroups: [F.group(F.servers, members: [.init(user: F.alice, role: F.deployer.id)])],
            groupPolicies: [
                GroupPolicy(
                    id: 1,
                    name: "Reps",
                    members: [F.bob],
                    jumpGroups: [F.servers.id: .defined(.add(role: nil))]
                )
            ]
        )
        let rows = directory.members(of: F.servers.id)
        #expect(rows.map(\.user.name) == ["alice", "bob", "carol"])
        #expect(rows.map(\.role.role) == [F.deployer, F.technician, F.viewer])
        #expect(rows.map(\.editability.isEditable) == [true, false, false])
        #expect(directory.members(of: 99).isEmpty)
        #expect(directory.membership(of: F.alice, in: 99) == nil)
    }
}
