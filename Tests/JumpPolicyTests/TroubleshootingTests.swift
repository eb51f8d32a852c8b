import JumpPolicy
import Testing

/// The guide's "Troubleshoot settings with the session policy simulator": a user who cannot pin or unpin.
@Suite("Troubleshooting pinning")
struct TroubleshootingTests {
    typealias F = RBACFixture

    static let noPinning = F.pinning(201, .deny)
    static let pinning = F.pinning(202, .allow)

    static func restricted(final: Bool) -> GroupPolicy {
        GroupPolicy(
            id: 1,
            name: "Restricted",
            members: [F.alice],
            unattendedSessionPolicy: PolicySetting(noPinning.id, isFinal: final)
        )
    }

    static func pinners(final: Bool) -> GroupPolicy {
        GroupPolicy(
            id: 2,
            name: "Pinners",
            members: [F.alice],
            unattendedSessionPolicy: PolicySetting(pinning.id, isFinal: final)
        )
    }

    /// Denied by a Final group policy, and the fixes the guide names: allow override, or reorder and make Final.
    /// Reordering alone is not enough: a lower policy still takes over from a top policy that allows override.
    static let fixes: [(name: String, policies: [GroupPolicy], allowed: Bool, decidedBy: String)] = [
        ("Restricted is Final above Pinners", [restricted(final: true), pinners(final: false)], false, "Restricted"),
        ("Restricted allows override", [restricted(final: false), pinners(final: false)], true, "Pinners"),
        ("Pinners moved to the top only", [pinners(final: false), restricted(final: true)], false, "Restricted"),
        ("Pinners moved to the top and Final", [pinners(final: true), restricted(final: true)], true, "Pinners"),
    ]

    @Test(arguments: fixes)
    func deniedByAFinalGroupPolicy(name: String, policies: [GroupPolicy], allowed: Bool, decidedBy: String) throws {
        let directory = try F.directory(groupPolicies: policies, sessionPolicies: [Self.noPinning, Self.pinning])
        let simulation = SessionPolicySimulator(directory: directory)
            .simulate(user: F.alice, method: .jump, item: F.web01, customerPresent: false, portal: nil)
        let pin = try #require(simulation[.jumpClientPinning])
        #expect(pin.isAllowed == allowed, "\(name)")
        guard case .sessionPolicy(_, level: .groupPolicy(let holder)) = pin.rule else {
            Issue.record("\(name): decided by \(pin.rule)")
            return
        }
        #expect(holder.name == decidedBy, "\(name)")
        #expect(pin.explanation.contains("group policy “\(decidedBy)”"))
    }

    @Test func deniedByTheJumpItemsPolicy() throws {
        let directory = try F.directory(
            users: [F.user(F.alice, unattended: Self.pinning.id)],
            sessionPolicies: [Self.noPinning, Self.pinning],
            jumpItems: [
                JumpItem(
                    id: F.web01,
                    location: .jumpGroup(F.servers.id),
                    customerNotPresentSessionPolicy: Self.noPinning.id
                )
            ]
        )
        let simulator = SessionPolicySimulator(directory: directory)
        let absent = simulator.simulate(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: false,
            portal: nil
        )
        #expect(absent[.jumpClientPinning]?.isAllowed == false)
        #expect(
            absent[.jumpClientPinning]?.rule
                == .sessionPolicy(Self.noPinning.named, level: .jumpItem(F.web01, customerPresent: false))
        )

