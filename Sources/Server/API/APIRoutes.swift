import Crypto
public import Foundation
public import Hummingbird
public import JumpProtocol
public import JumpServerCore
public import JumpStore
public import JumpTLS
import Logging

/// The appliance's HTTPS JSON API, `/api/v1`. `docs/openapi.yaml` (served at `/api/v1/openapi.yaml`)
/// describes it; `jumpctl` is its client.
public struct APIRoutes: Sendable {
    /// How long a login lasts.
    public static let sessionLifetime: TimeInterval = 12 * 3600
    /// The longest an installer may be valid for at creation or extension.
    public static let maximumInstallerLifetime: TimeInterval = 3650 * 86_400

    let hub: ClientHub
    let store: any Store
    let ca: CertificateAuthority
    let tokens: InstallerTokens
    /// The agent addresses written into installer files.
    let agentAddresses: [String]
    let sessions: JumpSessions
    let now: @Sendable () -> Date

    public init(
        hub: ClientHub,
        store: any Store,
        ca: CertificateAuthority,
        tokens: InstallerTokens,
        agentAddresses: [String],
        sessions: JumpSessions? = nil,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.hub = hub
        self.store = store
        self.ca = ca
        self.tokens = tokens
        self.agentAddresses = agentAddresses
        // Without a session manager of the caller's (API tests), recordings go to a folder of their own.
        self.sessions =
            sessions
            ?? JumpSessions(
                hub: hub,
                store: store,
                recordingsDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("jump-recordings-\(UUID().uuidString)"),
                clock: SystemSessionClock(),
                logger: Logger(label: "jump-sessions")
            )
        self.now = now
    }

    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        let api = router.group("api/v1")
        api.post("login", use: login)
        api.get("openapi.yaml") { _, _ in
            let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml")!
            let text = try String(contentsOf: url, encoding: .utf8)
            return Response(
                status: .ok,
                headers: [.contentType: "application/yaml"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }

        let authenticated = api.group().add(middleware: AuthenticationMiddleware(store: store, now: now))
        authenticated.post("logout", use: logout)
        authenticated.get("whoami") { _, context in try UserView(context.caller()) }

        authenticated.get("clients", use: listClients)
        authenticated.get("clients/:id", use: showClient)
        authenticated.delete("clients/:id", use: deleteClient)
        authenticated.get("clients/:id/thumbnail", use: thumbnail)
        authenticated.post("clients/:id/wake", use: wake)

        authenticated.get("groups", use: listGroups)
        authenticated.post("groups", use: createGroup)

        authenticated.get("installers", use: listInstallers)
        authenticated.post("installers", use: createInstaller)
        authenticated.get("installers/:id", use: showInstaller)
        authenticated.delete("installers/:id", use: deleteInstaller)
        authenticated.get("installers/:id/download", use: downloadInstaller)
        authenticated.post("installers/:id/extend", use: extendInstaller)

        authenticated.get("settings", use: listSettings)
        authenticated.get("settings/:key", use: getSetting)
        authenticated.put("settings/:key", use: setSetting)

        authenticated.get("audit", use: listAudit)
        authenticated.get("audit/verify", use: verifyAudit)
        policy.register(on: authenticated)
        let access = AccessControl(store: store)
        SupportRoutes(routes: self, access: access).register(on: authenticated)
        SessionRoutes(
            hub: hub,
            store: store,
            access: access,
            sessions: sessions,
            mfa: MFARoutes(store: store, now: now),
            now: now
        ).register(on: authenticated)
        return router
    }

    // MARK: Session

    struct LoginRequest: Decodable {
        var user: String
        var password: String
    }

    struct LoginResponse: ResponseEncodable {
        var token: String
        var expiresAt: Date
        var user: UserView
    }

    struct UserView: ResponseEncodable {
        var name: String
        var role: String

        init(_ user: User) {
            name = user.name
            role = user.role.rawValue
        }
    }

    @Sendable func login(_ request: Request, context: APIContext) async throws -> LoginResponse {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        let user = try await store.user(named: body.user)
        // An unknown user costs the same bcrypt as a known one, so timing does not tell names apart.
        let verified = await PasswordHasher.verifyOffloaded(body.password, hash: user?.passwordHash ?? PasswordHasher.decoyHash)
        guard let user, verified else {
            try await store.appendAudit(AuditEvent(actor: body.user, action: "user.login-failed", target: body.user))
            throw HTTPError(.unauthorized, message: "wrong user name or password")
        }
        let token = Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        let now = self.now()
        let session = APISession(
            tokenHash: AuthenticationMiddleware.hash(token),
            userID: user.id,
            createdAt: now,
            expiresAt: now + Self.sessionLifetime
        )
        try await store.deleteSessions(expiredBefore: now)
        try await store.createSession(session)
        try await store.appendAudit(AuditEvent(actor: user.name, action: "user.login", target: user.name))
        return LoginResponse(token: token, expiresAt: session.expiresAt, user: UserView(user))
    }

    @Sendable func logout(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let user = try context.caller()
        if let tokenHash = context.tokenHash { try await store.deleteSession(tokenHash: tokenHash) }
        try await store.appendAudit(AuditEvent(actor: user.name, action: "user.logout", target: user.name))
        return .noContent
    }

    // MARK: Clients

    func groupNames() async throws -> [Int64: String] {
        Dictionary(uniqueKeysWithValues: try await store.groups().map { ($0.id, $0.name) })
    }

    @Sendable func listClients(_ request: Request, context: APIContext) async throws -> [ClientHub.ClientView] {
        _ = try context.caller()
        return hub.clientViews(groups: try await groupNames())
    }

    @Sendable func showClient(_ request: Request, context: APIContext) async throws -> ClientHub.ClientView {
        _ = try context.caller()
        let id = try context.parameters.require("id")
        guard let view = hub.clientView(id: id, groups: try await groupNames()) else {
            throw HTTPError(.notFound, message: "there is no Jump Client \(id)")
        }
        return view
    }

    struct Deleted: ResponseEncodable {
        var id: String
        var deleted: Bool
    }

    @Sendable func deleteClient(_ request: Request, context: APIContext) async throws -> Deleted {
        let user = try context.administrator()
        let id = try context.parameters.require("id")
        guard try await hub.deleteClient(id: id, actor: user.name) else {
            throw HTTPError(.notFound, message: "there is no Jump Client \(id)")
        }
        return Deleted(id: id, deleted: true)
    }

    struct WakeRequest: Decodable {
        /// The SecureOn password in hexadecimal (4 or 6 bytes), when the target's card wants one.
        var password: String?
    }

    struct WakeView: ResponseEncodable {
        var id: String
        var relay: String
        var macs: [String]
        var detail: String
    }

    /// Wake-on-LAN through another Jump Client on the target's network.
    @Sendable func wake(_ request: Request, context: APIContext) async throws -> WakeView {
        let user = try context.caller()
        let id = try context.parameters.require("id")
        let body = (try? await request.decode(as: WakeRequest.self, context: context)) ?? WakeRequest()
        var password: [UInt8] = []
        if let text = body.password, !text.isEmpty {
            guard text.utf8.count == 8 || text.utf8.count == 12, text.allSatisfy(\.isHexDigit) else {
                throw HTTPError(.badRequest, message: "password must be 4 or 6 bytes in hexadecimal")
            }
            password = stride(from: 0, to: text.count, by: 2).map { offset in
                let start = text.index(text.startIndex, offsetBy: offset)
                return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16) ?? 0
            }
        }
        do {
            let outcome = try await hub.wake(clientID: id, password: password, actor: user.name)
            return WakeView(id: id, relay: outcome.relay, macs: outcome.macs, detail: outcome.detail)
        } catch {
            switch error {
            case .notFound: throw HTTPError(.notFound, message: error.description)
            case .coolingDown: throw HTTPError(.tooManyRequests, message: error.description)
            case .disabled, .noNetworkFacts, .noRelay: throw HTTPError(.conflict, message: error.description)
            case .relaysFailed: throw HTTPError(.badGateway, message: error.description)
            }
        }
    }

