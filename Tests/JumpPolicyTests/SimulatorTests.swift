import JumpPolicy
import Testing

@Suite("Session policy simulator")
struct SimulatorTests {
    typealias F = RBACFixture

    static let shell = SessionPolicy(
        id: 201,
        name: "Shell for Jumps",
        availability: [.users, .jumpItems],
        permissions: [.shellAccess: .allow, .jumpClientPinning: .allow]
    )
    static let portalPolicy = SessionPolicy(id: 202, name: "Portal", permissions: [.viewScreen: .deny])

    static func simulator() throws -> SessionPolicySimulator {
        let directory = try F.directory(
            users: [F.user(F.alice, unattended: shell.id)],
            jumpGroups: [F.group(F.servers, members: [.init(user: F.alice, role: F.technician.id)])],
            sessionPolicies: [shell, portalPolicy],
            portals: [PublicPortal(id: F.portal.id, name: F.portal.name, sessionPolicy: portalPolicy.id)]
        )
        return SessionPolicySimulator(directory: directory)
    }

    @Test func listsEveryPermissionWithItsDecidingRule() throws {
        let simulator = try Self.simulator()
        let result = simulator.simulate(user: F.alice, method: .jump, item: F.web01, customerPresent: true, portal: nil)
        #expect(result.permissions.map(\.permission) == SessionPermission.allCases)
        for row in result.permissions {
            let direct = simulator.directory.sessionPermission(
                row.permission,
                user: F.alice,
                method: .jump,
                item: F.web01,
                customerPresent: true,
                portal: nil
            )
            #expect(row.decision == direct)
        }
        #expect(result[.shellAccess]?.rule == .sessionPolicy(Self.shell.named, level: .user(Named(F.alice, "alice"))))
        #expect(result[.elevate]?.rule == .sessionPolicy(F.globalDefault.named, level: .globalDefault))
        #expect(result.appliedPolicies.map(\.policy.name) == ["Shell for Jumps", "Global Default"])
    }

    @Test func givesTheJumpItemRoleWhenAnItemIsGiven() throws {
        let simulator = try Self.simulator()
        let withItem = simulator.simulate(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil
        )
        #expect(withItem.jumpItemRole?.role == F.technician)
        #expect(withItem.jumpItemRole?.source == .jumpGroupPage(F.servers.named))

        let attended = simulator.simulate(
            user: F.alice,
            method: .attended,
            item: nil,
            customerPresent: true,
            portal: F.portal.id
        )
        #expect(attended.jumpItemRole == nil)
        #expect(
            attended[.viewScreen]?.rule == .sessionPolicy(Self.portalPolicy.named, level: .publicPortal(F.portal.named))
        )
        #expect(attended[.shellAccess]?.isAllowed == false)
    }

    @Test func unknownRepresentativeIsDeniedEverything() throws {
        let result = try Self.simulator().simulate(
            user: 99,
            method: .jump,
            item: nil,
            customerPresent: false,
            portal: nil
        )
        #expect(result.permissions.allSatisfy { $0.decision.rule == .missing(.user(99)) && !$0.decision.isAllowed })
    }
}
