import ArgumentParser
import Foundation
import JumpPolicy

struct SessionPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session-policy",
        abstract: "Session policies: Allow, Deny or Not Defined for each session permission.",
        discussion: """
            A session policy sets each session permission to Allow, Deny or Not Defined. The policies \
            that apply to a session are consulted from the highest level down, and the first that \
            defines a permission decides it; Not Defined falls back to a lower priority session policy, \
            down to the global default session policy, which defines every permission. The levels, \
            highest first: the Jump Client's Customer Present or Customer Not Present policy (Jumps \
            only), the public portal's (attended sessions only), the policy a group policy sets for the \
            user, the policy on the user's account, the global default.

            Availability says where a policy may be assigned: users (user accounts, group policies and \
            public portals), rep-invite, jump-items (Jump Clients). Assigning it elsewhere is refused.

            Permissions: \(SessionPermission.choices) (or all; pinning and shell are short for \
            jump-client-pinning and shell-access).

            Example: jumpctl session-policy create "Pinning allowed" --availability users,jump-items \
            --allow start-session,pinning --deny shell --not-defined view-screen
            """,
        subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self, GlobalDefault.self]
    )

    static func availabilityList(_ policy: SessionPolicy) -> String {
        let names = SessionPolicy.Availability.allCases.filter(policy.availability.contains).map(\.commandLineName)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }

    /// The permissions as a compact "allow: a,b; deny: c" line.
    static func permissionSummary(_ policy: SessionPolicy) -> String {
        let parts = [Tri.allow, .deny].compactMap { tri -> String? in
            let names = SessionPermission.allCases.filter { policy[$0] == tri }.map(\.commandLineName)
            return names.isEmpty ? nil : "\(tri.commandLineName) \(names.joined(separator: ","))"
        }
        return parts.isEmpty ? "all not defined" : parts.joined(separator: "; ")
    }

    static func printPolicy(_ policy: SessionPolicy) {
        printFields([
            ("id", "\(policy.id)"), ("name", policy.name), ("code name", policy.codeName),
            ("description", policy.description), ("availability", availabilityList(policy)),
        ])
        print("")
        Output.table(
            ["PERMISSION", "SETTING", "TITLE"],
            SessionPermission.allCases.map { [$0.commandLineName, policy[$0].commandLineName, $0.title] }
        )
    }

    /// --allow, --deny and --not-defined, shared by create, update and global-default.
    struct Permissions: ParsableArguments {
        @Option(help: "Permissions to allow (a comma list; repeatable).") var allow: [String] = []
        @Option(help: "Permissions to deny (a comma list; repeatable).") var deny: [String] = []
        @Option(help: "Permissions to leave Not Defined (a comma list; repeatable).") var notDefined: [String] = []

        func apply(to policy: inout SessionPolicy) throws {
            try SessionPolicyCommand.apply(allow: allow, deny: deny, notDefined: notDefined, to: &policy)
        }
    }

    /// "all" in one list yields to permissions named in another, so "--allow all --deny shell" reads naturally.
    static func apply(allow: [String], deny: [String], notDefined: [String], to policy: inout SessionPolicy) throws {
        var named: [SessionPermission: Tri] = [:]
        var fromAll: [SessionPermission: Tri] = [:]
        for (tri, texts) in [(Tri.allow, allow), (.deny, deny), (.notDefined, notDefined)] {
            for text in texts {
                for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                    if word.lowercased() == "all" {
                        for permission in SessionPermission.allCases { fromAll[permission] = tri }
                        continue
                    }
                    let permission = try SessionPermission.parse(word)
                    if let earlier = named[permission], earlier != tri {
                        throw CLIError.usage(
                            "\(permission.commandLineName) is given as both \(earlier.commandLineName) and "
                                + tri.commandLineName
                        )
                    }
                    named[permission] = tri
                }
            }
        }
        for (permission, tri) in fromAll.merging(named, uniquingKeysWith: { $1 }) {
            policy.permissions[permission] = tri == .notDefined ? nil : tri
        }
    }

    /// --availability, shared by create and update.
    static func availability(_ texts: [String]) throws -> Set<SessionPolicy.Availability>? {
        texts.isEmpty ? nil : Set(try SessionPolicy.Availability.parseLists(texts))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List session policies.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/session-policies") }
                if json { return try Output.json(response.body) }
                let policies = try JSONDecoder().decode([SessionPolicy].self, from: response.body)
                Output.table(
                    ["ID", "NAME", "AVAILABILITY", "PERMISSIONS"],
                    policies.map {
                        [
                            "\($0.id)", $0.name, SessionPolicyCommand.availabilityList($0),
                            SessionPolicyCommand.permissionSummary($0),
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a session policy, permission by permission.")
        @Argument(help: "The policy's name or id.") var policy: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).sessionPolicy(policy)
                let response = try await client.checked { try await client.get("/session-policies/\(id)") }
                if json { return try Output.json(response.body) }
                SessionPolicyCommand.printPolicy(try JSONDecoder().decode(SessionPolicy.self, from: response.body))
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a session policy.",
            discussion: "Permissions not named are Not Defined. Availability defaults to users."
        )
        @Argument(help: "The policy's name (unique).") var name: String
        @Option(help: "Where it may be assigned: a comma list of users, rep-invite, jump-items.") var availability:
            [String] = []
        @OptionGroup var permissions: Permissions
        @Option(help: "A code name for integrations (default: made from the name).") var codeName: String?
        @Option(help: "What the policy is for.") var description = ""
        @Flag(help: "Print the new policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                var policy = SessionPolicy(
                    id: 0,
                    name: name,
                    codeName: codeName ?? JumpPolicyCommand.codeName(from: name),
                    description: description,
                    availability: try SessionPolicyCommand.availability(availability) ?? [.users]
                )
                try permissions.apply(to: &policy)
                let client = try Session.load().client()
                let response = try await client.checked { try await client.post("/session-policies", encoding: policy) }
                if json { return try Output.json(response.body) }
                let created = try JSONDecoder().decode(SessionPolicy.self, from: response.body)
                print(
                    "created session policy \(created.name) (id \(created.id)): "
                        + SessionPolicyCommand.permissionSummary(created)
                )
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a session policy.",
            discussion: """
                Only the permissions named change. The appliance refuses (exit 65) an availability that \
                would leave the policy assigned where it is no longer available, and says where.
                """
        )
        @Argument(help: "The policy's name or id.") var policy: String
        @Option(help: "A new name.") var rename: String?
        @Option(help: "Replace the availability: a comma list of users, rep-invite, jump-items.") var availability:
            [String] = []
        @OptionGroup var permissions: Permissions
        @Option(help: "A new code name.") var codeName: String?
        @Option(help: "A new description.") var description: String?
        @Flag(help: "Print the changed policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).sessionPolicy(policy)
                var changed = try await client.json(SessionPolicy.self) {
                    try await client.get("/session-policies/\(id)")
                }
                if let rename { changed.name = rename }
                if let codeName { changed.codeName = codeName }
                if let description { changed.description = description }
                if let availability = try SessionPolicyCommand.availability(availability) {
                    changed.availability = availability
                }
                try permissions.apply(to: &changed)
                let response = try await client.checked {
                    try await client.put("/session-policies/\(id)", encoding: changed)
                }
                if json { return try Output.json(response.body) }
                let saved = try JSONDecoder().decode(SessionPolicy.self, from: response.body)
                print("updated session policy \(saved.name): \(SessionPolicyCommand.permissionSummary(saved))")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a session policy.",
            discussion: "Refused (exit 65) while a user, group policy, portal or Jump Client still has it."
        )
        @Argument(help: "The policy's name or id.") var policy: String

        func run() async throws {
            try await deleteNamed(policy, what: "session policy", route: "/session-policies") { "\(try await $0.sessionPolicy($1))" }
        }
    }

    struct GlobalDefault: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "global-default",
            abstract: "Show or change the global default session policy, the last level of precedence.",
            discussion: """
                Without --allow or --deny it is shown. It must Allow or Deny every permission, so that \
                every question has an answer: Not Defined is refused (exit 65).

                Example: jumpctl session-policy global-default --allow all --deny pinning,shell
                """
        )
        @Option(help: "Permissions to allow (a comma list; repeatable).") var allow: [String] = []
        @Option(help: "Permissions to deny (a comma list; repeatable).") var deny: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                var response = try await client.checked { try await client.get("/session-policies/global-default") }
                if !allow.isEmpty || !deny.isEmpty {
                    var policy = try JSONDecoder().decode(SessionPolicy.self, from: response.body)
                    try SessionPolicyCommand.apply(allow: allow, deny: deny, notDefined: [], to: &policy)
                    response = try await client.checked {
                        try await client.put("/session-policies/global-default", encoding: policy)
                    }
                }
                if json { return try Output.json(response.body) }
                SessionPolicyCommand.printPolicy(try JSONDecoder().decode(SessionPolicy.self, from: response.body))
            }
        }
    }
}
