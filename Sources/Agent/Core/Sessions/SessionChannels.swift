public import JumpProtocol
public import Logging
public import NIOCore

/// The agent's sessions on one connection: opens a terminal for `OpenSession`, carries its output
/// out in DATA within the channel's window and its input in, and reports its end.
///
/// The order on the wire is what the appliance relies on: the `Ack` of `OpenSession` before any DATA
/// of the channel (the host's events reach this object through `SessionTransport.execute`, so never
/// before the command that started it has been answered), and the `SessionEvent` only after every
/// byte of output has been written (control frames overtake queued DATA, so it waits for the
/// `written` callbacks). Output is acknowledged to the terminal only once written, so each session
/// holds at most the terminal's output window in the agent.
///
/// Confined to the connection's serial context: every method is called there, and so are the
/// callbacks it registers. That confinement, not a lock, is what makes it safe to share.
public final class SessionChannels: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Starts terminals; nil on a build that cannot run sessions.
        public var host: (any TerminalHost)?
        public var user: SessionUser
        /// The receive window the agent grants the appliance on each session channel.
        public var receiveWindow: UInt32
        /// How soon to offer a terminal input again when its queue was full: terminals say when they
        /// are full, not when they have room.
        public var inputRetryInterval: TimeAmount

        public init(
            host: (any TerminalHost)?,
            user: SessionUser = SessionUser(SessionUser.defaultUser),
            receiveWindow: UInt32 = ProtocolLimits.defaultInitialWindowSize,
            inputRetryInterval: TimeAmount = SessionChannels.defaultInputRetryInterval
        ) {
            self.host = host
            self.user = user
            self.receiveWindow = receiveWindow
            self.inputRetryInterval = inputRetryInterval
        }
    }

    /// Short enough that a paste flows on without a visible pause, long enough not to spin.
    public static let defaultInputRetryInterval = TimeAmount.milliseconds(20)

    /// Input is offered to a terminal in pieces of at most this size, so a nearly full input queue
    /// still takes some of it.
    public static let inputChunkSize = 4096

    /// The terminal type when `OpenSession.term` is empty.
    public static let defaultTerm = "xterm-256color"

    /// Confined like its owner.
    private final class Session: @unchecked Sendable {
        let terminal: any TerminalSession
        /// Input received and not yet taken by the terminal, in order; bounded by the receive window.
        var pendingInput = ByteBuffer()
        var retryScheduled = false
        /// Output chunks handed to the connection and not yet written.
        var writesInFlight = 0
        var exit: TerminalExit?

        init(terminal: any TerminalSession) { self.terminal = terminal }
    }

    private let transport: any SessionTransport
    private let configuration: Configuration
    private let logger: Logger
    private var sessions: [UInt32: Session] = [:]
    private var closed = false

    public init(transport: any SessionTransport, configuration: Configuration, logger: Logger) {
        self.transport = transport
        self.configuration = configuration
        self.logger = logger
    }

    /// Sessions running (or ending) on this connection.
    public var count: Int { sessions.count }

    // MARK: Commands

    /// Carries out a session command and answers it; false for a command that is not about sessions.
    public func handle(_ action: WireCommand.OneOf_Action, id: UInt64) -> Bool {
        switch action {
        case .openSession(let request): open(request, id: id)
        case .resizeSession(let request): resize(request, id: id)
        case .closeSession(let request): close(request, id: id)
        default: return false
        }
        return true
    }

    private func answer(_ id: UInt64, _ result: WireAckResult, _ detail: String, window: UInt32 = 0) {
        var ack = WireAck(ref: id, result, detail)
        ack.window = window
        transport.sendControl(.ack(ack))
    }

    private func open(_ request: WireOpenSession, id: UInt64) {
        let channel = request.channelID
        let refusal: (WireAckResult, String)? =
            if closed {
                (.failed, "the connection is closing")
            } else if configuration.host == nil {
                (.refused, "this agent cannot run sessions")
            } else if request.kind != .shell {
                (.refused, "this agent runs shell sessions only")
            } else if sessions.count >= ProtocolLimits.maximumOpenChannels {
                (.refused, "\(ProtocolLimits.maximumOpenChannels) sessions are open already; close one first")
            } else if let problem = Self.sizeProblem(columns: request.columns, rows: request.rows) {
                (.invalid, problem)
            } else {
                nil
            }
        if case let (result, detail)? = refusal {
            refuse(id, channel: channel, result, detail)
            return
        }
        let user: String
        switch configuration.user.decide(requested: request.user) {
        case .runAs(let name): user = name
        case .refuse(let detail):
            refuse(id, channel: channel, .refused, detail)
            return
        }
        do throws(ProtocolError) {
            try transport.openChannel(
                channel,
                receiveWindow: configuration.receiveWindow,
                sendWindow: request.initialWindow
            )
        } catch {
            refuse(id, channel: channel, .invalid, "channel \(channel) cannot be opened: \(error)")
            return
        }
        let terminalRequest = TerminalRequest(
            user: user,
            columns: UInt16(request.columns),
            rows: UInt16(request.rows),
            term: request.term.isEmpty ? Self.defaultTerm : request.term
        )
        let terminal: any TerminalSession
        do throws(TerminalError) {
            let transport = self.transport
            terminal = try configuration.host!.start(terminalRequest) { event in
                transport.execute { self.terminalEvent(event, channel: channel) }
            }
        } catch {
            transport.closeChannel(channel)
            refuse(id, channel: channel, .failed, error.message)
            return
        }
        sessions[channel] = Session(terminal: terminal)
        logger.info(
            "session started",
            metadata: ["channel": "\(channel)", "session": "\(request.sessionID)", "terminal": "\(terminal.summary)"]
        )
        answer(id, .ok, terminal.summary, window: configuration.receiveWindow)
    }

    private func refuse(_ id: UInt64, channel: UInt32, _ result: WireAckResult, _ detail: String) {
        logger.notice(
            "session refused",
            metadata: ["channel": "\(channel)", "result": "\(result)", "detail": "\(detail)"]
        )
        answer(id, result, detail)
    }

    static func sizeProblem(columns: UInt32, rows: UInt32) -> String? {
        guard (1...ProtocolLimits.maximumTerminalColumns).contains(columns),
            (1...ProtocolLimits.maximumTerminalRows).contains(rows)
        else {
            return "a terminal of \(columns)x\(rows) is not possible: 1 to \(ProtocolLimits.maximumTerminalColumns) "
                + "columns and 1 to \(ProtocolLimits.maximumTerminalRows) rows"
        }
        return nil
    }

    private func resize(_ request: WireResizeSession, id: UInt64) {
        guard let session = sessions[request.channelID], session.exit == nil else {
            answer(id, .failed, "no session on channel \(request.channelID)")
            return
        }
        if let problem = Self.sizeProblem(columns: request.columns, rows: request.rows) {
            answer(id, .invalid, problem)
            return
        }
        do throws(TerminalError) {
            try session.terminal.resize(columns: UInt16(request.columns), rows: UInt16(request.rows))
            answer(id, .ok, "")
        } catch {
            answer(id, .failed, error.message)
        }
    }

    /// Ends the terminal; its `SessionEvent` follows once its output is out.
    private func close(_ request: WireCloseSession, id: UInt64) {
        guard let session = sessions[request.channelID] else {
            answer(id, .ok, "no session on channel \(request.channelID): it has ended")
            return
        }
        logger.info("session closing", metadata: ["channel": "\(request.channelID)", "reason": "\(request.reason)"])
        answer(id, .ok, "")
        session.terminal.terminate()
    }

    // MARK: Input

    /// DATA from the appliance; bytes of a session that is gone are dropped.
    public func received(_ data: ByteBuffer, channel: UInt32) {
        guard let session = sessions[channel], session.exit == nil else {
            transport.consumed(data.readableBytes, channel: channel)
            return
        }
        var data = data
        session.pendingInput.writeBuffer(&data)
        offerInput(session, channel: channel)
    }

    /// Hands pending input to the terminal in order, and grants the window back for what it took.
    private func offerInput(_ session: Session, channel: UInt32) {
        while session.pendingInput.readableBytes > 0 {
            let length = min(session.pendingInput.readableBytes, Self.inputChunkSize)
            let chunk = Array(session.pendingInput.readableBytesView.prefix(length))
            do throws(TerminalError) {
                try session.terminal.write(chunk)
            } catch  where error.code == .inputQueueFull {
                retryInput(session, channel: channel)
                return
            } catch {
                // The terminal has closed: what it did not take never will be.
                let dropped = session.pendingInput.readableBytes
                session.pendingInput.clear()
                transport.consumed(dropped, channel: channel)
                return
            }
            session.pendingInput.moveReaderIndex(forwardBy: length)
            transport.consumed(length, channel: channel)
        }
        session.pendingInput.clear()
    }

    private func retryInput(_ session: Session, channel: UInt32) {
        guard !session.retryScheduled else { return }
        session.retryScheduled = true
        transport.schedule(after: configuration.inputRetryInterval) {
            session.retryScheduled = false
            guard self.sessions[channel] === session, session.exit == nil else { return }
            self.offerInput(session, channel: channel)
        }
    }

    // MARK: Output and exit

    private func terminalEvent(_ event: TerminalEvent, channel: UInt32) {
        guard let session = sessions[channel] else { return }
        switch event {
        case .output(let bytes):
            session.writesInFlight += 1
            transport.queueData(ByteBuffer(bytes: bytes), channel: channel) { written in
                self.outputWritten(bytes.count, written: written, session: session, channel: channel)
            }
        case .exited(let exit):
            session.exit = exit
            session.pendingInput.clear()
            finishIfDone(session, channel: channel)
        }
    }

    private func outputWritten(_ count: Int, written: Bool, session: Session, channel: UInt32) {
        guard sessions[channel] === session else { return }
        session.writesInFlight -= 1
        // Bytes that were not written belong to a closing connection: the terminal is ended with it.
        if written { session.terminal.acknowledge(bytes: count) }
        finishIfDone(session, channel: channel)
    }

    private func finishIfDone(_ session: Session, channel: UInt32) {
        guard let exit = session.exit, session.writesInFlight == 0 else { return }
        sessions[channel] = nil
        var event = WireSessionEvent()
        event.channelID = channel
        event.kind = .exited
        switch exit {
        case .status(let status): event.exitStatus = status
        case .signal(let signal): event.signal = signal
        case .unknown: event.detail = "the shell ended; its exit status is unknown"
        }
        logger.info("session ended", metadata: ["channel": "\(channel)", "exit": "\(exit)"])
        transport.sendControl(.sessionEvent(event))
        transport.closeChannel(channel)
    }

    // MARK: The connection

    /// The connection is gone or the agent stops: every terminal is ended and nothing more is sent.
    public func connectionClosed() {
        guard !closed else { return }
        closed = true
        let ending = sessions.values
        sessions.removeAll()
        for session in ending { session.terminal.terminate() }
        if !ending.isEmpty { logger.info("sessions ended with the connection", metadata: ["count": "\(ending.count)"]) }
    }
}
