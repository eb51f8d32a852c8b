import ArgumentParser
import Foundation
import JumpPolicy

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "User accounts and their access settings; multi-factor authentication for yourself.",
        discussion: """
            Each account has a login role (administrator or representative) and access settings: a \
            default Jump Item role (in Jump Groups whose membership names no role), a personal Jump \
            Items role, a system Jump Item role (in Jump Groups the user is not a member of; No Access \
            keeps them closed), representative permissions (override-schedule: start a session outside \
            a Jump Policy's schedule), and the session policies for attended and unattended sessions. A \
            group policy that defines the same setting replaces the account's own (jumpctl simulate \
            shows which applies).
            """,
        subcommands: [List.self, Show.self, Create.self, Set.self, MFA.self]
    )

    /// A row of GET /users: never a secret or a hash.
    struct Row: Decodable {
        var name: String
        var role: String
        var mfaEnrolled: Bool?
        var access: User?
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List user accounts and their access settings.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/users") }
                if json { return try Output.json(response.body) }
                let rows = try JSONDecoder().decode([Row].self, from: response.body)
                let names = try await GroupPolicyCommand.Names.load(PolicyNames(client: client))
                Output.table(
                    ["NAME", "ROLE", "MFA", "DEFAULT ROLE", "SYSTEM ROLE", "ATTENDED", "UNATTENDED"],
                    rows.map { row in
                        [
                            row.name, row.role, row.mfaEnrolled == true ? "enrolled" : "no",
                            row.access.map { names.role($0.defaultJumpItemRole) } ?? "",
                            row.access.map { names.role($0.systemJumpItemRole) } ?? "",
                            row.access?.attendedSessionPolicy.map(names.sessionPolicy) ?? "-",
                            row.access?.unattendedSessionPolicy.map(names.sessionPolicy) ?? "-",
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a user's own access settings and the group policies the user is a member of."
        )
        @Argument(help: "The user name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/users/\(name.urlPathEscaped)/access") }
                if json { return try Output.json(response.body) }
                let user = try JSONDecoder().decode(User.self, from: response.body)
                let policyNames = PolicyNames(client: client)
                let names = try await GroupPolicyCommand.Names.load(policyNames)
                let memberOf = try await policyNames.groupPolicies().enumerated().filter {
                    $0.element.members.contains(user.id)
                }
                let permissions = user.representativePermissions.map(\.commandLineName).sorted()
                printFields([
                    ("name", user.username), ("display name", user.displayName),
                    ("default role", names.role(user.defaultJumpItemRole)),
                    ("personal role", names.role(user.personalJumpItemsRole)),
                    ("system role", names.role(user.systemJumpItemRole)),
                    ("permissions", permissions.isEmpty ? "none" : permissions.joined(separator: ",")),
                    ("attended session policy", user.attendedSessionPolicy.map(names.sessionPolicy) ?? "none"),
                    ("unattended session policy", user.unattendedSessionPolicy.map(names.sessionPolicy) ?? "none"),
                    (
                        "group policies",
                        memberOf.isEmpty
                            ? "none"
                            : memberOf.map { "\($0.element.name) (order \($0.offset + 1))" }.joined(separator: ", ")
                    ),
                ])
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user account.",
            discussion: """
                The password is read from standard input when it is not a terminal, else asked for twice \
                without echo. The new account has No Access everywhere until roles are given (jumpctl user \
                set, jumpctl group add-member, or a group policy).
                """
        )
        enum LoginRole: String, ExpressibleByArgument, CaseIterable {
            case administrator, representative
            init?(argument: String) {
                self.init(rawValue: argument == "admin" ? "administrator" : argument)
            }
        }

        @Argument(help: "The user name.") var name: String
        @Option(help: "administrator (or admin) or representative.") var role = LoginRole.representative

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let password = try readNewPassword(for: name)
                struct Body: Encodable {
                    var name: String
                    var password: String
                    var role: String
                }
                let client = try Session.load().client()
                _ = try await client.checked {
                    try await client.post("/users", encoding: Body(name: name, password: password, role: role.rawValue))
                }
                print("created \(role.rawValue) \(name)")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user's access settings.",
            discussion: """
                Options not given keep their values. A role given as none is No Access; a session policy \
                given as none removes it; --permission none removes every representative permission. \
                The appliance refuses (exit 65) a session policy whose Availability does not include users.

                Example: jumpctl user set alice --default-role Operator --system-role none \
                --unattended-session-policy "Pinning allowed" --permission override-schedule
                """
        )
        @Argument(help: "The user name.") var name: String
        @Option(help: "The default Jump Item role.") var defaultRole: String?
        @Option(help: "The personal Jump Items role.") var personalRole: String?
        @Option(help: "The system Jump Item role.") var systemRole: String?
        @Option(help: "The session policy for attended sessions (or none).") var attendedSessionPolicy: String?
        @Option(help: "The session policy for unattended sessions (or none).") var unattendedSessionPolicy: String?
        @Option(help: "Representative permissions: override-schedule, or none; replaces them.") var permission:
            [String] = []
        @Option(help: "The name shown beside the user name.") var displayName: String?
        @Flag(help: "Print the changed settings as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let names = PolicyNames(client: client)
                var user = try await names.user(name)
                if let defaultRole { user.defaultJumpItemRole = try await names.role(defaultRole) }
                if let personalRole { user.personalJumpItemsRole = try await names.role(personalRole) }
                if let systemRole { user.systemJumpItemRole = try await names.role(systemRole) }
                if let attendedSessionPolicy {
                    user.attendedSessionPolicy =
                        PolicyNames.isNone(attendedSessionPolicy)
                        ? nil : try await names.sessionPolicy(attendedSessionPolicy)
                }
                if let unattendedSessionPolicy {
                    user.unattendedSessionPolicy =
                        PolicyNames.isNone(unattendedSessionPolicy)
                        ? nil : try await names.sessionPolicy(unattendedSessionPolicy)
                }
                if !permission.isEmpty {
                    user.representativePermissions = Swift.Set(try RepresentativePermission.parseLists(permission))
                }
                if let displayName { user.displayName = displayName }
                let response = try await client.checked {
                    try await client.put("/users/\(name.urlPathEscaped)/access", encoding: user)
                }
                if json { return try Output.json(response.body) }
                print("updated the access settings of \(name)")
            }
        }
    }

    /// Reads a new password: one line from a pipe, or typed twice at a terminal.
    static func readNewPassword(for name: String) throws -> String {
        guard isatty(STDIN_FILENO) != 0 else {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw CLIError.usage("no password on standard input")
            }
            return line
        }
        func ask(_ prompt: String) -> String? {
            FileHandle.standardError.write(Data(prompt.utf8))
            var settings = termios()
            tcgetattr(STDIN_FILENO, &settings)
            var silent = settings
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &silent)
            defer {
                tcsetattr(STDIN_FILENO, TCSANOW, &settings)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            return readLine(strippingNewline: true)
        }
        guard let first = ask("new password for \(name): "), !first.isEmpty else {
            throw CLIError.usage("no password given")
        }
        guard ask("again: ") == first else { throw CLIError.usage("the passwords differ") }
        return first
    }
}

