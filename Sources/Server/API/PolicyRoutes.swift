import Foundation
import Hummingbird
import JumpPolicy
import JumpProtocol
import JumpServerCore
import JumpStore

extension APIRoutes {
    var policy: PolicyRoutes { PolicyRoutes(hub: hub, store: store, access: AccessControl(store: store), now: now) }
}

/// Access control over the API: roles, Jump Policies, session policies, group policies, Jump Group members, users'
/// access settings, Jump Clients' policies, and the simulator.
///
/// Every change runs inside `Store.updatePolicy`: the stored values are read, changed, built into a
/// `PolicyDirectory` (which refuses dangling references, unavailable session policies and an incomplete global
/// default) and written with their audit record, all in one transaction. A refused change is 422 with the
/// directory's message, an unknown id 404, a name in use 409; only administrators change anything.
struct PolicyRoutes: Sendable {
    let hub: ClientHub
    let store: any Store
    let access: AccessControl
    let now: @Sendable () -> Date

    func register(on api: RouterGroup<APIContext>) {
        // Fixed paths first: they sit beside the `:id` routes of the same collection.
        api.get("session-policies/global-default", use: globalDefault)
        api.put("session-policies/global-default", use: setGlobalDefault)
        api.put("group-policies/order", use: orderGroupPolicies)
        register(RoleKind.self, on: api)
        register(JumpPolicyKind.self, on: api)
        register(SessionPolicyKind.self, on: api)
        register(GroupPolicyKind.self, on: api)

        api.get("groups/:group/members", use: groupMembers)
        api.put("groups/:group/members/:user", use: setGroupMember)
        api.delete("groups/:group/members/:user", use: removeGroupMember)

        api.get("users", use: listUsers)
        api.post("users", use: createUser)
        api.get("users/:name/access", use: userAccess)
        api.put("users/:name/access", use: setUserAccess)

        api.get("clients/:id/access", use: clientAccess)
        api.put("clients/:id/access", use: setClientAccess)

        api.post("simulate", use: simulate)
        MFARoutes(store: store, now: now).register(on: api)
    }

    // MARK: Changing the stored values

    /// Runs `change` in one store transaction as the administrator calling, recording `action` on the target
    /// `change` names, and turns refusals into HTTP answers.
    func change<Result: Sendable>(
        _ context: APIContext,
        _ action: String,
        _ change: @escaping @Sendable (inout PolicyData) throws -> (result: Result, target: String, detail: String)
    ) async throws -> Result {
        let actor = try context.administrator().name
        return try await Self.translatingErrors {
            try await store.updatePolicy { data in
                let (result, target, detail) = try change(&data)
                return (result, AuditEvent(actor: actor, action: action, target: target, detail: detail))
            }
        }
    }

