public import NIOCore

/// The appliance's side of one agent connection, from the end of the TLS handshake to the close.
///
/// Every input is a `mutating func` returning one ``Action``; the handler only carries actions out.
/// Before authentication the allow-list is: `Hello` first, then, on a connection without a client
/// certificate, one `EnrollRequest` or one `SupportRequest`. Anything else closes the connection.
///
/// A support request the application accepts turns the connection into an attended support
/// connection: active like an admitted client's, named by its support id, but the agent may send it
/// only what a session needs (acknowledgements, session events, notices, session bytes), never
/// statistics, renewals or uninstall reports.
public struct ServerConnectionStateMachine: ChannelCarrying, Sendable {
    public struct Configuration: Sendable {
        public var timeouts: ConnectionTimeouts
        public var supportedVersions: ClosedRange<UInt32>
        public var softwareVersion: String

        public init(
            timeouts: ConnectionTimeouts = ConnectionTimeouts(),
            supportedVersions: ClosedRange<UInt32> = ProtocolVersion.supported,
            softwareVersion: String = JumpBuild.version
        ) {
            self.timeouts = timeouts
            self.supportedVersions = supportedVersions
            self.softwareVersion = softwareVersion
        }
    }

    /// Who the TLS handshake says the peer is.
    public enum Peer: Hashable, Sendable {
        /// No client certificate: the connection may only enroll.
        case anonymous
        /// A client certificate from the appliance CA naming this Jump Client.
        case client(String)
    }

    public enum Action: Equatable, Sendable {
        case none
        case send(ControlMessage)
        case sendPong(UInt64)
        /// Ask the application whether this client may connect; it answers with ``admitted(config:now:)``
        /// or ``refused(_:)``.
        case admit(clientID: String, hello: WireHello)
        /// Hand an enrollment to the application; it answers with ``enrollmentFinished(_:)``.
        case enroll(WireEnrollRequest)
        /// Hand a support request to the application; it answers with ``supportAnswered(_:now:)``.
        case support(WireSupportRequest)
        /// An authenticated message for the application.
        case deliver(id: UInt64, ControlMessage)
        /// Session bytes for the application.
        case deliverData(channel: UInt32)
        /// Send `preceding` if any, then the goodbye, then close.
        case closeWith(WireGoodbye, preceding: ControlMessage? = nil)
        /// Close without a word: the peer said goodbye.
        case close
    }

    private enum State: Sendable {
        case awaitingHello(peer: Peer, deadline: NIODeadline)
        case admitting(clientID: String, version: UInt32, deadline: NIODeadline)
        case awaitingEnrollRequest(version: UInt32, deadline: NIODeadline)
        case enrolling(version: UInt32, deadline: NIODeadline)
        case requestingSupport(version: UInt32, deadline: NIODeadline)
        case active(Active)
        case closed
    }

    private struct Active: Sendable {
        var version: UInt32
        /// An attended support connection rather than an enrolled Jump Client.
        var support = false
        var lastReceived: NIODeadline
        var channels = ChannelTable()
    }

    public let configuration: Configuration
    private var state: State

    /// Starts the machine when the TLS handshake has finished.
    public init(configuration: Configuration, peer: Peer, now: Timestamp) {
        self.configuration = configuration
        self.state = .awaitingHello(peer: peer, deadline: now.monotonic + configuration.timeouts.hello)
    }

    /// The client this connection was admitted as, or its support id; it stays set after the connection closes.
    public private(set) var clientID: String?
    /// Whether ``clientID`` names an attended support session rather than a Jump Client.
    public private(set) var isSupport = false

    public var isActive: Bool { if case .active = state { true } else { false } }
    public var isClosed: Bool { if case .closed = state { true } else { false } }

    /// When ``tick(now:)`` should run next.
    public var nextDeadline: NIODeadline? {
        switch state {
        case .awaitingHello(_, let deadline), .admitting(_, _, let deadline),
            .awaitingEnrollRequest(_, let deadline), .enrolling(_, let deadline),
            .requestingSupport(_, let deadline):
            deadline
        case .active(let active):
            (active.lastReceived + configuration.timeouts.idle).roundedUp(to: Self.idleDeadlineGranularity)
        case .closed:
            nil
        }
    }

