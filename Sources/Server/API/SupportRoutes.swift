import Foundation
import Hummingbird
import JumpPolicy
import JumpProtocol
import JumpServerCore
import JumpStore

/// Attended support over the API: representatives make support codes, see the end users waiting with them, accept
/// one (an attended session, the same terminal as a Jump) or decline it, and pin the computer of an attended session
/// as a Jump Client.
struct SupportRoutes: Sendable {
    /// How long the one-use installer made for a pin is good for: the agent enrolls with it at once.
    static let pinInstallerLifetime: TimeInterval = 600

    let routes: APIRoutes
    let access: AccessControl
    var hub: ClientHub { routes.hub }
    var store: any Store { routes.store }
    var sessions: JumpSessions { routes.sessions }
    var queue: SupportQueue { routes.hub.support }

    func register(on api: RouterGroup<APIContext>) {
        api.post("support/codes", use: issue)
        api.get("support", use: list)
        api.get("support/:id", use: show)
        api.post("support/:id/accept", use: accept)
        api.post("support/:id/decline", use: decline)
        api.post("sessions/:id/pin", use: pin)
    }

    // MARK: Codes

    struct IssueRequest: Decodable {
        var lifetimeSeconds: Double?
    }

    struct IssuedCode: ResponseEncodable, Sendable {
        var code: String
        var expiresAt: Date
        /// What the end user runs.
        var command: String
    }

    @Sendable func issue(_ request: Request, context: APIContext) async throws -> EditedResponse<IssuedCode> {
        let caller = try context.caller()
        let body = try await request.decode(as: IssueRequest.self, context: context)
        let lifetime = body.lifetimeSeconds ?? SupportQueue.defaultCodeLifetime
        guard lifetime >= 60, lifetime <= SupportQueue.maximumCodeLifetime else {
            throw HTTPError(
                .unprocessableContent,
                message: "a support code lives 60 seconds to \(Int(SupportQueue.maximumCodeLifetime / 3600)) hours"
            )
        }
        let issued: (code: SupportCode, expiresAt: Date)
        do {
            issued = try await queue.issue(by: caller.name, lifetime: lifetime)
        } catch let error as SupportQueue.IssueError {
            throw HTTPError(.tooManyRequests, message: error.description)
        }
        let server = routes.agentAddresses.first ?? "APPLIANCE:PORT"
        return EditedResponse(
            status: .created,
            response: IssuedCode(
                code: issued.code.description,
                expiresAt: issued.expiresAt,
                command: "jump-agent support --server \(server) --code \(issued.code.description)"
            )
        )
    }

    // MARK: The queue

    struct RequestView: ResponseEncodable, Sendable {
        var id: String
        var representative: String
        var hostname: String
        var os: String
        var localUser: String
        var queuedAt: Date
        var session: String?
        var pinnedClient: String?

        init(_ request: SupportQueue.Request) {
            id = request.id
            representative = request.representative
            hostname = request.hostname
            os = request.os
            localUser = request.localUser
            queuedAt = request.queuedAt
            session = request.session
            pinnedClient = request.pinnedClient
        }
    }

    @Sendable func list(_ request: Request, context: APIContext) async throws -> Reply<[RequestView]> {
        let caller = try context.caller()
        return Reply(queue.requests(visibleTo: caller.name, administrator: caller.role == .administrator).map(RequestView.init))
    }

    @Sendable func show(_ request: Request, context: APIContext) async throws -> RequestView {
        RequestView(try visibleRequest(context))
    }

    /// The request named in the path, if the caller may see it: it was their code, or they are an administrator.
    func visibleRequest(_ context: APIContext) throws -> SupportQueue.Request {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let request = queue.request(id), caller.role == .administrator || request.representative == caller.name else {
            throw HTTPError(.notFound, message: "nobody is waiting with support request \(id); see jumpctl support list")
        }
        return request
    }

    struct AcceptRequest: Decodable {
        var columns: Int?
        var rows: Int?
        var term: String?
    }

