import Foundation
import Hummingbird
import HummingbirdWebSocket
import JumpPolicy
import JumpProtocol
import JumpServerCore
import JumpStore
import Logging
import NIOCore
import NIOWebSocket

/// Jump sessions over the API: start one (every rule checked here), attach a terminal over a WebSocket, list and
/// show them, download recordings, invite another representative, end one.
struct SessionRoutes: Sendable {
    /// The largest WebSocket message a terminal may send (a paste is cut into messages this size by jumpctl).
    static let maximumMessageSize = 64 * 1024
    /// How much of a recording is read at a time when it is downloaded.
    static let recordingChunk = 256 * 1024

    let hub: ClientHub
    let store: any Store
    let access: AccessControl
    let sessions: JumpSessions
    let mfa: MFARoutes
    let now: @Sendable () -> Date

    func register(on api: RouterGroup<APIContext>) {
        api.post("sessions", use: start)
        api.get("sessions", use: list)
        api.get("sessions/:id", use: show)
        api.get("sessions/:id/recording", use: recording)
        api.post("sessions/:id/invite", use: invite)
        api.post("sessions/:id/end", use: end)
        api.post("sessions/:id/unpin", use: unpin)
        api.ws("sessions/:id/terminal", shouldUpgrade: shouldUpgrade, onUpgrade: terminal)
    }

    // MARK: Views

    struct SessionView: ResponseEncodable, Sendable {
        var id: String
        var client: String
        var clientName: String
        var owner: String
        var participants: [String]
        var invited: [String]
        var ticket: String?
        var state: String
        var startedAt: Date
        var endedAt: Date?
        var outcome: String?
        var exitStatus: Int32?
        var signal: Int32?
        var detail: String
        var jumpPolicy: String?
        var sessionPolicies: [String]
        var customerPresent: Bool
        var scheduleOverridden: Bool
        var forceEndAt: Date?
        var recordingBytes: Int64
        /// An attended support session: `client` is the support id.
        var attended: Bool
        var pinnedClient: String?

        init(_ record: JumpSessionRecord) {
            id = record.id
            client = record.clientID
            clientName = record.clientName
            attended = record.isAttended
            pinnedClient = record.pinnedClient
            owner = record.owner
            participants = record.participants
            invited = record.invited
            ticket = record.ticket
            state = record.state.rawValue
            startedAt = record.startedAt
            endedAt = record.endedAt
            outcome = record.outcome?.rawValue
            exitStatus = record.exitStatus
            signal = record.signal
            detail = record.detail
            jumpPolicy = record.jumpPolicy
            sessionPolicies = record.sessionPolicies
            customerPresent = record.customerPresent
            scheduleOverridden = record.scheduleOverridden
            forceEndAt = record.forceEndAt
            recordingBytes = record.recordingBytes
        }
    }

    struct StartResponse: ResponseEncodable, Sendable {
        var session: SessionView
        var joined: Bool
    }

    /// A refused Jump: 403 with the rule that refused it beside the message.
    struct Refused: HTTPResponseError {
        var rule: String
        var message: String
        var status: HTTPResponse.Status { .forbidden }