    /// An active connection's only deadline is its idle time-out (minutes of silence), which need not be
    /// kept to the nanosecond; rounded up to a whole granule, the timers of the connections that fall
    /// due in the same second fire in one wake-up of their event loop instead of one each (19,000
    /// connections with a 90 s time-out: about 19,000 / 90 = 210 a second otherwise, by arithmetic). The
    /// set-up deadlines (hello, enrollment) stay exact.
    static let idleDeadlineGranularity = TimeAmount.seconds(1)

    // MARK: Inputs

    public mutating func received(_ event: InboundEvent, now: Timestamp) -> Action {
        switch state {
        case .awaitingHello(let peer, _):
            guard case .control(let envelope) = event, case .hello(let hello) = envelope.body else {
                return fail(.unexpectedMessage, "expected Hello, got \(Self.describe(event))")
            }
            guard
                let version = ProtocolVersion.negotiate(
                    configuration.supportedVersions,
                    peerMin: hello.minVersion,
                    peerMax: hello.maxVersion
                )
            else {
                return fail(
                    .versionUnsupported,
                    "agent speaks \(hello.minVersion)...\(hello.maxVersion), appliance \(configuration.supportedVersions)"
                )
            }
            switch peer {
            case .client(let clientID):
                state = .admitting(clientID: clientID, version: version, deadline: now.monotonic + configuration.timeouts.hello)
                return .admit(clientID: clientID, hello: hello)
            case .anonymous:
                state = .awaitingEnrollRequest(version: version, deadline: now.monotonic + configuration.timeouts.enrollment)
                return .send(.welcome(welcome(version: version, clientID: "", config: nil, now: now)))
            }

        case .admitting:
            return fail(.unexpectedMessage, "\(Self.describe(event)) before Welcome")

        case .awaitingEnrollRequest(let version, let deadline):
            guard case .control(let envelope) = event else {
                return fail(.unexpectedMessage, "expected EnrollRequest or SupportRequest, got \(Self.describe(event))")
            }
            switch envelope.body {
            case .enrollRequest(let request):
                state = .enrolling(version: version, deadline: deadline)
                return .enroll(request)
            case .supportRequest(let request):
                state = .requestingSupport(version: version, deadline: deadline)
                return .support(request)
            default:
                return fail(.unexpectedMessage, "expected EnrollRequest or SupportRequest, got \(Self.describe(event))")
            }

        case .enrolling:
            return fail(.unexpectedMessage, "\(Self.describe(event)) during enrollment")

        case .requestingSupport:
            return fail(.unexpectedMessage, "\(Self.describe(event)) before SupportResponse")

        case .active(var active):
            active.lastReceived = now.monotonic
            let action: Action
            do throws(ProtocolError) {
                action = try activeReceived(event, &active)
            } catch {
                return fail(error)
            }
            if case .close = action { state = .closed } else { state = .active(active) }
            return action

        case .closed:
            return .none
        }
    }

