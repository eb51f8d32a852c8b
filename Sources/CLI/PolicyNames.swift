import Foundation
import JumpPolicy
import NIOHTTP1

/// Turns the names people type into the ids the API takes, through the API's list routes.
///
/// A name is matched exactly first, then ignoring case; a number that is no name is taken as an id.
/// Whatever does not match is "not found" (exit 66) with the command that lists the candidates.
struct PolicyNames {
    let client: APIClient

    func roles() async throws -> [JumpItemRole] {
        try await client.json([JumpItemRole].self) { try await client.get("/roles") }
    }

    func jumpPolicies() async throws -> [JumpPolicy] {
        try await client.json([JumpPolicy].self) { try await client.get("/jump-policies") }
    }

    func sessionPolicies() async throws -> [SessionPolicy] {
        try await client.json([SessionPolicy].self) { try await client.get("/session-policies") }
    }

    func groupPolicies() async throws -> [GroupPolicy] {
        try await client.json([GroupPolicy].self) { try await client.get("/group-policies") }
    }

    func groups() async throws -> [GroupCommand.Row] {
        try await client.json([GroupCommand.Row].self) { try await client.get("/groups") }
    }

    /// "No Access" (or "none") is the built-in role with id 0, which the list route does not return.
    func role(_ text: String) async throws -> JumpItemRoleID {
        if ["none", "no access", "no-access"].contains(text.lowercased()) { return .noAccess }
        let roles = try await roles()
        return try Self.pick(text, roles.map { ($0.id, $0.name) }, kind: "Jump Item role", list: "jumpctl role list")
    }

    func jumpPolicy(_ text: String) async throws -> Int64 {
        let policies = try await jumpPolicies()
        return try Self.pick(
            text,
            policies.map { ($0.id, $0.name) },
            kind: "Jump Policy",
            list: "jumpctl jump-policy list"
        )
    }

    func sessionPolicy(_ text: String) async throws -> SessionPolicyID {
        let policies = try await sessionPolicies()
        return try Self.pick(
            text,
            policies.map { ($0.id, $0.name) },
            kind: "session policy",
            list: "jumpctl session-policy list"
        )
    }

    func groupPolicy(_ text: String) async throws -> GroupPolicyID {
        let policies = try await groupPolicies()
        return try Self.pick(
            text,
            policies.map { ($0.id, $0.name) },
            kind: "group policy",
            list: "jumpctl group-policy list"
        )
    }

    func group(_ text: String) async throws -> GroupCommand.Row {
        let groups = try await groups()
        let id = try Self.pick(text, groups.map { ($0.id, $0.name) }, kind: "Jump Group", list: "jumpctl group list")
        return groups.first { $0.id == id }!
    }

    /// A Jump Client by id, or by name when that name is unique.
    func client(_ text: String) async throws -> String {
        struct Row: Decodable {
            var id: String
            var name: String
        }
        let rows = try await client.json([Row].self) { try await client.get("/clients") }
        if rows.contains(where: { $0.id == text }) { return text }
        let named = rows.filter { $0.name == text }
        if named.count == 1 { return named[0].id }
        if named.count > 1 {
            throw CLIError.usage("\(named.count) Jump Clients are named '\(text)'; give the id (jumpctl client list)")
        }
        throw CLIError.notFound("there is no Jump Client '\(text)'; see jumpctl client list")
    }

    /// A user's policy settings, which carry the id the policies use for the account.
    func user(_ name: String) async throws -> User {
        do {
            return try await client.json(User.self) { try await client.get("/users/\(name.urlPathEscaped)/access") }
        } catch CLIError.notFound {
            throw CLIError.notFound("there is no user named '\(name)'; see jumpctl user list")
        }
    }

    /// Every user's name by policy id, for showing group policy members.
    func userNames() async throws -> [UserID: String] {
        let response = try await client.checked { try await client.get("/users") }
        let rows = (try? JSONSerialization.jsonObject(with: response.body)) as? [[String: Any]] ?? []
        var names: [UserID: String] = [:]
        for row in rows {
            let access = row["access"] as? [String: Any]
            guard let name = row["name"] as? String ?? access?["username"] as? String,
                let id = (row["id"] as? NSNumber ?? access?["id"] as? NSNumber)?.int64Value
            else { continue }
            names[UserID(id)] = name
        }
        return names
    }

    /// A session policy, a Jump Policy or a role given as "none" means "no assignment".
    static func isNone(_ text: String) -> Bool { text.lowercased() == "none" }

    static func pick<ID: Hashable>(
        _ text: String,
        _ candidates: [(ID, String)],
        kind: String,
        list: String
    ) throws -> ID {
        if let exact = candidates.first(where: { $0.1 == text }) { return exact.0 }
        let folded = candidates.filter { $0.1.lowercased() == text.lowercased() }
        if folded.count == 1 { return folded[0].0 }
        if folded.count > 1 {
            throw CLIError.usage("'\(text)' matches several \(kind) names that differ only in case; type it exactly")
        }
        if let number = Int64(text), let byID = candidates.first(where: { "\($0.0)" == String(number) }) {
            return byID.0
        }
        throw CLIError.notFound("there is no \(kind) named '\(text)'; see \(list)")
    }
}

