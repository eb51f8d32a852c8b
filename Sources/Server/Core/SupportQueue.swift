import Crypto
public import Foundation
public import JumpProtocol
import JumpStore
import Logging
import NIOCore
import Synchronization

/// Attended support: the codes representatives hand out and the end users' support agents waiting for them.
///
/// A representative makes a code (`jumpctl support code`); the end user runs `jump-agent support --code CODE`,
/// whose connection asks with the code's key. A code is good for one support session and for a limited time; only
/// its hash is kept, in memory (a code lives minutes, and an appliance restart withdraws the outstanding ones). The
/// accepted connection waits in the representative's queue until they accept it (an attended session, see
/// ``JumpSessions``), decline it, or the end user leaves.
public final class SupportQueue: Sendable {
    /// How long a code is good for unless the representative says otherwise.
    public static let defaultCodeLifetime: TimeInterval = 15 * 60
    /// The longest a code may be good for.
    public static let maximumCodeLifetime: TimeInterval = 24 * 3600
    /// Codes outstanding at once, for the whole appliance; more are refused until some are used or expire.
    public static let maximumOutstandingCodes = 1000
    /// Codes one representative may have outstanding, so that nobody uses up the appliance's.
    public static let maximumOutstandingCodesPerRepresentative = 20
    /// Support ids start with this; Jump Client ids never do.
    public static let idPrefix = "support-"

    /// One end user waiting for, or in a session with, a representative.
    public struct Request: Codable, Hashable, Sendable {
        public var id: String
        /// Who gave the code: only they (or an administrator) see and accept the request.
        public var representative: String
        public var hostname: String
        public var os: String
        /// The local account the support agent runs as; the shell runs as it.
        public var localUser: String
        public var queuedAt: Date
        /// The attended session, once accepted.
        public var session: String?
        /// The Jump Client it became, once pinned.
        public var pinnedClient: String?
        /// A pin is being carried out.
        public var pinning = false
    }

    public enum IssueError: Error, Hashable, Sendable, CustomStringConvertible {
        case tooMany
        case tooManyForRepresentative
        public var description: String {
            switch self {
            case .tooMany:
                "\(SupportQueue.maximumOutstandingCodes) support codes are outstanding; wait for some to be used or to expire"
            case .tooManyForRepresentative:
                "you have \(SupportQueue.maximumOutstandingCodesPerRepresentative) support codes outstanding; wait for some to be used or to expire"
            }
        }
    }

    struct Code {
        var representative: String
        var expiresAt: Date
        var used = false
    }

    struct Waiting {
        var request: Request
        let connection: ServerConnection
    }

    struct State {
        var codes: [Data: Code] = [:]
        var waiting: [String: Waiting] = [:]
    }

    let store: any Store
    let caFingerprint: [UInt8]
    let logger: Logger
    let now: @Sendable () -> Date
    private let state = Mutex(State())

    init(store: any Store, caFingerprint: [UInt8], logger: Logger, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.caFingerprint = caFingerprint
        self.logger = logger
        self.now = now
    }

    static func hash(_ key: some DataProtocol) -> Data {
        Data(SHA256.hash(data: Data(key)))
    }

    // MARK: Codes

    /// A new code for `representative`, good for `lifetime` seconds and one support session. It is audited before it
    /// works: a code the audit log does not show is never handed out.
    public func issue(by representative: String, lifetime: TimeInterval = defaultCodeLifetime) async throws -> (code: SupportCode, expiresAt: Date) {
        let now = self.now()
        let code = SupportCode.random(caFingerprint: caFingerprint)
        let expiresAt = now + min(max(lifetime, 1), Self.maximumCodeLifetime)
        try state.withLock { state throws(IssueError) in
            // Used codes are kept until they expire, so that a second use is told "used", not "unknown".
            state.codes = state.codes.filter { $0.value.expiresAt > now }
            let outstanding = state.codes.values.filter { !$0.used }
            guard outstanding.count < Self.maximumOutstandingCodes else { throw .tooMany }
            guard outstanding.count(where: { $0.representative == representative }) < Self.maximumOutstandingCodesPerRepresentative
            else { throw .tooManyForRepresentative }
        }
        try await store.appendAudit(
            AuditEvent(actor: representative, action: "support.code", target: representative, detail: "expires \(expiresAt.formatted(.iso8601))")
        )
        state.withLock { $0.codes[Self.hash(code.key)] = Code(representative: representative, expiresAt: expiresAt) }
        return (code, expiresAt)
    }

    // MARK: Requests (from the agent listener)

