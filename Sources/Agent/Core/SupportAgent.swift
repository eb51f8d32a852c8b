import FoundationEssentials
import Glibc
public import JumpProtocol
import JumpTLS
public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
import Synchronization

/// An attended support session (`jump-agent support`): one connection, without a client certificate,
/// that asks the appliance for support with a support code's key and, once accepted, takes the
/// representative's sessions and, if the representative pins this computer, installs it as a Jump
/// Client. There is no reconnecting: when the connection ends, the support session is over.
///
/// Everything the end user should know (waiting, who the representative is, their notices, sessions
/// starting and ending, the installation) goes to `say`, one line at a time.
public final class SupportAgent: Sendable {
    public struct Configuration: Sendable {
        /// `HOST:PORT` of the appliance's agent listener.
        public var server: String
        public var code: SupportCode
        /// The account this program runs as: the representative's shells run as it.
        public var localUser: String
        /// What the representative sees of this computer.
        public var host: WireHostFacts
        /// Where a pin installs the Jump Client.
        public var installDirectory: String
        /// Whether a pin installs and starts its systemd service.
        public var installService: Bool

        public init(
            server: String,
            code: SupportCode,
            localUser: String,
            host: WireHostFacts,
            installDirectory: String = AgentFiles.defaultDirectory,
            installService: Bool = true
        ) {
            self.server = server
            self.code = code
            self.localUser = localUser
            self.host = host
            self.installDirectory = installDirectory
            self.installService = installService
        }
    }

    /// Installs the program (and, when asked, its service) into an enrolled agent's files; returns
    /// the service unit's name, nil without a service. `Installation.install` in JumpAgentLinux.
    public typealias Install = @Sendable (_ files: AgentFiles, _ service: Bool) throws -> String?

    /// How the support session ended: for the person, and the exit status.
    public enum Ending: Sendable, Hashable {
        /// The representative or the appliance ended it, or the end user stopped it.
        case finished(String)
        case failed(AgentError.Code, String)

        public var message: String {
            switch self {
            case .finished(let message), .failed(_, let message): message
            }
        }

        public var exitStatus: Int32 {
            switch self {
            case .finished: 0
            case .failed(let code, _): code.rawValue
            }
        }
    }

    /// How long to wait for the TCP connection.
    public static let connectTimeout = TimeAmount.seconds(30)

    public let configuration: Configuration
    let sessionHost: (any TerminalHost)?
    let install: Install
    let say: @Sendable (String) -> Void
    let logger: Logger
    let group: any EventLoopGroup
    /// Whose rights a pin has (a service needs root); injected so tests need not drop root.
    let effectiveUID: UInt32
    /// One pin at a time.
    let pinning = Mutex(false)

    public init(
        configuration: Configuration,
        sessionHost: (any TerminalHost)?,
        install: @escaping Install,
        say: @escaping @Sendable (String) -> Void,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        effectiveUID: UInt32 = geteuid()
    ) {
        self.configuration = configuration
        self.sessionHost = sessionHost
        self.install = install
        self.say = say
        self.logger = logger
        self.group = group
        self.effectiveUID = effectiveUID
    }

    /// Runs the support session to its end. Cancelling the task ends it with a Goodbye.
    public func run() async -> Ending {
        let server = configuration.server
        guard let (host, port) = AgentRuntime.split(server) else {
            return .failed(.usage, "\(server) is not a HOST:PORT address")
        }
        let tls: NIOSSLContext
        do {
            tls = try NIOSSLContext(configuration: JumpTLSConfiguration.supportClient())
        } catch {
            return .failed(.unavailable, "cannot set up TLS: \(error)")
        }
        var request = WireSupportRequest()
        request.key = Data(configuration.code.key)
        request.host = configuration.host
        request.localUser = configuration.localUser
        let trust = SupportServerTrust(caPin: configuration.code.caPin)
        let connection = Connection(agent: self)
        say("Connecting to \(server)...")
        let channel: any Channel
        do {
            channel = try await AgentChannel.connect(
                host: host, port: port, group: group,
                security: .unenrolled(tls, verification: { trust.verificationCallback { reason in connection.untrusted(reason) } }),
                connectTimeout: Self.connectTimeout,
                configuration: .init(purpose: .support(request), hello: AgentRuntime.hello()), delegate: connection
            )
        } catch {
            return .failed(.unavailable, "cannot connect to \(server): \(Self.describeConnectFailure(error))")
        }
        let outcome = await withTaskCancellationHandler {
            await connection.ended()
        } onCancel: {
            connection.stop(channel)
        }
        await connection.pinFinished()
        let ending = Self.ending(
            outcome,
            server: server,
            queued: connection.wasQueued,
            stoppedHere: connection.wasStopped,
            untrusted: connection.untrustedReason
        )
        logger.info("support session over", metadata: ["ending": "\(ending)"])
        return ending
    }

