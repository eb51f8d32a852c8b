import ArgumentParser
import Foundation
import NIOHTTP1

struct SupportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "support",
        abstract: "Attended support: give an end user a code, then accept their request for a session.",
        discussion: """
            An attended session starts from the end user's side. You make a support code and give it to them \
            (by phone, chat, e-mail); they run the command jumpctl support code prints, as the account you \
            should work as:

                jump-agent support --server APPLIANCE:PORT --code CODE

            Their computer then waits in your queue (jumpctl support list) until you accept it: jumpctl \
            support accept opens a shell on it, recorded like a Jump, as long as the session policies for \
            attended sessions allow it. During the session you may pin the computer as a Jump Client \
            (jumpctl session pin), so you can reach it later without them.

            A code is good for one session, for 15 minutes unless --lifetime says otherwise, and only you (or \
            an administrator, who sees every queue) can see the request it brings. The end user's agent \
            accepts the appliance only if its CA matches the fingerprint the code carries.

            Exit status: 0 success; 64 bad arguments; 65 refused input (e.g. the request is in a session \
            already); 66 nobody waiting with that id; 69 the appliance cannot be reached; 77 not logged in \
            or refused by a rule (it is printed). accept exits like jumpctl jump once the session runs.
            """,
        subcommands: [Code.self, List.self, Accept.self, Decline.self]
    )

    struct Code: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a one-use support code for an end user.")
        @Option(help: "Minutes the code stays good (1 to 1440).") var lifetime: Int = 15
        @Flag(help: "Print JSON.") var json = false

        struct Body: Encodable { var lifetimeSeconds: Double }
        struct Issued: Decodable {
            var code: String
            var expiresAt: Date
            var command: String
        }

        func run() async throws {
            try await runReportingErrors {
                guard (1...1440).contains(lifetime) else { throw CLIError.usage("--lifetime must be 1 to 1440 minutes") }
                let api = try Session.load().client()
                let response = try await api.checked {
                    try await api.post("/support/codes", json: Body(lifetimeSeconds: Double(lifetime * 60)))
                }
                if json { return try Output.json(response.body) }
                let issued = try decode(Issued.self, response.body)
                print("support code  \(issued.code)  (good once, until \(Output.date(issued.expiresAt)))")
                print("the end user runs:")
                print("  \(issued.command)")
                print("then: jumpctl support list, jumpctl support accept ID")
            }
        }
    }

    struct Request: Decodable {
        var id: String
        var representative: String
        var hostname: String
        var os: String?
        var localUser: String?
        var queuedAt: Date
        var session: String?
        var pinnedClient: String?
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the end users waiting for you (every queue, for an administrator)."
        )
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let api = try Session.load().client()
                let response = try await api.checked { try await api.get("/support") }
                if json { return try Output.json(response.body) }
                let requests = try decode([Request].self, response.body)
                Output.table(
                    ["ID", "COMPUTER", "USER", "OS", "REPRESENTATIVE", "WAITING SINCE", "SESSION", "PINNED AS"],
                    requests.map {
                        [
                            $0.id, $0.hostname, $0.localUser ?? "", $0.os ?? "", $0.representative, Output.date($0.queuedAt),
                            $0.session ?? "", $0.pinnedClient ?? "",
                        ]
                    }
                )
            }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept a waiting end user: open a shell on their computer, as their account.",
            discussion: """
                The session is an attended one: the session policies for attended sessions decide (jumpctl \
                simulate --method attended shows how), and it is recorded like a Jump. The terminal behaves as \
                in jumpctl jump (raw mode, resizes, exit status as ssh).
                """
        )
        @Argument(help: "The request's id (support-…), from jumpctl support list.") var id: String

        struct Body: Encodable {
            var columns: Int
            var rows: Int
            var term: String
        }

        func run() async throws {
            var status: Int32 = 0
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let api = try Session.load().client()
                let size = RawTerminal.windowSize() ?? .fallback
                let response = try await api.checked {
                    try await api.post(
                        "/support/\(id.urlPathEscaped)/accept",
                        json: Body(columns: size.columns, rows: size.rows, term: RawTerminal.terminalType())
                    )
                }
                let started = try decode(JumpCommand.Started.self, response.body)
                FileHandle.standardError.write(
                    Data("jumpctl: attended session \(started.session.id) on \(started.session.clientName ?? id)\n".utf8)
                )
                status = try await JumpCommand.attachTerminal(api, session: started.session, owner: true, size: size)
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decline a waiting end user: they are told, and their support agent ends."
        )
        @Argument(help: "The request's id (support-…).") var id: String

        func run() async throws {
            try await runReportingErrors {
                let api = try Session.load().client()
                _ = try await api.checked { try await api.send(.POST, "/support/\(id.urlPathEscaped)/decline", body: nil) }
                print("declined \(id)")
            }
        }
    }
}
