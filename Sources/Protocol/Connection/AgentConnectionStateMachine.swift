public import NIOCore

/// The agent's side of one connection to the appliance.
///
/// A connection has one purpose, fixed when it starts: to enroll (no client certificate; send an
/// `EnrollRequest`, take the answer, close), to serve as the authenticated Jump Client (statistics,
/// commands, sessions), or to ask for attended support (no client certificate; send a
/// `SupportRequest` and, once the appliance accepts it, take commands and sessions for that support
/// session). The agent sends a PING when it has sent nothing, or heard nothing, for one
/// heartbeat, and gives the connection up after ``ConnectionTimeouts/idle`` of silence.
public struct AgentConnectionStateMachine: ChannelCarrying, Sendable {
    public enum Purpose: Hashable, Sendable {
        case enroll(WireEnrollRequest)
        /// Commands must pass this gate (agent id, expiry, sequence).
        case serve(CommandGate)
        /// Commands must name the support id the appliance answers with.
        case support(WireSupportRequest)
    }

    public struct Configuration: Sendable {
        public var timeouts: ConnectionTimeouts
        public var supportedVersions: ClosedRange<UInt32>
        /// Sent as the first message; its version range is filled in from ``supportedVersions``.
        public var hello: WireHello
        public var purpose: Purpose

        public init(
            purpose: Purpose,
            hello: WireHello = WireHello(),
            timeouts: ConnectionTimeouts = ConnectionTimeouts(),
            supportedVersions: ClosedRange<UInt32> = ProtocolVersion.supported
        ) {
            self.purpose = purpose
            self.hello = hello
            self.timeouts = timeouts
            self.supportedVersions = supportedVersions
        }
    }

    /// The heartbeat the appliance may ask for is clamped to this range.
    public static let heartbeatRange: ClosedRange<Int64> = 5...3600

    public enum Action: Equatable, Sendable {
        case none
        case send(ControlMessage)
        case sendPing(UInt64)
        case sendPong(UInt64)
        /// The authenticated connection is up.
        case ready(WireWelcome)
        /// The appliance accepted the support request: the connection waits for the representative.
        case supportQueued(WireSupportResponse)
        /// The appliance refused the support request; the connection is over.
        case supportRefused(WireSupportResponse)
        /// The answer to enrollment; the connection is over.
        case enrolled(WireEnrollResponse)
        /// A command that passed the gate; acknowledge it with its envelope `id`.
        case command(id: UInt64, WireCommand)
        /// Configuration, notices, acknowledgements and renewal answers for the application.
        case deliver(id: UInt64, ControlMessage)
        case deliverData(channel: UInt32)
        /// The appliance asked the agent to come back later; the connection is over.
        case retryAfter(WireRetryAfter)
        /// The appliance closed the connection with this reason; the connection is over.
        case peerSaidGoodbye(WireGoodbye)
        /// Send `preceding` if any, then the goodbye, then close.
        case closeWith(WireGoodbye, preceding: ControlMessage? = nil)
    }

    private enum State: Sendable {
        case idle
        /// Connected, waiting for the secure channel (see ``transportConnected(now:)``).
        case awaitingTransport(deadline: NIODeadline)
        case awaitingWelcome(deadline: NIODeadline)
        case awaitingEnrollResponse(deadline: NIODeadline)
        case awaitingSupportResponse(deadline: NIODeadline, welcome: WireWelcome)
        case active(Active)
        case closed
    }

    private struct Active: Sendable {
        var version: UInt32
        var heartbeat: TimeAmount
        var gate: CommandGate
        var lastSent: NIODeadline
        var lastReceived: NIODeadline
        var lastPing: NIODeadline
        var pings: UInt64 = 0
        var channels = ChannelTable()
    }

    public let configuration: Configuration
    private var state: State = .idle

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var isActive: Bool { if case .active = state { true } else { false } }
    public var isClosed: Bool { if case .closed = state { true } else { false } }

    /// The command gate as it stands (its last sequence is what the agent persists).
    public var commandGate: CommandGate? {
        switch state {
        case .active(let active): active.gate
        default: if case .serve(let gate) = configuration.purpose { gate } else { nil }
        }
    }

    /// When ``tick(now:)`` should run next.
    public var nextDeadline: NIODeadline? {
        switch state {
        case .idle, .closed:
            return nil
        case .awaitingTransport(let deadline), .awaitingWelcome(let deadline), .awaitingEnrollResponse(let deadline),
            .awaitingSupportResponse(let deadline, _):
            return deadline
        case .active(let a):
            return min(
                a.lastSent + a.heartbeat,
                max(a.lastReceived, a.lastPing) + a.heartbeat,
                a.lastReceived + idle(a.heartbeat)
            )
        }
    }

    // MARK: Inputs