    static func translatingErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as PolicyDirectoryError {
            throw HTTPError(.unprocessableContent, message: error.detail)
        } catch let error as AccessScheduleError {
            throw HTTPError(.unprocessableContent, message: error.detail)
        } catch let error as TimeZoneError {
            throw HTTPError(.unprocessableContent, message: error.detail)
        } catch let error as StoreError where error.code == .duplicate {
            throw HTTPError(.conflict, message: error.detail)
        } catch let error as StoreError where error.code == .notFound {
            throw HTTPError(.notFound, message: error.detail)
        }
    }

    /// The compact JSON of a value, for the audit record's detail.
    static func auditDetail(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    static func notFound(_ noun: String, _ id: some CustomStringConvertible, _ listCommand: String) -> HTTPError {
        HTTPError(.notFound, message: "there is no \(noun) \(id); see \(listCommand)")
    }

    // MARK: Roles, Jump Policies, session policies, group policies

    func register<Kind: PolicyRouteKind>(_ kind: Kind.Type, on api: RouterGroup<APIContext>) {
        api.get(RouterPath(Kind.path)) { _, context in
            _ = try context.caller()
            return Reply(Kind.all(in: try await store.policyData()))
        }
        api.get(RouterPath("\(Kind.path)/:id")) { _, context in
            _ = try context.caller()
            let id = try context.parameters.require("id", as: Int64.self)
            guard let value = Kind.value(id, in: try await store.policyData()) else {
                throw Self.notFound(Kind.noun, id, Kind.listCommand)
            }
            return Reply(value)
        }
        api.post(RouterPath(Kind.path)) { request, context in
            let body = try await JSONBody(request, context)
            let timeZones = access.timeZones
            let created: Kind.Value = try await change(context, "\(Kind.action).create") { data in
                let id = Kind.nextID(in: data)
                let value = try Kind.prepare(
                    try body.decode(
                        Kind.Value.self,
                        filling: Kind.defaults(name: body.name),
                        setting: ["id": .integer(id)]
                    ),
                    id: id,
                    timeZones: timeZones
                )
                Kind.put(value, in: &data)
                return (value, "\(Kind.noun) \(id) “\(Kind.name(of: value))”", Self.auditDetail(value))
            }
            return EditedResponse(status: .created, response: Reply(created))
        }
        api.put(RouterPath("\(Kind.path)/:id")) { request, context in
            let id = try context.parameters.require("id", as: Int64.self)
            let body = try await JSONBody(request, context)
            let timeZones = access.timeZones
            let replaced: Kind.Value = try await change(context, "\(Kind.action).update") { data in
                guard Kind.value(id, in: data) != nil else { throw Self.notFound(Kind.noun, id, Kind.listCommand) }
                let value = try Kind.prepare(
                    try body.decode(
                        Kind.Value.self,
                        filling: Kind.defaults(name: body.name),
                        setting: ["id": .integer(id)]
                    ),
                    id: id,
                    timeZones: timeZones
                )
                Kind.put(value, in: &data)
                return (value, "\(Kind.noun) \(id) “\(Kind.name(of: value))”", Self.auditDetail(value))
            }
            return Reply(replaced)
        }
        api.delete(RouterPath("\(Kind.path)/:id")) { _, context in
            let id = try context.parameters.require("id", as: Int64.self)
            try await change(context, "\(Kind.action).delete") { data in
                guard let value = Kind.value(id, in: data) else { throw Self.notFound(Kind.noun, id, Kind.listCommand) }
                try Kind.checkDeletable(id)
                Kind.remove(id, from: &data)
                return ((), "\(Kind.noun) \(id) “\(Kind.name(of: value))”", "")
            }
            return HTTPResponse.Status.noContent
        }
    }

    @Sendable func globalDefault(_ request: Request, context: APIContext) async throws -> Reply<SessionPolicy> {
        _ = try context.caller()
        return Reply(try await store.policyData().globalDefaultSessionPolicy)
    }

    /// Every permission must be Allow or Deny: the global default is where every question gets its answer.
    @Sendable func setGlobalDefault(_ request: Request, context: APIContext) async throws -> Reply<SessionPolicy> {
        let body = try await JSONBody(request, context)
        let updated: SessionPolicy = try await change(context, "session-policy.global-default") { data in
            let current = data.globalDefaultSessionPolicy
            var policy = try body.decode(
                SessionPolicy.self,
                filling: [
                    "name": .string(current.name), "codeName": .string(current.codeName),
                    "description": .string(current.description),
                    "availability": .array(current.availability.map(\.rawValue).sorted().map(JSONValue.string)),
                ],
                setting: ["id": .integer(PolicyData.globalDefaultID.rawValue)]
            )
            policy.name = try Validation.name(policy.name, "name")
            data.globalDefaultSessionPolicy = policy
            return (policy, "global default session policy", Self.auditDetail(policy))
        }
        return Reply(updated)
    }

    struct OrderRequest: Decodable {
        var ids: [Int64]
    }

    @Sendable func orderGroupPolicies(_ request: Request, context: APIContext) async throws -> Reply<[GroupPolicy]> {
        let body = try await request.decode(as: OrderRequest.self, context: context)
        let ordered: [GroupPolicy] = try await change(context, "group-policy.order") { data in
            let current = Dictionary(uniqueKeysWithValues: data.groupPolicies.map { ($0.id.rawValue, $0) })
            guard body.ids.count == current.count, Set(body.ids) == Set(current.keys) else {
                let missing = Set(current.keys).subtracting(body.ids).sorted().map(String.init)
                let unknown = Set(body.ids).subtracting(current.keys).sorted().map(String.init)
                var problems: [String] = []
                if !missing.isEmpty { problems.append("missing \(missing.joined(separator: ", "))") }
                if !unknown.isEmpty { problems.append("unknown \(unknown.joined(separator: ", "))") }
                if problems.isEmpty { problems.append("an id is listed twice") }
                throw HTTPError(
                    .unprocessableContent,
                    message:
                        "the order must list every group policy id exactly once (\(problems.joined(separator: "; ")))"
                )
            }
            data.groupPolicies = body.ids.compactMap { current[$0] }
            let names = data.groupPolicies.map { "\($0.id) “\($0.name)”" }.joined(separator: ", ")
            return (data.groupPolicies, "group policies", names)
        }
        return Reply(ordered)
    }

    // MARK: Jump Group members

    /// A Jump Group by id, or by name for people typing paths by hand.
    static func group(_ text: String, in data: PolicyData) throws -> JumpStore.JumpGroup {
        if let id = Int64(text), let group = data.group(id: JumpGroupID(id)) { return group }
        if let group = data.groups.first(where: { $0.name == text }) { return group }
        throw notFound("Jump Group", text, "jumpctl group list")
    }

    static func account(_ name: String, in data: PolicyData) throws -> JumpStore.User {
        guard let account = data.account(named: name) else { throw notFound("user", name, "jumpctl user list") }
        return account
    }

    /// The ids of the Jump Groups whose name or comments contain `term`, as the guide's search matches them.
    func groupIDs(matching term: String) async throws -> Set<Int64> {
        Set(try await access.directory().jumpGroups(matching: term).map(\.id.rawValue))
    }

    @Sendable func groupMembers(_ request: Request, context: APIContext) async throws -> Reply<[JumpGroupMember]> {
        _ = try context.caller()
        let data = try await store.policyData()
        let group = try Self.group(try context.parameters.require("group"), in: data)
        let filter = request.uri.queryParameters.get("filter") ?? ""
        return Reply(try data.directory().members(of: JumpGroupID(group.id), matching: filter))
    }

    struct MemberRequest: Decodable {
        var role: Int64?
    }

    /// Adds the user on the Jump Group page, or changes the role there; a null role means the user's default role.
    @Sendable func setGroupMember(_ request: Request, context: APIContext) async throws -> Reply<JumpGroupMember> {
        let groupText = try context.parameters.require("group")
        let userName = try context.parameters.require("user")
        let body = try await request.decode(as: MemberRequest.self, context: context)
        let member: JumpGroupMember = try await change(context, "group.member.set") { data in
            let group = try Self.group(groupText, in: data)
            let account = try Self.account(userName, in: data)
            let groupID = JumpGroupID(group.id)
            var members = data.groupMembers[groupID] ?? []
            let member = JumpPolicy::JumpGroup.Member(
                user: UserID(account.id),
                role: body.role.map(JumpItemRoleID.init)
            )
            if let index = members.firstIndex(where: { $0.user == member.user }) {
                members[index] = member
            } else {
                members.append(member)
            }
            data.groupMembers[groupID] = members
            let row = try data.directory().members(of: groupID).first { $0.user.id == member.user }
            guard let row else { throw HTTPError(.internalServerError, message: "the new member is not listed") }
            let role = body.role.map { "role \($0)" } ?? "the default role"
            return (row, "Jump Group \(group.id) “\(group.name)”", "\(account.name) with \(role)")
        }
        return Reply(member)
    }

    /// Only a membership added on the Jump Group page can be removed there; the refusal says where to go instead.
    @Sendable func removeGroupMember(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let groupText = try context.parameters.require("group")
        let userName = try context.parameters.require("user")
        try await change(context, "group.member.remove") { data in
            let group = try Self.group(groupText, in: data)
            let account = try Self.account(userName, in: data)
            let groupID = JumpGroupID(group.id)
            let editability = try data.directory().membershipEditability(user: UserID(account.id), group: groupID)
            guard let editability else {
                throw HTTPError(.notFound, message: "\(account.name) is not listed in Jump Group “\(group.name)”")
            }
            if let reason = editability.reason { throw HTTPError(.conflict, message: reason) }
            data.groupMembers[groupID]?.removeAll { $0.user == UserID(account.id) }
            return ((), "Jump Group \(group.id) “\(group.name)”", account.name)
        }
        return .noContent
    }

    // MARK: Users

    /// A user as the API shows it: never the password hash or the MFA secret.
    struct UserSummary: Codable, Sendable {
        var name: String
        var role: String
        var access: JumpPolicy::User
        var mfaEnrolled: Bool
    }

    func summary(_ account: JumpStore.User, in data: PolicyData) async throws -> UserSummary {
        UserSummary(
            name: account.name,
            role: account.role.rawValue,
            access: data.accessSettings(of: account),
            mfaEnrolled: try await store.mfaEnrollment(userID: account.id)?.confirmed == true
        )
    }

    /// Administrators see every account; a representative only their own.
    @Sendable func listUsers(_ request: Request, context: APIContext) async throws -> Reply<[UserSummary]> {
        let caller = try context.caller()
        let data = try await store.policyData()
        var summaries: [UserSummary] = []
        for account in data.accounts.sorted(by: { $0.name < $1.name })
        where caller.role == .administrator || account.id == caller.id {
            summaries.append(try await summary(account, in: data))
        }
        return Reply(summaries)
    }

    struct CreateUserRequest: Decodable {
        var name: String
        var password: String
        var role: String
    }

    /// bcrypt reads at most 72 bytes; a longer password would be silently cut, so it is refused instead.
    static let maximumPasswordLength = 72
    /// Short enough to type, long enough that guessing online through bcrypt takes years.
    static let minimumPasswordLength = 10

    @Sendable func createUser(
        _ request: Request,
        context: APIContext
    ) async throws -> EditedResponse<Reply<UserSummary>> {
        let caller = try context.administrator()
        let body = try await request.decode(as: CreateUserRequest.self, context: context)
        let name = try Validation.name(body.name, "user name")
        guard !name.contains("/") else { throw HTTPError(.badRequest, message: "a user name cannot contain '/'") }
        let role: JumpStore.User.Role
        switch body.role.lowercased() {
        case "admin", "administrator": role = .administrator
        case "rep", "representative": role = .representative
        default:
            throw HTTPError(
                .badRequest,
                message: "the role must be administrator or representative, not '\(body.role)'"
            )
        }
        guard (Self.minimumPasswordLength...Self.maximumPasswordLength).contains(body.password.utf8.count) else {
            throw HTTPError(
                .badRequest,
                message:
                    "the password must be \(Self.minimumPasswordLength) to \(Self.maximumPasswordLength) bytes long"
            )
        }
        let hash = await PasswordHasher.hashOffloaded(body.password)
        let account: JumpStore.User
        do {
            account = try await store.createUser(
                JumpStore.User(name: name, passwordHash: hash, role: role, createdAt: now()),
                audit: AuditEvent(
                    actor: caller.name,
                    action: "user.create",
                    target: name,
                    detail: "role=\(role.rawValue)"
                )
            )
        } catch let error as StoreError where error.code == .duplicate {
            throw HTTPError(.conflict, message: "there is already a user named '\(name)'")
        }
        return EditedResponse(status: .created, response: Reply(try await summary(account, in: store.policyData())))
    }

    /// Administrators read anyone's settings; a representative only their own.
    @Sendable func userAccess(_ request: Request, context: APIContext) async throws -> Reply<JumpPolicy::User> {
        let caller = try context.caller()
        let name = try context.parameters.require("name")
        guard caller.role == .administrator || caller.name == name else {
            throw HTTPError(.forbidden, message: "a representative may read only their own access settings")
        }
        let data = try await store.policyData()
        return Reply(data.accessSettings(of: try Self.account(name, in: data)))
    }

    /// The id and username come from the account named in the path, whatever the body says.
    @Sendable func setUserAccess(_ request: Request, context: APIContext) async throws -> Reply<JumpPolicy::User> {
        let name = try context.parameters.require("name")
        let body = try await JSONBody(request, context)
        let updated: JumpPolicy::User = try await change(context, "user.access") { data in
            let account = try Self.account(name, in: data)
            let current = data.accessSettings(of: account)
            var settings = try body.decode(
                JumpPolicy::User.self,
                filling: [
                    "displayName": .string(current.displayName),
                    "defaultJumpItemRole": .integer(JumpItemRoleID.noAccess.rawValue),
                    "personalJumpItemsRole": .integer(JumpItemRoleID.noAccess.rawValue),
                    "systemJumpItemRole": .integer(JumpItemRoleID.noAccess.rawValue),
                    "representativePermissions": [],
                ],
                setting: ["id": .integer(account.id), "username": .string(account.name)]
            )
            settings.displayName = try Validation.name(settings.displayName, "display name", allowEmpty: true)
            data.userAccess[settings.id] = settings
            return (settings, "user \(account.name)", Self.auditDetail(settings))
        }
        return Reply(updated)
    }

    // MARK: Jump Clients

    static func client(_ id: String, in data: PolicyData) throws -> ClientRecord {
        guard let client = data.client(id: JumpItemID(rawValue: id)) else {
            throw notFound("Jump Client", id, "jumpctl client list")
        }
        return client
    }

    @Sendable func clientAccess(_ request: Request, context: APIContext) async throws -> Reply<ClientAccess> {
        _ = try context.caller()
        let data = try await store.policyData()
        return Reply(data.access(of: try Self.client(try context.parameters.require("id"), in: data)))
    }

    /// A field left out keeps its value; `null` clears it.
    struct ClientAccessChange: Decodable, Sendable {
        var jumpPolicy: Int64??
        var customerPresentSessionPolicy: Int64??
        var customerNotPresentSessionPolicy: Int64??

        enum CodingKeys: String, CodingKey {
            case jumpPolicy, customerPresentSessionPolicy, customerNotPresentSessionPolicy
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func field(_ key: CodingKeys) throws -> Int64?? {
                container.contains(key) ? .some(try container.decode(Int64?.self, forKey: key)) : .none
            }
            jumpPolicy = try field(.jumpPolicy)
            customerPresentSessionPolicy = try field(.customerPresentSessionPolicy)
            customerNotPresentSessionPolicy = try field(.customerNotPresentSessionPolicy)
        }

        func applied(to access: ClientAccess) -> ClientAccess {
            var access = access
            if let jumpPolicy { access.jumpPolicy = jumpPolicy }
            if let customerPresentSessionPolicy {
                access.customerPresentSessionPolicy = customerPresentSessionPolicy.map(SessionPolicyID.init)
            }
            if let customerNotPresentSessionPolicy {
                access.customerNotPresentSessionPolicy = customerNotPresentSessionPolicy.map(SessionPolicyID.init)
            }
            return access
        }
    }

    @Sendable func setClientAccess(_ request: Request, context: APIContext) async throws -> Reply<ClientAccess> {
        let id = try context.parameters.require("id")
        let body = try await request.decode(as: ClientAccessChange.self, context: context)
        let updated: ClientAccess = try await change(context, "client.access") { data in
            let client = try Self.client(id, in: data)
            let access = body.applied(to: data.access(of: client))
            data.clientAccess[JumpItemID(rawValue: client.id)] = access
            return (access, "Jump Client \(client.id) “\(client.name)”", Self.auditDetail(access))
        }
        return Reply(updated)
    }

    // MARK: Simulator

    struct SimulateRequest: Decodable {
        var user: String
        var method: SessionMethod
        var client: String?
        var customerPresent: Bool?
        var at: Date?
    }

    /// Administrators may ask about anyone; a representative only about themselves.
    @Sendable func simulate(_ request: Request, context: APIContext) async throws -> Reply<SimulationReport> {
        let caller = try context.caller()
        let body = try await request.decode(as: SimulateRequest.self, context: context)
        guard caller.role == .administrator || caller.name == body.user else {
            throw HTTPError(.forbidden, message: "a representative may simulate only their own access")
        }
        let data = try await store.policyData()
        let account = try Self.account(body.user, in: data)
        let client = try body.client.map { try Self.client($0, in: data) }
        // A question, not a change, but the middleware audits only GET: record who asked about whom.
        try await store.appendAudit(
            AuditEvent(
                actor: caller.name,
                action: "policy.simulate",
                target: account.name,
                detail: "method=\(body.method.rawValue) client=\(client?.id ?? "none")"
            )
        )
        let presence: (present: Bool, source: CustomerPresenceSource)
        if let given = body.customerPresent {
            presence = (given, .given)
        } else if body.method == .jump, let client {
            presence = AccessControl.customerPresence(
                of: hub.clientView(id: client.id, groups: [:]),
                useScreenState: hub.settings.screenStatePresence
            )
        } else {
            presence = (false, .notApplicable)
        }
        let question = SimulationReport.Question(
            user: Named(UserID(account.id), account.name),
            method: body.method,
            jumpItem: client.map { JumpItemID(rawValue: $0.id) },
            customerPresent: presence.present,
            customerPresence: presence.source,
            at: body.at ?? now()
        )
        return try await Self.translatingErrors {
            Reply(
                try SimulationReport(
                    directory: try data.directory(),
                    jumpPolicies: data.jumpPolicies,
                    question: question,
                    globalAllowSimultaneousJumps: hub.settings.simultaneousJumps,
                    timeZones: access.timeZones
                )
            )
        }
    }
}

