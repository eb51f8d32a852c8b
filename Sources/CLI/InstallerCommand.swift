import ArgumentParser
import Foundation
import JumpProtocol

struct InstallerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "installer",
        abstract: "The Jump Client installers list: create, list, show, download, delete, extend.",
        subcommands: [Create.self, List.self, Show.self, Download.self, Delete.self, Extend.self]
    )

    struct Row: Decodable {
        var id: String
        var createdAt: Date
        var createdBy: String
        var expiresAt: Date
        var expired: Bool
        var maxUses: Int?
        var uses: Int
        var group: String
        var jumpPolicy: String
        var name: String
        var tag: String
        var comments: String
        var allowedOverrides: [String]
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    static func writeFile(_ file: InstallerFile, to path: String) throws {
        try Output.writePrivate(try InstallerFile.encoder.encode(file), to: path)
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an installer and write its file.",
            discussion: """
                The file holds the enrollment token: keep it private. Give it to jump-agent install \
                --installer FILE on the endpoints, by hand or from a systems-management tool.
                """
        )
        @Option(help: "The Jump Group new Jump Clients join.") var group: String
        @Option(name: .shortAndLong, help: "The installer file to write (mode 0600).") var output: String
        @Option(help: "How long the installer works: e.g. 7d, 12h, 30m.") var expires = "7d"
        @Option(help: "How many Jump Clients it may install (default: unlimited, for mass deployment).") var maxUses: Int?
        @Option(help: "What may be overridden at install: a comma list of name, tag, comments, group, install-dir, jump-policy.") var allowOverride: String?
        @Option(help: "The Jump Client name (default: the endpoint's host name).") var name: String?
        @Option(help: "A tag.") var tag: String?
        @Option(help: "Comments.") var comments: String?
        @Option(help: "The Jump Policy.") var jumpPolicy: String?
        @Flag(help: "Print the new installer as JSON.") var json = false

        func validate() throws {
            if let maxUses, maxUses < 1 { throw ValidationError("--max-uses must be 1 or more") }
        }

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                struct Request: Encodable {
                    var group: String
                    var expiresInSeconds: Double
                    var maxUses: Int?
                    var allowedOverrides: [String]
                    var name: String?
                    var tag: String?
                    var comments: String?
                    var jumpPolicy: String?
                }
                struct Answer: Decodable {
                    var installer: Row
                    var file: InstallerFile
                }
                let overrides = (allowOverride ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let request = Request(
                    group: group,
                    expiresInSeconds: try DurationText.seconds(expires),
                    maxUses: maxUses,
                    allowedOverrides: overrides,
                    name: name,
                    tag: tag,
                    comments: comments,
                    jumpPolicy: jumpPolicy
                )
                let client = try Session.load().client()
                let response = try await client.checked { try await client.post("/installers", json: request) }
                let answer = try InstallerCommand.decoder().decode(Answer.self, from: response.body)
                try InstallerCommand.writeFile(answer.file, to: output)
                if json {
                    try Output.json(try JSONSerialization.data(withJSONObject: (try JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["installer"] ?? [:]))
                } else {
                    print("created installer \(answer.installer.id) for group \(answer.installer.group), expires \(Output.date(answer.installer.expiresAt)); wrote \(output)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List installers.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/installers") }
                if json { return try Output.json(response.body) }
                let rows = try InstallerCommand.decoder().decode([Row].self, from: response.body)
                Output.table(
                    ["ID", "GROUP", "EXPIRES", "USES", "OVERRIDES", "CREATED BY"],
                    rows.map {
                        [
                            $0.id, $0.group, $0.expired ? "expired" : Output.date($0.expiresAt),
                            "\($0.uses)/\($0.maxUses.map(String.init) ?? "unlimited")",
                            $0.allowedOverrides.joined(separator: ","), $0.createdBy,
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one installer.")
        @Argument(help: "The installer's id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/installers/\(id.urlPathEscaped)") }
                if json { return try Output.json(response.body) }
                let row = try InstallerCommand.decoder().decode(Row.self, from: response.body)
                let lines: [(String, String)] = [
                    ("id", row.id), ("group", row.group), ("created", "\(Output.date(row.createdAt)) by \(row.createdBy)"),
                    ("expires", Output.date(row.expiresAt) + (row.expired ? " (expired)" : "")),
                    ("uses", "\(row.uses) of \(row.maxUses.map(String.init) ?? "unlimited")"),
                    ("name", row.name), ("tag", row.tag), ("comments", row.comments), ("jump policy", row.jumpPolicy),
                    ("overrides", row.allowedOverrides.joined(separator: ", ")),
                ]
                for (key, value) in lines { print("\(key.padding(toLength: 11, withPad: " ", startingAt: 0))  \(value)") }
            }
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an installer's file again.")
        @Argument(help: "The installer's id.") var id: String
        @Option(name: .shortAndLong, help: "The installer file to write (mode 0600).") var output: String

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let file = try await client.json(InstallerFile.self) { try await client.get("/installers/\(id.urlPathEscaped)/download") }
                try InstallerCommand.writeFile(file, to: output)
                print("wrote \(output)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an installer; its token stops working at once.")
        @Argument(help: "The installer's id.") var id: String

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                _ = try await client.checked { try await client.delete("/installers/\(id.urlPathEscaped)") }
                print("deleted \(id)")
            }
        }
    }

    struct Extend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an installer a new expiry, counted from now.")
        @Argument(help: "The installer's id.") var id: String
        @Option(help: "How long from now: e.g. 7d, 12h.") var expires: String

        func run() async throws {
            try await runReportingErrors {
                struct Request: Encodable { var expiresInSeconds: Double }
                let client = try Session.load().client()
                let row = try await client.json(Row.self) {
                    try await client.post("/installers/\(id.urlPathEscaped)/extend", json: Request(expiresInSeconds: try DurationText.seconds(expires)))
                }
                print("installer \(row.id) now expires \(Output.date(row.expiresAt))")
            }
        }
    }
}