    /// What a connection's outcome means for the end user.
    static func ending(
        _ outcome: AgentConnectionOutcome,
        server: String,
        queued: Bool,
        stoppedHere: Bool,
        untrusted: String?
    ) -> Ending {
        switch outcome {
        case .supportRefused(let response):
            let reason = response.detail.isEmpty ? describe(response.result) : response.detail
            switch response.result {
            case .codeUnknown, .codeExpired, .codeUsed:
                return .failed(.refused, "the appliance refused the support code: \(reason); ask the representative for a new one")
            default:
                return .failed(.unavailable, "the appliance cannot take this support session now: \(reason)")
            }
        case .peerSaidGoodbye(let goodbye) where queued && goodbye.reason == .normal:
            return .finished("the support session has ended" + (goodbye.detail.isEmpty ? "" : ": \(goodbye.detail)"))
        case .peerSaidGoodbye(let goodbye):
            return .failed(
                .unavailable,
                "the appliance ended the connection (\(goodbye.reason))" + (goodbye.detail.isEmpty ? "" : ": \(goodbye.detail)")
            )
        case .retryAfter(let retry):
            return .failed(.unavailable, "the appliance is busy; try again in \(max(retry.delayMs / 1000, 1)) s")
        case .closedLocally where stoppedHere, .transportClosed where stoppedHere:
            return .finished("the support session was ended on this computer")
        case .closedLocally(let goodbye):
            return .failed(.unavailable, "the connection to the appliance failed: \(goodbye.detail); the support session is over")
        case .transportClosed:
            if let untrusted {
                return .failed(
                    .unavailable,
                    "\(server) is not the appliance this support code was made for (\(untrusted)); check the address and the code with the representative"
                )
            }
            return .failed(
                .unavailable,
                queued
                    ? "the connection to the appliance was lost; the support session is over"
                    : "\(server) closed the connection before answering the support request"
            )
        case .enrolled:
            return .failed(.unavailable, "the appliance answered with an enrollment; the support session is over")
        }
    }

