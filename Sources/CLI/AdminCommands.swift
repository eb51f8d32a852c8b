import ArgumentParser
import Foundation

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Jump Groups and their members.",
        discussion: """
            A Jump Group holds Jump Clients; its members may reach them with the Jump Item Role of \
            their membership. Members come from this page (jumpctl group add-member, with a role or the \
            user's default role) and from group policies (jumpctl group-policy --add-to-group). The \
            member list also shows users whose system Jump Item role is not No Access. A membership \
            added by a group policy cannot be removed here (exit 65 with the policy's name); adding \
            the user here overrides it.
            """,
        subcommands: [List.self, Create.self, Members.self, AddMember.self, RemoveMember.self]
    )

    struct Row: Decodable {
        var id: Int64
        var name: String
        var codeName: String
        var comments: String
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List Jump Groups.")
        @Option(help: "Only groups whose name or comments contain this (case and accents ignored).") var search: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let query = search.map { "?search=\($0.urlQueryEscaped)" } ?? ""
                let response = try await client.checked { try await client.get("/groups" + query) }
                if json { return try Output.json(response.body) }
                let rows = try JSONDecoder().decode([Row].self, from: response.body)
                Output.table(["NAME", "CODE NAME", "COMMENTS"], rows.map { [$0.name, $0.codeName, $0.comments] })
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a Jump Group.")
        @Argument(help: "The group's name.") var name: String
        @Option(help: "A code name for integrations (default: made from the name).") var codeName: String?
        @Option(help: "Comments.") var comments: String?

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                struct Request: Encodable { var name: String; var codeName: String?; var comments: String? }
                let client = try Session.load().client()
                let row = try await client.json(Row.self) {
                    try await client.post("/groups", json: Request(name: name, codeName: codeName, comments: comments))
                }
                print("created Jump Group \(row.name) (\(row.codeName))")
            }
        }
    }
}

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "The Jump Client settings.",
        discussion: """
            Keys: statistics (a comma list of cpu, console-user, disk, thumbnail, uptime), \
            statistics-interval (seconds), upgrade-mode (disabled, this-cycle, enabled), \
            upgrade-max-bandwidth (MiB/s, at most 100), upgrade-max-concurrent (at most 500), \
            connection-rate (per second, 1 to 300), lost-days and delete-days (15 or more), \
            uninstalled-behavior (keep, remove), restrict-local-uninstall, allow-wake, \
            screen-state-presence, simultaneous-jumps (true or false).
            """,
        subcommands: [List.self, Get.self, Set.self]
    )

    struct Row: Decodable {
        var key: String
        var value: String
        var description: String
        var warnings: [String]?
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every setting.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/settings") }
                if json { return try Output.json(response.body) }
                let rows = try JSONDecoder().decode([Row].self, from: response.body)
                Output.table(["KEY", "VALUE", "MEANING"], rows.map { [$0.key, $0.value, $0.description] })
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one setting's value.")
        @Argument(help: "The key.") var key: String

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let row = try await client.json(Row.self) { try await client.get("/settings/\(key.urlPathEscaped)") }
                print(row.value)
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a setting; connected Jump Clients receive it at once.")
        @Argument(help: "The key.") var key: String
        @Argument(help: "The new value.") var value: String

        func run() async throws {
            try await runReportingErrors {
                struct Request: Encodable { var value: String }
                let client = try Session.load().client()
                let row = try await client.json(Row.self) { try await client.put("/settings/\(key.urlPathEscaped)", json: Request(value: value)) }
                print("\(row.key) = \(row.value)")
                for warning in row.warnings ?? [] { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            }
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit log: append-only and hash-chained.",
        subcommands: [List.self, Verify.self]
    )

    struct Row: Decodable {
        var id: Int64
        var at: Date
        var actor: String
        var action: String
        var target: String
        var detail: String
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List audit records.")
        @Option(help: "Only records after this id.") var after: Int64 = 0
        @Option(help: "At most this many records (up to 10000).") var limit: Int = 100
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/audit?after=\(after)&limit=\(limit)") }
                if json { return try Output.json(response.body) }
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let rows = try decoder.decode([Row].self, from: response.body)
                Output.table(["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows.map {
                    [String($0.id), Output.date($0.at), $0.actor, $0.action, $0.target, $0.detail]
                })
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain: exit 0 when intact, 1 when a record was edited or removed."
        )
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                struct Answer: Decodable { var records: Int; var intact: Bool; var firstBadRecord: Int64?; var problem: String? }
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/audit/verify") }
                let answer = try JSONDecoder().decode(Answer.self, from: response.body)
                if json { try Output.json(response.body) }
                guard answer.intact else {
                    if !json { print("audit log BROKEN at record \(answer.firstBadRecord ?? 0): \(answer.problem ?? "")") }
                    throw ExitCode.failure
                }
                if !json { print("audit log intact: \(answer.records) records") }
            }
        }
    }
}