/// Any Encodable value as a JSON response, encoded as the API encodes everything (`APIContext.responseEncoder`).
struct Reply<Value: Encodable & Sendable>: ResponseEncodable, Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}

/// A request body read as a JSON object, so that fields the path decides (`id`) can be set and fields a person
/// may leave out filled before it is decoded into a JumpPolicy type.
struct JSONBody: Sendable {
    let object: [String: JSONValue]
    let decoder: JSONDecoder

    init(_ request: Request, _ context: APIContext) async throws {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(buffer.readableBytesView))
        else {
            throw HTTPError(.badRequest, message: "the request body must be a JSON object")
        }
        self.object = object
        decoder = context.requestDecoder
    }

    /// The `name` field, for defaults derived from it.
    var name: String { object["name"]?.string ?? "" }

    func decode<Value: Decodable>(
        _ type: Value.Type,
        filling defaults: [String: JSONValue],
        setting fields: [String: JSONValue]
    ) throws -> Value {
        var merged = object
        for (key, value) in defaults where merged[key] == nil { merged[key] = value }
        merged.merge(fields) { _, path in path }
        do {
            return try decoder.decode(type, from: try JSONEncoder().encode(merged))
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, message: Self.describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context)
            return "the field '\(at.isEmpty ? key.stringValue : "\(at).\(key.stringValue)")' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "the field '\(path(context))' is not valid: \(context.debugDescription)"
        @unknown default:
            return "the request body is not valid"
        }
    }
}

