import ArgumentParser
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct JumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump",
        abstract: "Start a shell session on a Jump Client, or join the one you were invited into.",
        discussion: """
            The appliance checks your Jump Policy (schedule, ticket, MFA) and session policies before it \
            starts the session, and records it. If you were invited into the session already running on \
            the Jump Client, you join it instead.

            When standard input is a terminal it is put in raw mode, as ssh does: every key, Ctrl-C, Ctrl-Z \
            and Ctrl-D included, goes to the remote shell; the terminal is restored when jumpctl ends, \
            also on SIGINT, SIGTERM or SIGHUP. Resizing the window resizes the remote terminal.

            When standard input is not a terminal (a piped script, a file), it is sent as typed text and, \
            at its end, jumpctl sends a single EOT byte (Ctrl-D), so that a shell waiting at its prompt \
            exits; a script should still end with exit. Someone who joined another user's session sends \
            no EOT: they stay until the session ends. The remote terminal echoes the input.

            Notices (e.g. the Jump Policy's schedule ending the session soon) and people joining or \
            leaving are printed on standard error.

            Exit status, as ssh: the remote shell's exit status; 128+N when it was killed by signal N; \
            255 when the session ended without the shell's exit status (ended with jumpctl session end, \
            force-ended by the Jump Policy's schedule, the Jump Client disconnected, the recording failed, \
            the shell could not start, the connection to the appliance was lost), with the reason on \
            standard error; 128+N when jumpctl itself got SIGINT, SIGTERM or SIGHUP. Before the session \
            starts: 64 bad arguments; 65 the Jump Client is not connected, or other input refused; 66 no \
            such Jump Client; 69 the appliance cannot be reached; 75 try again later; 77 not logged in, \
            or refused by a rule (printed as the appliance names it).
            """
    )

    /// Threads for blocking terminal I/O: one reads standard input, one writes the output.
    static let ioThreads = 2
    /// The most digits an MFA code has.
    static let maximumOTPDigits = 8

    @Argument(help: "The Jump Client's id or name.") var client: String
    @Option(help: "The ticket the Jump Policy may require (e.g. T-1).") var ticket: String?
    @Option(help: "The current code of your MFA app, when the Jump Policy requires it.") var otp: String?
    @Flag(help: "Start outside the Jump Policy's schedule, when your role allows overriding it.")
    var overrideSchedule = false

    struct Request: Encodable {
        var client: String
        var ticket: String?
        var otp: String?
        var overrideSchedule: Bool?
        var columns: Int
        var rows: Int
        var term: String
    }

    struct Started: Decodable {
        var session: SessionView
        var joined: Bool?
    }

    func run() async throws {
        var status: Int32 = 0
        try await runReportingErrors {
            try checkArgumentsAreUTF8()
            if let otp,
                !(6...Self.maximumOTPDigits).contains(otp.count) || !otp.allSatisfy({ $0.isASCII && $0.isNumber })
            {
                throw CLIError.usage("--otp must be the 6 to \(Self.maximumOTPDigits) digits your MFA app shows")
            }
            if let ticket, ticket.trimmingCharacters(in: .whitespaces).isEmpty {
                throw CLIError.usage("--ticket must not be empty")
            }
            let api = try Session.load().client()
            let size = RawTerminal.windowSize() ?? .fallback
            let request = Request(
                client: client,
                ticket: ticket,
                otp: otp,
                overrideSchedule: overrideSchedule ? true : nil,
                columns: size.columns,
                rows: size.rows,
                term: RawTerminal.terminalType()
            )
            let response = try await api.checked { try await api.post("/sessions", json: request) }
            let started: Started
            do {
                started = try JSONDecoder.sessionDecoder().decode(Started.self, from: response.body)
            } catch {
                throw CLIError.failure("the appliance's answer is not what jumpctl expects: \(error)")
            }
            let session = started.session
            if started.joined == true {
                FileHandle.standardError.write(
                    Data("jumpctl: joined session \(session.id) of \(session.owner ?? "its owner")\n".utf8)
                )
            }
            status = try await Self.attachTerminal(api, session: session, owner: started.joined != true, size: size)
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Attaches this terminal to a started session until it ends; the remote shell's exit status as ssh gives it.
    static func attachTerminal(_ api: APIClient, session: SessionView, owner: Bool, size: WindowSize) async throws -> Int32 {
        let connection = try await TerminalSocket.connect(api, path: "/sessions/\(session.id.urlPathEscaped)/terminal")
        // One thread waits on standard input for the whole session, the other writes the output: a shared
        // pool with a single thread (one CPU) would never write.
        let threadPool = NIOThreadPool(numberOfThreads: ioThreads)
        threadPool.start()
        do {
            let status = try await TerminalSessionRunner(threadPool: threadPool, ownsSession: owner).run(connection, initialSize: size)
            try? await threadPool.shutdownGracefully()
            return status
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }
}