        struct Body: Encodable {
            struct Inner: Encodable {
                var message: String
                var rule: String
            }
            var error: Inner
        }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            let data = try JSONEncoder().encode(Body(error: Body.Inner(message: message, rule: rule)))
            return Response(
                status: status,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
            )
        }
    }

    // MARK: Starting

    struct StartRequest: Decodable {
        var client: String
        var ticket: String?
        var otp: String?
        var overrideSchedule: Bool?
        var columns: Int?
        var rows: Int?
        var term: String?
    }

    @Sendable func start(_ request: Request, context: APIContext) async throws -> EditedResponse<StartResponse> {
        let caller = try context.caller()
        let body = try await request.decode(as: StartRequest.self, context: context)
        let (columns, rows, term) = try Self.terminal(columns: body.columns, rows: body.rows, term: body.term)
        let data = try await store.policyData()
        let client = try Self.client(body.client, in: data)
        let name = client.name.isEmpty ? client.id : client.name

        // Invited into the session already open there: join it (the owner's invitation stands for the rules).
        if let invited = sessions.invitation(for: caller.name, clientID: client.id) {
            return EditedResponse(status: .ok, response: StartResponse(session: SessionView(invited), joined: true))
        }
        guard hub.isConnected(client.id) else {
            throw HTTPError(.conflict, message: "\(name) (\(client.id)) is not connected to the appliance now")
        }

        let presence = AccessControl.customerPresence(
            of: hub.clientView(id: client.id, groups: [:]),
            useScreenState: hub.settings.screenStatePresence
        )
        let at = now()
        let question = SimulationReport.Question(
            user: Named(UserID(caller.id), caller.name),
            method: .jump,
            jumpItem: JumpItemID(rawValue: client.id),
            customerPresent: presence.present,
            customerPresence: presence.source,
            at: at
        )
        let directory = try data.directory()
        let report = try SimulationReport(
            directory: directory,
            jumpPolicies: data.jumpPolicies,
            question: question,
            globalAllowSimultaneousJumps: hub.settings.simultaneousJumps,
            timeZones: access.timeZones
        )
        let jumpPolicy = directory.jumpItems[JumpItemID(rawValue: client.id)]?.jumpPolicy.flatMap { data.jumpPolicies[$0] }

        // A code is checked (and used up) only when the Jump Policy asks for one.
        var mfaVerified = false
        if jumpPolicy?.requireMFA == true, let code = body.otp, !code.isEmpty {
            guard let enrollment = try await store.mfaEnrollment(userID: caller.id), enrollment.confirmed else {
                throw Refused(
                    rule: "jump-policy:mfaRequired",
                    message: "The Jump Policy “\(jumpPolicy!.name)” requires multi-factor authentication, and \(caller.name) "
                        + "has none enrolled: jumpctl user mfa enroll"
                )
            }
            try await mfa.check(code, enrollment, user: caller, confirming: false)
            mfaVerified = true
        }
        let others = sessions.live(clientID: client.id).filter { $0.owner != caller.name }
        let attempt = JumpAttempt(
            at: at,
            ticketID: body.ticket,
            mfaVerified: mfaVerified,
            overrideSchedule: body.overrideSchedule ?? false,
            mayOverrideSchedule: directory.representativePermission(.overrideJumpPolicySchedule, user: UserID(caller.id)).isAllowed,
            activeSessionsOnItem: others.count,
            invitedByOwner: false,
            globalAllowSimultaneousJumps: hub.settings.simultaneousJumps
        )
        let grant: JumpAuthorization.Grant
        do {
            grant = try JumpAuthorization.decide(
                report: report,
                jumpPolicy: jumpPolicy,
                attempt: attempt,
                itemName: "\(name) (\(client.id))",
                timeZones: access.timeZones
            )
        } catch {
            var message = error.message
            if error.rule.hasPrefix("jump-policy:simultaneous"), let open = others.first {
                message += " (\(open.id), started by \(open.owner))"
            }
            try await store.appendAudit(
                AuditEvent(actor: caller.name, action: "session.refused", target: client.id, detail: "\(error.rule): \(message)")
            )
            throw Refused(rule: error.rule, message: message)
        }
        let ticket = body.ticket?.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            let record = try await sessions.start(
                JumpSessions.StartRequest(
                    user: caller.name,
                    clientID: client.id,
                    clientName: name,
                    ticket: ticket?.isEmpty == false ? ticket : nil,
                    columns: columns,
                    rows: rows,
                    term: term,
                    grant: grant
                )
            )
            return EditedResponse(status: .created, response: StartResponse(session: SessionView(record), joined: false))
        } catch {
            if case .busy(let message) = error {
                try await store.appendAudit(
                    AuditEvent(actor: caller.name, action: "session.refused", target: client.id, detail: "simultaneous: \(message)")
                )
            }
            throw Self.httpError(error)
        }
    }

    /// The terminal a start asks for, checked: its size within the protocol's bounds, its type a plain name.
    static func terminal(columns: Int?, rows: Int?, term: String?) throws -> (columns: Int, rows: Int, term: String) {
        let columns = columns ?? 80
        let rows = rows ?? 24
        guard (1...Int(ProtocolLimits.maximumTerminalColumns)).contains(columns), (1...Int(ProtocolLimits.maximumTerminalRows)).contains(rows)
        else {
            throw HTTPError(
                .unprocessableContent,
                message: "the terminal size must be 1 to \(ProtocolLimits.maximumTerminalColumns) columns and rows"
            )
        }
        let term = term ?? "xterm-256color"
        guard (1...64).contains(term.utf8.count), term.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+".contains($0)) })
        else {
            throw HTTPError(.unprocessableContent, message: "\"\(term)\" is not a terminal type")
        }
        return (columns, rows, term)
    }

    /// A session that could not start, as an HTTP error (a busy Jump Client is answered by the caller, with its rule).
    static func httpError(_ error: JumpSessions.StartError) -> any Error {
        switch error {
        case .offline(let message): HTTPError(.conflict, message: message)
        case .busy(let message): Refused(rule: "jump-policy:simultaneousJumpsDisallowed", message: message)
        case .agentRefused(let message): HTTPError(.badGateway, message: message)
        case .recordingUnavailable(let message), .storeFailed(let message): HTTPError(.serviceUnavailable, message: message)
        }
    }

    static func client(_ idOrName: String, in data: PolicyData) throws -> ClientRecord {
        if let client = data.client(id: JumpItemID(rawValue: idOrName)), client.state != .deleted { return client }
        let named = data.clients.filter { $0.name == idOrName && $0.state != .deleted }
        if named.count == 1 { return named[0] }
        if named.count > 1 {
            throw HTTPError(.conflict, message: "\(named.count) Jump Clients are named \"\(idOrName)\"; use the id")
        }
        throw HTTPError(.notFound, message: "there is no Jump Client \"\(idOrName)\"; see jumpctl client list")
    }

    // MARK: Reading

    /// Live sessions come from memory (participants change), ended ones from the store.
    func record(_ id: String) async throws -> JumpSessionRecord {
        if let live = sessions.live(id: id) { return live }
        guard let stored = try await store.jumpSession(id: id) else {
            throw HTTPError(.notFound, message: "there is no session \(id); see jumpctl session list")
        }
        return stored
    }

    /// Administrators see every session; a representative those they started or were invited into.
    static func mayRead(_ record: JumpSessionRecord, _ user: JumpStore.User) -> Bool {
        user.role == .administrator || record.owner == user.name || record.invited.contains(user.name)
            || record.participants.contains(user.name)
    }

    @Sendable func list(_ request: Request, context: APIContext) async throws -> Reply<[SessionView]> {
        let caller = try context.caller()
        let client = request.uri.queryParameters.get("client")
        let active = request.uri.queryParameters.get("active") == "true"
        let limit = request.uri.queryParameters.get("limit").flatMap(Int.init) ?? 500
        var records = try await store.jumpSessions(JumpSessionFilter(clientID: client, activeOnly: active, limit: max(1, min(limit, 10_000))))
        let live = Dictionary(uniqueKeysWithValues: sessions.live(clientID: client).map { ($0.id, $0) })
        records = records.map { live[$0.id] ?? $0 }
        return Reply(records.filter { Self.mayRead($0, caller) }.map(SessionView.init))
    }

    @Sendable func show(_ request: Request, context: APIContext) async throws -> Reply<SessionView> {
        let caller = try context.caller()
        let record = try await record(try context.parameters.require("id"))
        guard Self.mayRead(record, caller) else {
            throw HTTPError(.forbidden, message: "\(caller.name) may not read \(record.id)")
        }
        return Reply(SessionView(record))
    }

    @Sendable func recording(_ request: Request, context: APIContext) async throws -> Response {
        let caller = try context.caller()
        let record = try await record(try context.parameters.require("id"))
        guard Self.mayRead(record, caller) else {
            throw HTTPError(.forbidden, message: "\(caller.name) may not read \(record.id)")
        }
        let url = sessions.recordingURL(record)
        guard let file = try? FileHandle(forReadingFrom: url) else {
            throw HTTPError(.notFound, message: "the recording of \(record.id) is missing from the appliance")
        }
        let size = (try? file.seekToEnd()).map(Int.init)
        try file.seek(toOffset: 0)
        // Streamed in chunks: a recording of a long session may be larger than the appliance's memory allows.
        let body = ResponseBody(contentLength: size) { writer in
            defer { try? file.close() }
            while let chunk = try file.read(upToCount: Self.recordingChunk), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/x-asciicast",
                .contentDisposition: "attachment; filename=\"\(record.id).cast\"",
            ],
            body: body
        )
    }

    // MARK: Changing

    struct InviteRequest: Decodable {
        var user: String
    }

    @Sendable func invite(_ request: Request, context: APIContext) async throws -> Reply<SessionView> {
        let caller = try context.caller()
        let body = try await request.decode(as: InviteRequest.self, context: context)
        guard try await store.user(named: body.user) != nil else {
            throw HTTPError(.notFound, message: "there is no user \"\(body.user)\"; see jumpctl user list")
        }
        let id = try context.parameters.require("id")
        do {
            return Reply(SessionView(try await sessions.invite(body.user, to: id, by: caller.name)))
        } catch {
            throw Self.httpError(error)
        }
    }

    @Sendable func end(_ request: Request, context: APIContext) async throws -> Reply<SessionView> {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        do {
            try sessions.end(id, by: caller.name, force: caller.role == .administrator)
        } catch {
            throw Self.httpError(error)
        }
        return Reply(SessionView(try await record(id)))
    }

    /// Uninstalls the session's Jump Client: only the session's owner, and only when the effective "Jump Clients
    /// Pinning/Unpinning" permission (the session policies of the Jump Item, the group policy and the user) allows it.
    /// The session ends, the Jump Client is deleted on the appliance, and its agent uninstalls itself.
    @Sendable func unpin(_ request: Request, context: APIContext) async throws -> Reply<SessionView> {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let live = sessions.live(id: id) else {
            throw HTTPError(.notFound, message: "there is no live session \(id); unpin from within a session")
        }
        guard !live.isAttended else {
            throw HTTPError(
                .conflict,
                message: "\(live.clientName) is an attended support session, not a Jump Client; there is nothing to unpin"
            )
        }
        guard live.owner == caller.name else {
            throw Refused(
                rule: "session-owner",
                message: "Only the session owner (\(live.owner)) may unpin its Jump Client."
            )
        }
        let data = try await store.policyData()
        let report = try SimulationReport(
            directory: try data.directory(),
            jumpPolicies: data.jumpPolicies,
            question: SimulationReport.Question(
                user: Named(UserID(caller.id), caller.name),
                method: .jump,
                jumpItem: JumpItemID(rawValue: live.clientID),
                customerPresent: live.customerPresent,
                customerPresence: .given,
                at: now()
            ),
            globalAllowSimultaneousJumps: hub.settings.simultaneousJumps,
            timeZones: access.timeZones
        )
        guard let decision = report[.jumpClientPinning], decision.isAllowed else {
            let explanation = report[.jumpClientPinning]?.explanation ?? ""
            try await store.appendAudit(
                AuditEvent(actor: caller.name, action: "client.unpin-refused", target: live.clientID, detail: "\(id): \(explanation)")
            )
            throw Refused(
                rule: "session-policy:jump-client-pinning",
                message: "The session policy denies “Jump Clients Pinning/Unpinning” on \(live.clientName). \(explanation)"
            )
        }
        do {
            try sessions.end(
                id,
                by: caller.name,
                force: false,
                reason: "\(caller.name) unpinned \(live.clientName); it uninstalls itself."
            )
        } catch {
            throw Self.httpError(error)
        }
        _ = try await hub.deleteClient(id: live.clientID, actor: caller.name, unpinnedIn: id)
        return Reply(SessionView(try await record(id)))
    }

    static func httpError(_ error: JumpSessions.AttachError) -> HTTPError {
        switch error {
        case .notFound(let message): HTTPError(.notFound, message: message)
        case .notAllowed(let message): HTTPError(.forbidden, message: message)
        }
    }

    // MARK: The terminal

    @Sendable func shouldUpgrade(_ request: Request, context: APIContext) async throws -> RouterShouldUpgrade {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let live = sessions.live(id: id) else {
            throw HTTPError(.notFound, message: "there is no live session \(id)")
        }
        guard live.owner == caller.name || live.invited.contains(caller.name) else {
            throw HTTPError(.forbidden, message: "\(caller.name) is neither the owner of \(id) nor invited into it")
        }
        return .upgrade([:])
    }

    /// Text messages from the terminal.
    struct Control: Decodable {
        var type: String
        var columns: Int?
        var rows: Int?
    }

    /// Text messages to the terminal.
    struct Event: Encodable {
        var type: String
        var level: String?
        var text: String?
        var secondsRemaining: Int?
        var user: String?
        var joined: Bool?
        var outcome: String?
        var exitStatus: Int32?
        var signal: Int32?
        var detail: String?
    }

    @Sendable func terminal(
        _ inbound: WebSocketInboundStream,
        _ outbound: WebSocketOutboundWriter,
        _ context: WebSocketRouterContext<APIContext>
    ) async throws {
        guard let user = context.requestContext.user, let id = context.requestContext.parameters.get("id") else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let participant: SessionParticipant
        do {
            participant = try sessions.attach(sessionID: id, user: user.name) { message in
                switch message {
                case .output(let bytes):
                    try await outbound.writeBinaryMessage(bytes)
                case .notice(let level, let text, let seconds):
                    let event = Event(type: "notice", level: level, text: text, secondsRemaining: seconds)
                    try await outbound.write(.text(String(decoding: try encoder.encode(event), as: UTF8.self)))
                case .participant(let name, let joined):
                    let event = Event(type: "participant", user: name, joined: joined)
                    try await outbound.write(.text(String(decoding: try encoder.encode(event), as: UTF8.self)))
                case .end(let ending):
                    let event = Event(
                        type: "end",
                        outcome: ending.outcome,
                        exitStatus: ending.exitStatus,
                        signal: ending.signal,
                        detail: ending.detail
                    )
                    try await outbound.write(.text(String(decoding: try encoder.encode(event), as: UTF8.self)))
                    try await outbound.close(.normalClosure, reason: ending.outcome)
                }
            }
        } catch {
            try? await outbound.close(.policyViolation, reason: "\(error)")
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: Self.maximumMessageSize) {
                        switch message {
                        case .binary(let bytes):
                            await participant.input(bytes)
                        case .text(let text):
                            guard let control = try? JSONDecoder().decode(Control.self, from: Data(text.utf8)) else { continue }
                            if control.type == "resize", let columns = control.columns, let rows = control.rows {
                                await participant.resize(columns: columns, rows: rows)
                            }
                        }
                    }
                } catch {}
                participant.leave()
            }
            group.addTask { await participant.finished() }
            await group.next()
            group.cancelAll()
        }
    }
}
