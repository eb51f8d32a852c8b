import ArgumentParser
import Foundation
import JumpPolicy

struct GroupPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group-policy",
        abstract: "Group policies: settings for groups of users, in order of precedence.",
        discussion: """
            A group policy gives its members Jump Item roles (default, personal and system), \
            representative permissions, attended and unattended session policies, and memberships of \
            Jump Groups (add, with a role or the member's default role, or remove). Each setting is Not \
            Defined (the policy says nothing), Defined, or Defined and Final.

            Group policies are ordered, top first. For each setting, the first policy of the user that \
            defines it holds it; "a group policy listed further down in the list of policies overrides \
            policies above when the permission in question allows override on the topmost group policy; \
            otherwise, the first group policy takes precedence." Final is "Allow this policy to be \
            overridden?" left unchecked: once a Final holder is reached, nothing below can change the \
            setting. A setting a group policy holds replaces the same setting on the user's account; a \
            Jump Group membership added on the Jump Group page (jumpctl group add-member) overrides the \
            group policies for that group.

            Settings, as --final, --not-final and --undefine name them: default-role, personal-role, \
            system-role, permissions, attended-session-policy, unattended-session-policy, and \
            group:NAME for the add/remove setting of one Jump Group (or all).

            Example: jumpctl group-policy create Support --member alice --member bob \
            --add-to-group Servers:Operator --default-role Viewer --unattended-session-policy "No pinning" \
            --final unattended-session-policy
            """,
        subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self, Order.self]
    )

    /// Names of the ids a policy mentions, fetched once per command.
    struct Names {
        var roles: [JumpItemRoleID: String]
        var sessionPolicies: [SessionPolicyID: String]
        var groups: [JumpGroupID: String]
        var users: [UserID: String]

        static func load(_ names: PolicyNames) async throws -> Names {
            let roles = Dictionary(uniqueKeysWithValues: try await names.roles().map { ($0.id, $0.name) })
            return Names(
                roles: roles.merging([.noAccess: JumpItemRole.noAccess.name]) { $1 },
                sessionPolicies: Dictionary(
                    uniqueKeysWithValues: try await names.sessionPolicies().map { ($0.id, $0.name) }
                ),
                groups: Dictionary(
                    uniqueKeysWithValues: try await names.groups().map { (JumpGroupID($0.id), $0.name) }
                ),
                users: try await names.userNames()
            )
        }

        func role(_ id: JumpItemRoleID) -> String { roles[id] ?? "role \(id)" }
        func sessionPolicy(_ id: SessionPolicyID) -> String { sessionPolicies[id] ?? "session policy \(id)" }
        func group(_ id: JumpGroupID) -> String { groups[id] ?? "Jump Group \(id)" }
        func user(_ id: UserID) -> String { users[id] ?? "user \(id)" }
    }

    static func row<Value>(_ name: String, _ setting: PolicySetting<Value>, _ show: (Value) -> String) -> [String] {
        guard let value = setting.value else { return [name, "not defined", ""] }
        return [name, show(value), setting.isFinal ? "final" : "may be overridden"]
    }

    static func printPolicy(_ policy: GroupPolicy, position: Int?, names: Names) {
        printFields([
            ("id", "\(policy.id)"), ("name", policy.name),
            ("order", position.map { "\($0 + 1)" } ?? ""),
            ("members", policy.members.sorted().map(names.user).joined(separator: ", ")),
        ])
        print("")
        var rows = [
            row("default-role", policy.defaultJumpItemRole, names.role),
            row("personal-role", policy.personalJumpItemsRole, names.role),
            row("system-role", policy.systemJumpItemRole, names.role),
            row("permissions", policy.representativePermissions) { set in
                set.isEmpty ? "none" : set.map(\.commandLineName).sorted().joined(separator: ",")
            },
            row("attended-session-policy", policy.attendedSessionPolicy, names.sessionPolicy),
            row("unattended-session-policy", policy.unattendedSessionPolicy, names.sessionPolicy),
        ]
        for (group, setting) in policy.jumpGroups.sorted(by: { names.group($0.key) < names.group($1.key) }) {
            rows.append(
                row("group:\(names.group(group))", setting) { assignment in
                    switch assignment {
                    case .add(role: let role?): "add, role \(names.role(role))"
                    case .add(role: nil): "add, default role"
                    case .remove: "remove"
                    }
                }
            )
        }
        Output.table(["SETTING", "VALUE", "FINAL"], rows)
    }

    /// The settings create and update share.
    struct Settings: ParsableArguments {
        @Option(help: "Add a member (a user name); repeatable.") var member: [String] = []
        @Option(
            help: "Add the members to a Jump Group, as GROUP or GROUP:ROLE (no role: their default role); repeatable."
        )
        var addToGroup: [String] = []
        @Option(help: "Remove the members from a Jump Group; repeatable.") var removeFromGroup: [String] = []
        @Option(help: "The default Jump Item role (in Jump Groups whose membership names none).") var defaultRole:
            String?
        @Option(help: "The role for the members' own personal Jump Items.") var personalRole: String?
        @Option(help: "The role in Jump Groups the members do not belong to (No Access keeps them closed).")
        var systemRole: String?
        @Option(help: "The session policy for attended sessions.") var attendedSessionPolicy: String?
        @Option(help: "The session policy for unattended sessions (Jumps).") var unattendedSessionPolicy: String?
        @Option(help: "Representative permissions: override-schedule, or none; defines the setting.")
        var permission: [String] = []
        @Option(help: "Mark settings Final (not open to override by policies below): a comma list, or all.")
        var final: [String] = []

        func apply(to policy: inout GroupPolicy, names: PolicyNames) async throws {
            for name in member.flatMap({ $0.split(separator: ",").map(String.init) }) {
                policy.members.insert(try await names.user(name).id)
            }
            let groups = addToGroup.isEmpty && removeFromGroup.isEmpty ? [] : try await names.groups()
            func group(_ text: String) throws -> JumpGroupID {
                JumpGroupID(
                    try PolicyNames.pick(
                        text,
                        groups.map { ($0.id, $0.name) },
                        kind: "Jump Group",
                        list: "jumpctl group list"
                    )
                )
            }
            for text in addToGroup {
                var groupName = text
                var role: JumpItemRoleID?
                if let colon = text.lastIndex(of: ":"), !groups.contains(where: { $0.name == text }) {
                    groupName = String(text[..<colon])
                    role = try await names.role(String(text[text.index(after: colon)...]))
                }
                policy.jumpGroups[try group(groupName)] = .defined(.add(role: role))
            }
            for text in removeFromGroup {
                policy.jumpGroups[try group(text)] = .defined(.remove)
            }
            if let defaultRole { policy.defaultJumpItemRole = .defined(try await names.role(defaultRole)) }
            if let personalRole { policy.personalJumpItemsRole = .defined(try await names.role(personalRole)) }
            if let systemRole { policy.systemJumpItemRole = .defined(try await names.role(systemRole)) }
            if let attendedSessionPolicy {
                policy.attendedSessionPolicy = .defined(try await names.sessionPolicy(attendedSessionPolicy))
            }
            if let unattendedSessionPolicy {
                policy.unattendedSessionPolicy = .defined(try await names.sessionPolicy(unattendedSessionPolicy))
            }
            if !permission.isEmpty {
                policy.representativePermissions = .defined(Set(try RepresentativePermission.parseLists(permission)))
            }
            try await GroupPolicyCommand.mark(final, on: &policy, names: names, groups: groups) { isFinal in
                isFinal = true
            }
        }
    }

    /// The settings named in a --final, --not-final or --undefine list, changed by `change`.
    static func mark(
        _ texts: [String],
        on policy: inout GroupPolicy,
        names: PolicyNames,
        groups known: [GroupCommand.Row],
        undefine: Bool = false,
        _ change: (inout Bool) -> Void
    ) async throws {
        let words = texts.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        guard !words.isEmpty else { return }
        let groups = known.isEmpty ? try await names.groups() : known
        func update<Value>(_ setting: inout PolicySetting<Value>, _ name: String) throws {
            if undefine {
                setting = .notDefined
                return
            }
            guard setting.value != nil else {
                throw CLIError.usage("\(name) is Not Defined in this policy; give it a value before marking it")
            }
            change(&setting.isFinal)
        }
        for word in words {
            switch word.lowercased() {
            case "all":
                for keyPath in [\GroupPolicy.defaultJumpItemRole, \.personalJumpItemsRole, \.systemJumpItemRole]
                where policy[keyPath: keyPath].value != nil {
                    try update(&policy[keyPath: keyPath], word)
                }
                for keyPath in [\GroupPolicy.attendedSessionPolicy, \.unattendedSessionPolicy]
                where policy[keyPath: keyPath].value != nil {
                    try update(&policy[keyPath: keyPath], word)
                }
                if policy.representativePermissions.value != nil { try update(&policy.representativePermissions, word) }
                for group in policy.jumpGroups.keys {
                    try update(&policy.jumpGroups[group, default: .notDefined], word)
                }
            case "default-role": try update(&policy.defaultJumpItemRole, word)
            case "personal-role": try update(&policy.personalJumpItemsRole, word)
            case "system-role": try update(&policy.systemJumpItemRole, word)
            case "permissions", "permission": try update(&policy.representativePermissions, word)
            case "attended-session-policy": try update(&policy.attendedSessionPolicy, word)
            case "unattended-session-policy": try update(&policy.unattendedSessionPolicy, word)
            default:
                guard word.lowercased().hasPrefix("group:") else {
                    throw CLIError.usage(
                        "'\(word)' is not a group policy setting; use default-role, personal-role, system-role, "
                            + "permissions, attended-session-policy, unattended-session-policy, group:NAME or all"
                    )
                }
                let name = String(word.dropFirst("group:".count))
                let id = JumpGroupID(
                    try PolicyNames.pick(
                        name,
                        groups.map { ($0.id, $0.name) },
                        kind: "Jump Group",
                        list: "jumpctl group list"
                    )
                )
                var setting = policy.jumpGroups[id] ?? .notDefined
                try update(&setting, word)
                policy.jumpGroups[id] = setting
            }
        }
        policy.jumpGroups = policy.jumpGroups.filter { $0.value.value != nil }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List group policies, top (highest precedence) first."
        )
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/group-policies") }
                if json { return try Output.json(response.body) }
                let policies = try JSONDecoder().decode([GroupPolicy].self, from: response.body)
                Output.table(
                    ["ORDER", "ID", "NAME", "MEMBERS", "DEFINED", "FINAL"],
                    policies.enumerated().map { index, policy in
                        let settings: [(defined: Bool, final: Bool)] =
                            [
                                policy.defaultJumpItemRole, policy.personalJumpItemsRole, policy.systemJumpItemRole,
                            ].map { ($0.value != nil, $0.isFinal) }
                            + [policy.attendedSessionPolicy, policy.unattendedSessionPolicy].map {
                                ($0.value != nil, $0.isFinal)
                            }
                            + [
                                (
                                    policy.representativePermissions.value != nil,
                                    policy.representativePermissions.isFinal
                                )
                            ]
                            + policy.jumpGroups.values.map { ($0.value != nil, $0.isFinal) }
                        return [
                            "\(index + 1)", "\(policy.id)", policy.name, "\(policy.members.count)",
                            "\(settings.filter(\.defined).count)",
                            "\(settings.filter { $0.defined && $0.final }.count)",
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group policy's members and settings.")
        @Argument(help: "The policy's name or id.") var policy: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let names = PolicyNames(client: client)
                let policies = try await names.groupPolicies()
                let id = try PolicyNames.pick(
                    policy,
                    policies.map { ($0.id, $0.name) },
                    kind: "group policy",
                    list: "jumpctl group-policy list"
                )
                let response = try await client.checked { try await client.get("/group-policies/\(id)") }
                if json { return try Output.json(response.body) }
                let shown = try JSONDecoder().decode(GroupPolicy.self, from: response.body)
                GroupPolicyCommand.printPolicy(
                    shown,
                    position: policies.firstIndex { $0.id == id },
                    names: try await Names.load(names)
                )
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a group policy; it is placed last, below every other.",
            discussion: "Settings not given are Not Defined. Move it with jumpctl group-policy order."
        )
        @Argument(help: "The policy's name (unique).") var name: String
        @OptionGroup var settings: Settings
        @Flag(help: "Print the new policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                var policy = GroupPolicy(id: 0, name: name)
                try await settings.apply(to: &policy, names: PolicyNames(client: client))
                let response = try await client.checked { try await client.post("/group-policies", encoding: policy) }
                if json { return try Output.json(response.body) }
                let created = try JSONDecoder().decode(GroupPolicy.self, from: response.body)
                print("created group policy \(created.name) (id \(created.id)) with \(created.members.count) members")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a group policy; its members are affected at once.",
            discussion: """
                Options not given keep their values. A value given keeps the setting's Final marker; \
                --final and --not-final change it, --undefine makes a setting Not Defined again.

                Example: jumpctl group-policy update Support --not-final unattended-session-policy \
                --undefine group:Servers --remove-member bob
                """
        )
        @Argument(help: "The policy's name or id.") var policy: String
        @Option(help: "A new name.") var rename: String?
        @OptionGroup var settings: Settings
        @Option(help: "Remove a member (a user name); repeatable.") var removeMember: [String] = []
        @Option(help: "Make settings open to override by policies below (a comma list, or all).") var notFinal:
            [String] = []
        @Option(help: "Make settings Not Defined (a comma list, or all).") var undefine: [String] = []
        @Flag(help: "Print the changed policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let names = PolicyNames(client: client)
                let id = try await names.groupPolicy(policy)
                var changed = try await client.json(GroupPolicy.self) { try await client.get("/group-policies/\(id)") }
                let previous = changed
                if let rename { changed.name = rename }
                try await GroupPolicyCommand.mark(undefine, on: &changed, names: names, groups: [], undefine: true) {
                    _ in
                }
                try await settings.apply(to: &changed, names: names)
                // A value given anew keeps the Final marker it had.
                GroupPolicyCommand.keepFinal(from: previous, in: &changed)
                try await GroupPolicyCommand.mark(notFinal, on: &changed, names: names, groups: []) { $0 = false }
                for name in removeMember {
                    changed.members.remove(try await names.user(name).id)
                }
                let response = try await client.checked {
                    try await client.put("/group-policies/\(id)", encoding: changed)
                }
                if json { return try Output.json(response.body) }
                let saved = try JSONDecoder().decode(GroupPolicy.self, from: response.body)
                print("updated group policy \(saved.name)")
            }
        }
    }

    /// `PolicySetting.defined` clears Final; on update a re-given value keeps the old marker.
    static func keepFinal(from previous: GroupPolicy, in policy: inout GroupPolicy) {
        func keep<Value>(_ keyPath: WritableKeyPath<GroupPolicy, PolicySetting<Value>>) {
            if policy[keyPath: keyPath].value != nil, previous[keyPath: keyPath].isFinal {
                policy[keyPath: keyPath].isFinal = true
            }
        }
        keep(\.defaultJumpItemRole)
        keep(\.personalJumpItemsRole)
        keep(\.systemJumpItemRole)
        keep(\.representativePermissions)
        keep(\.attendedSessionPolicy)
        keep(\.unattendedSessionPolicy)
        for (group, setting) in previous.jumpGroups where setting.isFinal && policy.jumpGroups[group]?.value != nil {
            policy.jumpGroups[group]?.isFinal = true
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a group policy; its members lose what it gave them."
        )
        @Argument(help: "The policy's name or id.") var policy: String

        func run() async throws {
            try await deleteNamed(policy, what: "group policy", route: "/group-policies") { "\(try await $0.groupPolicy($1))" }
        }
    }

    struct Order: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the order of the group policies, top (highest precedence) first.",
            discussion: """
                Name every group policy once. Example: jumpctl group-policy order Administrators Support Everyone
                """
        )
        @Argument(help: "Every group policy's name or id, top first.") var policies: [String]

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let existing = try await PolicyNames(client: client).groupPolicies()
                let ids = try policies.map {
                    try PolicyNames.pick(
                        $0,
                        existing.map { ($0.id, $0.name) },
                        kind: "group policy",
                        list: "jumpctl group-policy list"
                    )
                }
                struct Body: Encodable { var ids: [GroupPolicyID] }
                _ = try await client.checked { try await client.put("/group-policies/order", encoding: Body(ids: ids)) }
                let ordered = try await PolicyNames(client: client).groupPolicies()
                print("group policies, top first: " + ordered.map(\.name).joined(separator: ", "))
            }
        }
    }
}
