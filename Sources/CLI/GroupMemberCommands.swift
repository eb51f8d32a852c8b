import ArgumentParser
import Foundation
import JumpPolicy

extension GroupCommand {
    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a Jump Group's users: their role, how it was granted, and whether it can be edited here.",
            discussion: """
                EDITABLE is no for users added by a group policy (change the policy, or add the user here \
                to override it) and for users listed only because their system Jump Item role is not No \
                Access (change the user's system role). --json gives the full reason.
                """
        )
        @Argument(help: "The Jump Group's name or id.") var group: String
        @Option(help: "Only users whose name or display name contains this.") var filter: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let row = try await PolicyNames(client: client).group(group)
                let query = filter.map { "?filter=\($0.urlQueryEscaped)" } ?? ""
                let response = try await client.checked { try await client.get("/groups/\(row.id)/members" + query) }
                if json { return try Output.json(response.body) }
                let members = try JSONDecoder().decode([JumpGroupMember].self, from: response.body)
                Output.table(
                    ["USER", "ROLE", "GRANTED BY", "EDITABLE"],
                    members.map {
                        [
                            $0.user.name, $0.role.role.name, Explain.roleSource($0.role.source),
                            Explain.editability($0.editability),
                        ]
                    }
                )
            }
        }
    }

    struct AddMember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-member",
            abstract: "Add a user to a Jump Group, or change the role of a user added here.",
            discussion: """
                Without --role the user's default Jump Item role applies in this group. A role set here is \
                the most specific: it wins over group policies and the user's own roles.

                Example: jumpctl group add-member Servers alice --role Operator
                """
        )
        @Argument(help: "The Jump Group's name or id.") var group: String
        @Argument(help: "The user name.") var user: String
        @Option(help: "The Jump Item role in this group (default: the user's default role).") var role: String?

        struct Body: Encodable {
            var role: JumpItemRoleID?

            /// The contract spells "no role" as an explicit null.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(role, forKey: .role)
            }

            enum CodingKeys: String, CodingKey { case role }
        }

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let names = PolicyNames(client: client)
                let row = try await names.group(group)
                let roleID = try await role.asyncMap { try await names.role($0) }
                _ = try await client.checked {
                    try await client.put(
                        "/groups/\(row.id)/members/\(user.urlPathEscaped)",
                        encoding: Body(role: roleID)
                    )
                }
                print(
                    "\(user) is a member of \(row.name) "
                        + (role.map { "with the role \($0)" } ?? "with the default role")
                )
            }
        }
    }

    struct RemoveMember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-member",
            abstract: "Remove a user added on this page from a Jump Group.",
            discussion: "Refused (exit 65) when a group policy added the user: the reason names the policy to change."
        )
        @Argument(help: "The Jump Group's name or id.") var group: String
        @Argument(help: "The user name.") var user: String

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let row = try await PolicyNames(client: client).group(group)
                _ = try await client.checked {
                    try await client.delete("/groups/\(row.id)/members/\(user.urlPathEscaped)")
                }
                print("removed \(user) from \(row.name)")
            }
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async throws -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

extension String {
    var urlQueryEscaped: String {
        addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?#")))
            ?? self
    }
}