    private func activeReceived(_ event: InboundEvent, _ active: inout Active) throws(ProtocolError) -> Action {
        switch event {
        case .control(let envelope):
            switch envelope.body {
            case .ack, .sessionEvent, .notice:
                return .deliver(id: envelope.id, envelope.body!)
            case .statsReport, .renewRequest, .localUninstall:
                if active.support {
                    throw ProtocolError(.unexpectedMessage, "\(envelope.body!.name) on a support connection")
                }
                return .deliver(id: envelope.id, envelope.body!)
            case .goodbye:
                return .close
            case .hello, .welcome, .enrollRequest, .enrollResponse, .siteConfig, .command, .retryAfter,
                .supportRequest, .supportResponse:
                throw ProtocolError(.unexpectedMessage, "\(envelope.body!.name) from an agent after Welcome")
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

    /// The application lets the client in.
    public mutating func admitted(config: WireSiteConfig, now: Timestamp) -> Action {
        guard case .admitting(let clientID, let version, _) = state else { return .none }
        state = .active(Active(version: version, lastReceived: now.monotonic))
        self.clientID = clientID
        return .send(.welcome(welcome(version: version, clientID: clientID, config: config, now: now)))
    }

    /// The application turns the client away (revoked, deleted, replaced, overloaded).
    public mutating func refused(_ goodbye: WireGoodbye) -> Action {
        guard case .admitting = state else { return .none }
        state = .closed
        return .closeWith(goodbye)
    }

    /// The application's answer to ``Action/enroll(_:)``. The agent reconnects with its new certificate.
    public mutating func enrollmentFinished(_ response: WireEnrollResponse) -> Action {
        guard case .enrolling = state else { return .none }
        state = .closed
        let goodbye =
            response.result == .ok
            ? WireGoodbye(.enrolled, "reconnect with the new certificate")
            : WireGoodbye(.normal, "enrollment refused")
        return .closeWith(goodbye, preceding: .enrollResponse(response))
    }

    /// The application's answer to ``Action/support(_:)``. OK makes the connection the support session `supportID`;
    /// anything else sends the answer and closes.
    public mutating func supportAnswered(_ response: WireSupportResponse, now: Timestamp) -> Action {
        guard case .requestingSupport(let version, _) = state else { return .none }
        guard response.result == .ok, !response.supportID.isEmpty else {
            state = .closed
            return .closeWith(WireGoodbye(.normal, "support request refused"), preceding: .supportResponse(response))
        }
        state = .active(Active(version: version, support: true, lastReceived: now.monotonic))
        clientID = response.supportID
        isSupport = true
        return .send(.supportResponse(response))
    }

    /// Time passes: enforces the hello, enrollment and idle timeouts.
    public mutating func tick(now: Timestamp) -> Action {
        guard let deadline = nextDeadline, now.monotonic >= deadline else { return .none }
        let reason: WireGoodbyeReason
        switch state {
        case .awaitingHello, .admitting: reason = .helloTimeout
        case .awaitingEnrollRequest, .enrolling, .requestingSupport: reason = .enrollTimeout
        case .active: reason = .idleTimeout
        case .closed: return .none
        }
        state = .closed
        return .closeWith(WireGoodbye(reason, "no message in time"))
    }

    /// The application ends the connection (client deleted, a newer connection, shutdown).
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
        modifyActive { body(&$0.channels) }
    }

    // MARK: Helpers

    private mutating func modifyActive<R>(_ body: (inout Active) -> R) -> R? {
        guard case .active(var active) = state else { return nil }
        let result = body(&active)
        state = .active(active)
        return result
    }

    private mutating func fail(_ code: ProtocolError.Code, _ detail: String) -> Action {
        fail(ProtocolError(code, detail))
    }

    private mutating func fail(_ error: ProtocolError) -> Action {
        if case .closed = state { return .none }
        state = .closed
        return .closeWith(error.goodbye)
    }

    private func welcome(version: UInt32, clientID: String, config: WireSiteConfig?, now: Timestamp) -> WireWelcome {
        var welcome = WireWelcome()
        welcome.version = version
        welcome.softwareVersion = configuration.softwareVersion
        welcome.clientID = clientID
        welcome.heartbeatSeconds = UInt32(configuration.timeouts.heartbeat.nanoseconds / 1_000_000_000)
        welcome.serverTimeMs = now.unixMilliseconds
        if let config { welcome.config = config }
        return welcome
    }

    static func describe(_ event: InboundEvent) -> String {
        switch event {
        case .control(let envelope): envelope.body?.name ?? "an unknown message"
        case .ping: "PING"
        case .pong: "PONG"
        case .data: "DATA"
        case .windowUpdate: "WINDOW_UPDATE"
        case .unknownExtension(let kind): "extension frame \(kind)"
        }
    }
}

extension NIODeadline {
    /// The first multiple of `granularity` (counted from the uptime clock's zero) at or after this deadline.
    func roundedUp(to granularity: TimeAmount) -> NIODeadline {
        guard granularity.nanoseconds > 1 else { return self }
        let step = UInt64(granularity.nanoseconds)
        let remainder = uptimeNanoseconds % step
        // At most Int64.max + step, which fits in a UInt64; NIODeadline takes anything past Int64.max
        // as its distant future.
        return remainder == 0 ? self : .uptimeNanoseconds(uptimeNanoseconds + (step - remainder))
    }
}
