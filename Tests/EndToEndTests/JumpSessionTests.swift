import Foundation
import JumpTestSupport
import Synchronization
import Testing

/// Jumps with the real programs on loopback: jump-server, an enrolled jump-agent running login shells as root, and
/// jumpctl on a pipe and on a pseudo-terminal. Every refusal names its rule; recordings replay what was seen.
@Suite(.serialized, .timeLimit(.minutes(4))) struct JumpSessionTests {
    typealias Appliance = ApplianceProgramTests.Appliance

    /// An appliance with one online Jump Client in Default, and admin holding a role that starts sessions there.
    final class Site {
        let appliance: Appliance
        let agent: Process
        let clientID: String

        init() async throws {
            let appliance = try Appliance()
            try await appliance.login()
            let installer = appliance.directory.appendingPathComponent("installer.json")
            try Self.ok(appliance, ["installer", "create", "--group", "Default", "--output", installer.path, "--expires", "1h", "--allow-override", "name,install-dir"])
            let agentDirectory = appliance.directory.appendingPathComponent("agent")
            let enrolled = try ProgramTests.run("jump-agent", ["enroll", "--installer", installer.path, "--dir", agentDirectory.path, "--name", "lab-pi"])
            guard enrolled.status == 0 else {
                _ = appliance.stop()
                throw ApplianceProgramTests.TestError("enrolling failed: \(enrolled.error)")
            }
            let agent = Process()
            agent.executableURL = ProgramTests.binDirectory.appendingPathComponent("jump-agent")
            agent.arguments = ["run", "--dir", agentDirectory.path, "--log-level", "warning"]
            agent.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try agent.run()
            var id: String?
            for _ in 0..<200 where id == nil {
                let list = try appliance.jumpctl(["client", "list", "--json"])
                let clients = (try? JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]) ?? []
                id = clients.first { $0["status"] as? String == "online" }?["id"] as? String
                if id == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            guard let id else {
                agent.terminate()
                agent.waitUntilExit()
                _ = appliance.stop()
                throw ApplianceProgramTests.TestError("the agent did not come online")
            }
            self.appliance = appliance
            self.agent = agent
            self.clientID = id
            try Self.ok(appliance, ["role", "create", "Operator", "--permission", "start-sessions"])
            try Self.ok(appliance, ["group", "add-member", "Default", "admin", "--role", "Operator"])
        }

        func stop() {
            agent.terminate()
            agent.waitUntilExit()
            _ = appliance.stop()
        }

        @discardableResult
        static func ok(_ appliance: Appliance, _ arguments: [String], input: String? = nil) throws -> String {
            let result = try appliance.jumpctl(arguments, input: input)
            #expect(result.status == 0, "jumpctl \(arguments.joined(separator: " ")): \(result.error)")
            return result.output
        }

        @discardableResult
        func ok(_ arguments: [String], input: String? = nil) throws -> String {
            try Self.ok(appliance, arguments, input: input)
        }

        /// A representative with their own jumpctl login.
        func user(_ name: String) throws -> User {
            try ok(["user", "create", name], input: "pw-\(name)-12345\n")
            let user = User(name: name, config: appliance.directory.appendingPathComponent("config-\(name)"), appliance: appliance)
            let login = try user.jumpctl([
                "login", "--server", appliance.server, "--user", name, "--ca", appliance.data.appendingPathComponent("ca.pem").path,
            ], input: "pw-\(name)-12345\n")
            #expect(login.status == 0, "\(login.error)")
            return user
        }

        struct User {
            let name: String
            let config: URL
            let appliance: Appliance

            func jumpctl(_ arguments: [String], input: String? = nil) throws -> ProgramTests.Result {
                try ProgramTests.run("jumpctl", arguments, input: input, environment: ["XDG_CONFIG_HOME": config.path])
            }
        }
    }

    struct SessionRow: Decodable {
        var id: String
        var owner: String
        var state: String
        var outcome: String?
        var exitStatus: Int32?
        var participants: [String]
        var ticket: String?
    }

    static func sessions(_ site: Site) throws -> [SessionRow] {
        try JSONDecoder().decode([SessionRow].self, from: Data(try site.ok(["session", "list", "--json"]).utf8))
    }

    @Test func aPipedScriptRunsAndTheRecordingReplaysIt() async throws {
        let site = try await Site()
        defer { site.stop() }

        let jump = try site.appliance.jumpctl(["jump", site.clientID], input: "stty size\necho hi-$((6*7)) $(id -un)\nexit 3\n")
        #expect(jump.status == 3, "\(jump.error)")
        #expect(jump.output.contains("24 80"), "\(jump.output)")
        #expect(jump.output.contains("hi-42 root"), "\(jump.output)")

        let session = try #require(try Self.sessions(site).first)
        #expect(session.state == "ended" && session.outcome == "exited" && session.exitStatus == 3)
        #expect(session.owner == "admin" && session.participants == ["admin"])

        // The recording, as jumpctl prints it and as asciinema reads the downloaded file, holds what was seen.
        let replay = try site.ok(["session", "replay", session.id, "--no-timing"])
        #expect(replay.contains("hi-42 root"))
        let file = site.appliance.directory.appendingPathComponent("session.cast")
        try site.ok(["session", "replay", session.id, "--output", file.path])
        let played = try AsciinemaCat.cat(file)
        #expect(played.status == 0, "\(played.complaints)")
        #expect(String(decoding: played.printed, as: UTF8.self) == replay)

        // The audit log has the start, the join and the end, with the outcome.
        let audit = try site.ok(["audit", "list", "--json"])
        for action in ["session.start", "session.join", "session.end"] { #expect(audit.contains(action), "\(action)") }
        #expect(audit.contains("\(session.id) exited status 3"))
    }

    /// jumpctl on a pseudo-terminal as a person uses it: the size follows the window, Ctrl-C interrupts the remote
    /// command and not jumpctl, and the shell's exit status is jumpctl's.
    @Test func anInteractiveTerminalResizesInterruptsAndExits() async throws {
        let site = try await Site()
        defer { site.stop() }
        let steps: [[String: Any]] = [
            ["expect": "# ", "timeout": 20],
            ["send": "stty size\r"], ["expect": "30 100"],
            ["resize": [40, 120]],
            // jumpctl takes SIGWINCH in its own time: a line typed at once may reach the shell before the new size does.
            ["send": "stty size\r", "until": "40 120", "every": 1],
            // The marker is printed by the process Ctrl-C must reach, once it is the terminal's foreground job (matching
            // the echo of the typed line instead raced the shell starting it).
            ["send": "sh -c 'echo ready-$((2+3)); exec sleep 300'\r"], ["expect": "ready-5"],
            ["send": "\u{03}"], ["expect": "# "],
            ["send": "echo status=$?\r"], ["expect": "status=130"],
            ["send": "exit 7\r"],
        ]
        let result = try Self.pty(site, rows: 30, columns: 100, steps: steps, ["jump", site.clientID])
        #expect(result.failed == nil, "stopped at \(String(describing: result.failed)): \(result.output)")
        #expect(result.status == 7, "\(result.output)")
        let session = try #require(try Self.sessions(site).first)
        #expect(session.exitStatus == 7)
    }

    @Test func eachRuleRefusesWithItsName() async throws {
        let site = try await Site()
        defer { site.stop() }
        let bob = try site.user("bob")

        // No role on the Jump Group: the Jump Item Role refuses.
        var refused = try bob.jumpctl(["jump", site.clientID])
        #expect(refused.status == 77)
        #expect(refused.error.contains("does not grant Start Sessions"), "\(refused.error)")

        // A Jump Policy with a ticket, MFA and a schedule that never permits now.
        try site.ok(["jump-policy", "create", "Ticketed", "--require-ticket"])
        try site.ok(["client", "access", site.clientID, "--jump-policy", "Ticketed"])
        refused = try site.appliance.jumpctl(["jump", site.clientID], input: "exit\n")
        #expect(refused.status == 77)
        #expect(refused.error.contains("requires a ticket ID"), "\(refused.error)")
        let ticketed = try site.appliance.jumpctl(["jump", site.clientID, "--ticket", "INC-7"], input: "exit 0\n")
        #expect(ticketed.status == 0, "\(ticketed.error)")
        #expect(try Self.sessions(site).first?.ticket == "INC-7")

        try site.ok(["jump-policy", "create", "Second factor", "--require-mfa"])
        try site.ok(["client", "access", site.clientID, "--jump-policy", "Second factor"])
        refused = try site.appliance.jumpctl(["jump", site.clientID], input: "exit\n")
        #expect(refused.status == 77)
        #expect(refused.error.contains("requires multi-factor authentication"), "\(refused.error)")

        let weekday = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        let tomorrow = weekday[(Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).weekday! % 7)]
        try site.ok(["jump-policy", "create", "Tomorrow only", "--time-zone", "UTC", "--entry", "\(tomorrow) 00:00-\(tomorrow) 23:59"])
        try site.ok(["client", "access", site.clientID, "--jump-policy", "Tomorrow only"])
        refused = try site.appliance.jumpctl(["jump", site.clientID], input: "exit\n")
        #expect(refused.status == 77)
        #expect(refused.error.contains("does not permit a session to start now"), "\(refused.error)")
        try site.ok(["client", "access", site.clientID, "--jump-policy", "none"])

        // A Customer Not Present session policy that denies the command shell.
        try site.ok(["session-policy", "create", "No shell", "--availability", "jump-items", "--deny", "shell-access"])
        try site.ok(["client", "access", site.clientID, "--not-present-session-policy", "No shell"])
        refused = try site.appliance.jumpctl(["jump", site.clientID], input: "exit\n")
        #expect(refused.status == 77)
        #expect(refused.error.contains("Command Shell"), "\(refused.error)")
        try site.ok(["client", "access", site.clientID, "--not-present-session-policy", "none"])

        // Unknown and offline Jump Clients.
        #expect(try site.appliance.jumpctl(["jump", "jc-0000000000000000"]).status == 66)
        site.agent.terminate()
        site.agent.waitUntilExit()
        try await Self.eventually { try site.ok(["client", "show", site.clientID, "--json"]).contains("\"offline\"") }
        refused = try site.appliance.jumpctl(["jump", site.clientID])
        #expect(refused.status == 65)
        #expect(refused.error.contains("not connected"), "\(refused.error)")
    }

    /// With simultaneous Jumps disallowed a second representative is refused until the owner invites them; they
    /// then join the same shell and see what the owner sees.
    @Test func aSecondRepresentativeJoinsOnlyWhenInvited() async throws {
        let site = try await Site()
        defer { site.stop() }
        let bob = try site.user("bob")
        try site.ok(["group", "add-member", "Default", "bob", "--role", "Operator"])
        try site.ok(["jump-policy", "create", "One at a time", "--simultaneous", "disallow"])
        try site.ok(["client", "access", site.clientID, "--jump-policy", "One at a time"])

        // admin's session stays open while its standard input does.
        let owner = try Terminal(site.appliance.config, ["jump", site.clientID])
        owner.type("echo owner-$((40+2))\n")
        try await Self.eventually { owner.screen.contains("owner-42") }
        let session = try #require(try Self.sessions(site).first { $0.state == "active" })

        let refused = try bob.jumpctl(["jump", site.clientID])
        #expect(refused.status == 77)
        #expect(refused.error.contains("does not allow simultaneous Jumps"), "\(refused.error)")
        #expect(refused.error.contains(session.id))

        // Only the owner invites; bob then joins the same session and types into the shell admin sees.
        #expect(try bob.jumpctl(["session", "invite", session.id, "bob"]).status == 77)
        try site.ok(["session", "invite", session.id, "bob"])
        let guest = try Terminal(bob.config, ["jump", site.clientID])
        try await Self.eventually { guest.errors.contains("joined session \(session.id)") }
        guest.type("echo from-bob-$((1+1))\n")
        try await Self.eventually { owner.screen.contains("from-bob-2") && guest.screen.contains("from-bob-2") }

        // The owner's shell ending ends the session for everyone.
        owner.type("exit 5\n")
        #expect(owner.wait() == 5)
        #expect(guest.wait() == 5)
        let ended = try #require(try Self.sessions(site).first { $0.id == session.id })
        #expect(ended.participants == ["admin", "bob"])
        #expect(ended.exitStatus == 5)
    }

    /// Unpinning uninstalls the Jump Client from within a session, only for its owner and only when the session
    /// policies allow "Jump Clients Pinning/Unpinning".
    @Test func unpinNeedsThePermissionAndTheSessionOwner() async throws {
        let site = try await Site()
        defer { site.stop() }
        let bob = try site.user("bob")
        try site.ok(["group", "add-member", "Default", "bob", "--role", "Operator"])
        try site.ok(["session-policy", "create", "No pinning", "--availability", "jump-items", "--deny", "jump-client-pinning"])
        try site.ok(["client", "access", site.clientID, "--not-present-session-policy", "No pinning"])
        let simulated = try site.ok(["simulate", "--user", "admin", "--method", "jump", "--client", site.clientID])
        #expect(simulated.contains("Jump Clients Pinning/Unpinning"), "\(simulated)")

        let owner = try Terminal(site.appliance.config, ["jump", site.clientID])
        owner.type("echo ready-$((2*3))\n")
        try await Self.eventually { owner.screen.contains("ready-6") }
        let session = try #require(try Self.sessions(site).first { $0.state == "active" })

        var refused = try site.appliance.jumpctl(["session", "unpin", session.id])
        #expect(refused.status == 77)
        #expect(refused.error.contains("Jump Clients Pinning/Unpinning"), "\(refused.error)")
        try site.ok(["session", "invite", session.id, "bob"])
        refused = try bob.jumpctl(["session", "unpin", session.id])
        #expect(refused.status == 77)
        #expect(refused.error.contains("Only the session owner"), "\(refused.error)")

        try site.ok(["session-policy", "create", "Pinning", "--availability", "jump-items", "--allow", "jump-client-pinning"])
        try site.ok(["client", "access", site.clientID, "--not-present-session-policy", "Pinning"])
        let unpinned = try site.ok(["session", "unpin", session.id])
        #expect(unpinned.contains("uninstalls itself"))
        #expect(owner.wait() == 255)
        #expect(owner.errors.contains("unpinned"), "\(owner.errors)")
        site.agent.waitUntilExit()
        let audit = try site.ok(["audit", "list", "--json"])
        #expect(audit.contains("client.unpin"))
        #expect(try site.appliance.jumpctl(["jump", site.clientID]).status == 66)
    }

    /// jumpctl (or another program) running with a pipe for a keyboard that stays open, and what it printed so far.
    final class Terminal: Sendable {
        let process: Process
        let keyboard = Pipe()
        final class Text: Sendable {
            let value = Mutex("")
        }
        private let output = Text()
        private let errorOutput = Text()

        init(_ config: URL, _ arguments: [String], program: String = "jumpctl") throws {
            process = Process()
            process.executableURL = ProgramTests.binDirectory.appendingPathComponent(program)
            process.arguments = arguments
            process.environment = ["XDG_CONFIG_HOME": config.path, "PATH": "/usr/bin:/bin"]
            let screen = Pipe()
            let errors = Pipe()
            process.standardInput = keyboard
            process.standardOutput = screen
            process.standardError = errors
            screen.fileHandleForReading.readabilityHandler = { [output] handle in
                let data = handle.availableData
                output.value.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            errors.fileHandleForReading.readabilityHandler = { [errorOutput] handle in
                let data = handle.availableData
                errorOutput.value.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var screen: String { output.value.withLock { $0 } }
        var errors: String { errorOutput.value.withLock { $0 } }

        func type(_ text: String) {
            keyboard.fileHandleForWriting.write(Data(text.utf8))
        }

        func wait() -> Int32 {
            process.waitUntilExit()
            try? keyboard.fileHandleForWriting.close()
            return process.terminationStatus
        }
    }

    // MARK: Helpers

    static func eventually(_ timeout: Duration = .seconds(20), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ApplianceProgramTests.TestError("a condition did not come true in \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    struct PTYResult: Decodable {
        var status: Int32
        var output: String
        var failed: [String: String]?

        enum CodingKeys: CodingKey { case status, output, failed }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try container.decode(Int32.self, forKey: .status)
            output = try container.decode(String.self, forKey: .output)
            let failedStep = try? container.decodeIfPresent([String: JSONScalar].self, forKey: .failed)
            failed = failedStep.map { $0.mapValues(\.text) }
        }
    }

    struct JSONScalar: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                text = string
            } else if let number = try? container.decode(Double.self) {
                text = "\(number)"
            } else {
                text = "…"
            }
        }
    }

    /// Runs jumpctl on a pseudo-terminal of `rows`×`columns` and plays `steps` (Tests/EndToEndTests/Fixtures/pty_session.py).
    static func pty(_ site: Site, rows: Int, columns: Int, steps: [[String: Any]], _ arguments: [String]) throws -> PTYResult {
        let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pty_session.py")
        let script = String(decoding: try JSONSerialization.data(withJSONObject: steps), as: UTF8.self)
        let jumpctl = ProgramTests.binDirectory.appendingPathComponent("jumpctl").path
        let result = try ProgramTests.run(
            "/usr/bin/python3",
            [driver.path, "\(rows)", "\(columns)", script, "--", jumpctl] + arguments,
            environment: ["XDG_CONFIG_HOME": site.appliance.config.path, "TERM": "xterm"]
        )
        #expect(result.status == 0, "\(result.error)")
        return try JSONDecoder().decode(PTYResult.self, from: Data(result.output.utf8))
    }
}