    /// Starts the attended session: the session policies for attended sessions decide, then the end user's support
    /// agent starts a shell. The terminal attaches like a Jump's (`/sessions/{id}/terminal`).
    @Sendable func accept(_ request: Request, context: APIContext) async throws -> EditedResponse<SessionRoutes.StartResponse> {
        let caller = try context.caller()
        let waiting = try visibleRequest(context)
        let body = try await request.decode(as: AcceptRequest.self, context: context)
        let (columns, rows, term) = try SessionRoutes.terminal(columns: body.columns, rows: body.rows, term: body.term)
        guard waiting.representative == caller.name else {
            throw SessionRoutes.Refused(
                rule: "support-representative",
                message: "Only \(waiting.representative), who gave the support code, may accept \(waiting.id)."
            )
        }
        let computer = "\(waiting.hostname) (support, \(waiting.localUser.isEmpty ? "unknown user" : waiting.localUser))"
        let report = try attendedReport(for: caller, directory: try await store.policyData().directory())
        let grant: JumpAuthorization.Grant
        do throws(JumpAuthorization.Refusal) {
            grant = try JumpAuthorization.decideAttended(report: report, computer: computer)
        } catch {
            try await store.appendAudit(
                AuditEvent(actor: caller.name, action: "session.refused", target: waiting.id, detail: "\(error.rule): \(error.message)")
            )
            throw SessionRoutes.Refused(rule: error.rule, message: error.message)
        }
        let claim = "accepting-\(UUID().uuidString)"
        guard queue.claim(waiting.id, session: claim) else {
            throw HTTPError(.conflict, message: "\(waiting.id) is in a session already, or its end user left")
        }
        queue.tell(waiting.id, "\(caller.name) accepted; the session is recorded.")
        do {
            let record = try await sessions.start(
                JumpSessions.StartRequest(
                    user: caller.name,
                    clientID: waiting.id,
                    clientName: computer,
                    ticket: nil,
                    columns: columns,
                    rows: rows,
                    term: term,
                    grant: grant,
                    attended: true
                )
            )
            queue.replaceClaim(waiting.id, from: claim, to: record.id)
            return EditedResponse(status: .created, response: SessionRoutes.StartResponse(session: SessionRoutes.SessionView(record), joined: false))
        } catch {
            queue.release(waiting.id, session: claim)
            throw SessionRoutes.httpError(error)
        }
    }

    struct Declined: ResponseEncodable, Sendable {
        var id: String
        var declined: Bool
    }

    @Sendable func decline(_ request: Request, context: APIContext) async throws -> Declined {
        let caller = try context.caller()
        let waiting = try visibleRequest(context)
        guard queue.decline(waiting.id, by: caller.name) else {
            throw HTTPError(.conflict, message: "\(waiting.id) is in a session, or one is starting; end the session instead")
        }
        try await store.appendAudit(AuditEvent(actor: caller.name, action: "support.decline", target: waiting.id, detail: waiting.hostname))
        return Declined(id: waiting.id, declined: true)
    }

    /// The simulator's answer for an attended session of `user` now: no Jump Item, so no role and no Jump Policy; the
    /// customer is there by definition.
    func attendedReport(for user: JumpStore.User, directory: PolicyDirectory) throws -> SimulationReport {
        try SimulationReport(
            directory: directory,
            jumpPolicies: [:],
            question: SimulationReport.Question(
                user: Named(UserID(user.id), user.name),
                method: .attended,
                jumpItem: nil,
                customerPresent: true,
                customerPresence: .notApplicable,
                at: routes.now()
            ),
            globalAllowSimultaneousJumps: hub.settings.simultaneousJumps,
            timeZones: access.timeZones
        )
    }

    // MARK: Pinning

    struct PinRequest: Decodable {
        var group: String
        var name: String?
    }

    struct Pinned: ResponseEncodable, Sendable {
        var session: SessionRoutes.SessionView
        var client: String
        var group: String
    }

