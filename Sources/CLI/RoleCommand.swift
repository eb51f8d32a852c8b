import ArgumentParser
import Foundation
import JumpPolicy

struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role",
        abstract: "Jump Item Roles: what a user may do with the Jump Items a role applies to.",
        discussion: """
            A Jump Item Role is a named set of permissions on Jump Items. Roles reach users four ways, \
            most specific first: the role on the user's membership in a Jump Group (jumpctl group \
            add-member --role), the role a group policy gives in a Jump Group (jumpctl group-policy \
            --add-to-group GROUP:ROLE), and the default, personal and system roles of the user's account \
            or of a group policy (jumpctl user set, jumpctl group-policy). The built-in role No Access \
            (id 0) grants nothing and cannot be changed.

            Permissions: \(JumpItemPermission.choices) (or all).
            """,
        subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self]
    )

    static func permissionList(_ role: JumpItemRole) -> String {
        let names = JumpItemPermission.allCases.filter(role.permissions.contains).map(\.commandLineName)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List Jump Item Roles, No Access first.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/roles") }
                if json { return try Output.json(response.body) }
                var roles = try JSONDecoder().decode([JumpItemRole].self, from: response.body)
                if !roles.contains(where: { $0.id == .noAccess }) { roles.insert(.noAccess, at: 0) }
                Output.table(
                    ["ID", "NAME", "PERMISSIONS"],
                    roles.map { ["\($0.id)", $0.name, RoleCommand.permissionList($0)] }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a role's permissions.")
        @Argument(help: "The role's name or id.") var role: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).role(role)
                let response: APIClient.Response
                if id == .noAccess {
                    response = .init(
                        status: 200,
                        contentType: "application/json",
                        body: try APIClient.requestBody(JumpItemRole.noAccess)
                    )
                } else {
                    response = try await client.checked { try await client.get("/roles/\(id)") }
                }
                if json { return try Output.json(response.body) }
                let shown = try JSONDecoder().decode(JumpItemRole.self, from: response.body)
                printFields(
                    [("id", "\(shown.id)"), ("name", shown.name), ("description", shown.description)]
                        + JumpItemPermission.allCases.map {
                            ($0.commandLineName, shown.permissions.contains($0) ? "yes" : "no")
                        }
                )
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a Jump Item Role.",
            discussion: "Example: jumpctl role create Operator --permission start-sessions,edit-tag,edit-comments"
        )
        @Argument(help: "The role's name (unique).") var name: String
        @Option(help: "What the role is for.") var description = ""
        @Option(help: "Permissions, a comma list; repeatable.") var permission: [String] = []
        @Flag(help: "Print the new role as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let permissions = Set(try JumpItemPermission.parseLists(permission))
                let client = try Session.load().client()
                let role = JumpItemRole(id: 0, name: name, description: description, permissions: permissions)
                let response = try await client.checked { try await client.post("/roles", encoding: role) }
                if json { return try Output.json(response.body) }
                let created = try JSONDecoder().decode(JumpItemRole.self, from: response.body)
                print("created role \(created.name) (id \(created.id)): \(RoleCommand.permissionList(created))")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a Jump Item Role; every user holding it is affected at once.",
            discussion: "Example: jumpctl role update Operator --grant edit-jump-policy --revoke edit-tag"
        )
        @Argument(help: "The role's name or id.") var role: String
        @Option(help: "A new name.") var rename: String?
        @Option(help: "A new description.") var description: String?
        @Option(help: "Replace the permissions with this comma list (none for no permissions).") var permission:
            [String] = []
        @Option(help: "Add permissions (a comma list).") var grant: [String] = []
        @Option(help: "Remove permissions (a comma list).") var revoke: [String] = []
        @Flag(help: "Print the changed role as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).role(role)
                guard id != .noAccess else { throw CLIError.rejected("No Access is built in and cannot be changed") }
                var changed = try await client.json(JumpItemRole.self) { try await client.get("/roles/\(id)") }
                if let rename { changed.name = rename }
                if let description { changed.description = description }
                if !permission.isEmpty {
                    changed.permissions = Set(try JumpItemPermission.parseLists(permission))
                }
                changed.permissions.formUnion(try JumpItemPermission.parseLists(grant))
                changed.permissions.subtract(try JumpItemPermission.parseLists(revoke))
                let response = try await client.checked { try await client.put("/roles/\(id)", encoding: changed) }
                if json { return try Output.json(response.body) }
                let saved = try JSONDecoder().decode(JumpItemRole.self, from: response.body)
                print("updated role \(saved.name): \(RoleCommand.permissionList(saved))")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a Jump Item Role.",
            discussion: "Refused (exit 65) while a user, a Jump Group membership or a group policy still names it."
        )
        @Argument(help: "The role's name or id.") var role: String

        func run() async throws {
            try await deleteNamed(role, what: "role", route: "/roles") { names, role in
                let id = try await names.role(role)
                guard id != .noAccess else { throw CLIError.rejected("No Access is built in and cannot be deleted") }
                return "\(id)"
            }
        }
    }
}
