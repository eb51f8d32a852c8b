import JumpAgentCore
import JumpProtocol
import Logging
import NIOCore
import Testing

/// ``SessionChannels`` between an in-memory connection that keeps the protocol's windows (the
/// `ChannelTable` the real handlers use) and terminals that keep an output window like `ShellSession`.
/// Every step is driven by the test: host events and timers run only when the test says so.
@Suite struct SessionChannelsTests {
    // MARK: Twins

    /// A connection on one serial context (the test's thread): control messages are written at once;
    /// DATA waits in a queue until ``flush()`` writes what the send window allows, as ConnectionOutput does.
    final class MemoryTransport: SessionTransport, @unchecked Sendable {
        enum Record: Equatable {
            case opened(UInt32, receive: UInt32, send: UInt32)
            case control(ControlMessage)
            case data(UInt32, [UInt8])
            case consumed(UInt32, Int)
            case closed(UInt32)
        }

        private struct Queued {
            var bytes: ByteBuffer
            let written: @Sendable (Bool) -> Void
        }

        var log: [Record] = []
        private var table = ChannelTable()
        private var queued: [UInt32: [Queued]] = [:]
        private var tasks: [@Sendable () -> Void] = []
        private var timers: [@Sendable () -> Void] = []
        var isClosed = false

        func execute(_ body: @escaping @Sendable () -> Void) { tasks.append(body) }
        func schedule(after delay: TimeAmount, _ body: @escaping @Sendable () -> Void) { timers.append(body) }

        func sendControl(_ message: ControlMessage) {
            guard !isClosed else { return }
            log.append(.control(message))
        }

        func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
            try table.openChannel(id, receiveWindow: receiveWindow, sendWindow: sendWindow)
            log.append(.opened(id, receive: receiveWindow, send: sendWindow))
        }

        func closeChannel(_ id: UInt32) {
            table.closeChannel(id)
            log.append(.closed(id))
            for entry in queued.removeValue(forKey: id) ?? [] { entry.written(false) }
        }

        func queueData(_ bytes: ByteBuffer, channel: UInt32, written: @escaping @Sendable (Bool) -> Void) {
            guard !isClosed, table.open[channel] != nil else {
                written(false)
                return
            }
            queued[channel, default: []].append(Queued(bytes: bytes, written: written))
        }

        func consumed(_ length: Int, channel: UInt32) { log.append(.consumed(channel, length)) }

        /// Runs what the host handed to the connection's context, in order, until nothing is left.
        func run() {
            while !tasks.isEmpty { tasks.removeFirst()() }
        }

        /// Fires the timers set so far.
        func fireTimers() {
            let due = timers
            timers = []
            for timer in due { timer() }
        }

        var pendingTimers: Int { timers.count }

        /// Writes queued DATA within the send windows; callbacks for what was written in full.
        func flush() {
            for channel in queued.keys.sorted() {
                while var head = queued[channel]?.first {
                    let granted = table.reserveSend(head.bytes.readableBytes, on: channel)
                    guard granted > 0 else { break }
                    log.append(.data(channel, Array(head.bytes.readSlice(length: granted)!.readableBytesView)))
                    if head.bytes.readableBytes == 0 {
                        queued[channel]!.removeFirst()
                        if queued[channel]!.isEmpty { queued[channel] = nil }
                        head.written(true)
                    } else {
                        queued[channel]![0] = head
                    }
                }
            }
        }

        func grant(_ increment: UInt32, on channel: UInt32) throws {
            try table.windowUpdate(increment, on: channel)
        }

        /// Bytes waiting for window.
        func queuedBytes(on channel: UInt32) -> Int {
            queued[channel]?.reduce(0) { $0 + $1.bytes.readableBytes } ?? 0
        }

        func lose() {
            isClosed = true
            let all = queued
            queued = [:]
            for entry in all.values.joined() { entry.written(false) }
        }

        var controls: [ControlMessage] {
            log.compactMap { if case .control(let message) = $0 { message } else { nil } }
        }

        func output(on channel: UInt32) -> [UInt8] {
            log.flatMap { record -> [UInt8] in
                if case .data(channel, let bytes) = record { bytes } else { [] }
            }
        }

