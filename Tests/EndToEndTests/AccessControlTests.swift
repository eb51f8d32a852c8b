import Foundation
import JumpPolicy
import Testing

/// Access control as an administrator sets it up with jumpctl against a real jump-server: roles, a Jump Policy
/// with a schedule, session policies, group policies with Final settings and an override, users, Jump Group
/// members, refusals, the simulator, and multi-factor authentication.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AccessControlTests {
    typealias Appliance = ApplianceProgramTests.Appliance

    /// Runs jumpctl and requires success, returning its standard output.
    @discardableResult
    static func ok(_ appliance: Appliance, _ arguments: [String], input: String? = nil) throws -> String {
        let result = try appliance.jumpctl(arguments, input: input)
        #expect(result.status == 0, "jumpctl \(arguments.joined(separator: " ")): \(result.error)")
        return result.output
    }

    static func decode<T: Decodable>(_ type: T.Type, _ output: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(output.utf8))
    }

    static func simulate(_ appliance: Appliance, _ arguments: [String]) throws -> SimulationReport {
        try decode(SimulationReport.self, try ok(appliance, ["simulate"] + arguments + ["--json"]))
    }

    /// The value of a "key  value" line, as the show commands print them.
    static func field(_ output: String, _ key: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(key + "  ") }.map {
            $0.dropFirst(key.count).trimmingCharacters(in: .whitespaces)
        }
    }

    /// The cells of the table row whose first cell is `first` (cells are separated by two or more spaces).
    static func row(_ output: String, _ first: String) -> [String]? {
        output.split(separator: "\n").map { line in
            line.split(separator: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }.first { $0.first == first }
    }

    static func date(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text))
    }

    @Test func rolesPoliciesGroupPoliciesMembersAndTheSimulator() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()

        // Jump Groups, and the guide's search on name or comments.
        try Self.ok(appliance, ["group", "create", "Servers", "--comments", "rack A production"])
        try Self.ok(appliance, ["group", "create", "Kiosks", "--comments", "lobby screens"])
        let found = try Self.ok(appliance, ["group", "list", "--search", "RACK"])
        struct GroupRow: Decodable {
            var id: Int64
            var name: String
        }
        let groups = try Self.decode([GroupRow].self, try Self.ok(appliance, ["group", "list", "--json"]))
        let servers = JumpGroupID(try #require(groups.first { $0.name == "Servers" }?.id))
        #expect(found.contains("Servers") && !found.contains("Kiosks"), "\(found)")

        // Jump Item roles.
        let operatorRole = try Self.ok(
            appliance,
            ["role", "create", "Operator", "--permission", "start-sessions,edit-tag,create-and-deploy"]
        )
        #expect(operatorRole.contains("created role Operator"))
        #expect(operatorRole.contains("create-and-deploy,start-sessions,edit-tag"))
        try Self.ok(appliance, ["role", "create", "Viewer", "--permission", "start-sessions"])
        let badPermission = try appliance.jumpctl(["role", "create", "Broken", "--permission", "fly"])
        #expect(badPermission.status == 64)
        #expect(badPermission.error.contains("'fly' is not a Jump Item permission"))
        let roles = try Self.ok(appliance, ["role", "list"])
        #expect(roles.contains("No Access") && roles.contains("Viewer"))

        // A Jump Policy with an office-hours schedule; malformed entries never leave jumpctl, an unknown zone is
        // refused by the appliance.
        let office = try Self.ok(
            appliance,
            [
                "jump-policy", "create", "Office hours", "--time-zone", "Europe/Berlin", "--entry",
                "mon 08:00-fri 18:00",
                "--force-end", "--require-ticket",
            ]
        )
        #expect(office.contains("Europe/Berlin: mon 08:00-fri 18:00"), "\(office)")
        let shown = try Self.ok(appliance, ["jump-policy", "show", "office hours"])
        #expect(Self.field(shown, "entry 1") == "mon 08:00-fri 18:00", "\(shown)")
        #expect(Self.field(shown, "time zone") == "Europe/Berlin", "\(shown)")
        #expect(Self.field(shown, "ticket ID") == "required", "\(shown)")
        #expect(Self.field(shown, "force end") == "yes, when the window closes", "\(shown)")
        let badEntry = try appliance.jumpctl([
            "jump-policy", "create", "Bad", "--time-zone", "UTC", "--entry", "mon 8-fri 18:00",
        ])
        #expect(badEntry.status == 64)
        #expect(badEntry.error.contains("'8' is not a 24-hour time HH:MM"), "\(badEntry.error)")
        let badZone = try appliance.jumpctl([
            "jump-policy", "create", "Mars", "--time-zone", "Mars/Olympus_Mons", "--entry", "sat 00:00-sun 00:00",
        ])
        #expect(badZone.status == 65)
        #expect(badZone.error.contains("Mars/Olympus_Mons"), "\(badZone.error)")

        // Session policies with different availability.
        try Self.ok(
            appliance,
            [
                "session-policy", "create", "Pinning allowed", "--availability", "users,jump-items", "--allow",
                "start-session,pinning",
            ]
        )
        try Self.ok(appliance, ["session-policy", "create", "No pinning", "--deny", "pinning", "--allow", "shell"])
        try Self.ok(
            appliance,
            ["session-policy", "create", "Item only", "--availability", "jump-items", "--deny", "shell"]
        )
        let noPinning = try Self.ok(appliance, ["session-policy", "show", "No pinning"])
        #expect(Self.row(noPinning, "jump-client-pinning")?[1] == "deny", "\(noPinning)")
        #expect(Self.row(noPinning, "shell-access")?[1] == "allow", "\(noPinning)")
        #expect(Self.row(noPinning, "view-screen")?[1] == "not-defined", "\(noPinning)")
        let sessionPolicies = try Self.decode(
            [SessionPolicy].self,
            try Self.ok(appliance, ["session-policy", "list", "--json"])
        )
        let policyID = Dictionary(uniqueKeysWithValues: sessionPolicies.map { ($0.name, $0.id) })

        // Users; a session policy not available to users is refused with the reason.
        for name in ["alice", "bob"] {
            #expect(
                try Self.ok(appliance, ["user", "create", name], input: "correct horse battery\n").contains(
                    "created representative \(name)"
                )
            )
        }
        let refused = try appliance.jumpctl(["user", "set", "alice", "--unattended-session-policy", "Item only"])
        #expect(refused.status == 65)
        #expect(
            refused.error.contains("Session policy “Item only”")
                && refused.error.contains("Availability does not include Users"),
            "\(refused.error)"
        )
        try Self.ok(appliance, ["user", "set", "alice", "--system-role", "none", "--permission", "none"])

        // Group policies: Support (top) adds both to Servers as Viewer, Final; its session policy may be
        // overridden, and Leads below overrides it for bob; Leads cannot change bob's Final Servers role.
        try Self.ok(
            appliance,
            [
                "group-policy", "create", "Support", "--member", "alice", "--member", "bob", "--add-to-group",
                "Servers:Viewer",
                "--unattended-session-policy", "No pinning", "--final", "group:Servers",
            ]
        )
        try Self.ok(
            appliance,
            [
                "group-policy", "create", "Leads", "--member", "bob", "--add-to-group", "Servers:Operator",
                "--unattended-session-policy", "Pinning allowed",
            ]
        )
        let support = try Self.ok(appliance, ["group-policy", "show", "Support"])
        #expect(Self.field(support, "members") == "alice, bob", "\(support)")
        #expect(Self.row(support, "group:Servers") == ["group:Servers", "add, role Viewer", "final"], "\(support)")
        #expect(
            Self.row(support, "unattended-session-policy") == [
                "unattended-session-policy", "No pinning", "may be overridden",
            ],
            "\(support)"
        )
        #expect(Self.row(support, "default-role") == ["default-role", "not defined"], "\(support)")
        let groupPolicies = try Self.decode(
            [GroupPolicy].self,
            try Self.ok(appliance, ["group-policy", "list", "--json"])
        )
        #expect(groupPolicies.map(\.name) == ["Support", "Leads"])
        let groupPolicyID = Dictionary(uniqueKeysWithValues: groupPolicies.map { ($0.name, $0.id) })

        // Jump Group members: who, with what role, granted how, and whether it can be changed here.
        let bobInServers = try Self.ok(appliance, ["group", "members", "Servers", "--filter", "BO"])
        #expect(!bobInServers.contains("alice"), "\(bobInServers)")
        #expect(
            Self.row(bobInServers, "bob") == [
                "bob", "Viewer", "group policy “Support” in “Servers”", "no: group policy “Support”",
            ],
            "\(bobInServers)"
        )
        let notHere = try appliance.jumpctl(["group", "remove-member", "Servers", "bob"])
        #expect(notHere.status == 65)
        #expect(notHere.error.contains("Added by group policy “Support”"), "\(notHere.error)")
        try Self.ok(appliance, ["group", "add-member", "Kiosks", "alice", "--role", "Operator"])
        let kiosks = try Self.decode(
            [JumpGroupMember].self,
            try Self.ok(appliance, ["group", "members", "Kiosks", "--json"])
        )
        #expect(kiosks.map(\.user.name) == ["alice"])
        #expect(kiosks.first?.role.role.name == "Operator")
        #expect(kiosks.first?.editability == .editable)
        try Self.ok(appliance, ["group", "remove-member", "Kiosks", "alice"])
        #expect(try Self.ok(appliance, ["group", "members", "Kiosks"]).contains("alice") == false)

        // The simulator: alice cannot pin (Support's policy decides), bob can (Leads overrides Support).
        let alice = try Self.simulate(appliance, ["--user", "alice", "--method", "jump"])
        #expect(alice[.jumpClientPinning]?.isAllowed == false)
        #expect(
            alice[.jumpClientPinning]?.rule
                == .sessionPolicy(
                    Named(policyID["No pinning"]!, "No pinning"),
                    level: .groupPolicy(Named(groupPolicyID["Support"]!, "Support"))
                )
        )
        let bob = try Self.simulate(appliance, ["--user", "bob", "--method", "jump"])
        #expect(bob[.jumpClientPinning]?.isAllowed == true)
        #expect(
            bob[.jumpClientPinning]?.rule
                == .sessionPolicy(
                    Named(policyID["Pinning allowed"]!, "Pinning allowed"),
                    level: .groupPolicy(Named(groupPolicyID["Leads"]!, "Leads"))
                )
        )
        let told = try Self.ok(appliance, ["simulate", "--user", "alice", "--method", "jump"])
        #expect(
            Self.row(told, "jump-client-pinning") == [
                "jump-client-pinning", "deny", "session policy “No pinning” at group policy “Support”",
            ],
            "\(told)"
        )
        #expect(
            told.contains(
                "jump-client-pinning: “Jump Clients Pinning/Unpinning” is denied by session policy “No pinning”"
            ),
            "\(told)"
        )

        // Reordered, Support comes second and overrides Leads (which allows override): bob can no longer pin.
        #expect(
            try Self.ok(appliance, ["group-policy", "order", "Leads", "Support"]).contains("top first: Leads, Support")
        )
        let reordered = try Self.simulate(appliance, ["--user", "bob", "--method", "jump"])
        #expect(reordered[.jumpClientPinning]?.isAllowed == false)
        let incomplete = try appliance.jumpctl(["group-policy", "order", "Leads"])
        #expect(incomplete.status == 65)
        #expect(incomplete.error.contains("every group policy id exactly once"), "\(incomplete.error)")

        // A Jump Client in Servers, installed with the Jump Policy by name: the simulator gives bob's role on it,
        // the client's own session policy, and the schedule's answer and next change.
        let installer = appliance.directory.appendingPathComponent("installer.json")
        try Self.ok(
            appliance,
            [
                "installer", "create", "--group", "Servers", "--jump-policy", "Office hours", "--output",
                installer.path, "--expires", "1h",
                "--allow-override", "install-dir",
            ]
        )
        let enrolled = try ApplianceProgramTests.run(
            "jump-agent",
            [
                "enroll", "--installer", installer.path, "--dir",
                appliance.directory.appendingPathComponent("agent").path,
            ]
        )
        #expect(enrolled.status == 0, "\(enrolled.error)")
        let clients =
            try JSONSerialization.jsonObject(with: Data(try Self.ok(appliance, ["client", "list", "--json"]).utf8))
            as? [[String: Any]]
        let client = try #require(clients?.first?["id"] as? String)
        let unavailable = try appliance.jumpctl([
            "client", "access", client, "--not-present-session-policy", "No pinning",
        ])
        #expect(unavailable.status == 65)
        #expect(unavailable.error.contains("Availability does not include Jump Items"), "\(unavailable.error)")
        let access = try Self.ok(appliance, ["client", "access", client, "--not-present-session-policy", "Item only"])
        #expect(Self.field(access, "jump policy") == "Office hours", "the installer's Jump Policy, by name: \(access)")
        #expect(Self.field(access, "customer not present") == "Item only", "\(access)")
        #expect(Self.field(access, "customer present") == "none", "\(access)")

        let saturday = try Self.simulate(
            appliance,
            [
                "--user", "bob", "--method", "jump", "--client", client, "--customer-absent", "--at",
                "2025-06-07T10:00:00Z",
            ]
        )
        #expect(
            saturday[.shellAccess]?.rule
                == .sessionPolicy(
                    Named(policyID["Item only"]!, "Item only"),
                    level: .jumpItem(JumpItemID(rawValue: client), customerPresent: false)
                )
        )
        #expect(saturday.jumpItemRole?.role.name == "Viewer")
        #expect(
            saturday.jumpItemRole?.source
                == .groupPolicyMembership(
                    Named(servers, "Servers"),
                    policy: Named(groupPolicyID["Support"]!, "Support")
                )
        )
        #expect(saturday.jumpItemPermissions.filter(\.granted).map(\.permission) == [.startSessions])
        let closed = try #require(saturday.jumpPolicy)
        #expect(closed.policy.name == "Office hours")
        #expect(closed.schedulePermits == false)
        #expect(closed.nextChange == (try Self.date("2025-06-09T06:00:00Z")), "Monday 08:00 in Berlin (CEST)")
        #expect(closed.requireTicketID)
        #expect(closed.overrideSchedule.isAllowed == false)
        let monday = try Self.simulate(
            appliance,
            ["--user", "bob", "--method", "jump", "--client", client, "--at", "2025-06-09T07:00:00+00:00"]
        )
        let open = try #require(monday.jumpPolicy)
        #expect(open.schedulePermits)
        #expect(open.nextChange == (try Self.date("2025-06-13T16:00:00Z")), "Friday 18:00 in Berlin")
        #expect(open.forceEnd?.end == (try Self.date("2025-06-13T16:00:00Z")))
        let mondayText = try Self.ok(
            appliance,
            ["simulate", "--user", "bob", "--method", "jump", "--client", client, "--at", "2025-06-09T07:00:00Z"]
        )
        #expect(Self.field(mondayText, "next change")?.hasPrefix("2025-06-13T16:00:00") == true, "\(mondayText)")
        #expect(
            mondayText.contains("Jump Item role: Viewer (group policy “Support” in “Servers”)"),
            "\(mondayText)"
        )

        // Names that do not exist are "not found"; the audit log names the actor of each change.
        #expect(try appliance.jumpctl(["role", "show", "Nobody"]).status == 66)
        #expect(try appliance.jumpctl(["simulate", "--user", "nobody", "--method", "jump"]).status == 66)
        let audit = try Self.ok(appliance, ["audit", "list", "--limit", "1000"])
        #expect(audit.contains("group-policy.order") && audit.contains("client.access"), "\(audit)")
    }

    @Test func multiFactorEnrolmentAndReplayedCodes() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()

        struct Enrollment: Decodable {
            var secret: String
            var uri: String
        }
        let enrollment = try Self.decode(Enrollment.self, try Self.ok(appliance, ["user", "mfa", "enroll", "--json"]))
        #expect(enrollment.uri.hasPrefix("otpauth://totp/"))
        #expect(enrollment.uri.contains("secret=\(enrollment.secret)"))
        let secret = try TOTPSecret(base32: enrollment.secret)
        let parameters = TOTPParameters()

        let malformed = try appliance.jumpctl(["user", "mfa", "confirm", "12ab56"])
        #expect(malformed.status == 64)
        let now = Date()
        #expect(
            try Self.ok(
                appliance,
                ["user", "mfa", "confirm", TOTP.code(secret: secret, parameters: parameters, at: now)]
            ).contains("enrolled")
        )
        let users = try Self.ok(appliance, ["user", "list"])
        #expect(users.contains("admin") && users.contains("enrolled"), "\(users)")

        // The next step's code is within the window and after the confirmed one; using it twice is a replay.
        let next = TOTP.code(secret: secret, parameters: parameters, at: now + Double(TOTPParameters.periodSeconds))
        #expect(try Self.ok(appliance, ["user", "mfa", "verify", next]).contains("code accepted"))
        let replayed = try appliance.jumpctl(["user", "mfa", "verify", next])
        #expect(replayed.status == 77)
        #expect(replayed.error.contains("already been used"), "\(replayed.error)")

        // Enrolled, the secret is never shown again; removing the enrolment ends verification.
        let again = try appliance.jumpctl(["user", "mfa", "enroll"])
        #expect(again.status != 0 && !again.output.contains(enrollment.secret))
        let removeWithout = try appliance.jumpctl(["user", "mfa", "remove"])
        #expect(removeWithout.status == 77)
        #expect(removeWithout.error.contains("needs a current code"), "\(removeWithout.error)")
        // Every code within the window has been used; an administrator resets it (here admin's own).
        try Self.ok(appliance, ["user", "mfa", "reset", "admin"])
        #expect(try appliance.jumpctl(["user", "mfa", "verify", next]).status == 66)
    }
}