    @Sendable func thumbnail(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.caller()
        let id = try context.parameters.require("id")
        guard hub.clientView(id: id, groups: [:]) != nil else {
            throw HTTPError(.notFound, message: "there is no Jump Client \(id)")
        }
        guard hub.settings.statistics.contains(.thumbnail), let jpeg = try await hub.thumbnail(id: id) else {
            throw HTTPError(.notFound, message: "Jump Client \(id) has sent no thumbnail (no graphical session, or thumbnails are not selected)")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "image/jpeg"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: jpeg))
        )
    }

    // MARK: Groups

    struct GroupView: ResponseEncodable {
        var id: Int64
        var name: String
        var codeName: String
        var comments: String

        init(_ group: JumpGroup) {
            id = group.id
            name = group.name
            codeName = group.codeName
            comments = group.comments
        }
    }

    struct CreateGroupRequest: Decodable {
        var name: String
        var codeName: String?
        var comments: String?
    }

    @Sendable func listGroups(_ request: Request, context: APIContext) async throws -> [GroupView] {
        _ = try context.caller()
        let groups = try await store.groups()
        guard let term = request.uri.queryParameters.get("search"), !term.isEmpty else { return groups.map(GroupView.init) }
        let matching = try await policy.groupIDs(matching: term)
        return groups.filter { matching.contains($0.id) }.map(GroupView.init)
    }

    @Sendable func createGroup(_ request: Request, context: APIContext) async throws -> EditedResponse<GroupView> {
        let user = try context.administrator()
        let body = try await request.decode(as: CreateGroupRequest.self, context: context)
        let name = try Validation.name(body.name, "name")
        let codeName = try Validation.name(body.codeName ?? Validation.codeName(from: name), "code name")
        let comments = try Validation.text(body.comments ?? "", "comments")
        do {
            let group = try await store.createGroup(
                JumpGroup(name: name, codeName: codeName, comments: comments),
                audit: AuditEvent(actor: user.name, action: "group.create", target: name)
            )
            return EditedResponse(status: .created, response: GroupView(group))
        } catch let error as StoreError where error.code == .duplicate {
            throw HTTPError(.conflict, message: "a Jump Group named '\(name)' or with code name '\(codeName)' exists")
        }
    }

    // MARK: Installers

    struct InstallerView: ResponseEncodable {
        var id: String
        var createdAt: Date
        var createdBy: String
        var expiresAt: Date
        var expired: Bool
        var maxUses: Int?
        var uses: Int
        var group: String
        var jumpPolicy: String
        var name: String
        var tag: String
        var comments: String
        var allowedOverrides: [String]
    }

    func view(_ installer: Installer, groups: [Int64: String]) -> InstallerView {
        InstallerView(
            id: installer.id,
            createdAt: installer.createdAt,
            createdBy: installer.createdBy,
            expiresAt: installer.expiresAt,
            expired: installer.expiresAt <= now(),
            maxUses: installer.maxUses,
            uses: installer.uses,
            group: groups[installer.groupID] ?? "",
            jumpPolicy: installer.jumpPolicy,
            name: installer.name,
            tag: installer.tag,
            comments: installer.comments,
            allowedOverrides: installer.allowedOverrides.map(\.rawValue).sorted()
        )
    }

    struct CreateInstallerRequest: Decodable {
        var group: String
        var expiresInSeconds: Double
        var maxUses: Int?
        var allowedOverrides: [String]?
        var name: String?
        var tag: String?
        var comments: String?
        var jumpPolicy: String?
    }

    struct CreatedInstaller: ResponseEncodable {
        var installer: InstallerView
        var file: InstallerFile
    }

    @Sendable func listInstallers(_ request: Request, context: APIContext) async throws -> [InstallerView] {
        _ = try context.administrator()
        let groups = try await groupNames()
        return try await store.installers().map { view($0, groups: groups) }
    }

    @Sendable func createInstaller(_ request: Request, context: APIContext) async throws -> EditedResponse<CreatedInstaller> {
        let user = try context.administrator()
        let body = try await request.decode(as: CreateInstallerRequest.self, context: context)
        guard let group = try await store.group(named: body.group) else {
            throw HTTPError(.badRequest, message: "there is no Jump Group named '\(body.group)'; see jumpctl group list")
        }
        guard body.expiresInSeconds > 0, body.expiresInSeconds <= Self.maximumInstallerLifetime else {
            throw HTTPError(.badRequest, message: "the expiry must be between 1 second and 3650 days from now")
        }
        if let maxUses = body.maxUses, maxUses < 1 {
            throw HTTPError(.badRequest, message: "the use limit must be 1 or more (leave it out for unlimited)")
        }
        var overrides = Set<InstallOverride>()
        for name in body.allowedOverrides ?? [] {
            guard let override = InstallOverride(rawValue: name) else {
                throw HTTPError(
                    .badRequest,
                    message: "'\(name)' cannot be overridden; choose from \(InstallOverride.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            overrides.insert(override)
        }
        let now = self.now()
        let (id, tokenHash) = newInstallerID()
        let installer = Installer(
            id: id,
            tokenHash: tokenHash,
            createdAt: now,
            createdBy: user.name,
            expiresAt: now + body.expiresInSeconds,
            maxUses: body.maxUses,
            groupID: group.id,
            jumpPolicy: try Validation.name(body.jumpPolicy ?? "", "Jump Policy", allowEmpty: true),
            name: try Validation.name(body.name ?? "", "name", allowEmpty: true),
            tag: try Validation.name(body.tag ?? "", "tag", allowEmpty: true),
            comments: try Validation.text(body.comments ?? "", "comments"),
            allowedOverrides: overrides
        )
        try await store.createInstaller(
            installer,
            audit: AuditEvent(
                actor: user.name,
                action: "installer.create",
                target: id,
                detail: "group=\(group.name) expires=\(installer.expiresAt.formatted(.iso8601)) maxUses=\(installer.maxUses.map(String.init) ?? "unlimited")"
            )
        )
        let groups = [group.id: group.name]
        return EditedResponse(
            status: .created,
            response: CreatedInstaller(installer: view(installer, groups: groups), file: try file(for: installer, group: group.name))
        )
    }

    /// A new installer's id and the hash of the token derived from it (only the hash is stored).
    func newInstallerID() -> (id: String, tokenHash: String) {
        let id = RandomID.make("in-")
        return (id, InstallerTokens.hash(tokens.token(installerID: id)))
    }

    func file(for installer: Installer, group: String) throws -> InstallerFile {
        InstallerFile(
            installerID: installer.id,
            servers: agentAddresses,
            caCertificate: try ca.certificatePEM,
            caSHA256: try ca.certificate.sha256Fingerprint,
            token: Base64URL.encode(tokens.token(installerID: installer.id)),
            expiresAt: installer.expiresAt,
            group: group,
            jumpPolicy: installer.jumpPolicy,
            name: installer.name,
            tag: installer.tag,
            comments: installer.comments,
            allowedOverrides: installer.allowedOverrides.map(\.rawValue).sorted()
        )
    }

    func installer(_ context: APIContext) async throws -> Installer {
        let id = try context.parameters.require("id")
        guard let installer = try await store.installer(id: id) else {
            throw HTTPError(.notFound, message: "there is no installer \(id); see jumpctl installer list")
        }
        return installer
    }

    @Sendable func showInstaller(_ request: Request, context: APIContext) async throws -> InstallerView {
        _ = try context.administrator()
        return view(try await installer(context), groups: try await groupNames())
    }

    @Sendable func downloadInstaller(_ request: Request, context: APIContext) async throws -> InstallerFile {
        let user = try context.administrator()
        let installer = try await installer(context)
        try await store.appendAudit(AuditEvent(actor: user.name, action: "installer.download", target: installer.id))
        return try file(for: installer, group: try await groupNames()[installer.groupID] ?? "")
    }

    @Sendable func deleteInstaller(_ request: Request, context: APIContext) async throws -> Deleted {
        let user = try context.administrator()
        let id = try context.parameters.require("id")
        guard try await store.deleteInstaller(id: id, audit: AuditEvent(actor: user.name, action: "installer.delete", target: id)) else {
            throw HTTPError(.notFound, message: "there is no installer \(id)")
        }
        return Deleted(id: id, deleted: true)
    }

    struct ExtendRequest: Decodable {
        var expiresInSeconds: Double
    }

    @Sendable func extendInstaller(_ request: Request, context: APIContext) async throws -> InstallerView {
        let user = try context.administrator()
        let existing = try await installer(context)
        let body = try await request.decode(as: ExtendRequest.self, context: context)
        guard body.expiresInSeconds > 0, body.expiresInSeconds <= Self.maximumInstallerLifetime else {
            throw HTTPError(.badRequest, message: "the new expiry must be between 1 second and 3650 days from now")
        }
        let expiry = now() + body.expiresInSeconds
        guard
            let extended = try await store.extendInstaller(
                id: existing.id,
                until: expiry,
                audit: AuditEvent(actor: user.name, action: "installer.extend", target: existing.id, detail: "expires=\(expiry.formatted(.iso8601))")
            )
        else {
            throw HTTPError(.notFound, message: "there is no installer \(existing.id)")
        }
        return view(extended, groups: try await groupNames())
    }

    // MARK: Settings

    struct SettingView: ResponseEncodable {
        var key: String
        var value: String
        var description: String
        var warnings: [String]?
    }

    struct SetSettingRequest: Decodable {
        var value: String
    }

    @Sendable func listSettings(_ request: Request, context: APIContext) async throws -> [SettingView] {
        _ = try context.caller()
        let settings = hub.settings
        return SiteSettings.keys.map { key in
            SettingView(key: key, value: try! settings.value(of: key), description: SiteSettings.descriptions[key] ?? "")
        }
    }

    @Sendable func getSetting(_ request: Request, context: APIContext) async throws -> SettingView {
        _ = try context.caller()
        let key = try context.parameters.require("key")
        do {
            return SettingView(key: key, value: try hub.settings.value(of: key), description: SiteSettings.descriptions[key] ?? "")
        } catch {
            throw HTTPError(.notFound, message: "\(error)")
        }
    }

    @Sendable func setSetting(_ request: Request, context: APIContext) async throws -> SettingView {
        let user = try context.administrator()
        let key = try context.parameters.require("key")
        let body = try await request.decode(as: SetSettingRequest.self, context: context)
        do {
            let warnings = try await hub.updateSettings([(key, body.value)], actor: user.name)
            return SettingView(
                key: key,
                value: try hub.settings.value(of: key),
                description: SiteSettings.descriptions[key] ?? "",
                warnings: warnings
            )
        } catch let error as SettingError {
            if case .unknownKey = error { throw HTTPError(.notFound, message: "\(error)") }
            throw HTTPError(.badRequest, message: "\(error)")
        }
    }

    // MARK: Audit

    @Sendable func listAudit(_ request: Request, context: APIContext) async throws -> [AuditRecord] {
        _ = try context.administrator()
        let after = request.uri.queryParameters.get("after", as: Int64.self) ?? 0
        let limit = min(request.uri.queryParameters.get("limit", as: Int.self) ?? 100, 10_000)
        return try await store.auditRecords(afterID: after, limit: max(limit, 1))
    }

    @Sendable func verifyAudit(_ request: Request, context: APIContext) async throws -> AuditVerification {
        _ = try context.administrator()
        return try await store.verifyAudit()
    }
}

extension AuditRecord: ResponseEncodable {}
extension AuditVerification: ResponseEncodable {}
extension ClientHub.ClientView: ResponseEncodable {}
extension InstallerFile: ResponseEncodable {}

/// Checks on names and text that people type.
enum Validation {
    static func name(_ value: String, _ field: String, allowEmpty: Bool = false) throws -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty && !allowEmpty { throw HTTPError(.badRequest, message: "the \(field) must not be empty") }
        if trimmed.utf8.count > ProtocolLimits.maximumShortStringLength {
            throw HTTPError(.badRequest, message: "the \(field) is longer than \(ProtocolLimits.maximumShortStringLength) bytes")
        }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw HTTPError(.badRequest, message: "the \(field) contains control characters")
        }
        return trimmed
    }

    static func text(_ value: String, _ field: String) throws -> String {
        if value.utf8.count > ProtocolLimits.maximumTextLength {
            throw HTTPError(.badRequest, message: "the \(field) is longer than \(ProtocolLimits.maximumTextLength) bytes")
        }
        return value
    }

    static func codeName(from name: String) -> String {
        let lowered = name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return String(lowered).split(separator: "-", omittingEmptySubsequences: true).joined(separator: "-")
    }
}
