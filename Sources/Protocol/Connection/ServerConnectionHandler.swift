public import NIOCore

/// Fired inbound by the transport once the TLS handshake has said who the peer is; the
/// ``ServerConnectionHandler`` starts its state machine on it. Frames that arrive before it close
/// the connection.
public struct PeerAuthenticated: Hashable, Sendable {
    public let peer: ServerConnectionStateMachine.Peer
    /// The serial number of the client certificate (lowercase hex), so the appliance can refuse a
    /// certificate it has replaced or revoked.
    public let certificateSerial: String?

    public init(_ peer: ServerConnectionStateMachine.Peer, certificateSerial: String? = nil) {
        self.peer = peer
        self.certificateSerial = certificateSerial
    }
}

/// What the appliance does with a connection. Called on the connection's event loop; answers go
/// through the ``ServerConnection`` handle, from any thread, now or later.
public protocol ServerConnectionDelegate: Sendable {
    /// A client certificate's owner said Hello: answer with ``ServerConnection/admit(config:)`` or
    /// ``ServerConnection/refuse(_:)``.
    func connection(
        _ connection: ServerConnection,
        admit clientID: String,
        certificateSerial: String?,
        hello: WireHello
    )
    /// Answer with ``ServerConnection/finishEnrollment(_:)``.
    func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest)
    /// An end user asks for attended support: answer with ``ServerConnection/answerSupport(_:)``. From an OK
    /// answer on, the connection's messages arrive with the support id as their `clientID`.
    func connection(_ connection: ServerConnection, support request: WireSupportRequest)
    /// A message from the admitted client `clientID`, with the CONTROL payload it was decoded from
    /// (`encoded`), for a delegate that keeps what was sent as it was sent
    /// (``ControlCodec/statsReportBytes(in:)``).
    func connection(
        _ connection: ServerConnection,
        client clientID: String,
        received message: ControlMessage,
        id: UInt64,
        encoded: ByteBuffer
    )
    func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32)
    /// The connection is gone; `clientID` is set if it had been admitted.
    func connectionClosed(_ connection: ServerConnection, clientID: String?)
}

extension ServerConnectionDelegate {
    /// An appliance part that takes no support sessions refuses them.
    public func connection(_ connection: ServerConnection, support request: WireSupportRequest) {
        var response = WireSupportResponse()
        response.result = .internalError
        response.detail = "this appliance takes no support sessions"
        connection.answerSupport(response)
    }
}

