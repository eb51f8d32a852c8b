import ArgumentParser
import Foundation
import JumpProtocol
import NIOHTTP1

@main
struct JumpctlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jumpctl",
        abstract: "Administer a Jump appliance and start sessions into Jump Clients.",
        discussion: """
            jumpctl talks to the appliance's HTTPS API: installers, Jump Clients, Jump Groups, \
            settings and the audit log. Log in once with jumpctl login; the session is kept in \
            $XDG_CONFIG_HOME/jumpctl/ (~/.config/jumpctl/).

            Access control, in the order the guide recommends setting it up: Jump Item Roles (role), \
            Jump Policies (jump-policy), Jump Groups and their members (group), then session policies \
            (session-policy), group policies (group-policy), users' own settings (user) and each Jump \
            Client's policies (client access). jumpctl simulate explains what a user may do, and why. \
            Names are accepted wherever an id is.

            Exit status: 0 success; 1 failure; 64 bad arguments; 65 the appliance refused the \
            input; 66 not found; 69 the appliance cannot be reached; 77 not logged in or not allowed.
            """,
        version: JumpBuild.version,
        subcommands: [Login.self, Logout.self, ClientCommand.self, InstallerCommand.self, GroupCommand.self,
                      SettingsCommand.self, AuditCommand.self, RoleCommand.self, JumpPolicyCommand.self,
                      SessionPolicyCommand.self, GroupPolicyCommand.self, UserCommand.self, SimulateCommand.self,
                      JumpCommand.self, SessionCommand.self, SupportCommand.self]
    )
}

/// Command-line text must be UTF-8: names and tags are stored and shown exactly as given.
func checkArgumentsAreUTF8() throws {
    for index in 0..<Int(CommandLine.argc) {
        guard let pointer = CommandLine.unsafeArgv[index] else { continue }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
        if String(validating: bytes, as: UTF8.self) == nil {
            throw CLIError.usage("argument \(index) is not valid UTF-8; names, tags and comments must be UTF-8 text")
        }
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in to an appliance.",
        discussion: "The password is read from standard input when it is not a terminal, else asked for without echo."
    )

    @Option(help: "The appliance's API, e.g. https://127.0.0.1:8443.") var server: String
    @Option(help: "The user name.") var user: String
    @Option(help: "The appliance CA certificate (ca.pem in its data directory).") var ca: String

    func run() async throws {
        try await runReportingErrors {
            try checkArgumentsAreUTF8()
            guard let url = URL(string: server) else { throw CLIError.usage("'\(server)' is not a URL") }
            guard let caPEM = try? String(contentsOfFile: ca, encoding: .utf8) else {
                throw CLIError.usage("cannot read the CA certificate \(ca)")
            }
            let password = try readPassword()
            let client = try APIClient(server: url, caPEM: caPEM)
            struct Request: Encodable { var user: String; var password: String }
            struct Answer: Decodable {
                struct User: Decodable { var name: String; var role: String }
                var token: String
                var expiresAt: Date
                var user: User
            }
            let answer = try await client.json(Answer.self) { try await client.post("/login", json: Request(user: user, password: password)) }
            try Session(server: server, caPEM: caPEM, user: answer.user.name, token: answer.token, expiresAt: answer.expiresAt).save()
            print("logged in to \(server) as \(answer.user.name) (\(answer.user.role)) until \(Output.date(answer.expiresAt))")
        }
    }

    func readPassword() throws -> String {
        if isatty(STDIN_FILENO) == 0 {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw CLIError.usage("no password on standard input")
            }
            return line
        }
        FileHandle.standardError.write(Data("password for \(user): ".utf8))
        var settings = termios()
        tcgetattr(STDIN_FILENO, &settings)
        var silent = settings
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &settings)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw CLIError.usage("no password given") }
        return line
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End the session and forget it.")

    func run() async throws {
        try await runReportingErrors {
            if let session = try? Session.load() {
                let client = try session.client()
                _ = try? await client.send(.POST, "/logout", body: nil)
            }
            Session.remove()
            print("logged out")
        }
    }
}
