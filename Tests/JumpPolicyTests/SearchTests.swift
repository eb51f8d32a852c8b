import JumpPolicy
import Testing

@Suite("Jump Group search")
struct SearchTests {
    typealias F = RBACFixture

    static let lab = JumpGroup(id: 12, name: "Lab", comments: "SERVERS under test")

    /// Guide line 111: the list keeps groups whose name or comments contain the term.
    static let groups: [(term: String, names: [String])] = [
        ("", ["Desktops", "Lab", "Servers"]),
        ("   ", ["Desktops", "Lab", "Servers"]),
        ("serv", ["Lab", "Servers"]),
        ("SERVERS", ["Lab", "Servers"]),
        ("zurich", ["Servers"]),
        ("Zürich", ["Servers"]),
        ("office", ["Desktops"]),
        (" front ", ["Desktops"]),
        ("printer", []),
    ]

    @Test(arguments: groups)
    func jumpGroupsMatchNameOrComments(term: String, names: [String]) throws {
        let directory = try F.directory(jumpGroups: [F.servers, F.desktops, Self.lab])
        #expect(directory.jumpGroups(matching: term).map(\.name) == names)
    }

    /// Guide line 117: "Filter by name" matches the username or the display name.
    static let members: [(filter: String, usernames: [String])] = [
        ("", ["alice", "bob", "carol"]),
        ("ali", ["alice"]),
        ("angstrom", ["alice"]),
        ("jose", ["carol"]),
        ("BUILDER", ["bob"]),
        ("ro", ["alice", "carol"]),
        ("zed", []),
    ]

    @Test(arguments: members)
    func membersMatchUsernameOrDisplayName(filter: String, usernames: [String]) throws {
        let directory = try F.directory(
            jumpGroups: [
                F.group(F.servers, members: [.init(user: F.alice), .init(user: F.bob), .init(user: F.carol)]),
                F.desktops,
            ]
        )
        #expect(directory.members(of: F.servers.id, matching: filter).map(\.user.name) == usernames)
        #expect(directory.members(of: F.desktops.id, matching: filter).isEmpty)
    }
}
