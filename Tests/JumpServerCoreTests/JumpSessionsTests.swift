import Foundation
import JumpPolicy
import JumpProtocol
import JumpServerCore
import JumpSessionCore
import JumpStore
import JumpTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing
import X509

/// The appliance's side of Jump sessions against a real TLS agent connection: the agent here is the protocol's
/// own handler with a scripted shell (the real shell is tested in the agent's suites and end to end), so that the
/// appliance's rules can be driven exactly: a manual clock for the forced end, a full disk for strict recording.
@Suite(.serialized, .timeLimit(.minutes(2))) struct JumpSessionsTests {
    static let start = Date(timeIntervalSince1970: 1_767_603_600)  // Monday 2026-01-05 09:00 UTC

    struct Fixture {
        let harness: ApplianceHarness
        let agent: ScriptedShellAgent
        let clientID: String
        let clock: ManualSessionClock
        let sessions: JumpSessions
        let recordings: URL

        static func make(recordings: URL? = nil) async throws -> Fixture {
            let harness = try await ApplianceHarness.start()
            let enroller = TestAgent()
            let installer = try await harness.makeInstaller(expiresIn: 86_400)
            let response = try await enroller.enroll(harness, token: installer.token)
            let agent = ScriptedShellAgent()
            try await agent.connect(
                port: harness.port,
                trusting: harness.ca.certificate,
                identity: try enroller.identity(from: response),
                gate: CommandGate(agentID: response.clientID, lastSequence: 0)
            )
            try await eventually { harness.hub.isConnected(response.clientID) }
            let clock = ManualSessionClock(JumpSessionsTests.start)
            let recordings = recordings ?? harness.directory.appendingPathComponent("recordings")
            let sessions = JumpSessions(
                hub: harness.hub,
                store: harness.store,
                recordingsDirectory: recordings,
                clock: clock,
                logger: Logger(label: "test")
            )
            return Fixture(harness: harness, agent: agent, clientID: response.clientID, clock: clock, sessions: sessions, recordings: recordings)
        }

        func start(owner: String = "alice", forceEnd: JumpPolicy.ForceEnd? = nil) async throws -> JumpSessionRecord {
            try await sessions.start(
                JumpSessions.StartRequest(
                    user: owner,
                    clientID: clientID,
                    clientName: "kiosk",
                    ticket: "T-42",
                    columns: 100,
                    rows: 30,
                    term: "xterm",
                    grant: JumpAuthorization.Grant(
                        jumpPolicy: nil,
                        sessionPolicies: ["Global Default"],
                        customerPresent: false,
                        scheduleOverridden: false,
                        forceEnd: forceEnd,
                        endTimeText: "09:16 UTC"
                    )
                )
            )
        }

        func stored(_ id: String) async throws -> JumpSessionRecord {
            try #require(try await harness.store.jumpSession(id: id))
        }
    }

    /// Waits for `condition`, failing after `timeout`.
    static func eventually(_ timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("a condition did not come true in \(timeout)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func theScheduleWarnsAndThenEndsTheSession() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.harness.stop() } }
        let start = Self.start
        let plan = JumpPolicy.ForceEnd(end: start + 16 * 60, notices: [start + 60, start + 6 * 60, start + 11 * 60, start + 15 * 60])
        let record = try await fixture.start(forceEnd: plan)
        #expect(record.state == .active)
        #expect(record.forceEndAt == plan.end)
        #expect(record.detail == "shell as tester (pid 4242)")
        let inbox = Inbox()
        let participant = try fixture.sessions.attach(sessionID: record.id, user: "alice", deliver: inbox.deliver)
        try await Self.eventually { inbox.text.contains("hello from the shell") }

        // Nothing before the first notice; the notices then come at 15 minutes and, having skipped two, at 1.
        fixture.clock.advance(to: start + 59)
        fixture.clock.advance(to: start + 60)
        try await Self.eventually { inbox.notices.count == 1 }
        #expect(inbox.notices[0].contains("ends in 15 minutes"))
        #expect(inbox.notices[0].contains("09:16 UTC"))
        fixture.clock.advance(to: start + 15 * 60 + 1)
        try await Self.eventually { inbox.notices.count == 2 }
        #expect(inbox.notices[1].contains("ends in 1 minute:"))
        #expect(fixture.agent.closes.withLock(\.count) == 0)

        // At the end the agent is asked to close the shell, and the session ends as forced.
        fixture.clock.advance(to: plan.end)
        try await Self.eventually { inbox.ending != nil }
        await participant.finished()
        #expect(fixture.agent.closes.withLock(\.count) == 1)
        #expect(inbox.ending?.outcome == "force-ended")
        #expect(inbox.ending?.signal == 1)
        let stored = try await fixture.stored(record.id)
        #expect(stored.state == .ended)
        #expect(stored.outcome == .forceEnded)
        #expect(stored.endedAt == plan.end)
        #expect(stored.participants == ["alice"])
        #expect(stored.detail.contains("does not permit access after 09:16 UTC"))
        #expect(fixture.sessions.live(id: record.id) == nil)

        // The recording holds what the participant saw, and the audit log the start, the join and the end.
        let replay = try AsciicastReplay(contentsOf: fixture.sessions.recordingURL(stored))
        #expect(replay.output(through: nil) == "hello from the shell\r\n")
        #expect(replay.header.jump?.ticket == "T-42")
        #expect(stored.recordingBytes > 0)
        for action in ["session.start", "session.join", "session.end"] {
            #expect(try await fixture.harness.auditRecords(action: action, atLeast: 1).count == 1, "\(action)")
        }
    }

    @Test func onlyTheOwnerInvitesAndTheInvitedJoinTheSameSession() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.harness.stop() } }
        let record = try await fixture.start()
        let alice = Inbox()
        let owner = try fixture.sessions.attach(sessionID: record.id, user: "alice", deliver: alice.deliver)
        #expect(throws: JumpSessions.AttachError.self) {
            try fixture.sessions.attach(sessionID: record.id, user: "bob", deliver: Inbox().deliver)
        }
        await #expect(throws: JumpSessions.AttachError.self) {
            try await fixture.sessions.invite("carol", to: record.id, by: "bob")
        }
        _ = try await fixture.sessions.invite("bob", to: record.id, by: "alice")
        #expect(fixture.sessions.invitation(for: "bob", clientID: fixture.clientID)?.id == record.id)
        let bob = Inbox()
        let guest = try fixture.sessions.attach(sessionID: record.id, user: "bob", deliver: bob.deliver)
        try await Self.eventually { alice.joined.contains("bob") }

        // Both type into the one shell and both see its output.
        await guest.input(ByteBuffer(string: "from bob\n"))
        await owner.input(ByteBuffer(string: "from alice\n"))
        try await Self.eventually { fixture.agent.input.contains("from bob\n") && fixture.agent.input.contains("from alice\n") }
        fixture.agent.print("shared output\r\n")
        try await Self.eventually { alice.text.contains("shared output") && bob.text.contains("shared output") }

        // The guest leaving leaves the session open; the owner leaving ends it for everyone.
        guest.leave()
        try await Self.eventually { alice.left.contains("bob") }
        owner.leave()
        try await Self.eventually { fixture.sessions.live(id: record.id) == nil }
        let stored = try await fixture.stored(record.id)
        #expect(stored.outcome == .ended)
        #expect(stored.participants == ["alice", "bob"])
        #expect(stored.invited == ["bob"])
    }

    @Test func aLostAgentAndARefusedShellEndTheSessionWithTheReason() async throws {
        let fixture = try await Fixture.make()
        defer { Task { await fixture.harness.stop() } }

        fixture.agent.refuse.withLock { $0 = "this Jump Client runs sessions as kiosk only" }
        let error = await #expect(throws: JumpSessions.StartError.self) { try await fixture.start() }
        #expect(error?.description.contains("runs sessions as kiosk only") == true)
        let refused = try #require(try await fixture.harness.store.jumpSessions(JumpSessionFilter()).first)
        try await Self.eventually { try await fixture.stored(refused.id).state == .ended }
        let failed = try await fixture.stored(refused.id)
        #expect(failed.outcome == .failed)
        #expect(failed.detail.contains("runs sessions as kiosk only"))

        fixture.agent.refuse.withLock { $0 = nil }
        let record = try await fixture.start()
        let inbox = Inbox()
        let participant = try fixture.sessions.attach(sessionID: record.id, user: "alice", deliver: inbox.deliver)
        fixture.agent.disconnect()
        await participant.finished()
        #expect(inbox.ending?.outcome == "agent-disconnected")
        #expect(try await fixture.stored(record.id).outcome == .agentDisconnected)
    }

    @Test(.enabled(if: geteuid() == 0, "mounting the full tmpfs needs root; CI runs as root"))
    func aSessionThatCannotBeRecordedEnds() async throws {
        // A real full disk: a 64 KiB tmpfs for the recordings.
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("jump-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mount = try ProcessResult.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint.path])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.error)")
        defer { _ = try? ProcessResult.run("/usr/bin/umount", [mountPoint.path]) }
        let fixture = try await Fixture.make(recordings: mountPoint)
        defer { Task { await fixture.harness.stop() } }
        let record = try await fixture.start()
        let inbox = Inbox()
        let participant = try fixture.sessions.attach(sessionID: record.id, user: "alice", deliver: inbox.deliver)
        for _ in 0..<12 { fixture.agent.print(String(repeating: "x", count: 16 * 1024)) }
        try await Self.eventually { inbox.ending != nil }
        await participant.finished()
        #expect(fixture.agent.closes.withLock(\.count) == 1)
        #expect(inbox.ending?.outcome == "recording-failed")
        #expect(inbox.notices.contains { $0.contains("disk holding it is full") })
        let stored = try await fixture.stored(record.id)
        #expect(stored.outcome == .recordingFailed)
        // The participant never saw anything the recording does not hold: output is written through first.
        let recorded = try String(contentsOf: fixture.sessions.recordingURL(stored), encoding: .utf8).filter { $0 == "x" }.count
        #expect(inbox.text.filter { $0 == "x" }.count <= recorded)
    }
}

