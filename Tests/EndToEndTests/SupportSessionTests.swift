import Foundation
import Testing

/// Attended support with the real programs on loopback: a representative's code, `jump-agent support` run by the
/// end user (here as root, so the shell is root's), the queue, the attended session, and pinning the computer as a
/// Jump Client, refused by each rule and then allowed; the pinned agent comes online in the chosen Jump Group.
@Suite(.serialized, .timeLimit(.minutes(4))) struct SupportSessionTests {
    typealias Site = JumpSessionTests.Site
    typealias Terminal = JumpSessionTests.Terminal

    struct Issued: Decodable {
        var code: String
        var command: String
    }

    struct Waiting: Decodable {
        var id: String
        var representative: String
        var hostname: String
        var localUser: String
        var session: String?
        var pinnedClient: String?
    }

    struct SessionRow: Decodable {
        var id: String
        var client: String
        var owner: String
        var state: String
        var attended: Bool?
        var pinnedClient: String?
        var exitStatus: Int32?
    }

    struct ClientRow: Decodable {
        var id: String
        var status: String
        var group: String?
    }

    /// The end user's side: `jump-agent support` with the code, installing into `directory` without a service when pinned.
    static func supportAgent(_ site: Site, code: String, directory: URL) throws -> Terminal {
        try Terminal(
            site.appliance.config,
            [
                "support", "--server", "127.0.0.1:\(site.appliance.agentPort)", "--code", code,
                "--install-dir", directory.path, "--no-service",
            ],
            program: "jump-agent"
        )
    }

    @Test func anEndUserIsHelpedThenPinnedIntoTheChosenGroup() async throws {
        let site = try await Site()
        defer { site.stop() }
        let alice = try site.user("alice")
        let bob = try site.user("bob")
        try site.ok(["group", "create", "Field"])
        try site.ok(["role", "create", "Deployer", "--permission", "create-and-deploy"])
        try site.ok(["group", "add-member", "Field", "alice", "--role", "Deployer"])
        try site.ok(["session-policy", "create", "No pinning", "--availability", "users", "--deny", "jump-client-pinning"])
        try site.ok(["session-policy", "create", "Pinning", "--availability", "users", "--allow", "jump-client-pinning"])
        try site.ok(["user", "set", "alice", "--attended-session-policy", "No pinning"])

        // alice's code brings the end user into alice's queue, and only there (an administrator sees every queue).
        let issuedOutput = try alice.jumpctl(["support", "code", "--json"])
        #expect(issuedOutput.status == 0, "\(issuedOutput.error)")
        let issued = try JSONDecoder().decode(Issued.self, from: Data(issuedOutput.output.utf8))
        #expect(issued.command.contains("jump-agent support --server") && issued.command.contains(issued.code))
        let pinned = site.appliance.directory.appendingPathComponent("pinned")
        let endUser = try Self.supportAgent(site, code: issued.code, directory: pinned)
        defer { endUser.process.terminate() }
        try await JumpSessionTests.eventually { endUser.screen.lowercased().contains("waiting for") }
        #expect(endUser.screen.contains("alice"), "\(endUser.screen)")

        let queue = try JSONDecoder().decode([Waiting].self, from: Data(try alice.jumpctl(["support", "list", "--json"]).output.utf8))
        let waiting = try #require(queue.first)
        #expect(queue.count == 1 && waiting.representative == "alice" && waiting.localUser == "root")
        #expect(try site.ok(["support", "list"]).contains(waiting.id), "an administrator sees every queue")
        #expect(try bob.jumpctl(["support", "list", "--json"]).output.contains(waiting.id) == false)
        #expect(try bob.jumpctl(["support", "accept", waiting.id]).status == 66)

        // The code was used: a second end user with it is turned away with the reason.
        let again = try Self.supportAgent(site, code: issued.code, directory: pinned)
        #expect(again.wait() != 0)
        #expect((again.screen + again.errors).contains("used"), "\(again.screen) \(again.errors)")

        // The attended session: a shell as the account running the support agent.
        let rep = try Terminal(alice.config, ["support", "accept", waiting.id])
        rep.type("echo attended-$((6*7)) $(id -un)\n")
        try await JumpSessionTests.eventually { rep.screen.contains("attended-42 root") }
        let session = try #require(
            try JSONDecoder().decode([SessionRow].self, from: Data(try site.ok(["session", "list", "--json"]).utf8))
                .first { $0.state == "active" }
        )
        #expect(session.attended == true && session.client == waiting.id && session.owner == "alice")

        // Pinning: the session policy first, then the owner, then the role in the chosen group.
        var refused = try alice.jumpctl(["session", "pin", session.id, "--group", "Field"])
        #expect(refused.status == 77)
        #expect(refused.error.contains("Jump Clients Pinning/Unpinning"), "\(refused.error)")
        let denied = try site.ok(["simulate", "--user", "alice", "--method", "attended"])
        #expect(denied.contains("Jump Clients Pinning/Unpinning"), "\(denied)")
        try site.ok(["user", "set", "alice", "--attended-session-policy", "Pinning"])
        refused = try bob.jumpctl(["session", "pin", session.id, "--group", "Field"])
        #expect(refused.status == 77)
        #expect(refused.error.contains("Only the session owner"), "\(refused.error)")
        refused = try alice.jumpctl(["session", "pin", session.id, "--group", "Default"])
        #expect(refused.status == 77)
        #expect(refused.error.contains("Create and Deploy Jump Items"), "\(refused.error)")
        #expect(try alice.jumpctl(["session", "unpin", session.id]).status == 65, "an attended session has nothing to unpin")

        let pin = try alice.jumpctl(["session", "pin", session.id, "--group", "Field", "--name", "front-desk"])
        #expect(pin.status == 0, "\(pin.error)")
        let clientID = try #require(pin.output.split(separator: " ").first { $0.hasPrefix("jc-") }.map(String.init))
        try await JumpSessionTests.eventually { endUser.screen.contains("installed as Jump Client \(clientID)") }
        #expect(try alice.jumpctl(["session", "pin", session.id, "--group", "Field"]).status == 65, "pinned once")

        // The installed agent connects as the new Jump Client, in Field.
        let program = pinned.appendingPathComponent("bin/jump-agent")
        #expect(FileManager.default.isExecutableFile(atPath: program.path))
        let agent = Process()
        agent.executableURL = program
        agent.arguments = ["run", "--dir", pinned.path, "--log-level", "warning"]
        agent.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try agent.run()
        defer {
            agent.terminate()
            agent.waitUntilExit()
        }
        try await JumpSessionTests.eventually {
            let clients = try JSONDecoder().decode([ClientRow].self, from: Data(try site.ok(["client", "list", "--json"]).utf8))
            return clients.contains { $0.id == clientID && $0.status == "online" && $0.group == "Field" }
        }
        #expect(try site.ok(["client", "show", clientID]).contains("front-desk"))

        // The session goes on until the shell ends; then the end user's agent ends too.
        rep.type("exit 3\n")
        #expect(rep.wait() == 3)
        #expect(endUser.wait() == 0, "\(endUser.errors)")
        let ended = try #require(
            try JSONDecoder().decode([SessionRow].self, from: Data(try site.ok(["session", "list", "--json"]).utf8))
                .first { $0.id == session.id }
        )
        #expect(ended.pinnedClient == clientID && ended.exitStatus == 3)
        let audit = try site.ok(["audit", "list", "--json"])
        for action in ["support.code", "support.request", "session.pin-refused", "session.pin"] {
            #expect(audit.contains("\"\(action)\""), "no \(action) in the audit log")
        }
    }

    @Test func aWrongOrMalformedCodeIsRefusedBeforeAnythingRuns() async throws {
        let appliance = try ApplianceProgramTests.Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        let issued = try JSONDecoder().decode(Issued.self, from: Data(try appliance.jumpctl(["support", "code", "--json"]).output.utf8))
        let server = "127.0.0.1:\(appliance.agentPort)"

        let malformed = try ProgramTests.run("jump-agent", ["support", "--server", server, "--code", "not-a-code"])
        #expect(malformed.status == 64, "\(malformed.error)")

        // Same CA pin, another key: the appliance does not know it.
        var characters = Array(issued.code)
        characters[0] = characters[0] == "A" ? "B" : "A"
        let unknown = try ProgramTests.run("jump-agent", ["support", "--server", server, "--code", String(characters)])
        #expect(unknown.status != 0)
        #expect((unknown.output + unknown.error).contains("does not know this support code"), "\(unknown.error)")

        // Another CA pin: the agent refuses the appliance before sending anything.
        characters = Array(issued.code)
        let last = characters.count - 1
        characters[last] = characters[last] == "0" ? "1" : "0"
        let impostor = try ProgramTests.run("jump-agent", ["support", "--server", server, "--code", String(characters)])
        #expect(impostor.status != 0)
        let waiting = try JSONDecoder().decode([Waiting].self, from: Data(try appliance.jumpctl(["support", "list", "--json"]).output.utf8))
        #expect(waiting.isEmpty, "nobody got into the queue: \(waiting)")
        #expect(impostor.status == 69, "\(impostor.error)")
        #expect(unknown.status == 77 && malformed.error.contains("groups of four"), "\(unknown.status) \(malformed.error)")
        #expect(try appliance.jumpctl(["support", "code", "--lifetime", "0"]).status == 64)
    }
}