        let present = simulator.simulate(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil
        )
        #expect(
            present[.jumpClientPinning]?.rule
                == .sessionPolicy(Self.pinning.named, level: .user(Named(F.alice, "alice")))
        )
    }

    @Test func notTheSessionOwner() throws {
        let directory = try F.directory(
            users: [F.user(F.alice, unattended: Self.pinning.id)],
            sessionPolicies: [Self.pinning]
        )
        let simulated = SessionPolicySimulator(directory: directory)
            .simulate(user: F.alice, method: .jump, item: F.web01, customerPresent: true, portal: nil)
        #expect(simulated[.jumpClientPinning]?.isAllowed == true)
        let joined = directory.mayPinOrUnpin(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil,
            isSessionOwner: false
        )
        #expect(joined.rule == .notSessionOwner)
        #expect(!joined.isAllowed)
    }

    struct RoleFix: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var direct: JumpItemRoleID?
        var policyRole: JumpItemRoleID
        var allowed: Bool
        var source: RoleDecision.Source
    }

    static let ops = Named<GroupPolicyID>(1, "Ops")

    /// The simulator allows pinning, yet the user cannot: the role on the Jump Group lacks create and deploy.
    /// A role set on the Jump Group page beats one a group policy gives; changing the policy also works.
    static let roleFixes = [
        RoleFix(
            testDescription: "group policy gives Technician",
            policyRole: F.technician.id,
            allowed: false,
            source: .groupPolicyMembership(F.servers.named, policy: ops)
        ),
        RoleFix(
            testDescription: "Deployer set on the Jump Group page",
            direct: F.deployer.id,
            policyRole: F.technician.id,
            allowed: true,
            source: .jumpGroupPage(F.servers.named)
        ),
        RoleFix(
            testDescription: "group policy changed to Deployer",
            policyRole: F.deployer.id,
            allowed: true,
            source: .groupPolicyMembership(F.servers.named, policy: ops)
        ),
    ]

    @Test(arguments: roleFixes)
    func simulatorAllowsButTheRoleCannotModifyJumpClients(fix: RoleFix) throws {
        let ops = GroupPolicy(
            id: Self.ops.id,
            name: Self.ops.name,
            members: [F.alice],
            jumpGroups: [F.servers.id: .final(.add(role: fix.policyRole))],
            unattendedSessionPolicy: .defined(Self.pinning.id)
        )
        let directory = try F.directory(
            jumpGroups: [F.group(F.servers, members: fix.direct.map { [.init(user: F.alice, role: $0)] } ?? [])],
            groupPolicies: [ops],
            sessionPolicies: [Self.pinning]
        )
        let simulation = SessionPolicySimulator(directory: directory)
            .simulate(user: F.alice, method: .jump, item: F.web01, customerPresent: true, portal: nil)
        #expect(simulation[.jumpClientPinning]?.isAllowed == true)
        #expect(simulation.jumpItemRole?.source == fix.source)

        let modify = directory.may(.createAndDeploy, user: F.alice, item: F.web01)
        #expect(modify.isAllowed == fix.allowed)
        #expect(modify.explanation.contains("Create and Deploy Jump Items"))
        // A membership that only the group policy gives is locked on the Jump Group page: fix it in the policy.
        let editability = directory.membershipEditability(user: F.alice, group: F.servers.id)
        #expect(editability == (fix.direct == nil ? .grantedByGroupPolicy(Self.ops) : .editable))
    }

    typealias RoleSetting = PolicySetting<JumpItemRoleID>

    /// The default role defined in two policies, in both orders and with Final: what the guide's last step warns of.
    static let reordering: [(name: String, top: RoleSetting, bottom: RoleSetting, role: JumpItemRole)] = [
        ("both allow override: the bottom one wins", .defined(F.viewer.id), .defined(F.deployer.id), F.deployer),
        ("reordered: the other one wins", .defined(F.deployer.id), .defined(F.viewer.id), F.viewer),
        ("top is Final", .final(F.viewer.id), .defined(F.deployer.id), F.viewer),
        ("bottom is Final, top allows override", .defined(F.deployer.id), .final(F.viewer.id), F.viewer),
        ("reordered and Final", .final(F.deployer.id), .defined(F.viewer.id), F.deployer),
    ]

    @Test(arguments: reordering)
    func overridesAfterReordering(
        name: String,
        top: RoleSetting,
        bottom: RoleSetting,
        role: JumpItemRole
    ) throws {
        let directory = try F.directory(
            users: [F.user(F.alice, default: F.technician.id)],
            jumpGroups: [F.group(F.servers, members: [.init(user: F.alice)])],
            groupPolicies: [
                GroupPolicy(id: 1, name: "Top", members: [F.alice], defaultJumpItemRole: top),
                GroupPolicy(id: 2, name: "Bottom", members: [F.alice], defaultJumpItemRole: bottom),
            ]
        )
        let decision = directory.may(.createAndDeploy, user: F.alice, item: F.web01)
        #expect(decision.isAllowed == role.permissions.contains(.createAndDeploy), "\(name)")
        #expect(directory.effectiveRole(user: F.alice, item: F.web01).role == role, "\(name)")
    }
}