/// Runs a ``ServerConnectionStateMachine`` on a channel whose inbound side yields ``Frame``s
/// (``FrameDecodingHandler`` in front of it) and whose outbound side takes bytes.
public final class ServerConnectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = Frame
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    private let configuration: ServerConnectionStateMachine.Configuration
    private let clock: ConnectionClock
    private let delegate: any ServerConnectionDelegate
    private var machine: ServerConnectionStateMachine?
    private let output = ConnectionOutput()
    private var context: ChannelHandlerContext?
    private var reportedClose = false
    private var certificateSerial: String?
    private let readSizing: ReadSizing?
    private let promptnessChanged: (@Sendable (Bool) -> Void)?
    /// Whether a session channel is open (the reads are sized for sessions then).
    private var readingForSessions = false
    /// Whether the connection is being set up or carries a session channel, as last said to `promptnessChanged`.
    private var prompt = false

    /// How the connection's socket reads are sized: small while it carries only control messages (an
    /// idle connection keeps its receive buffers, so they are what thousands of idle connections cost),
    /// larger while a session channel is open (a session's output arrives faster in bigger reads).
    public struct ReadSizing: Sendable {
        public var control: AdaptiveRecvByteBufferAllocator
        public var controlReadsPerWakeUp: UInt
        public var sessions: AdaptiveRecvByteBufferAllocator
        public var sessionReadsPerWakeUp: UInt

        public init(
            control: AdaptiveRecvByteBufferAllocator,
            controlReadsPerWakeUp: UInt,
            sessions: AdaptiveRecvByteBufferAllocator,
            sessionReadsPerWakeUp: UInt
        ) {
            self.control = control
            self.controlReadsPerWakeUp = controlReadsPerWakeUp
            self.sessions = sessions
            self.sessionReadsPerWakeUp = sessionReadsPerWakeUp
        }
    }

    /// With `readSizing`, the handler sets the channel's receive allocator and reads per wake-up: the
    /// control sizing once it is added, then as session channels open and close; without, it leaves
    /// them alone. `promptnessChanged` is called on the event loop when the connection starts to need
    /// its I/O handled at once (true: from when the handler is added, for the TLS handshake, Hello and
    /// Welcome, and again when a session channel opens) and when it stops (false: admitted with no
    /// session channel open, or gone).
    public init(
        configuration: ServerConnectionStateMachine.Configuration,
        clock: ConnectionClock,
        delegate: any ServerConnectionDelegate,
        readSizing: ReadSizing? = nil,
        promptnessChanged: (@Sendable (Bool) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.clock = clock
        self.delegate = delegate
        self.readSizing = readSizing
        self.promptnessChanged = promptnessChanged
    }

    private var connection: ServerConnection {
        ServerConnection(reference: HandlerReference(self, channel: context!.channel))
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Set here, synchronously, rather than as the listener's child channel options, which NIO
        // applies one future at a time on every accepted connection.
        applyReadSizing(sessions: false, context: context)
        if let promptnessChanged {
            prompt = true
            promptnessChanged(true)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        output.cancelTimer()
        output.failPendingData()
        if prompt {
            prompt = false
            promptnessChanged?(false)
        }
        self.context = nil
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let authenticated = event as? PeerAuthenticated else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard machine == nil else { return }
        certificateSerial = authenticated.certificateSerial
        machine = ServerConnectionStateMachine(
            configuration: configuration,
            peer: authenticated.peer,
            now: clock.now(on: context.eventLoop)
        )
        reschedule(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard machine != nil else {
            output.closeNow(context: context)
            return
        }
        let now = clock.now(on: context.eventLoop)
        let event: InboundEvent
        do throws(ProtocolError) {
            event = try InboundEvent(frame)
        } catch {
            perform(machine!.failed(error), context: context)
            return
        }
        perform(machine!.received(event, now: now), payload: frame.payload, context: context)
        if case .windowUpdate = event { drain(context: context) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? ProtocolError, machine != nil {
            perform(machine!.failed(error), context: context)
        } else {
            output.closeNow(context: context)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let clientID = machine?.clientID
        machine?.closed()
        output.cancelTimer()
        output.failPendingData()
        if !reportedClose {
            reportedClose = true
            delegate.connectionClosed(connection, clientID: clientID)
        }
        context.fireChannelInactive()
    }

    // MARK: Carrying out actions

    private func perform(
        _ action: ServerConnectionStateMachine.Action,
        payload: ByteBuffer? = nil,
        context: ChannelHandlerContext
    ) {
        switch action {
        case .none:
            break
        case .send(let message):
            output.send(message, context: context)
        case .sendPong(let value):
            output.sendPingOrPong(.pong, value, context: context)
        case .admit(let clientID, let hello):
            delegate.connection(connection, admit: clientID, certificateSerial: certificateSerial, hello: hello)
        case .enroll(let request):
            delegate.connection(connection, enroll: request)
        case .support(let request):
            delegate.connection(connection, support: request)
        case .deliver(let id, let message):
            delegate.connection(connection, client: machine!.clientID!, received: message, id: id, encoded: payload!)
        case .deliverData(let channel):
            delegate.connection(connection, client: machine!.clientID!, received: payload!, channel: channel)
        case .closeWith(let goodbye, let preceding):
            output.close(with: goodbye, preceding: preceding, context: context)
        case .close:
            output.closeNow(context: context)
        }
        reschedule(context: context)
        sessionsMayHaveChanged(context: context)
    }

    /// Switches the read sizing when the first session channel opens or the last one closes, and says
    /// when the connection starts or stops needing prompt I/O.
    private func sessionsMayHaveChanged(context: ChannelHandlerContext) {
        guard readSizing != nil || promptnessChanged != nil else { return }
        let sessions = machine?.withActiveChannels { !$0.open.isEmpty } ?? false
        if sessions != readingForSessions {
            readingForSessions = sessions
            applyReadSizing(sessions: sessions, context: context)
        }
        let needsPrompt = sessions || machine?.isActive != true
        if let promptnessChanged, needsPrompt != prompt {
            prompt = needsPrompt
            promptnessChanged(needsPrompt)
        }
    }

    /// Sets the sizing for a connection with session channels open or without.
    private func applyReadSizing(sessions: Bool, context: ChannelHandlerContext) {
        guard let readSizing, let options = context.channel.syncOptions else { return }
        try? options.setOption(.recvAllocator, value: sessions ? readSizing.sessions : readSizing.control)
        try? options.setOption(
            .maxMessagesPerRead,
            value: sessions ? readSizing.sessionReadsPerWakeUp : readSizing.controlReadsPerWakeUp
        )
    }

    private func reschedule(context: ChannelHandlerContext) {
        output.schedule(at: machine?.nextDeadline, context: context) { [self] in
            output.timerFired()
            guard let context = self.context, machine != nil else { return }
            perform(machine!.tick(now: clock.now(on: context.eventLoop)), context: context)
        }
    }

    private func drain(context: ChannelHandlerContext) {
        output.drainData(context: context) { channel, wanted in
            self.machine?.reserveSend(wanted, on: channel) ?? 0
        }
    }

    // MARK: Calls from the handle (on the event loop)

    fileprivate func withContext(_ body: (ChannelHandlerContext) -> Void) {
        guard let context, machine != nil, !output.closing else { return }
        body(context)
    }

    fileprivate func admit(config: WireSiteConfig) {
        withContext { context in
            perform(machine!.admitted(config: config, now: clock.now(on: context.eventLoop)), context: context)
        }
    }

    fileprivate func refuse(_ goodbye: WireGoodbye) {
        withContext { perform(machine!.refused(goodbye), context: $0) }
    }

    fileprivate func finishEnrollment(_ response: WireEnrollResponse) {
        withContext { perform(machine!.enrollmentFinished(response), context: $0) }
    }

    fileprivate func answerSupport(_ response: WireSupportResponse) {
        withContext { context in
            perform(machine!.supportAnswered(response, now: clock.now(on: context.eventLoop)), context: context)
        }
    }

    fileprivate func send(_ message: ControlMessage, promise: EventLoopPromise<UInt64>?) {
        guard let context, machine?.isActive == true, !output.closing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        // Sent whether or not anyone asked for the id: `promise?.succeed(output.send(...))` would skip the send.
        let id = output.send(message, context: context)
        promise?.succeed(id)
    }

    fileprivate func close(_ goodbye: WireGoodbye) {
        withContext { perform(machine!.close(goodbye), context: $0) }
    }

    fileprivate func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
        guard machine != nil else { throw ProtocolError(.unexpectedFrame, "connection not started") }
        try machine!.openChannel(id, receiveWindow: receiveWindow, sendWindow: sendWindow)
        if let context { sessionsMayHaveChanged(context: context) }
    }

    fileprivate func closeChannel(_ id: UInt32) {
        machine?.closeChannel(id)
        output.dropData(on: id)
        if let context { sessionsMayHaveChanged(context: context) }
    }

    fileprivate func sendData(_ bytes: ByteBuffer, channel: UInt32, written: EventLoopPromise<Void>?) {
        guard let context, !output.closing, machine?.withActiveChannels({ $0.open[channel] != nil }) == true else {
            written?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        output.enqueueData(bytes, channel: channel, written: written, context: context) { channel, wanted in
            self.machine?.reserveSend(wanted, on: channel) ?? 0
        }
    }

    fileprivate func peerOpenedChannel(_ id: UInt32, window: UInt32) {
        guard window > 0 else { return }
        withContext { context in
            let granted: Result<Void, ProtocolError>? = machine!.withActiveChannels { table in
                // A channel closed meanwhile (or never registered here) has nothing to send.
                guard table.open[id] != nil else { return .success(()) }
                do throws(ProtocolError) {
                    try table.windowUpdate(window, on: id)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            if case .failure(let error) = granted {
                perform(machine!.failed(error), context: context)
            } else {
                drain(context: context)
            }
        }
    }

    fileprivate func consumed(_ length: Int, channel: UInt32) {
        withContext { context in
            if let increment = machine!.consumed(length, on: channel) {
                output.sendWindowUpdate(increment, channel: channel, context: context)
            }
        }
    }
}

/// A handle on one agent connection for the appliance's code. Every method may be called from any
/// thread; it runs on the connection's event loop.
public struct ServerConnection: Sendable, Hashable {
    let reference: HandlerReference<ServerConnectionHandler>

    public var channel: any Channel { reference.channel }
    public var eventLoop: any EventLoop { reference.channel.eventLoop }

    /// Lets an authenticated client in: sends `Welcome` with the site configuration.
    public func admit(config: WireSiteConfig) { reference.run { $0.admit(config: config) } }

    /// Turns a client away with a reason.
    public func refuse(_ goodbye: WireGoodbye) { reference.run { $0.refuse(goodbye) } }

    /// Answers an enrollment and ends the connection.
    public func finishEnrollment(_ response: WireEnrollResponse) { reference.run { $0.finishEnrollment(response) } }

    /// Answers a support request: OK keeps the connection as that support session, anything else ends it.
    public func answerSupport(_ response: WireSupportResponse) { reference.run { $0.answerSupport(response) } }

    /// Sends a control message on an admitted connection; the future gives its envelope id.
    @discardableResult
    public func send(_ message: ControlMessage) -> EventLoopFuture<UInt64> {
        let promise = eventLoop.makePromise(of: UInt64.self)
        send(message, promise: promise)
        return promise.futureResult
    }

    /// Sends a control message on an admitted connection; `promise`, when given, gets its envelope id.
    /// Without one nothing is allocated to tell it: the appliance acknowledges every statistics report
    /// this way.
    public func send(_ message: ControlMessage, promise: EventLoopPromise<UInt64>?) {
        reference.run { $0.send(message, promise: promise) }
    }

    /// Says goodbye and closes.
    public func close(_ goodbye: WireGoodbye) { reference.run { $0.close(goodbye) } }

    /// Registers a session channel (numbered by the appliance, above every earlier one). Call on the event loop.
    public func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
        try reference.onLoop.openChannel(id, receiveWindow: receiveWindow, sendWindow: sendWindow)
    }

    public func closeChannel(_ id: UInt32) { reference.run { $0.closeChannel(id) } }

    /// Queues session bytes; they go out as the channel's window allows. `written` succeeds once the
    /// last of them has been written to the transport, and fails if the channel or the connection
    /// closes first (or the channel is not open).
    public func sendData(_ bytes: ByteBuffer, channel: UInt32, written: EventLoopPromise<Void>?) {
        reference.run { $0.sendData(bytes, channel: channel, written: written) }
    }

    /// Queues session bytes; the future says when they have been written (see ``sendData(_:channel:written:)``).
    @discardableResult
    public func sendData(_ bytes: ByteBuffer, channel: UInt32) -> EventLoopFuture<Void> {
        let written = eventLoop.makePromise(of: Void.self)
        sendData(bytes, channel: channel, written: written)
        return written.futureResult
    }

    /// The agent accepted `OpenSession` for channel `id` (its `Ack` says OK): the channel, registered
    /// with a send window of 0, may now carry `window` bytes (`Ack.window`); queued bytes go out. A
    /// window beyond ``ProtocolLimits/maximumWindowSize`` closes the connection with `FLOW_CONTROL`; a
    /// channel that is not open is left alone.
    public func peerOpenedChannel(_ id: UInt32, window: UInt32) {
        reference.run { $0.peerOpenedChannel(id, window: window) }
    }

    /// The application is done with `length` received bytes of `channel`; the window grows again.
    public func consumed(_ length: Int, channel: UInt32) { reference.run { $0.consumed(length, channel: channel) } }
}