    /// Installs the computer of an attended session as a Jump Client in a Jump Group. Only the session's owner may,
    /// when the session policies for attended sessions allow “Jump Clients Pinning/Unpinning” and their Jump Item Role
    /// in that group grants “Create and Deploy Jump Items”. The agent gets a one-use installer and enrolls with it.
    @Sendable func pin(_ request: Request, context: APIContext) async throws -> Pinned {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        let body = try await request.decode(as: PinRequest.self, context: context)
        guard let live = sessions.live(id: id) else {
            throw HTTPError(.notFound, message: "there is no live session \(id); pin from within an attended session")
        }
        guard live.isAttended else {
            throw HTTPError(.conflict, message: "\(live.clientName) is a Jump Client already; only an attended support session can be pinned")
        }
        if let pinned = live.pinnedClient {
            throw HTTPError(.conflict, message: "this session's computer was pinned already, as \(pinned)")
        }
        guard live.owner == caller.name else {
            throw SessionRoutes.Refused(rule: "session-owner", message: "Only the session owner (\(live.owner)) may pin its computer.")
        }
        guard let group = try await store.group(named: body.group) else {
            throw HTTPError(.unprocessableContent, message: "there is no Jump Group named '\(body.group)'; see jumpctl group list")
        }
        let name = try Validation.name(body.name ?? "", "name", allowEmpty: true)
        let directory = try await store.policyData().directory()
        let report = try attendedReport(for: caller, directory: directory)
        func refuse(_ rule: String, _ message: String) async throws -> Never {
            try await store.appendAudit(
                AuditEvent(actor: caller.name, action: "session.pin-refused", target: live.clientID, detail: "\(id) \(rule): \(message)")
            )
            throw SessionRoutes.Refused(rule: rule, message: message)
        }
        guard let pinning = report[.jumpClientPinning], pinning.isAllowed else {
            try await refuse(
                "session-policy:jump-client-pinning",
                "The session policy denies “Jump Clients Pinning/Unpinning” in attended sessions. "
                    + (report[.jumpClientPinning]?.explanation ?? "No session policy answers it.")
            )
        }
        let deploy = directory.may(.createAndDeploy, user: UserID(caller.id), in: .jumpGroup(JumpGroupID(group.id)))
        guard deploy.isAllowed else {
            try await refuse("jump-item-role", "Pinning into “\(group.name)” needs “Create and Deploy Jump Items” there. \(deploy.explanation)")
        }
        guard let waiting = hub.support.request(live.clientID) else {
            throw HTTPError(.conflict, message: "the end user's support agent has gone")
        }
        // One pin at a time, and a pin's installer never outlives it unused.
        guard queue.beginPin(waiting.id) else {
            throw HTTPError(.conflict, message: "this session's computer is being pinned, or was pinned already")
        }
        defer { queue.endPin(waiting.id) }

        let now = routes.now()
        let (installerID, tokenHash) = routes.newInstallerID()
        let installer = Installer(
            id: installerID,
            tokenHash: tokenHash,
            createdAt: now,
            createdBy: caller.name,
            expiresAt: now + Self.pinInstallerLifetime,
            maxUses: 1,
            groupID: group.id,
            jumpPolicy: "",
            name: name.isEmpty ? waiting.hostname : name,
            tag: "",
            comments: "pinned from attended session \(id)",
            // The support agent reports where it installs itself.
            allowedOverrides: [.installDir]
        )
        try await store.createInstaller(
            installer,
            audit: AuditEvent(actor: caller.name, action: "installer.create", target: installerID, detail: "one use, to pin session \(id) into group=\(group.name)")
        )
        let file = try InstallerFile.encoder.encode(try routes.file(for: installer, group: group.name))
        queue.tell(live.clientID, "\(caller.name) is installing this computer as a Jump Client in “\(group.name)”.")
        /// Withdraws the installer (whether or not the agent used it) and says why the pin failed.
        func fail(_ status: HTTPResponse.Status, _ message: String, audit: String) async throws -> Never {
            let withdrawn = (try? await store.deleteInstaller(
                id: installerID,
                audit: AuditEvent(actor: caller.name, action: "installer.delete", target: installerID, detail: "the pin of \(id) failed")
            )) ?? false
            try await store.appendAudit(
                AuditEvent(
                    actor: caller.name, action: "session.pin-failed", target: live.clientID,
                    detail: "\(id): \(audit); installer \(installerID) \(withdrawn ? "withdrawn" : "could not be withdrawn")"
                )
            )
            throw HTTPError(status, message: message)
        }
        guard let ack = await hub.pin(supportID: live.clientID, installer: file) else {
            try await fail(.gatewayTimeout, "the end user's computer did not answer the pin request", audit: "no answer")
        }
        guard ack.result == .ok else {
            try await fail(
                .badGateway, "the computer could not install the Jump Client (\(ack.result)): \(ack.detail)",
                audit: "\(ack.result) \(ack.detail)"
            )
        }
        // The agent names the client it enrolled as; the appliance believes it only for the client this installer made.
        let clientID = ack.detail
        guard let enrolled = try? await store.client(id: clientID), enrolled.installerID == installerID, enrolled.state == .active
        else {
            try await fail(
                .badGateway, "the computer reported a Jump Client (\(clientID)) that its pin did not enroll",
                audit: "the agent named \(clientID), which the pin's installer did not enroll"
            )
        }
        hub.support.pinned(live.clientID, as: clientID)
        await sessions.recordPin(id, clientID: clientID, by: caller.name, group: group.name)
        let record = sessions.live(id: id) ?? live
        return Pinned(session: SessionRoutes.SessionView(record), client: clientID, group: group.name)
    }
}