/// What a participant's terminal received.
final class Inbox: Sendable {
    private let messages = Mutex<[SessionMessage]>([])

    var deliver: @Sendable (SessionMessage) async throws -> Void {
        { message in self.messages.withLock { $0.append(message) } }
    }

    var text: String {
        messages.withLock { messages in
            messages.compactMap { if case .output(let bytes) = $0 { String(buffer: bytes) } else { nil } }.joined()
        }
    }

    var notices: [String] {
        messages.withLock { $0.compactMap { if case .notice(_, let text, _) = $0 { text } else { nil } } }
    }

    var joined: [String] {
        messages.withLock { $0.compactMap { if case .participant(let user, true) = $0 { user } else { nil } } }
    }

    var left: [String] {
        messages.withLock { $0.compactMap { if case .participant(let user, false) = $0 { user } else { nil } } }
    }

    var ending: SessionEnding? {
        messages.withLock { $0.lazy.compactMap { if case .end(let ending) = $0 { ending } else { nil } }.first }
    }
}

/// A manual clock for session deadlines: sleepers wake when the test advances past their deadline.
final class ManualSessionClock: SessionClock {
    private let state: Mutex<(now: Date, sleepers: [(deadline: Date, continuation: CheckedContinuation<Void, any Error>)])>

    init(_ start: Date) {
        state = Mutex((start, []))
    }