extension UserCommand {
    struct MFA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mfa",
            abstract: "Multi-factor authentication (TOTP) for the logged-in user.",
            discussion: """
                enroll makes a secret and prints it with an otpauth:// URI for an authenticator app; the \
                enrolment is pending until confirm is given a current code. After that the secret is never \
                shown again. verify checks a code (as a Jump Policy that requires MFA does); a code is \
                accepted once only, so a replayed code is refused (exit 77).
                """,
            subcommands: [Enroll.self, Confirm.self, Remove.self, Reset.self, Verify.self]
        )

        struct CodeBody: Encodable { var code: String }

        static func checkCode(_ code: String) throws {
            guard (6...8).contains(code.count), code.allSatisfy({ ("0"..."9").contains($0) }) else {
                throw CLIError.usage("'\(code)' is not a code: type the 6 digits the authenticator app shows")
            }
        }

        struct Enroll: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Start enrolment: print a new secret and its URI."
            )
            @Flag(help: "Print JSON.") var json = false

            func run() async throws {
                try await runReportingErrors {
                    struct Answer: Decodable {
                        var secret: String
                        var uri: String
                    }
                    let client = try Session.load().client()
                    let response = try await client.checked { try await client.post("/users/me/mfa") }
                    if json { return try Output.json(response.body) }
                    let answer = try JSONDecoder().decode(Answer.self, from: response.body)
                    printFields([("secret", answer.secret), ("uri", answer.uri)])
                    print("Add it to an authenticator app, then: jumpctl user mfa confirm CODE")
                }
            }
        }

        struct Confirm: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Finish enrolment with a current code.")
            @Argument(help: "The code the authenticator app shows.") var code: String

            func run() async throws {
                try await runReportingErrors {
                    try MFA.checkCode(code)
                    let client = try Session.load().client()
                    _ = try await client.checked {
                        try await client.post("/users/me/mfa/confirm", encoding: CodeBody(code: code))
                    }
                    print("multi-factor authentication enrolled")
                }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove your multi-factor enrolment (a confirmed one needs a current code).",
                discussion: """
                    Exit status: 0 removed; 66 none enrolled; 77 the code is wrong or already used. An \
                    administrator resets another user's enrolment with jumpctl user mfa reset USER.
                    """
            )
            @Argument(help: "A current code from the authenticator app (not needed before confirming).") var code: String?

            func run() async throws {
                try await runReportingErrors {
                    if let code { try MFA.checkCode(code) }
                    let client = try Session.load().client()
                    _ = try await client.checked {
                        if let code {
                            try await client.post("/users/me/mfa/remove", encoding: CodeBody(code: code))
                        } else {
                            try await client.delete("/users/me/mfa")
                        }
                    }
                    print("multi-factor authentication removed")
                }
            }
        }

        struct Reset: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove another user's multi-factor enrolment (administrators; e.g. a lost phone).",
                discussion: "Exit status: 0 removed; 66 no such user or none enrolled; 77 not an administrator."
            )
            @Argument(help: "The user whose enrolment is removed.") var user: String

            func run() async throws {
                try await runReportingErrors {
                    let client = try Session.load().client()
                    _ = try await client.checked { try await client.delete("/users/\(user.urlPathEscaped)/mfa") }
                    print("multi-factor authentication of \(user) removed")
                }
            }
        }

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check a code: exit 0 when accepted, 77 when wrong or already used."
            )
            @Argument(help: "The code the authenticator app shows.") var code: String

            func run() async throws {
                try await runReportingErrors {
                    try MFA.checkCode(code)
                    let client = try Session.load().client()
                    _ = try await client.checked {
                        try await client.post("/users/me/mfa/verify", encoding: CodeBody(code: code))
                    }
                    print("code accepted")
                }
            }
        }
    }
}