    /// Checks the key of a support request and queues it. The answer names the support id on success; `register` runs
    /// under the queue's lock before the answer, so the request is visible before the agent hears it was accepted.
    func receive(_ wire: WireSupportRequest, connection: ServerConnection) -> WireSupportResponse {
        let now = self.now()
        var response = WireSupportResponse()
        let key = Self.hash(wire.key)
        enum Outcome {
            case success(Request)
            case failure(WireSupportResult)
        }
        let outcome = state.withLock { state -> Outcome in
            guard let code = state.codes[key] else { return .failure(.codeUnknown) }
            guard !code.used else { return .failure(.codeUsed) }
            guard code.expiresAt > now else { return .failure(.codeExpired) }
            state.codes[key]?.used = true
            let id = RandomID.make(Self.idPrefix)
            let hostname = Self.printable(wire.host.hostname)
            let request = Request(
                id: id,
                representative: code.representative,
                hostname: hostname.isEmpty ? "unnamed computer" : hostname,
                os: Self.printable(
                    wire.host.osName.contains(wire.host.osVersion)
                        ? wire.host.osName : [wire.host.osName, wire.host.osVersion].filter { !$0.isEmpty }.joined(separator: " ")
                ),
                localUser: Self.printable(wire.localUser),
                queuedAt: now
            )
            state.waiting[id] = Waiting(request: request, connection: connection)
            return .success(request)
        }
        switch outcome {
        case .success(let request):
            response.result = .ok
            response.supportID = request.id
            response.representative = request.representative
            response.detail = "waiting for \(request.representative) to accept the support session"
            audit(AuditEvent(
                actor: "support \(request.id)",
                action: "support.request",
                target: request.representative,
                detail: "\(request.hostname) user=\(request.localUser)"
            ))
            // The queue forgets the request when its connection goes, whichever way it goes.
            connection.channel.closeFuture.whenComplete { [weak self] _ in self?.left(request.id) }
        case .failure(let result):
            // 72 random bits are not guessed, but someone trying should show in the log.
            logger.warning("support request refused", metadata: ["result": "\(result)"])
            response.result = result
            response.detail =
                switch result {
                case .codeUsed: "this support code was used already; ask the representative for a new one"
                case .codeExpired: "this support code has expired; ask the representative for a new one"
                default: "the appliance does not know this support code; check it, or ask the representative for a new one"
                }
        }
        return response
    }

    /// What an end user's computer says about itself is shown in representatives' terminals: control characters
    /// (C0, C1, bidirectional overrides) become U+FFFD, so that no name can move the cursor or reorder a table.
    public static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            let value = scalar.value
            let control = value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
                || (0x2066...0x2069).contains(value) || value == 0x200E || value == 0x200F || value == 0x061C
            return control ? "\u{FFFD}" : scalar
        }))
    }

    func left(_ id: String) {
        guard let gone = state.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        audit(AuditEvent(actor: "support \(id)", action: "support.left", target: gone.request.representative, detail: gone.request.hostname))
    }

    // MARK: Reading and acting

    /// The requests `user` may see: their own, or every one for an administrator.
    public func requests(visibleTo user: String, administrator: Bool) -> [Request] {
        state.withLock { state in
            state.waiting.values.map(\.request).filter { administrator || $0.representative == user }
        }.sorted { ($0.queuedAt, $0.id) < ($1.queuedAt, $1.id) }
    }

    public func request(_ id: String) -> Request? {
        state.withLock { $0.waiting[id]?.request }
    }

    func connection(_ id: String) -> ServerConnection? {
        state.withLock { $0.waiting[id]?.connection }
    }

    /// Records the attended session that serves the request; false when it is gone or already in one.
    public func claim(_ id: String, session: String) -> Bool {
        state.withLock { state in
            guard state.waiting[id] != nil, state.waiting[id]!.request.session == nil else { return false }
            state.waiting[id]!.request.session = session
            return true
        }
    }

    /// Replaces a claim by the session that now serves the request, in one step.
    public func replaceClaim(_ id: String, from old: String, to new: String) {
        state.withLock { state in
            if state.waiting[id]?.request.session == old { state.waiting[id]!.request.session = new }
        }
    }

    /// Forgets the claim of a session that did not start, or that failed.
    public func release(_ id: String, session: String) {
        state.withLock { state in
            if state.waiting[id]?.request.session == session { state.waiting[id]!.request.session = nil }
        }
    }

    /// Marks a pin as under way; false when one is, or the request is gone or pinned already.
    public func beginPin(_ id: String) -> Bool {
        state.withLock { state in
            guard let request = state.waiting[id]?.request, !request.pinning, request.pinnedClient == nil else { return false }
            state.waiting[id]!.request.pinning = true
            return true
        }
    }

    public func endPin(_ id: String) {
        state.withLock { $0.waiting[id]?.request.pinning = false }
    }

    public func pinned(_ id: String, as clientID: String) {
        state.withLock { $0.waiting[id]?.request.pinnedClient = clientID }
    }

    /// Tells the end user and ends their support connection, unless a session serves it (or is starting): false then.
    public func decline(_ id: String, by user: String) -> Bool {
        let connection = state.withLock { state -> ServerConnection? in
            guard let waiting = state.waiting[id], waiting.request.session == nil else { return nil }
            state.waiting[id] = nil
            return waiting.connection
        }
        guard let connection else { return false }
        var notice = WireNotice()
        notice.level = .warning
        notice.text = "\(user) declined the support session."
        connection.send(.notice(notice))
        connection.close(WireGoodbye(.normal, "declined by \(user)"))
        return true
    }

    /// The attended session ended: tells the end user and ends their support connection normally.
    public func finish(_ id: String, outcome: String) {
        guard let connection = connection(id) else { return }
        var notice = WireNotice()
        notice.level = .info
        notice.text = "The support session has ended (\(outcome))."
        connection.send(.notice(notice))
        connection.close(WireGoodbye(.normal, ""))
    }

    /// Shows the end user a line of text.
    public func tell(_ id: String, _ text: String) {
        guard let connection = connection(id) else { return }
        var notice = WireNotice()
        notice.level = .info
        notice.text = text
        connection.send(.notice(notice))
    }

    private func audit(_ event: AuditEvent) {
        Task { [store, logger] in
            do { try await store.appendAudit(event) } catch {
                logger.error("cannot write the audit log", metadata: ["action": "\(event.action)", "error": "\(error)"])
            }
        }
    }
}