    func now() -> Date { state.withLock(\.now) }

    func sleep(until deadline: Date) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let due = state.withLock { state in
                if state.now >= deadline { return true }
                state.sleepers.append((deadline, continuation))
                return false
            }
            if due { continuation.resume() }
        }
    }

    func advance(to date: Date) {
        let due = state.withLock { state in
            state.now = date
            let due = state.sleepers.filter { $0.deadline <= date }
            state.sleepers.removeAll { $0.deadline <= date }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// An agent connection with a scripted shell: it opens the channel the appliance asks for, prints a greeting,
/// collects input, and ends the shell with SIGHUP when asked to close it.
final class ScriptedShellAgent: AgentConnectionDelegate {
    let connection = Mutex<AgentConnection?>(nil)
    let channel = Mutex<UInt32>(0)
    let closes = Mutex<[WireCloseSession]>([])
    let inputBytes = Mutex<[UInt8]>([])
    /// When set, OpenSession is refused with this detail.
    let refuse = Mutex<String?>(nil)
    static let window: UInt32 = 256 * 1024

    var input: String { String(decoding: inputBytes.withLock { $0 }, as: UTF8.self) }

    func connect(port: Int, trusting ca: Certificate, identity: TLSIdentity, gate: CommandGate) async throws {
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: ca, identity: identity))
        _ = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    try channel.pipeline.syncOperations.addJumpFraming(
                        AgentConnectionHandler(
                            configuration: .init(purpose: .serve(gate), hello: WireHello()),
                            clock: ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) }),
                            delegate: self
                        )
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        try await JumpSessionsTests.eventually { self.connection.withLock { $0 != nil } }
    }

    func print(_ text: String) {
        guard let connection = connection.withLock({ $0 }) else { return }
        connection.sendData(ByteBuffer(string: text), channel: channel.withLock { $0 })
    }

    func disconnect() {
        connection.withLock { $0 }?.channel.close(promise: nil)
    }

    func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
        self.connection.withLock { $0 = connection }
    }

    func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
        switch command.action {
        case .openSession(let open):
            if let detail = refuse.withLock({ $0 }) {
                connection.send(.ack(WireAck(ref: id, .refused, detail)))
                return
            }
            try? connection.openChannel(open.channelID, receiveWindow: Self.window, sendWindow: open.initialWindow)
            channel.withLock { $0 = open.channelID }
            var ack = WireAck(ref: id, .ok, "shell as tester (pid 4242)")
            ack.window = Self.window
            connection.send(.ack(ack))
            connection.sendData(ByteBuffer(string: "hello from the shell\r\n"), channel: open.channelID)
        case .closeSession(let close):
            closes.withLock { $0.append(close) }
            connection.send(.ack(WireAck(ref: id, .ok)))
            var ended = WireSessionEvent()
            ended.channelID = close.channelID
            ended.kind = .exited
            ended.signal = 1
            connection.send(.sessionEvent(ended))
        default:
            connection.send(.ack(WireAck(ref: id, .ok)))
        }
    }

    func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {}

    func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {
        inputBytes.withLock { $0 += data.readableBytesView }
        connection.consumed(data.readableBytes, channel: channel)
    }

    func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
        self.connection.withLock { $0 = nil }
    }
}

struct ProcessResult {
    var status: Int32
    var error: String

    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, error: String(decoding: data, as: UTF8.self))
    }
}