extension APIClient {
    /// The API's JSON conventions: dates as ISO 8601, as the appliance writes and reads them.
    static func requestBody(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    func post(_ path: String) async throws -> Response {
        try await send(.POST, path, body: nil)
    }

    func post(_ path: String, encoding value: some Encodable) async throws -> Response {
        try await send(.POST, path, body: try Self.requestBody(value))
    }

    func put(_ path: String, encoding value: some Encodable) async throws -> Response {
        try await send(.PUT, path, body: try Self.requestBody(value))
    }
}

// MARK: Names on the command line

/// An enum whose cases are typed in kebab case on the command line (`editTag` is `edit-tag`).
protocol CommandLineChoice: CaseIterable, RawRepresentable<String> {
    /// Short names accepted besides the kebab-case ones, e.g. "pinning".
    static var aliases: [String: Self] { get }
    /// What one value is called in error messages.
    static var noun: String { get }
}

extension CommandLineChoice {
    static var aliases: [String: Self] { [:] }

    var commandLineName: String { kebabCase(rawValue) }

    static var choices: String { allCases.map(\.commandLineName).joined(separator: ", ") }

    static func parse(_ text: String) throws -> Self {
        let key = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let match = allCases.first(where: { $0.commandLineName == key }) ?? aliases[key] { return match }
        throw CLIError.usage("'\(text)' is not a \(noun); use one of \(choices)")
    }

    /// A comma list; "all" names every case and "none" none.
    static func parseList(_ text: String) throws -> [Self] {
        var result: [Self] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let word = part.trimmingCharacters(in: .whitespaces)
            if word.lowercased() == "none" { continue }
            if word.lowercased() == "all" {
                result += allCases
            } else {
                result.append(try parse(word))
            }
        }
        return result
    }

    /// Several repeated options, each a comma list.
    static func parseLists(_ texts: [String]) throws -> [Self] {
        try texts.flatMap { try parseList($0) }
    }
}

func kebabCase(_ camel: String) -> String {
    var result = ""
    for character in camel {
        if character.isUppercase {
            result += "-" + character.lowercased()
        } else {
            result.append(character)
        }
    }
    return result
}

extension JumpItemPermission: CommandLineChoice {
    static var noun: String { "Jump Item permission" }
    static var aliases: [String: JumpItemPermission] { ["start-session": .startSessions, "create": .createAndDeploy] }
}

extension SessionPermission: CommandLineChoice {
    static var noun: String { "session permission" }
    static var aliases: [String: SessionPermission] {
        [
            "pinning": .jumpClientPinning, "shell": .shellAccess, "screen": .viewScreen,
            "start-sessions": .startSession, "files": .fileTransfer,
        ]
    }
}

extension RepresentativePermission: CommandLineChoice {
    static var noun: String { "representative permission" }
    static var aliases: [String: RepresentativePermission] { ["override-schedule": .overrideJumpPolicySchedule] }
}

extension SessionPolicy.Availability: CommandLineChoice {
    static var noun: String { "session policy availability" }
}

extension Tri {
    var commandLineName: String { kebabCase(rawValue) }
}

// MARK: Showing decisions

/// The words jumpctl uses for where a setting, a role or a session permission came from.
enum Explain {
    static func origin(_ origin: SettingOrigin) -> String {
        switch origin {
        case .groupPolicy(let policy, let isFinal): "group policy “\(policy.name)”\(isFinal ? " (Final)" : "")"
        case .userAccount(let user): "account of \(user.name)"
        }
    }

    static func roleSource(_ source: RoleDecision.Source) -> String {
        switch source {
        case .jumpGroupPage(let group): "set on Jump Group “\(group.name)”"
        case .groupPolicyMembership(let group, let policy): "group policy “\(policy.name)” in “\(group.name)”"
        case .defaultRole(_, let origin): "default role, \(Self.origin(origin))"
        case .personalRole(let origin): "personal role, \(Self.origin(origin))"
        case .systemRole(let origin): "system role, \(Self.origin(origin))"
        case .missing(let entry): entry.description
        }
    }

    static func level(_ level: SessionPolicyLevel) -> String {
        switch level {
        case .jumpItem(let item, let present): "Jump Item \(item) (Customer \(present ? "Present" : "Not Present"))"
        case .publicPortal(let portal): "public portal “\(portal.name)”"
        case .groupPolicy(let policy): "group policy “\(policy.name)”"
        case .user(let user): "account of \(user.name)"
        case .globalDefault: "global default"
        }
    }

    static func rule(_ rule: Decision.Rule) -> String {
        switch rule {
        case .jumpItemRole(let role, let source): "role “\(role.name)” (\(roleSource(source)))"
        case .sessionPolicy(let policy, let level): "session policy “\(policy.name)” at \(Self.level(level))"
        case .representativePermission(let origin): "representative permissions of \(Self.origin(origin))"
        case .notSessionOwner: "not the session owner"
        case .missing(let entry): entry.description
        }
    }

    static func editability(_ editability: MembershipEditability) -> String {
        switch editability {
        case .editable: "yes"
        case .grantedByGroupPolicy(let policy): "no: group policy “\(policy.name)”"
        case .systemJumpItemRole: "no: system role"
        }
    }
}

/// Prints "key  value" lines with the keys aligned, as `client show` does.
func printFields(_ lines: [(String, String)]) {
    let width = lines.map(\.0.count).max() ?? 0
    for (key, value) in lines { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
}

/// What every `delete` subcommand of the access-control commands does: the name (or id) to an id,
/// DELETE on the route, and a line saying so.
func deleteNamed(
    _ name: String,
    what: String,
    route: String,
    resolve: (PolicyNames, String) async throws -> String
) async throws {
    try await runReportingErrors {
        try checkArgumentsAreUTF8()
        let client = try Session.load().client()
        let id = try await resolve(PolicyNames(client: client), name)
        _ = try await client.checked { try await client.delete("\(route)/\(id)") }
        print("deleted \(what) \(name)")
    }
}
