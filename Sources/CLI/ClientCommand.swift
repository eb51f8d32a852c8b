import ArgumentParser
import Foundation

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "List, show and delete Jump Clients; their Jump Policy and session policies.",
        subcommands: [List.self, Show.self, Delete.self, Thumbnail.self, Wake.self, Access.self]
    )

    /// The fields of a client the table shows (the JSON output has them all).
    struct Row: Decodable {
        struct Disk: Decodable {
            var mountPoint: String
            var totalBytes: UInt64
            var usedBytes: UInt64
        }

        var id: String
        var name: String
        var group: String
        var tag: String
        var comments: String
        var status: String
        var lastContact: Date?
        var hostname: String
        var os: String?
        var presence: Bool?
        var consoleUser: String?
        var cpuPercent: Double?
        var disks: [Disk]?
        var uptimeSeconds: UInt64?
        var addresses: [String]
        var thumbnail: Bool
        var thumbnailNote: String?
        var sessionType: String?
        var locked: Bool?
        var screenSaver: String?
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List Jump Clients with their status and statistics.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/clients") }
                if json { return try Output.json(response.body) }
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let rows = try decoder.decode([Row].self, from: response.body)
                Output.table(
                    ["ID", "NAME", "GROUP", "STATUS", "LAST CONTACT", "USER", "CPU", "TAG"],
                    rows.map { row in
                        [
                            row.id, row.name, row.group, row.status,
                            row.status == "online" ? "now" : Output.date(row.lastContact),
                            row.consoleUser.map { $0.isEmpty ? "-" : $0 } ?? "",
                            row.cpuPercent.map { String(format: "%.0f%%", $0) } ?? "",
                            row.tag,
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one Jump Client.")
        @Argument(help: "The Jump Client's id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/clients/\(id.urlPathEscaped)") }
                if json { return try Output.json(response.body) }
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let row = try decoder.decode(Row.self, from: response.body)
                var lines: [(String, String)] = [
                    ("id", row.id), ("name", row.name), ("group", row.group), ("tag", row.tag),
                    ("comments", row.comments), ("status", row.status), ("last contact", Output.date(row.lastContact)),
                    ("hostname", row.hostname), ("os", row.os ?? ""),
                    ("presence", row.presence.map { $0 ? "present" : "not present" } ?? ""),
                    ("console user", row.consoleUser ?? ""),
                    ("screen", [row.sessionType, row.locked.map { $0 ? "locked" : "unlocked" }, row.screenSaver.map { "screen saver \($0)" }].compactMap { $0 }.joined(separator: ", ")),
                    ("cpu", row.cpuPercent.map { String(format: "%.1f%%", $0) } ?? ""),
                    ("uptime", row.uptimeSeconds.map { "\($0 / 86_400)d \($0 % 86_400 / 3600)h \($0 % 3600 / 60)m" } ?? ""),
                    ("addresses", row.addresses.joined(separator: " ")),
                    ("thumbnail", row.thumbnail ? "yes (jumpctl client thumbnail \(row.id) -o FILE)" : "no" + (row.thumbnailNote.map { " (\($0))" } ?? "")),
                ]
                for disk in row.disks ?? [] {
                    lines.append(("disk \(disk.mountPoint)", "\(Output.bytes(disk.usedBytes)) of \(Output.bytes(disk.totalBytes)) used"))
                }
                let width = lines.map(\.0.count).max() ?? 0
                for (key, value) in lines { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
            }
        }
    }

    struct Wake: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wake a Jump Client with Wake-on-LAN, through an online Jump Client on its network.",
            discussion: """
                The appliance picks online Jump Clients that reported the same default gateway \
                (address and MAC) and subnet, and asks up to three in turn to send the magic packets. \
                Exit 65 when waking is off, the target's network is unknown or no relay is online on \
                it; 75 when a wake-up was tried in the last 30 seconds; 1 when no relay could send.
                """
        )
        @Argument(help: "The Jump Client's id.") var id: String
        @Option(help: "The SecureOn password: 4 or 6 bytes in hexadecimal.") var password: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                if let password, !(password.count == 8 || password.count == 12) || !password.allSatisfy(\.isHexDigit) {
                    throw CLIError.usage("--password must be 4 or 6 bytes in hexadecimal (8 or 12 digits)")
                }
                struct Body: Encodable { var password: String? }
                struct Answer: Decodable { var relay: String; var macs: [String]; var detail: String }
                let client = try Session.load().client()
                let response = try await client.checked { try await client.post("/clients/\(id.urlPathEscaped)/wake", json: Body(password: password)) }
                if json { return try Output.json(response.body) }
                let answer = try JSONDecoder().decode(Answer.self, from: response.body)
                print("\(answer.relay) sent the magic packets for \(answer.macs.joined(separator: ", ")): \(answer.detail)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a Jump Client.",
            discussion: "It is told to uninstall itself (now if online, else at its next connection) and its certificate is refused from now on."
        )
        @Argument(help: "The Jump Client's id.") var id: String

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                _ = try await client.checked { try await client.delete("/clients/\(id.urlPathEscaped)") }
                print("deleted \(id)")
            }
        }
    }

    struct Thumbnail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save a Jump Client's latest screen thumbnail (JPEG).")
        @Argument(help: "The Jump Client's id.") var id: String
        @Option(name: .shortAndLong, help: "The file to write.") var output: String

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/clients/\(id.urlPathEscaped)/thumbnail") }
                guard FileManager.default.createFile(atPath: output, contents: response.body) else {
                    throw CLIError.failure("cannot write \(output)")
                }
                print("wrote \(response.body.count) bytes to \(output)")
            }
        }
    }
}

extension String {
    var urlPathEscaped: String {
        addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? self
    }
}
