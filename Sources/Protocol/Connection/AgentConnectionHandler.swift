public import NIOCore
import NIOTLS

/// How an agent connection ended.
public enum AgentConnectionOutcome: Equatable, Sendable {
    /// The appliance said goodbye with this reason (e.g. ``WireGoodbyeReason/clientDeleted``).
    case peerSaidGoodbye(WireGoodbye)
    /// The appliance asked for a later retry.
    case retryAfter(WireRetryAfter)
    /// Enrollment answered (successfully or not).
    case enrolled(WireEnrollResponse)
    /// The appliance refused a support request.
    case supportRefused(WireSupportResponse)
    /// The agent closed the connection with this goodbye (timeouts, protocol errors, shutdown).
    case closedLocally(WireGoodbye)
    /// The transport closed with nothing said.
    case transportClosed
}

/// What the agent does with its connection. Called on the connection's event loop.
public protocol AgentConnectionDelegate: Sendable {
    func connectionReady(_ connection: AgentConnection, welcome: WireWelcome)
    /// The appliance accepted a support request: commands and sessions for it may follow.
    func connection(_ connection: AgentConnection, supportQueued response: WireSupportResponse)
    /// A command that passed the ``CommandGate``; answer with an `Ack` whose `ref` is `id`.
    func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64)
    func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64)
    func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32)
    /// The connection is over; every connection ends with exactly one call.
    func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome)
}

extension AgentConnectionDelegate {
    /// Only a support connection is ever queued for support.
    public func connection(_ connection: AgentConnection, supportQueued response: WireSupportResponse) {}
}

/// Runs an ``AgentConnectionStateMachine`` on a channel whose inbound side yields ``Frame``s. It says
/// Hello when the channel becomes active, or, on a channel with TLS in front, when the TLS handshake
/// is done (``Start``).
public final class AgentConnectionHandler: ChannelDuplexHandler {
    /// When the connection begins: when to say Hello and start the hello time-out.
    public enum Start: Sendable {
        /// When the channel is active: nothing below needs time first.
        case whenActive
        /// When a TLS handler in front reports its handshake done; until then the wait is bounded by
        /// ``ConnectionTimeouts/admission`` (see ``AgentConnectionStateMachine/transportConnected(now:)``).
        case afterTLSHandshake
    }

    public typealias InboundIn = Frame
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    private var machine: AgentConnectionStateMachine
    private let clock: ConnectionClock
    private let delegate: any AgentConnectionDelegate
    private let output = ConnectionOutput()
    private var context: ChannelHandlerContext?
    private var outcome: AgentConnectionOutcome?
    private var reportedClose = false
    private let start: Start

    public init(
        configuration: AgentConnectionStateMachine.Configuration,
        clock: ConnectionClock,
        delegate: any AgentConnectionDelegate,
        start: Start = .whenActive
    ) {
        self.start = start
        self.machine = AgentConnectionStateMachine(configuration: configuration)
        self.clock = clock
        self.delegate = delegate
    }