    /// The TCP connection is up, the TLS handshake not done yet. The appliance takes new connections
    /// at its connection rate and leaves the rest in its listen queue, where the kernel has already
    /// completed them; so the wait for the handshake is bounded on its own, by
    /// ``ConnectionTimeouts/admission``, and the hello time-out starts only when the handshake is done.
    /// An agent that counted its wait in the queue against the hello time-out would give up on
    /// connections the appliance then spends its admissions on.
    public mutating func transportConnected(now: Timestamp) {
        guard case .idle = state else { return }
        state = .awaitingTransport(deadline: now.monotonic + configuration.timeouts.admission)
    }

    /// The TLS handshake finished: say Hello.
    public mutating func channelActive(now: Timestamp) -> Action {
        switch state {
        case .idle, .awaitingTransport: break
        default: return .none
        }
        state = .awaitingWelcome(deadline: now.monotonic + configuration.timeouts.hello)
        var hello = configuration.hello
        hello.minVersion = configuration.supportedVersions.lowerBound
        hello.maxVersion = configuration.supportedVersions.upperBound
        if case .serve(let gate) = configuration.purpose { hello.lastCommandSequence = gate.lastSequence }
        return .send(.hello(hello))
    }

    public mutating func received(_ event: InboundEvent, now: Timestamp) -> Action {
        switch state {
        case .idle, .awaitingTransport:
            return fail(.unexpectedMessage, "\(ServerConnectionStateMachine.describe(event)) before Hello")

        case .awaitingWelcome:
            guard case .control(let envelope) = event else {
                return fail(.unexpectedFrame, "\(ServerConnectionStateMachine.describe(event)) before Welcome")
            }
            if let ended = endedBeforeReady(envelope) { return ended }
            switch envelope.body {
            case .welcome(let welcome):
                return welcomed(welcome, now: now)
            default:
                return fail(.unexpectedMessage, "expected Welcome, got \(ServerConnectionStateMachine.describe(event))")
            }

        case .awaitingEnrollResponse:
            guard case .control(let envelope) = event else {
                return fail(.unexpectedFrame, "\(ServerConnectionStateMachine.describe(event)) during enrollment")
            }
            if let ended = endedBeforeReady(envelope) { return ended }
            switch envelope.body {
            case .enrollResponse(let response):
                state = .closed
                return .enrolled(response)
            default:
                return fail(
                    .unexpectedMessage,
                    "expected EnrollResponse, got \(ServerConnectionStateMachine.describe(event))"
                )
            }

        case .awaitingSupportResponse(_, let welcome):
            guard case .control(let envelope) = event else {
                return fail(.unexpectedFrame, "\(ServerConnectionStateMachine.describe(event)) before SupportResponse")
            }
            if let ended = endedBeforeReady(envelope) { return ended }
            switch envelope.body {
            case .supportResponse(let response) where response.result == .ok && !response.supportID.isEmpty:
                state = .active(activeState(welcome, gate: CommandGate(agentID: response.supportID, lastSequence: 0), now: now))
                return .supportQueued(response)
            case .supportResponse(let response):
                state = .closed
                return .supportRefused(response)
            default:
                return fail(
                    .unexpectedMessage,
                    "expected SupportResponse, got \(ServerConnectionStateMachine.describe(event))"
                )
            }

        case .active(var active):
            active.lastReceived = now.monotonic
            let action: Action
            do throws(ProtocolError) {
                action = try activeReceived(event, &active, now: now)
            } catch {
                return fail(error)
            }
            switch action {
            case .peerSaidGoodbye, .retryAfter: state = .closed
            default: state = .active(active)
            }
            return action

        case .closed:
            return .none
        }
    }

    /// Before the connection is ready the appliance may end it instead of answering: `Goodbye` or `RetryAfter`.
    private mutating func endedBeforeReady(_ envelope: WireEnvelope) -> Action? {
        switch envelope.body {
        case .goodbye(let goodbye):
            state = .closed
            return .peerSaidGoodbye(goodbye)
        case .retryAfter(let retry):
            state = .closed
            return .retryAfter(retry)
        default:
            return nil
        }
    }

    private mutating func welcomed(_ welcome: WireWelcome, now: Timestamp) -> Action {
        guard
            configuration.supportedVersions.contains(welcome.version),
            welcome.version <= configuration.supportedVersions.upperBound
        else {
            return fail(.versionUnsupported, "appliance chose version \(welcome.version)")
        }
        switch configuration.purpose {
        case .enroll(let request):
            state = .awaitingEnrollResponse(deadline: now.monotonic + configuration.timeouts.enrollment)
            return .send(.enrollRequest(request))
        case .serve(let gate):
            state = .active(activeState(welcome, gate: gate, now: now))
            return .ready(welcome)
        case .support(let request):
            state = .awaitingSupportResponse(deadline: now.monotonic + configuration.timeouts.enrollment, welcome: welcome)
            return .send(.supportRequest(request))
        }
    }

