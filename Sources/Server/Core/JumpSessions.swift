public import Foundation
import JumpPolicy
import JumpProtocol
import JumpSessionCore
public import JumpStore
public import Logging
public import NIOCore
import Synchronization

/// The time session deadlines are measured in (waiting for the representative to attach, for the shell to close,
/// for the Jump Policy's schedule to end); tests drive a manual one.
public protocol SessionClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` or later; throws when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

public struct SystemSessionClock: SessionClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
}

/// What a participant's terminal is told.
public enum SessionMessage: Sendable {
    /// Bytes from the endpoint's terminal.
    case output(ByteBuffer)
    case notice(level: String, text: String, secondsRemaining: Int)
    case participant(user: String, joined: Bool)
    /// The last message: the session is over.
    case end(SessionEnding)
}

public struct SessionEnding: Codable, Hashable, Sendable {
    public var outcome: String
    public var exitStatus: Int32?
    public var signal: Int32?
    public var detail: String
}

/// The appliance's live Jump sessions: each one a channel on its Jump Client's connection, a recording, the
/// representatives attached to it and the Jump Policy's forced end.
///
/// Every session runs as one task that takes its events in order from one stream (output from the agent, the
/// shell's end, participants coming and going, timers), so its state needs no lock. The registry of live sessions,
/// which the API reads, sits behind a mutex.
///
/// Flow control runs end to end: the agent may send a window of output; the appliance grants more only once every
/// attached participant's WebSocket has taken the bytes, so a slow representative slows the shell instead of
/// filling the appliance's memory.
public final class JumpSessions: Sendable {
    /// How long a started session waits for its owner's terminal to attach before it is ended.
    public static let attachTimeout: TimeInterval = 30
    /// How long the agent has to end the shell after being asked before the session is closed anyway.
    public static let closeTimeout: TimeInterval = 10
    /// The receive window the appliance grants each session's output.
    public static let receiveWindow: UInt32 = ProtocolLimits.defaultInitialWindowSize
    /// Input bytes a session may have queued towards the agent before a participant's next message waits.
    public static let maximumQueuedInput = 256 * 1024

    public enum StartError: Error, Hashable, Sendable, CustomStringConvertible {
        case offline(String)
        /// Another user's session is open and simultaneous Jumps are not allowed.
        case busy(String)
        case agentRefused(String)
        case recordingUnavailable(String)
        case storeFailed(String)

        public var description: String {
            switch self {
            case .offline(let m), .busy(let m), .agentRefused(let m), .recordingUnavailable(let m), .storeFailed(let m): m
            }
        }
    }

    public enum AttachError: Error, Hashable, Sendable, CustomStringConvertible {
        case notFound(String)
        case notAllowed(String)

        public var description: String {
            switch self {
            case .notFound(let m), .notAllowed(let m): m
            }
        }
    }

    struct Entry {
        var record: JumpSessionRecord
        let events: AsyncStream<PumpEvent>.Continuation
        let connection: ServerConnection
        /// 0 until the channel is opened on the connection's event loop.
        var channel: UInt32
        /// False once the session is closing: keystrokes no longer reach the shell.
        var acceptsInput = true
    }

    func acceptsInput(_ id: String) -> Bool {
        registry.withLock { $0[id]?.acceptsInput ?? false }
    }

    func stopInput(_ id: String) {
        registry.withLock { $0[id]?.acceptsInput = false }
    }

    let hub: ClientHub
    let store: any Store
    let recordings: URL
    let clock: any SessionClock
    let logger: Logger
    private let registry = Mutex<[String: Entry]>([:])

    public init(hub: ClientHub, store: any Store, recordingsDirectory: URL, clock: any SessionClock, logger: Logger) {
        self.hub = hub
        self.store = store
        self.recordings = recordingsDirectory
        self.clock = clock
        self.logger = logger
    }

    // MARK: Reading

    /// Live sessions, newest first.
    public func live(clientID: String? = nil) -> [JumpSessionRecord] {
        registry.withLock { registry in
            registry.values.map(\.record).filter { clientID == nil || $0.clientID == clientID }
        }.sorted { ($0.startedAt, $0.id) > ($1.startedAt, $1.id) }
    }

    public func live(id: String) -> JumpSessionRecord? {
        registry.withLock { $0[id]?.record }
    }

    /// The recording file of a session.
    public func recordingURL(_ record: JumpSessionRecord) -> URL {
        recordings.appendingPathComponent(record.recordingFile)
    }

    /// Sessions an earlier run of the appliance left open are closed in the store: their agents ended the shells
    /// when the connection went.
    public func closeLeftovers() async throws {
        for var record in try await store.jumpSessions(JumpSessionFilter(activeOnly: true, limit: 10_000)) {
            record.state = .ended
            record.outcome = .applianceStopped
            record.endedAt = record.endedAt ?? clock.now()
            record.detail = "The appliance stopped while the session was open."
            if let size = try? FileManager.default.attributesOfItem(atPath: recordingURL(record).path)[.size] as? NSNumber {
                record.recordingBytes = size.int64Value
            }
            try await store.updateJumpSession(
                record,
                audit: AuditEvent(actor: "appliance", action: "session.end", target: record.clientID, detail: "\(record.id) appliance-stopped")
            )
        }
    }

    // MARK: Starting

    public struct StartRequest: Sendable {
        public var user: String
        public var clientID: String
        public var clientName: String
        public var ticket: String?
        public var columns: Int
        public var rows: Int
        public var term: String
        public var grant: JumpAuthorization.Grant
        /// An attended support session: `clientID` is a support id.
        public var attended: Bool

        public init(
            user: String, clientID: String, clientName: String, ticket: String?, columns: Int, rows: Int, term: String,
            grant: JumpAuthorization.Grant, attended: Bool = false
        ) {
            self.attended = attended
            self.user = user
            self.clientID = clientID
            self.clientName = clientName
            self.ticket = ticket
            self.columns = columns
            self.rows = rows
            self.term = term
            self.grant = grant
        }
    }

    /// Opens a channel to the agent and starts the shell. Returns once the agent has answered; the session then
    /// waits for its owner's terminal to attach.
    ///
    /// When the grant does not allow simultaneous Jumps, the session is registered only if no other user's session
    /// is open or starting on the Jump Client, checked and registered under one lock, so two representatives
    /// starting at the same moment cannot both get in.
    public func start(_ request: StartRequest) async throws(StartError) -> JumpSessionRecord {
        guard let connection = hub.connection(of: request.clientID) else {
            throw .offline("\(request.clientName) (\(request.clientID)) is not connected to the appliance now.")
        }
        let id = RandomID.make("s-")
        let now = clock.now()
        var record = JumpSessionRecord(
            id: id,
            clientID: request.clientID,
            clientName: request.clientName,
            owner: request.user,
            ticket: request.ticket,
            startedAt: now,
            jumpPolicy: request.grant.jumpPolicy?.name,
            sessionPolicies: request.grant.sessionPolicies,
            customerPresent: request.grant.customerPresent,
            scheduleOverridden: request.grant.scheduleOverridden,
            forceEndAt: request.grant.forceEnd?.end,
            recordingFile: "\(id).cast"
        )
        record.attended = request.attended ? true : nil
        let (events, continuation) = AsyncStream<PumpEvent>.makeStream()
        try registry.withLock { registry throws(StartError) in
            if !request.grant.simultaneousJumpsAllowed,
                let open = registry.values.first(where: { $0.record.clientID == request.clientID && $0.record.owner != request.user })
            {
                throw .busy(
                    "Another user is in a session on \(request.clientName) (\(open.record.id), started by \(open.record.owner)) "
                        + "and simultaneous Jumps are not allowed; ask that user to invite you."
                )
            }
            registry[id] = Entry(record: record, events: continuation, connection: connection, channel: 0)
        }
        func abandon() {
            remove(id)
            continuation.finish()
        }

        let writer: AsciicastWriter<ContinuousClock>
        do {
            writer = try openRecording(record, columns: request.columns, rows: request.rows, term: request.term)
        } catch {
            abandon()
            throw .recordingUnavailable("The session cannot be recorded, so it does not start: \(error)")
        }
        do {
            try await store.createJumpSession(
                record,
                audit: AuditEvent(actor: request.user, action: "session.start", target: request.clientID, detail: Self.startDetail(record))
            )
        } catch {
            try? writer.close()
            try? FileManager.default.removeItem(at: recordingURL(record))
            abandon()
            throw .storeFailed("The session cannot be recorded in the audit log, so it does not start: \(error)")
        }

        let pump = SessionPump(
            sessions: self,
            id: id,
            connection: connection,
            writer: writer,
            owner: request.user,
            forceEnd: request.grant.forceEnd.map { ForceEndTimer.Plan(end: $0.end, notices: $0.notices) },
            endTimeText: request.grant.endTimeText,
            events: continuation
        )
        Task { await pump.run(events) }

        // The channel id is taken, the channel opened, its route registered and the command queued in one turn of
        // the connection's event loop: ids and command numbers then reach the agent in order.
        let (hub, clientID) = (self.hub, request.clientID)
        let ack = await hub.sendCommand(to: clientID, over: connection) { [self] in
            guard let (current, channel) = hub.allocateChannel(clientID), current == connection else {
                throw StartError.offline("the connection changed")
            }
            try connection.openChannel(channel, receiveWindow: Self.receiveWindow, sendWindow: 0)
            registry.withLock { $0[id]?.channel = channel }
            continuation.yield(.channelOpened(channel))
            hub.channels.register(connection, channel: channel) { event in
                switch event {
                case .data(let bytes): continuation.yield(.agentOutput(bytes))
                case .ended(let ended): continuation.yield(.agentExited(ended))
                case .connectionClosed: continuation.yield(.agentGone)
                }
            }
            var open = WireOpenSession()
            open.channelID = channel
            open.kind = .shell
            open.user = ""
            open.columns = UInt32(clamping: request.columns)
            open.rows = UInt32(clamping: request.rows)
            open.term = request.term
            open.initialWindow = Self.receiveWindow
            open.sessionID = id
            return .openSession(open)
        }
        guard let ack, ack.result == .ok else {
            let detail =
                ack.map { "The Jump Client did not start the shell (\($0.result)): \($0.detail)" }
                ?? "The Jump Client did not answer the request to start a shell."
            // Without an answer the agent may still start the shell: the pump asks it to close the channel.
            continuation.yield(.startFailed(detail, answered: ack != nil))
            throw .agentRefused(detail)
        }
        let channel = registry.withLock { $0[id]?.channel } ?? 0
        connection.peerOpenedChannel(channel, window: ack.window)
        let started = update(id) { $0.detail = ack.detail } ?? record
        continuation.yield(.started)
        return started
    }

    private func openRecording(_ record: JumpSessionRecord, columns: Int, rows: Int, term: String) throws -> AsciicastWriter<ContinuousClock> {
        try FileManager.default.createDirectory(at: recordings, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = recordingURL(record).path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AsciicastError(.writeFailed, "cannot create \(path): \(String(cString: strerror(errno)))", errno: errno)
        }
        var policies = record.jumpPolicy.map { ["jump policy: \($0)"] } ?? []
        policies += record.sessionPolicies.map { "session policy: \($0)" }
        let header = AsciicastHeader(
            width: max(columns, 1),
            height: max(rows, 1),
            timestamp: record.startedAt,
            title: "\(record.owner) on \(record.clientName)",
            env: ["TERM": term, "SHELL": "login shell"],
            jump: .init(who: record.owner, client: record.clientID, ticket: record.ticket, policies: policies)
        )
        return try AsciicastWriter(fileDescriptor: descriptor, header: header, clock: ContinuousClock())
    }

    static func startDetail(_ record: JumpSessionRecord) -> String {
        var parts = [record.id]
        if record.isAttended { parts.append("attended support on \(record.clientName)") }
        if let ticket = record.ticket { parts.append("ticket \(ticket)") }
        if let policy = record.jumpPolicy { parts.append("jump policy \(policy)") }
        parts.append("session policies \(record.sessionPolicies.joined(separator: ", "))")
        parts.append(record.customerPresent ? "customer present" : "customer not present")
        if record.scheduleOverridden { parts.append("schedule overridden") }
        if let end = record.forceEndAt { parts.append("force end \(end.formatted(.iso8601))") }
        return parts.joined(separator: "; ")
    }

    /// Records that an attended session's computer was pinned as the Jump Client `clientID`.
    public func recordPin(_ sessionID: String, clientID: String, by user: String, group: String) async {
        let audit = AuditEvent(actor: user, action: "session.pin", target: clientID, detail: "\(sessionID) group=\(group)")
        if let record = update(sessionID, { $0.pinnedClient = clientID }) {
            await persist(record, audit: audit)
            return
        }
        // The session ended meanwhile: its record is final, but the pin happened and is audited.
        do {
            if var stored = try await store.jumpSession(id: sessionID) {
                stored.pinnedClient = clientID
                try await store.updateJumpSession(stored, audit: audit)
            } else {
                try await store.appendAudit(audit)
            }
        } catch {
            logger.error("cannot record a pin", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        }
    }

    // MARK: Participants

    /// The live session on `clientID` that `user` was invited into and may join.
    public func invitation(for user: String, clientID: String) -> JumpSessionRecord? {
        registry.withLock { registry in
            registry.values.map(\.record).first { $0.clientID == clientID && $0.invited.contains(user) }
        }
    }

    /// Lets `invitee` join; only the owner may invite.
    public func invite(_ invitee: String, to sessionID: String, by user: String) async throws(AttachError) -> JumpSessionRecord {
        let record = try registry.withLock { registry throws(AttachError) -> JumpSessionRecord in
            guard var entry = registry[sessionID] else { throw .notFound("there is no live session \(sessionID)") }
            guard entry.record.owner == user else {
                throw .notAllowed("only \(entry.record.owner), who started \(sessionID), may invite others into it")
            }
            if !entry.record.invited.contains(invitee) { entry.record.invited.append(invitee) }
            registry[sessionID] = entry
            return entry.record
        }
        await persist(record, audit: AuditEvent(actor: user, action: "session.invite", target: record.clientID, detail: "\(sessionID) \(invitee)"))
        return record
    }

    /// Attaches a terminal to a session: its owner, or a user the owner invited. `deliver` is called in order, one
    /// message at a time; the participant's task ends after delivering `.end`.
    public func attach(
        sessionID: String,
        user: String,
        deliver: @escaping @Sendable (SessionMessage) async throws -> Void
    ) throws(AttachError) -> SessionParticipant {
        let (events, connection, channel, isOwner, clientID) = try registry.withLock { registry throws(AttachError) in
            guard let entry = registry[sessionID], entry.channel != 0 else { throw .notFound("there is no live session \(sessionID)") }
            guard entry.record.owner == user || entry.record.invited.contains(user) else {
                throw .notAllowed("\(user) is neither the owner of \(sessionID) nor invited into it")
            }
            return (entry.events, entry.connection, entry.channel, entry.record.owner == user, entry.record.clientID)
        }
        let (messages, sink) = AsyncStream<SessionMessage>.makeStream()
        let participantID = UUID()
        let writer = Task {
            for await message in messages {
                do {
                    try await deliver(message)
                } catch {
                    events.yield(.detach(participantID))
                    break
                }
                if case .output(let bytes) = message { events.yield(.delivered(participantID, bytes.readableBytes)) }
                if case .end = message { break }
            }
        }
        if case .terminated = events.yield(.attach(participantID, user: user, sink: sink)) {
            sink.finish()
            throw .notFound("session \(sessionID) has ended")
        }
        return SessionParticipant(
            id: participantID,
            user: user,
            sessionID: sessionID,
            isOwner: isOwner,
            clientID: clientID,
            hub: hub,
            sessions: self,
            events: events,
            connection: connection,
            channel: channel,
            writer: writer
        )
    }

    /// Ends a session: the owner, or an administrator (`force`). `reason` replaces "USER ended the session.".
    public func end(_ sessionID: String, by user: String, force: Bool, reason: String? = nil) throws(AttachError) {
        let events = try registry.withLock { registry throws(AttachError) in
            guard let entry = registry[sessionID] else { throw .notFound("there is no live session \(sessionID)") }
            guard force || entry.record.owner == user else {
                throw .notAllowed("only \(entry.record.owner), who started \(sessionID), or an administrator may end it")
            }
            return entry.events
        }
        events.yield(.end(by: user, reason: reason))
    }

    // MARK: For the pump

    func update(_ id: String, _ change: (inout JumpSessionRecord) -> Void) -> JumpSessionRecord? {
        registry.withLock { registry in
            guard var entry = registry[id] else { return nil }
            change(&entry.record)
            registry[id] = entry
            return entry.record
        }
    }

    func remove(_ id: String) {
        _ = registry.withLock { $0.removeValue(forKey: id) }
    }

    func persist(_ record: JumpSessionRecord, audit: AuditEvent?) async {
        do {
            try await store.updateJumpSession(record, audit: audit)
        } catch {
            logger.error("cannot record a session change", metadata: ["session": "\(record.id)", "error": "\(error)"])
        }
    }
}

/// One terminal attached to a session.
public struct SessionParticipant: Sendable {
    public let id: UUID
    public let user: String
    public let sessionID: String
    /// Only the owner's window size applies.
    let isOwner: Bool
    let clientID: String
    let hub: ClientHub
    let sessions: JumpSessions
    let events: AsyncStream<PumpEvent>.Continuation
    let connection: ServerConnection
    let channel: UInt32
    let writer: Task<Void, Never>

    /// Keystrokes for the shell. Returns once the bytes are on their way to the agent, so a participant who pastes
    /// a lot waits for the shell instead of growing the appliance's queues.
    public func input(_ bytes: ByteBuffer) async {
        guard bytes.readableBytes > 0, sessions.acceptsInput(sessionID) else { return }
        try? await connection.sendData(bytes, channel: channel).get()
    }

    /// The owner's terminal changed size. Returns once the resize is queued to the agent, ahead of any input typed
    /// after it, as ssh keeps a window change and the data after it in order.
    public func resize(columns: Int, rows: Int) async {
        guard isOwner, (1...Int(ProtocolLimits.maximumTerminalColumns)).contains(columns),
            (1...Int(ProtocolLimits.maximumTerminalRows)).contains(rows)
        else { return }
        guard case .enqueued = events.yield(.resize(id, columns: columns, rows: rows)) else { return }
        var resize = WireResizeSession()
        resize.channelID = channel
        resize.columns = UInt32(columns)
        resize.rows = UInt32(rows)
        let (hub, clientID, connection, action) = (self.hub, self.clientID, self.connection, WireCommand.OneOf_Action.resizeSession(resize))
        await withCheckedContinuation { (queued: CheckedContinuation<Void, Never>) in
            Task { _ = await hub.sendCommand(to: clientID, over: connection, queued: { queued.resume() }) { action } }
        }
    }

    /// The terminal went away.
    public func leave() {
        events.yield(.detach(id))
    }

    /// Returns when the participant has been told the session ended (or its terminal failed).
    public func finished() async {
        await writer.value
    }
}

enum PumpEvent: Sendable {
    case channelOpened(UInt32)
    case started
    /// `answered`: the agent refused; otherwise it may have started the shell after all.
    case startFailed(String, answered: Bool)
    case agentOutput(ByteBuffer)
    case agentExited(WireSessionEvent)
    case agentGone
    case attach(UUID, user: String, sink: AsyncStream<SessionMessage>.Continuation)
    case detach(UUID)
    case delivered(UUID, Int)
    case resize(UUID, columns: Int, rows: Int)
    case end(by: String, reason: String?)
    case forceEndTick(generation: Int)
    case attachDeadline
    case closeDeadline
}

/// The state of one session, changed only by its own task.
final class SessionPump: @unchecked Sendable {
    struct Participant {
        var user: String
        var sink: AsyncStream<SessionMessage>.Continuation
        /// Output bytes (counted from the session's start) this participant's terminal has taken.
        var delivered: Int
    }

    let sessions: JumpSessions
    let id: String
    let connection: ServerConnection
    /// Set when the channel is opened, before anything arrives on it.
    var channel: UInt32 = 0
    let owner: String
    let events: AsyncStream<PumpEvent>.Continuation
    var writer: AsciicastWriter<ContinuousClock>?
    /// The agent answered the request to start the shell.
    var started = false

    var forceEnd: ForceEndTimer
    var participants: [UUID: Participant] = [:]
    var everAttached = false
    var backlog: [ByteBuffer] = []
    /// Output bytes received from the agent, and the part of them granted back to it.
    var received = 0
    var granted = 0
    var timerGeneration = 0
    var timers: [Task<Void, Never>] = []
    var closing: (outcome: JumpSessionRecord.Outcome, detail: String)?
    var shellRunning = false
    var done = false
    var ending: SessionEnding?
    var recordingFailed = false

    init(
        sessions: JumpSessions,
        id: String,
        connection: ServerConnection,
        writer: AsciicastWriter<ContinuousClock>,
        owner: String,
        forceEnd: ForceEndTimer.Plan?,
        endTimeText: String,
        events: AsyncStream<PumpEvent>.Continuation
    ) {
        self.sessions = sessions
        self.id = id
        self.connection = connection
        self.writer = writer
        self.owner = owner
        self.forceEnd = ForceEndTimer(plan: forceEnd, endTimeText: endTimeText)
        self.events = events
    }

    var clientID: String { sessions.live(id: id)?.clientID ?? "" }

    func run(_ stream: AsyncStream<PumpEvent>) async {
        var iterator = stream.makeAsyncIterator()
        while !done, let event = await iterator.next() {
            await handle(event)
        }
        for timer in timers { timer.cancel() }
        events.finish()
        // Terminals that attached while the session was ending are told it is over rather than left waiting.
        while let event = await iterator.next() {
            if case .attach(_, _, let sink) = event {
                sink.yield(.end(ending ?? SessionEnding(outcome: "ended", exitStatus: nil, signal: nil, detail: "The session is over.")))
                sink.finish()
            }
        }
    }

    private func handle(_ event: PumpEvent) async {
        switch event {
        case .channelOpened(let opened):
            channel = opened
        case .started:
            started = true
            shellRunning = true
            if let closing {
                // Ended (by its owner or an administrator) before the shell was up: close it now.
                self.closing = nil
                beginClose(closing.outcome, closing.detail)
                return
            }
            schedule(at: sessions.clock.now() + JumpSessions.attachTimeout) { .attachDeadline }
            forceEndTick()
        case .startFailed(let detail, let answered):
            started = true
            if !answered, channel != 0 {
                // The agent may start the shell after all: ask it to close the channel (it answers OK when it did not).
                sendClose(detail)
            }
            await complete(.failed, detail: detail)

        case .agentOutput(let bytes):
            output(bytes)
        case .agentExited(let ended):
            shellRunning = false
            let status = ended.kind == .exited && ended.signal == 0 ? ended.exitStatus : nil
            let signal = ended.kind == .exited && ended.signal != 0 ? ended.signal : nil
            if let closing {
                await complete(closing.outcome, detail: closing.detail, status: status, signal: signal)
            } else if ended.kind == .failed {
                await complete(.failed, detail: ended.detail)
            } else if let signal {
                await complete(.signaled, detail: "The shell was ended by signal \(signal).", signal: signal)
            } else {
                await complete(.exited, detail: "The shell exited with status \(status ?? 0).", status: status)
            }
        case .agentGone:
            shellRunning = false
            if let closing {
                await complete(closing.outcome, detail: closing.detail)
            } else {
                await complete(.agentDisconnected, detail: "The Jump Client's connection to the appliance was lost.")
            }
        case .attach(let participantID, let user, let sink):
            attach(participantID, user: user, sink: sink)
        case .detach(let participantID):
            guard let participant = participants.removeValue(forKey: participantID) else { return }
            participant.sink.finish()
            grant()
            if participant.user == owner, !participants.values.contains(where: { $0.user == owner }) {
                beginClose(.ended, "\(owner) left the session.")
            } else {
                broadcast(.participant(user: participant.user, joined: false))
            }
        case .delivered(let participantID, let count):
            participants[participantID]?.delivered += count
            grant()
        case .resize(_, let columns, let rows):
            // Sent to the agent by the participant itself, in order with its input; recorded here.
            record { try $0.resize(columns: columns, rows: rows) }
        case .end(let user, let reason):
            beginClose(.ended, reason ?? "\(user) ended the session.")
        case .forceEndTick(let generation):
            guard generation == timerGeneration else { return }
            forceEndTick()
        case .attachDeadline:
            if !everAttached {
                beginClose(.ended, "Nobody attached a terminal within \(Int(JumpSessions.attachTimeout)) seconds.")
            }
        case .closeDeadline:
            await complete(closing?.outcome ?? .ended, detail: (closing?.detail ?? "") + " The shell did not end in time.")
        }
    }

    private func output(_ bytes: ByteBuffer) {
        received += bytes.readableBytes
        if !recordingFailed {
            // Written through to the file before anyone sees it: nothing is shown that the recording lacks.
            record { try $0.output(bytes.readableBytesView); try $0.flush() }
        }
        guard !recordingFailed else {
            // Unrecorded output is never shown; the agent may finish sending.
            if received > granted { connection.consumed(received - granted, channel: channel) }
            granted = received
            return
        }
        if everAttached {
            for participant in participants.values { participant.sink.yield(.output(bytes)) }
            grant()
        } else {
            backlog.append(bytes)
        }
    }

    private func attach(_ participantID: UUID, user: String, sink: AsyncStream<SessionMessage>.Continuation) {
        let backlogBytes = backlog.reduce(0) { $0 + $1.readableBytes }
        participants[participantID] = Participant(user: user, sink: sink, delivered: received - backlogBytes)
        for chunk in backlog { sink.yield(.output(chunk)) }
        backlog = []
        everAttached = true
        for (otherID, other) in participants where otherID != participantID {
            other.sink.yield(.participant(user: user, joined: true))
        }
        // A user's first attach is recorded; reattaching (a terminal reconnecting) is not, so a loop of reconnects
        // cannot flood the audit log.
        var first = false
        let record = sessions.update(id) { record in
            if !record.participants.contains(user) {
                record.participants.append(user)
                first = true
            }
        }
        if let record, first {
            let sessions = self.sessions
            let detail = user == owner ? "\(id) attached" : "\(id) joined, invited by \(owner)"
            Task { await sessions.persist(record, audit: AuditEvent(actor: user, action: "session.join", target: record.clientID, detail: detail)) }
        }
    }

    /// Grants the agent the output every participant has taken.
    private func grant() {
        guard everAttached else { return }
        let floor = participants.values.map(\.delivered).min() ?? received
        guard floor > granted else { return }
        connection.consumed(floor - granted, channel: channel)
        granted = floor
    }

    private func broadcast(_ message: SessionMessage) {
        for participant in participants.values { participant.sink.yield(message) }
    }

    /// Writes to the recording; the first failure ends the session (a session is never left unrecorded).
    private func record(_ body: (AsciicastWriter<ContinuousClock>) throws -> Void) {
        guard let writer, !recordingFailed else { return }
        do {
            try body(writer)
        } catch {
            recordingFailed = true
            broadcast(.notice(level: "warning", text: "\(error)", secondsRemaining: 0))
            beginClose(.recordingFailed, "\(error)")
        }
    }

    private func forceEndTick() {
        switch forceEnd.next(now: sessions.clock.now()) {
        case .wait(let until):
            timerGeneration += 1
            let generation = timerGeneration
            schedule(at: until) { .forceEndTick(generation: generation) }
        case .notice(let text, let minutesLeft):
            broadcast(.notice(level: "warning", text: text, secondsRemaining: minutesLeft * 60))
            forceEndTick()
        case .end(let reason):
            beginClose(.forceEnded, reason)
        case .none:
            break
        }
    }

    private func schedule(at deadline: Date, _ event: @escaping @Sendable () -> PumpEvent) {
        let (clock, events) = (sessions.clock, self.events)
        timers.append(
            Task {
                do {
                    try await clock.sleep(until: deadline)
                    events.yield(event())
                } catch {}
            }
        )
    }

    /// Asks the agent to end the shell; the session completes when it has (or after `closeTimeout`).
    private func beginClose(_ outcome: JumpSessionRecord.Outcome, _ detail: String) {
        guard closing == nil, !done else { return }
        closing = (outcome, detail)
        sessions.stopInput(id)
        // Not started yet: `.started` closes it, `.startFailed` completes it.
        guard started else { return }
        guard shellRunning else {
            Task { [events] in events.yield(.closeDeadline) }
            return
        }
        if outcome != .ended || !detail.hasSuffix("left the session.") {
            broadcast(.notice(level: "warning", text: detail, secondsRemaining: 0))
        }
        sendClose(detail)
        schedule(at: sessions.clock.now() + JumpSessions.closeTimeout) { .closeDeadline }
    }

    private func sendClose(_ reason: String) {
        var close = WireCloseSession()
        close.channelID = channel
        close.reason = reason
        let (sessions, clientID, connection, action) = (self.sessions, self.clientID, self.connection, WireCommand.OneOf_Action.closeSession(close))
        Task { _ = await sessions.hub.sendCommand(to: clientID, over: connection) { action } }
    }

    private func complete(
        _ outcome: JumpSessionRecord.Outcome,
        detail: String,
        status: Int32? = nil,
        signal: Int32? = nil
    ) async {
        guard !done else { return }
        done = true
        var detail = detail
        var outcome = outcome
        if let writer {
            do {
                try writer.close()
            } catch {
                if outcome != .recordingFailed {
                    detail += " The recording could not be completed: \(error)"
                    outcome = .recordingFailed
                }
            }
        }
        writer = nil
        let (connection, channel, router) = (self.connection, self.channel, sessions.hub.channels)
        if shellRunning, channel != 0 {
            // The agent has not reported the shell's end (it did not close in time): keep taking its output, unseen,
            // so that it can finish sending, report the end and free the channel.
            if received > granted { connection.consumed(received - granted, channel: channel) }
            router.register(connection, channel: channel) { event in
                switch event {
                case .data(let bytes):
                    connection.consumed(bytes.readableBytes, channel: channel)
                case .ended, .connectionClosed:
                    router.unregister(connection, channel: channel)
                    connection.closeChannel(channel)
                }
            }
        } else if channel != 0 {
            router.unregister(connection, channel: channel)
            connection.closeChannel(channel)
        }
        let now = sessions.clock.now()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: sessions.recordings.appendingPathComponent("\(id).cast").path)[.size] as? NSNumber)?.int64Value ?? 0
        let record = sessions.update(id) { record in
            record.state = .ended
            record.endedAt = now
            record.outcome = outcome
            record.exitStatus = status
            record.signal = signal
            record.detail = detail
            record.recordingBytes = bytes
        }
        // Stored before anyone is told, so that what a participant sees is already in the audit log.
        if let record {
            var audit = "\(id) \(outcome.rawValue)"
            if let status { audit += " status \(status)" }
            if let signal { audit += " signal \(signal)" }
            audit += "; \(detail); recording \(bytes) bytes"
            await sessions.persist(record, audit: AuditEvent(actor: record.owner, action: "session.end", target: record.clientID, detail: audit))
        }
        sessions.remove(id)
        let ending = SessionEnding(outcome: outcome.rawValue, exitStatus: status, signal: signal, detail: detail)
        self.ending = ending
        for participant in participants.values {
            participant.sink.yield(.end(ending))
            participant.sink.finish()
        }
        participants = [:]
        // An attended session is the support connection's only purpose: the end user's agent is done too.
        if let record, record.isAttended {
            if outcome == .failed {
                // The shell could not run: the end user may be accepted again rather than need a new code.
                sessions.hub.support.release(record.clientID, session: record.id)
                sessions.hub.support.tell(record.clientID, "The session could not run: \(detail)")
            } else {
                sessions.hub.support.finish(record.clientID, outcome: outcome.rawValue)
            }
        }
    }
}