    private var connection: AgentConnection {
        AgentConnection(reference: HandlerReference(self, channel: context!.channel))
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        output.cancelTimer()
        output.failPendingData()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        switch start {
        case .whenActive:
            perform(machine.channelActive(now: clock.now(on: context.eventLoop)), context: context)
        case .afterTLSHandshake:
            machine.transportConnected(now: clock.now(on: context.eventLoop))
            reschedule(context: context)
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .afterTLSHandshake = start, let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            perform(machine.channelActive(now: clock.now(on: context.eventLoop)), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = clock.now(on: context.eventLoop)
        let event: InboundEvent
        do throws(ProtocolError) {
            event = try InboundEvent(frame)
        } catch {
            perform(machine.failed(error), context: context)
            return
        }
        perform(machine.received(event, now: now), payload: frame.payload, context: context)
        if case .windowUpdate = event { drain(context: context) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? ProtocolError {
            perform(machine.failed(error), context: context)
        } else {
            output.closeNow(context: context)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        output.cancelTimer()
        output.failPendingData()
        if !reportedClose {
            reportedClose = true
            delegate.connectionClosed(connection, outcome: outcome ?? .transportClosed)
        }
        context.fireChannelInactive()
    }

    // MARK: Carrying out actions

    private func perform(
        _ action: AgentConnectionStateMachine.Action,
        payload: ByteBuffer? = nil,
        context: ChannelHandlerContext
    ) {
        switch action {
        case .none:
            break
        case .send(let message):
            output.send(message, context: context)
            machine.sent(now: clock.now(on: context.eventLoop))
        case .sendPing(let value):
            output.sendPingOrPong(.ping, value, context: context)
            machine.sent(now: clock.now(on: context.eventLoop))
        case .sendPong(let value):
            output.sendPingOrPong(.pong, value, context: context)
            machine.sent(now: clock.now(on: context.eventLoop))
        case .ready(let welcome):
            delegate.connectionReady(connection, welcome: welcome)
        case .enrolled(let response):
            outcome = .enrolled(response)
            output.closeNow(context: context)
        case .supportQueued(let response):
            delegate.connection(connection, supportQueued: response)
        case .supportRefused(let response):
            outcome = .supportRefused(response)
            output.closeNow(context: context)
        case .command(let id, let command):
            delegate.connection(connection, command: command, id: id)
        case .deliver(let id, let message):
            delegate.connection(connection, received: message, id: id)
        case .deliverData(let channel):
            delegate.connection(connection, received: payload!, channel: channel)
        case .retryAfter(let retry):
            outcome = .retryAfter(retry)
            output.closeNow(context: context)
        case .peerSaidGoodbye(let goodbye):
            outcome = .peerSaidGoodbye(goodbye)
            output.closeNow(context: context)
        case .closeWith(let goodbye, let preceding):
            if outcome == nil { outcome = .closedLocally(goodbye) }
            output.close(with: goodbye, preceding: preceding, context: context)
        }
        reschedule(context: context)
    }

    private func reschedule(context: ChannelHandlerContext) {
        output.schedule(at: machine.nextDeadline, context: context) { [self] in
            output.timerFired()
            guard let context = self.context else { return }
            perform(machine.tick(now: clock.now(on: context.eventLoop)), context: context)
        }
    }

    private func drain(context: ChannelHandlerContext) {
        output.drainData(context: context) { channel, wanted in
            self.machine.reserveSend(wanted, on: channel)
        }
        machine.sent(now: clock.now(on: context.eventLoop))
    }

    // MARK: Calls from the handle (on the event loop)

    fileprivate var commandGate: CommandGate? { machine.commandGate }

    fileprivate func send(_ message: ControlMessage, promise: EventLoopPromise<UInt64>?) {
        guard let context, machine.isActive, !output.closing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let id = output.send(message, context: context)
        machine.sent(now: clock.now(on: context.eventLoop))
        promise?.succeed(id)
    }

    fileprivate func close(_ goodbye: WireGoodbye) {
        guard let context, !output.closing else { return }
        perform(machine.close(goodbye), context: context)
    }

    fileprivate func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
        try machine.openChannel(id, receiveWindow: receiveWindow, sendWindow: sendWindow)
    }

    fileprivate func closeChannel(_ id: UInt32) {
        machine.closeChannel(id)
        output.dropData(on: id)
    }

    fileprivate func sendData(_ bytes: ByteBuffer, channel: UInt32, written: EventLoopPromise<Void>?) {
        guard let context, machine.withActiveChannels({ $0.open[channel] != nil }) == true else {
            written?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        output.enqueueData(bytes, channel: channel, written: written, context: context) { channel, wanted in
            self.machine.reserveSend(wanted, on: channel)
        }
        machine.sent(now: clock.now(on: context.eventLoop))
    }

    fileprivate func consumed(_ length: Int, channel: UInt32) {
        guard let context, machine.isActive else { return }
        if let increment = machine.consumed(length, on: channel) {
            output.sendWindowUpdate(increment, channel: channel, context: context)
        }
    }
}

/// A handle on the agent's connection. Every method may be called from any thread.
public struct AgentConnection: Sendable, Hashable {
    let reference: HandlerReference<AgentConnectionHandler>

    public var channel: any Channel { reference.channel }
    public var eventLoop: any EventLoop { reference.channel.eventLoop }

    /// Sends a control message once the connection is ready; the future gives its envelope id.
    @discardableResult
    public func send(_ message: ControlMessage) -> EventLoopFuture<UInt64> {
        let promise = eventLoop.makePromise(of: UInt64.self)
        reference.run { $0.send(message, promise: promise) }
        return promise.futureResult
    }

    /// Says goodbye and closes.
    public func close(_ goodbye: WireGoodbye) { reference.run { $0.close(goodbye) } }

    /// The command gate's state, for persisting its last sequence. Call on the event loop.
    public var commandGate: CommandGate? { reference.onLoop.commandGate }

    /// Registers a session channel the appliance opened. Call on the event loop.
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

    public func consumed(_ length: Int, channel: UInt32) { reference.run { $0.consumed(length, channel: channel) } }
}

/// Adds the frame decoder and `handler` to a pipeline: the one place both ends set up framing.
/// The decoder needs no buffer limit of its own: the parser refuses a header that claims more than
/// its kind's bound, so it never holds more than one largest frame plus one read.
extension ChannelPipeline.SynchronousOperations {
    public func addJumpFraming(_ handler: some ChannelHandler) throws {
        try addHandler(FrameDecodingHandler())
        try addHandler(handler)
    }
}