    private func activeState(_ welcome: WireWelcome, gate: CommandGate, now: Timestamp) -> Active {
        let requested = Int64(welcome.heartbeatSeconds)
        let seconds = requested == 0 ? configuration.timeouts.heartbeat.nanoseconds / 1_000_000_000 : requested
        let heartbeat = TimeAmount.seconds(seconds.clamped(to: Self.heartbeatRange))
        return Active(
            version: welcome.version,
            heartbeat: heartbeat,
            gate: gate,
            lastSent: now.monotonic,
            lastReceived: now.monotonic,
            lastPing: now.monotonic
        )
    }

    private func activeReceived(_ event: InboundEvent, _ active: inout Active, now: Timestamp) throws(ProtocolError)
        -> Action
    {
        switch event {
        case .control(let envelope):
            switch envelope.body {
            case .command(let command):
                if let refusal = active.gate.admit(command, nowMilliseconds: now.unixMilliseconds) {
                    return .send(.ack(WireAck(ref: envelope.id, refusal, "command \(command.sequence) refused")))
                }
                return .command(id: envelope.id, command)
            case .siteConfig, .notice, .ack, .enrollResponse:
                return .deliver(id: envelope.id, envelope.body!)
            case .retryAfter(let retry):
                return .retryAfter(retry)
            case .goodbye(let goodbye):
                return .peerSaidGoodbye(goodbye)
            case .hello, .welcome, .enrollRequest, .statsReport, .renewRequest, .sessionEvent, .localUninstall,
                .supportRequest, .supportResponse:
                throw ProtocolError(.unexpectedMessage, "\(envelope.body!.name) from the appliance")
            case nil:
                return .send(.ack(WireAck(ref: envelope.id, .unsupported, "unknown message")))
            }
        case .ping(let value):
            return .sendPong(value)
        case .pong, .unknownExtension:
            return .none
        case .data(let channel, let length):
            switch try active.channels.received(length, on: channel) {
            case .deliver: return .deliverData(channel: channel)
            case .drop: return .none
            }
        case .windowUpdate(let channel, let increment):
            try active.channels.windowUpdate(increment, on: channel)
            return .none
        }
    }

    /// The handler wrote a frame.
    public mutating func sent(now: Timestamp) {
        guard case .active(var active) = state else { return }
        active.lastSent = now.monotonic
        state = .active(active)
    }

    /// Time passes: timeouts and heartbeats.
    public mutating func tick(now: Timestamp) -> Action {
        switch state {
        case .idle, .closed:
            return .none
        case .awaitingTransport(let deadline):
            guard now.monotonic >= deadline else { return .none }
            state = .closed
            return .closeWith(WireGoodbye(.helloTimeout, "the appliance did not take the connection in time"))
        case .awaitingWelcome(let deadline), .awaitingEnrollResponse(let deadline),
            .awaitingSupportResponse(let deadline, _):
            guard now.monotonic >= deadline else { return .none }
            let reason: WireGoodbyeReason
            if case .awaitingWelcome = state { reason = .helloTimeout } else { reason = .enrollTimeout }
            state = .closed
            return .closeWith(WireGoodbye(reason, "the appliance did not answer in time"))
        case .active(var active):
            let t = now.monotonic
            if t >= active.lastReceived + idle(active.heartbeat) {
                state = .closed
                return .closeWith(WireGoodbye(.idleTimeout, "nothing heard from the appliance"))
            }
            let quietSending = t >= active.lastSent + active.heartbeat
            let quietReceiving = t >= max(active.lastReceived, active.lastPing) + active.heartbeat
            guard quietSending || quietReceiving else { return .none }
            active.pings += 1
            active.lastPing = t
            state = .active(active)
            return .sendPing(active.pings)
        }
    }

    /// The application ends the connection.
    public mutating func close(_ goodbye: WireGoodbye) -> Action {
        if case .closed = state { return .none }
        state = .closed
        return .closeWith(goodbye)
    }

    /// The frame decoder rejected the byte stream.
    public mutating func failed(_ error: ProtocolError) -> Action {
        fail(error)
    }

    /// The transport went away.
    public mutating func closed() {
        state = .closed
    }

    // MARK: Channels (sessions)

    public mutating func withActiveChannels<R>(_ body: (inout ChannelTable) -> R) -> R? {
        guard case .active(var active) = state else { return nil }
        let result = body(&active.channels)
        state = .active(active)
        return result
    }

    // MARK: Helpers

    private func idle(_ heartbeat: TimeAmount) -> TimeAmount {
        .nanoseconds(heartbeat.nanoseconds * configuration.timeouts.missedHeartbeats)
    }

    private mutating func fail(_ code: ProtocolError.Code, _ detail: String) -> Action {
        fail(ProtocolError(code, detail))
    }

    private mutating func fail(_ error: ProtocolError) -> Action {
        if case .closed = state { return .none }
        state = .closed
        return .closeWith(error.goodbye)
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self {
        min(max(self, range.lowerBound), range.upperBound)
    }
}
