import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "List, show, replay, share and end Jump sessions (start one with jumpctl jump).",
        discussion: """
            Exit status: 0 success; 1 failure; 64 bad arguments; 65 the appliance refused the input, or \
            a recording cannot be read; 66 no such session (or file); 69 the appliance cannot be \
            reached; 77 not logged in or not allowed.
            """,
        subcommands: [List.self, Show.self, Replay.self, Invite.self, End.self, Pin.self, Unpin.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List sessions, newest first as the appliance sends them."
        )
        @Flag(help: "Only the sessions still running.") var active = false
        @Option(help: "Only the sessions on this Jump Client (its id).") var client: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                var query: [String] = []
                if active { query.append("active=true") }
                if let client { query.append("client=\(client.urlQueryValueEscaped)") }
                let path = "/sessions" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
                let api = try Session.load().client()
                let response = try await api.checked { try await api.get(path) }
                if json { return try Output.json(response.body) }
                let sessions = try decode([SessionView].self, response.body)
                let now = Date()
                Output.table(
                    ["ID", "CLIENT", "OWNER", "STATE", "STARTED", "DURATION", "OUTCOME", "PARTICIPANTS", "TICKET"],
                    sessions.map { session in
                        [
                            session.id, session.clientLabel, session.owner ?? "", session.state ?? "",
                            Output.date(session.startedAt), session.durationLabel(now: now), session.outcomeLabel,
                            (session.participants ?? []).joined(separator: ","), session.ticket ?? "",
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one session.")
        @Argument(help: "The session's id (s-…).") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let api = try Session.load().client()
                let response = try await api.checked { try await api.get("/sessions/\(id.urlPathEscaped)") }
                if json { return try Output.json(response.body) }
                SessionCommand.printDetails(try decode(SessionView.self, response.body))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Play a session's recording in this terminal, or save it.",
            discussion: """
                The recording is asciicast v2, as asciinema plays it (asciinema play FILE.cast). Only the \
                output is played; input, resizes and markers are skipped. Pauses longer than --idle-limit \
                are shortened to it, then everything is divided by --speed. Use --file to play a \
                recording saved earlier with --output, without the appliance.

                Exit status: 0 success; 64 bad arguments; 65 the recording is not valid asciicast v2 \
                (nothing is played); 66 no such session or file; 69 the appliance cannot be reached; \
                77 not logged in or not allowed to see the recording.
                """
        )

        @Argument(help: "The session's id (s-…); leave it out with --file.") var id: String?
        @Option(help: "Play this local .cast file instead of fetching the recording.") var file: String?
        @Option(help: "How fast to play (2 is twice as fast).") var speed: Double = 1
        @Option(help: "The longest pause played, in seconds.") var idleLimit: Double = 2
        @Option(name: .shortAndLong, help: "Save the recording to this file (e.g. s-1.cast) instead of playing it.")
        var output: String?
        @Flag(help: "Print the whole output at once, without pauses.") var noTiming = false

        func run() async throws {
            try await runReportingErrors {
                switch (id, file) {
                case (nil, nil): throw CLIError.usage("give the session's id, or --file with a saved recording")
                case (.some, .some): throw CLIError.usage("give either the session's id or --file, not both")
                default: break
                }
                if file != nil, output != nil {
                    throw CLIError.usage(
                        "--output saves the appliance's recording; with --file there is nothing to fetch"
                    )
                }
                guard speed.isFinite, speed > 0 else {
                    throw CLIError.usage("--speed must be a number above 0, e.g. 2 or 0.5")
                }
                guard idleLimit.isFinite, idleLimit > 0 else {
                    throw CLIError.usage(
                        "--idle-limit must be a number of seconds above 0 (a large one keeps every pause)"
                    )
                }

                let data: Data
                let source: String
                if let file {
                    data = try readFile(file)
                    source = file
                } else {
                    let id = id ?? ""
                    let api = try Session.load().client()
                    data = try await api.checked { try await api.get("/sessions/\(id.urlPathEscaped)/recording") }.body
                    source = "the recording of \(id)"
                    if let output {
                        try Output.writePrivate(data, to: output)
                        print("wrote \(data.count) bytes to \(output)")
                        return
                    }
                }

                let recording: AsciicastRecording
                do {
                    recording = try AsciicastRecording(parsing: data)
                } catch {
                    throw CLIError.rejected("cannot play \(source): \(error)")
                }
                let writer = OutputWriter(threadPool: .singleton)
                if noTiming {
                    try writeOutput(recording.output)
                    return
                }
                if let size = RawTerminal.windowSize(),
                    size.columns < recording.header.width || size.rows < recording.header.height
                {
                    FileHandle.standardError.write(
                        Data(
                            "jumpctl: recorded at \(recording.header.width)x\(recording.header.height); this terminal is \(size.columns)x\(size.rows)\n"
                                .utf8
                        )
                    )
                }
                let player = AsciicastPlayer(speed: speed, idleLimit: idleLimit)
                try await player.play(player.schedule(recording), clock: ContinuousClock()) { text in
                    do {
                        try await writer.write(Array(text.utf8), to: STDOUT_FILENO)
                    } catch {
                        throw CLIError.failure("cannot write the output: \(error)")
                    }
                }
            }
        }

        private func readFile(_ path: String) throws -> Data {
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path))
            } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
                throw CLIError.notFound("no such file: \(path)")
            } catch {
                throw CLIError.failure("cannot read \(path): \(error.localizedDescription)")
            }
        }

        private func writeOutput(_ text: String) throws {
            do {
                try OutputWriter.writeAll(Array(text.utf8), to: STDOUT_FILENO)
            } catch {
                throw CLIError.failure("cannot write the output: \(error)")
            }
        }
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invite a user into a session you own.",
            discussion: "They join it with jumpctl jump and the session's Jump Client; everyone in it sees them join."
        )
        @Argument(help: "The session's id (s-…).") var id: String
        @Argument(help: "The user to invite.") var user: String
        @Flag(help: "Print the session as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                struct Body: Encodable { var user: String }
                let api = try Session.load().client()
                let response = try await api.checked {
                    try await api.post("/sessions/\(id.urlPathEscaped)/invite", json: Body(user: user))
                }
                if json { return try Output.json(response.body) }
                let session = try decode(SessionView.self, response.body)
                let target = session.clientName.flatMap { $0.isEmpty ? nil : $0 } ?? session.client ?? "its Jump Client"
                print("invited \(user) into \(session.id); they join with: jumpctl jump \(target)")
            }
        }
    }

    struct End: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a running session.",
            discussion:
                "The remote shell is ended; everyone in the session sees why, and their jumpctl jump exits with 255."
        )
        @Argument(help: "The session's id (s-…).") var id: String
        @Flag(help: "Print the session as JSON.") var json = false

        func run() async throws {
            try await SessionCommand.act("end", on: id, json: json) { session in
                "ended \(session.id)" + (session.outcomeLabel.isEmpty ? "" : " (\(session.outcomeLabel))")
            }
        }
    }

    struct Unpin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unpin the session's Jump Client: it is deleted on the appliance and uninstalls itself.",
            discussion: """
                Only the session's owner may unpin, and only when the effective "Jump Clients Pinning/Unpinning" \
                permission allows it: the session policies of the Jump Item (for the customer's presence when the \
                session started), the group policies and the user's own, as jumpctl simulate shows. The session \
                ends for everyone in it.

                Exit status: 0 unpinned; 66 no such live session; 77 not the owner, or the permission is denied \
                (the rule is printed).
                """
        )
        @Argument(help: "The session's id (s-…).") var id: String
        @Flag(help: "Print the session as JSON.") var json = false

        func run() async throws {
            try await SessionCommand.act("unpin", on: id, json: json) { session in
                "unpinned \(session.clientLabel) from \(session.id); it uninstalls itself"
            }
        }
    }

    struct Pin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the computer of an attended support session as a Jump Client in a Jump Group.",
            discussion: """
                The end user's support agent (jump-agent support) gets a one-use installer and enrolls with it: \
                from then on the computer is a Jump Client in GROUP, reachable with jumpctl jump when nobody is \
                there. Only the session's owner may pin, when the "Jump Clients Pinning/Unpinning" permission for \
                attended sessions allows it (the group policies' and the user's session policies, then the global \
                one; jumpctl simulate --method attended shows the decision) and the owner's Jump Item Role in \
                GROUP grants "Create and Deploy Jump Items". The session goes on.

                Exit status: 0 pinned (the new Jump Client's id is printed); 1 the computer could not install \
                the Jump Client, or did not answer; 65 the session is not an attended one, or was pinned already; \
                66 no such live session; 77 not the owner, or a rule refused (it is printed).
                """
        )
        @Argument(help: "The attended session's id (s-…).") var id: String
        @Option(help: "The Jump Group the new Jump Client goes into.") var group: String
        @Option(help: "The new Jump Client's name (default: the computer's host name).") var name: String?
        @Flag(help: "Print JSON.") var json = false

        struct Body: Encodable {
            var group: String
            var name: String?
        }

        struct Pinned: Decodable {
            var client: String
            var group: String
        }

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                guard !group.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError.usage("--group must name a Jump Group") }
                var api = try Session.load().client()
                // The appliance waits up to two minutes for the computer to enroll and install itself.
                api.timeout = .seconds(150)
                let response = try await api.checked {
                    try await api.post("/sessions/\(id.urlPathEscaped)/pin", json: Body(group: group, name: name))
                }
                if json { return try Output.json(response.body) }
                let pinned = try decode(Pinned.self, response.body)
                print("pinned as Jump Client \(pinned.client) in \(pinned.group); when nobody is there: jumpctl jump \(pinned.client)")
            }
        }
    }

    /// POSTs `/sessions/ID/ACTION` without a body and prints the session it returns, as JSON or as `summary` says.
    static func act(_ action: String, on id: String, json: Bool, summary: (SessionView) -> String) async throws {
        try await runReportingErrors {
            let api = try Session.load().client()
            let response = try await api.checked {
                try await api.send(.POST, "/sessions/\(id.urlPathEscaped)/\(action)", body: nil)
            }
            if json { return try Output.json(response.body) }
            print(summary(try decode(SessionView.self, response.body)))
        }
    }

    static func printDetails(_ session: SessionView) {
        let yesNo = { (value: Bool?) in value.map { $0 ? "yes" : "no" } ?? "" }
        var lines: [(String, String)] = [
            ("id", session.id), ("client", session.clientLabel), ("owner", session.owner ?? ""),
            ("participants", (session.participants ?? []).joined(separator: ", ")),
            ("invited", (session.invited ?? []).joined(separator: ", ")),
            ("ticket", session.ticket ?? ""), ("state", session.state ?? ""),
            ("started", Output.date(session.startedAt)),
        ]
        if session.state != "active" || session.endedAt != nil { lines.append(("ended", Output.date(session.endedAt))) }
        lines += [
            ("duration", session.durationLabel(now: Date())),
            ("outcome", session.outcomeLabel),
            ("detail", session.detail ?? ""),
            ("jump policy", session.jumpPolicy ?? ""),
            ("session policies", (session.sessionPolicies ?? []).joined(separator: ", ")),
            ("customer present", yesNo(session.customerPresent)),
            ("schedule overridden", yesNo(session.scheduleOverridden)),
        ]
        if let forceEndAt = session.forceEndAt { lines.append(("force-ends at", Output.date(forceEndAt))) }
        if session.attended == true {
            lines.append(("attended", "yes (support request \(session.client ?? ""))"))
            lines.append(("pinned as", session.pinnedClient ?? "not pinned"))
        }
        lines.append(
            (
                "recording",
                session.recordingBytes.map { Output.bytes($0) + " (jumpctl session replay \(session.id))" } ?? ""
            )
        )
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
    }
}

func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
    do {
        return try JSONDecoder.sessionDecoder().decode(type, from: data)
    } catch {
        throw CLIError.failure("the appliance's answer is not what jumpctl expects: \(error)")
    }
}

extension String {
    /// For a query parameter's value: everything but unreserved characters percent-encoded.
    var urlQueryValueEscaped: String {
        addingPercentEncoding(
            withAllowedCharacters: CharacterSet(
                charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
            )
        ) ?? self
    }
}