        func consumed(on channel: UInt32) -> Int {
            log.reduce(0) { if case .consumed(channel, let n) = $1 { $0 + n } else { $0 } }
        }
    }

    final class MemoryHost: TerminalHost, @unchecked Sendable {
        var terminals: [MemoryTerminal] = []
        var failure: TerminalError?
        /// Output a terminal produces while it is being started, before `start` returns.
        var greeting: [UInt8] = []
        var outputWindow = 64 * 1024
        var inputCapacity = 64 * 1024

        func start(
            _ request: TerminalRequest,
            events: @escaping @Sendable (TerminalEvent) -> Void
        ) throws(TerminalError) -> any TerminalSession {
            if let failure { throw failure }
            let terminal = MemoryTerminal(
                request: request,
                pid: 100 + terminals.count,
                window: outputWindow,
                inputCapacity: inputCapacity,
                events: events
            )
            terminals.append(terminal)
            if !greeting.isEmpty { terminal.produce(greeting) }
            return terminal
        }
    }

    /// Produces output only within its window of unacknowledged bytes, as ShellSession does.
    final class MemoryTerminal: TerminalSession, @unchecked Sendable {
        let request: TerminalRequest
        let summary: String
        let window: Int
        let inputCapacity: Int
        let events: @Sendable (TerminalEvent) -> Void
        private(set) var outstanding = 0
        private(set) var highestOutstanding = 0
        private var unsent: [UInt8] = []
        private var pendingExit: TerminalExit?
        var inputQueue: [UInt8] = []
        var input: [UInt8] = []
        var sizes: [TerminalSize] = []
        var terminated = false
        var acknowledged = 0

        struct TerminalSize: Equatable {
            var columns: UInt16
            var rows: UInt16
        }

        init(
            request: TerminalRequest,
            pid: Int,
            window: Int,
            inputCapacity: Int,
            events: @escaping @Sendable (TerminalEvent) -> Void
        ) {
            self.request = request
            self.summary = "shell as \(request.user) (pid \(pid))"
            self.window = window
            self.inputCapacity = inputCapacity
            self.events = events
        }

        /// The program writes `bytes`; they come out as the window allows.
        func produce(_ bytes: [UInt8]) {
            unsent += bytes
            pump()
        }

        /// The program ends; the exit follows the last output.
        func exit(_ exit: TerminalExit) {
            pendingExit = exit
            pump()
        }

        private func pump() {
            while !unsent.isEmpty, outstanding < window {
                let count = min(unsent.count, window - outstanding, 16 * 1024)
                outstanding += count
                highestOutstanding = max(highestOutstanding, outstanding)
                events(.output(Array(unsent.prefix(count))))
                unsent.removeFirst(count)
            }
            if unsent.isEmpty, let exit = pendingExit {
                pendingExit = nil
                events(.exited(exit))
            }
        }

        func write(_ bytes: [UInt8]) throws(TerminalError) {
            guard inputQueue.count + bytes.count <= inputCapacity else {
                throw TerminalError(.inputQueueFull, "full")
            }
            inputQueue += bytes
        }

        /// The program reads what is queued.
        func read() {
            input += inputQueue
            inputQueue = []
        }

        func resize(columns: UInt16, rows: UInt16) throws(TerminalError) {
            sizes.append(TerminalSize(columns: columns, rows: rows))
        }

        func acknowledge(bytes: Int) {
            precondition(bytes <= outstanding, "acknowledged more than was delivered")
            acknowledged += bytes
            outstanding -= bytes
            pump()
        }

        func terminate() { terminated = true }
    }

    struct Fixture {
        let transport = MemoryTransport()
        let host = MemoryHost()
        let channels: SessionChannels

        init(user: String = "root", hasHost: Bool = true) {
            channels = SessionChannels(
                transport: transport,
                configuration: .init(host: hasHost ? host : nil, user: SessionUser(user)),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        @discardableResult
        func open(
            _ channel: UInt32,
            id: UInt64? = nil,
            user: String = "",
            columns: UInt32 = 80,
            rows: UInt32 = 24,
            kind: WireSessionKind = .shell,
            window: UInt32 = 256 * 1024
        ) -> WireAck? {
            var request = WireOpenSession()
            request.channelID = channel
            request.kind = kind
            request.user = user
            request.columns = columns
            request.rows = rows
            request.term = "xterm-256color"
            request.initialWindow = window
            let id = id ?? UInt64(channel) * 10
            #expect(channels.handle(.openSession(request), id: id))
            return ack(id)
        }

        func ack(_ id: UInt64) -> WireAck? {
            for case .ack(let ack) in transport.controls.reversed() where ack.ref == id { return ack }
            return nil
        }

        var sessionEvents: [WireSessionEvent] {
            transport.controls.compactMap { if case .sessionEvent(let event) = $0 { event } else { nil } }
        }
    }

    static func exited(_ channel: UInt32, status: Int32 = 0, signal: Int32 = 0) -> WireSessionEvent {
        var event = WireSessionEvent()
        event.channelID = channel
        event.kind = .exited
        event.exitStatus = status
        event.signal = signal
        return event
    }

    // MARK: Opening

    @Test func acceptedSessionIsAcknowledgedBeforeAnyOfItsOutput() throws {
        let fixture = Fixture()
        fixture.host.greeting = Array("Last login: never\r\n".utf8)
        let ack = try #require(fixture.open(1, window: 1000))
        #expect(ack.result == .ok)
        #expect(ack.window == ProtocolLimits.defaultInitialWindowSize)
        #expect(ack.detail == "shell as root (pid 100)")
        fixture.transport.run()
        fixture.transport.flush()
        // The greeting was produced before start returned, yet the Ack is on the wire first.
        #expect(
            fixture.transport.log == [
                .opened(1, receive: ProtocolLimits.defaultInitialWindowSize, send: 1000),
                .control(.ack(ack)),
                .data(1, Array("Last login: never\r\n".utf8)),
            ]
        )
        let terminal = try #require(fixture.host.terminals.first)
        #expect(terminal.request == TerminalRequest(user: "root", columns: 80, rows: 24, term: "xterm-256color"))
        #expect(terminal.acknowledged == 19)
    }

    @Test func emptyUserMeansTheConfiguredOneAndTheSameNameIsAccepted() throws {
        let fixture = Fixture(user: "support")
        #expect(fixture.open(1)?.result == .ok)
        #expect(fixture.open(2, user: "support")?.result == .ok)
        #expect(fixture.host.terminals.map(\.request.user) == ["support", "support"])
    }

    enum Refusal: String, CaseIterable {
        case noHost, otherUser, zeroColumns, tooManyRows, notAShell, spawnFails
    }

    @Test(arguments: Refusal.allCases)
    func refusedSessionsSayWhyAndLeaveNothingOpen(_ refusal: Refusal) throws {
        let fixture = Fixture(hasHost: refusal != .noHost)
        fixture.host.failure =
            refusal == .spawnFails ? TerminalError(.startFailed, "cannot start /usr/sbin/runuser: No such file") : nil
        let ack = try #require(
            fixture.open(
                1,
                user: refusal == .otherUser ? "alice" : "",
                columns: refusal == .zeroColumns ? 0 : 80,
                rows: refusal == .tooManyRows ? 1001 : 24,
                kind: refusal == .notAShell ? .unspecified : .shell
            )
        )
        let expected: (WireAckResult, String) =
            switch refusal {
            case .noHost: (.refused, "this agent cannot run sessions")
            case .otherUser: (.refused, "this Jump Client runs sessions as root only")
            case .zeroColumns:
                (.invalid, "a terminal of 0x24 is not possible: 1 to 1000 columns and 1 to 1000 rows")
            case .tooManyRows:
                (.invalid, "a terminal of 80x1001 is not possible: 1 to 1000 columns and 1 to 1000 rows")
            case .notAShell: (.refused, "this agent runs shell sessions only")
            case .spawnFails: (.failed, "cannot start /usr/sbin/runuser: No such file")
            }
        #expect(ack.result == expected.0)
        #expect(ack.detail == expected.1)
        #expect(ack.window == 0)
        #expect(fixture.channels.count == 0)
        // A failed start closes the channel it had opened; the others never open one.
        let channelRecords = fixture.transport.log.filter { if case .control = $0 { false } else { true } }
        if refusal == .spawnFails {
            #expect(
                channelRecords == [
                    .opened(1, receive: ProtocolLimits.defaultInitialWindowSize, send: 256 * 1024), .closed(1),
                ]
            )
        } else {
            #expect(channelRecords.isEmpty)
        }
    }

    @Test func theSeventeenthSessionIsRefused() throws {
        let fixture = Fixture()
        for channel in 1...UInt32(ProtocolLimits.maximumOpenChannels) {
            #expect(fixture.open(channel)?.result == .ok)
        }
        let ack = try #require(fixture.open(17))
        #expect(ack.result == .refused)
        #expect(ack.detail == "16 sessions are open already; close one first")
    }

    @Test func aReusedChannelNumberIsInvalid() throws {
        let fixture = Fixture()
        #expect(fixture.open(2)?.result == .ok)
        let ack = try #require(fixture.open(1, id: 99))
        #expect(ack.result == .invalid)
        #expect(fixture.host.terminals.count == 1)
    }

    // MARK: Output

    @Test func outputStaysWithinTheWindowsAndArrivesWhole() throws {
        let fixture = Fixture()
        fixture.host.outputWindow = 64 * 1024
        let grant: UInt32 = 32 * 1024
        #expect(fixture.open(1, window: grant)?.result == .ok)
        let terminal = try #require(fixture.host.terminals.first)
        let produced = (0..<(1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        terminal.produce(produced)
        var granted = Int(grant)
        while fixture.transport.output(on: 1).count < produced.count {
            fixture.transport.run()
            fixture.transport.flush()
            let sent = fixture.transport.output(on: 1).count
            // Never more on the wire than the appliance granted, never more held here than the terminal's window.
            #expect(sent <= granted)
            #expect(fixture.transport.queuedBytes(on: 1) <= terminal.window)
            #expect(terminal.acknowledged <= sent)
            try fixture.transport.grant(grant, on: 1)
            granted += Int(grant)
        }
        #expect(fixture.transport.output(on: 1) == produced)
        #expect(terminal.acknowledged == produced.count)
        #expect(terminal.highestOutstanding <= terminal.window)
    }

    @Test func theExitIsReportedOnlyAfterTheLastByteIsWritten() throws {
        let fixture = Fixture()
        #expect(fixture.open(1, window: 10)?.result == .ok)
        let terminal = try #require(fixture.host.terminals.first)
        terminal.produce(Array(repeating: 0x41, count: 25))
        terminal.exit(.status(3))
        fixture.transport.run()
        fixture.transport.flush()
        #expect(fixture.transport.output(on: 1).count == 10)
        #expect(fixture.sessionEvents.isEmpty)
        try fixture.transport.grant(10, on: 1)
        fixture.transport.flush()
        #expect(fixture.sessionEvents.isEmpty)
        try fixture.transport.grant(10, on: 1)
        fixture.transport.flush()
        #expect(
            fixture.transport.log.suffix(3) == [
                .data(1, Array(repeating: 0x41, count: 5)),
                .control(.sessionEvent(Self.exited(1, status: 3))),
                .closed(1),
            ]
        )
        #expect(fixture.channels.count == 0)
    }

    @Test func aSignalEndsTheSessionWithThatSignal() throws {
        let fixture = Fixture()
        fixture.open(1)
        try #require(fixture.host.terminals.first).exit(.signal(9))
        fixture.transport.run()
        #expect(fixture.sessionEvents == [Self.exited(1, signal: 9)])
    }

    // MARK: Input

    @Test func inputWaitsInOrderWhileTheTerminalIsFullAndTheWindowFollowsWhatItTook() throws {
        let fixture = Fixture()
        fixture.host.inputCapacity = 8 * 1024
        fixture.open(1)
        let terminal = try #require(fixture.host.terminals.first)
        let typed = (0..<(20 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        fixture.channels.received(ByteBuffer(bytes: typed.prefix(12 * 1024)), channel: 1)
        fixture.channels.received(ByteBuffer(bytes: typed.dropFirst(12 * 1024)), channel: 1)
        #expect(fixture.transport.consumed(on: 1) == 8 * 1024)
        #expect(fixture.transport.pendingTimers == 1)
        // Nothing drains: the retry finds the terminal full again and waits once more.
        fixture.transport.fireTimers()
        #expect(fixture.transport.consumed(on: 1) == 8 * 1024)
        while fixture.transport.consumed(on: 1) < typed.count {
            terminal.read()
            fixture.transport.fireTimers()
        }
        terminal.read()
        #expect(terminal.input == typed)
        #expect(fixture.transport.pendingTimers == 0)
    }

    @Test func inputForAFinishedSessionIsDropped() throws {
        let fixture = Fixture()
        fixture.open(1)
        try #require(fixture.host.terminals.first).exit(.status(0))
        fixture.transport.run()
        fixture.channels.received(ByteBuffer(string: "ls\n"), channel: 1)
        #expect(try #require(fixture.host.terminals.first).inputQueue.isEmpty)
    }

    // MARK: Resize and close

    @Test func resizeReachesTheTerminalAndBadRequestsSayWhy() throws {
        let fixture = Fixture()
        fixture.open(1)
        func resize(_ channel: UInt32, _ columns: UInt32, _ rows: UInt32, id: UInt64) -> WireAck? {
            var request = WireResizeSession()
            request.channelID = channel
            request.columns = columns
            request.rows = rows
            #expect(fixture.channels.handle(.resizeSession(request), id: id))
            return fixture.ack(id)
        }
        #expect(resize(1, 132, 50, id: 100)?.result == .ok)
        #expect(resize(1, 0, 50, id: 101)?.result == .invalid)
        let unknown = try #require(resize(7, 80, 24, id: 102))
        #expect(unknown.result == .failed)
        #expect(unknown.detail == "no session on channel 7")
        #expect(try #require(fixture.host.terminals.first).sizes == [.init(columns: 132, rows: 50)])
    }

    @Test func closeTerminatesAndTheExitFollowsAsUsual() throws {
        let fixture = Fixture()
        fixture.open(1)
        var request = WireCloseSession()
        request.channelID = 1
        request.reason = "ended by the representative"
        #expect(fixture.channels.handle(.closeSession(request), id: 50))
        #expect(fixture.ack(50)?.result == .ok)
        let terminal = try #require(fixture.host.terminals.first)
        #expect(terminal.terminated)
        terminal.produce(Array("logout\r\n".utf8))
        terminal.exit(.signal(1))
        fixture.transport.run()
        fixture.transport.flush()
        #expect(
            fixture.transport.log.suffix(3) == [
                .data(1, Array("logout\r\n".utf8)),
                .control(.sessionEvent(Self.exited(1, signal: 1))),
                .closed(1),
            ]
        )
    }

    @Test func otherCommandsAreNotForSessions() {
        let fixture = Fixture()
        #expect(!fixture.channels.handle(.wake(WireWake()), id: 1))
        #expect(fixture.transport.log.isEmpty)
    }

    // MARK: The connection

    @Test func losingTheConnectionEndsEverySessionAndSendsNothing() throws {
        let fixture = Fixture()
        fixture.open(1, window: 4)
        fixture.open(2)
        let terminals = fixture.host.terminals
        terminals[0].produce(Array("waiting for window".utf8))
        fixture.transport.run()
        fixture.transport.flush()
        let before = fixture.transport.log
        fixture.transport.lose()
        fixture.channels.connectionClosed()
        #expect(terminals.allSatisfy { $0.terminated })
        #expect(fixture.channels.count == 0)
        for terminal in terminals { terminal.exit(.signal(1)) }
        fixture.transport.run()
        #expect(fixture.transport.log == before)
        // A session asked for now is not started.
        fixture.transport.isClosed = false
        #expect(fixture.open(3)?.result == .failed)
        #expect(fixture.host.terminals.count == 2)
    }
}