    /// The reason a person can read, not NIO's nested description.
    static func describeConnectFailure(_ error: any Error) -> String {
        var error = error
        if let connection = error as? NIOConnectionError, let first = connection.connectionErrors.first {
            error = first.error
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        return "\(error)"
    }

    static func describe(_ result: WireSupportResult) -> String {
        switch result {
        case .codeUnknown: "the code is unknown"
        case .codeExpired: "the code has expired"
        case .codeUsed: "the code has been used already"
        case .rateLimited: "too many attempts; wait a minute"
        case .internalError: "the appliance had an internal error"
        default: "\(result)"
        }
    }

    /// What the representative sees and does, as the end user reads it.
    static func queuedMessage(_ response: WireSupportResponse) -> String {
        let who = response.representative.isEmpty ? "a representative" : response.representative
        return "Connected: waiting for \(who) to start the support session."
    }

    // MARK: The connection

    /// The connection's delegate: sessions, pins and notices, and how it ended.
    final class Connection: AgentConnectionDelegate {
        private struct State {
            var connection: AgentConnection?
            var sessions: SessionChannels?
            var representative = ""
            var stopped = false
            var untrusted: String?
            var outcome: AgentConnectionOutcome?
            var waiter: CheckedContinuation<AgentConnectionOutcome, Never>?
            /// A pin being carried out: the program does not end before it does.
            var pin: Task<Void, Never>?
        }

        let agent: SupportAgent
        private let state = Mutex(State())

        init(agent: SupportAgent) { self.agent = agent }

        var wasQueued: Bool { state.withLock { $0.connection != nil } }
        var wasStopped: Bool { state.withLock { $0.stopped } }
        var untrustedReason: String? { state.withLock { $0.untrusted } }

        /// Waits for a pin under way, so that the computer is never left half installed.
        func pinFinished() async {
            guard let pin = state.withLock({ $0.pin }) else { return }
            await pin.value
        }

        func untrusted(_ reason: String) {
            agent.logger.notice("the appliance's certificate is refused", metadata: ["reason": "\(reason)"])
            state.withLock { $0.untrusted = reason }
        }

        func ended() async -> AgentConnectionOutcome {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> AgentConnectionOutcome? in
                    if let outcome = state.outcome { return outcome }
                    state.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }

        /// The end user stops: a Goodbye once the appliance accepted the request, else just a close.
        func stop(_ channel: any Channel) {
            let connection = state.withLock { state in
                state.stopped = true
                return state.connection
            }
            if let connection {
                connection.close(WireGoodbye(.normal, "the end user ended the support session"))
            } else {
                channel.close(promise: nil)
            }
        }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {}

        func connection(_ connection: AgentConnection, supportQueued response: WireSupportResponse) {
            let user = agent.configuration.localUser
            let sessions = SessionChannels(
                transport: connection,
                configuration: .init(
                    host: agent.sessionHost.map { AnnouncedTerminalHost(host: $0, say: agent.say) },
                    user: SessionUser(user)
                ),
                logger: agent.logger
            )
            state.withLock { state in
                state.connection = connection
                state.sessions = sessions
                state.representative = response.representative
            }
            agent.logger.info("support request accepted", metadata: ["support": "\(response.supportID)"])
            agent.say(SupportAgent.queuedMessage(response))
            agent.say(
                "The representative sees this computer's name (\(agent.configuration.host.hostname)) and your account (\(user)); shells they open run as \(user)."
            )
        }

        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
            if let action = command.action, let sessions = state.withLock({ $0.sessions }), sessions.handle(action, id: id) {
                return
            }
            switch command.action {
            case .pin(let pin):
                let agent = self.agent
                let task = Task {
                    let ack = await agent.pin(pin.installer, ref: id)
                    connection.send(.ack(ack))
                }
                state.withLock { $0.pin = task }
            default:
                connection.send(.ack(WireAck(ref: id, .unsupported, "a support session does not carry out this command")))
            }
        }

        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {
            if case .notice(let notice) = message, !notice.text.isEmpty {
                agent.say("Message: \(notice.text)")
            }
        }

        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {
            state.withLock { $0.sessions }?.received(data, channel: channel)
        }

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            // No shell outlives its connection.
            state.withLock { $0.sessions }?.connectionClosed()
            let waiter = state.withLock { state in
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: outcome)
        }
    }
}

/// Tells the end user when the representative's shells start and end.
struct AnnouncedTerminalHost: TerminalHost {
    let host: any TerminalHost
    let say: @Sendable (String) -> Void

    /// The start is announced after `start` returns, the end from the session's thread: whichever
    /// comes second says the end, so the two lines are always in order.
    private final class Announcement: Sendable {
        private let state = Mutex((started: false, exited: false))
        let say: @Sendable (String) -> Void
        let user: String

        init(say: @escaping @Sendable (String) -> Void, user: String) {
            self.say = say
            self.user = user
        }

        func started() {
            say("The representative started a shell as \(user).")
            let exited = state.withLock { state in
                state.started = true
                return state.exited
            }
            if exited { say("The representative's shell has ended.") }
        }

        func exited() {
            let started = state.withLock { state in
                state.exited = true
                return state.started
            }
            if started { say("The representative's shell has ended.") }
        }
    }

    func start(
        _ request: TerminalRequest,
        events: @escaping @Sendable (TerminalEvent) -> Void
    ) throws(TerminalError) -> any TerminalSession {
        let announcement = Announcement(say: say, user: request.user)
        let session = try host.start(request) { event in
            if case .exited = event { announcement.exited() }
            events(event)
        }
        announcement.started()
        return session
    }
}
