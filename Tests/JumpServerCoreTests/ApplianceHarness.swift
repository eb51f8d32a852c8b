@preconcurrency import Crypto
import Foundation
import JumpProtocol
import JumpEventLoops
import JumpServerCore
import JumpStore
import JumpTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import X509

/// A real appliance core on loopback (data directory, store, hub, agent listener with TLS), and
/// agents built from the protocol's own handlers, for tests.
struct ApplianceHarness {
    let directory: URL
    let contents: DataDirectory.Contents
    let hub: ClientHub
    let listener: AgentListener
    let logs: LogCapture

    var port: Int { listener.localAddress!.port! }
    var store: SQLiteStore { contents.store }
    var ca: CertificateAuthority { contents.ca }

    static func start(
        in directory: URL? = nil,
        timeouts: ConnectionTimeouts = ConnectionTimeouts(),
        handshakeTimeout: TimeAmount = .seconds(10),
        now: @escaping @Sendable () -> Date = Date.init,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        coalescing: WakeUpCoalescing? = nil
    ) async throws -> ApplianceHarness {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("jump-appliance-\(UUID().uuidString)")
        let contents = try await DataDirectory(directory.path).open(hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]])
        let logs = LogCapture()
        let logger = Logger(label: "test") { _ in logs }
        let hub = try await ClientHub.load(store: contents.store, ca: contents.ca, logger: logger, now: now)
        let listener = try await AgentListener.bind(
            ListenAddress(host: "127.0.0.1", port: 0),
            identity: contents.serverIdentity,
            ca: contents.ca,
            ticketKeys: contents.ticketKeys,
            hub: hub,
            timeouts: timeouts,
            handshakeTimeout: handshakeTimeout,
            group: group,
            coalescing: coalescing,
            logger: logger
        )
        return ApplianceHarness(directory: directory, contents: contents, hub: hub, listener: listener, logs: logs)
    }

    func stop() async {
        await listener.close()
    }

    /// Audit records with `action`, once there are at least `count` of them (audit records of refused
    /// connections are written just after the refusal), or what there is after five seconds.
    func auditRecords(action: String, atLeast count: Int) async throws -> [AuditRecord] {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let records = try await store.auditRecords(afterID: 0, limit: 10_000).filter { $0.action == action }
            if records.count >= count || ContinuousClock.now > deadline { return records }
            await Task.yield()
        }
    }

    /// A new agent, enrolled and connected; returns it and its client id.
    func connectedAgent() async throws -> (TestAgent, String) {
        let agent = TestAgent()
        let installer = try await makeInstaller(expiresIn: 3650 * 86_400)
        let response = try await agent.enroll(self, token: installer.token)
        let result = try await agent.connect(
            port: port,
            trusting: ca.certificate,
            identity: try agent.identity(from: response),
            purpose: .serve(CommandGate(agentID: response.clientID, lastSequence: 0))
        )
        guard result == .ready(response.clientID) else { throw TestFailure("connecting ended with \(result)") }
        return (agent, response.clientID)
    }

    /// Creates an installer the way the API does; returns its token.
    @discardableResult
    func makeInstaller(
        id: String = "in-\(UUID().uuidString.prefix(8))",
        expiresIn: TimeInterval = 3600,
        maxUses: Int? = nil,
        overrides: Set<InstallOverride> = [],
        now: Date = Date()
    ) async throws -> (id: String, token: Data) {
        let group = try await store.group(named: "Default")!
        let token = contents.installerTokens.token(installerID: id)
        try await store.createInstaller(
            Installer(
                id: id,
                tokenHash: InstallerTokens.hash(token),
                createdAt: now,
                createdBy: "test",
                expiresAt: now + expiresIn,
                maxUses: maxUses,
                groupID: group.id,
                allowedOverrides: overrides
            ),
            audit: AuditEvent(actor: "test", action: "installer.create", target: id)
        )
        return (id, token)
    }
}

/// An agent for tests: one connection at a time, with the result of each.
final class TestAgent: AgentConnectionDelegate {
    enum Result: Sendable, Equatable {
        case ready(String)
        /// A support request was queued under this support id.
        case supportQueued(String)
        case closed(AgentConnectionOutcome)
    }

    let key = P256.Signing.PrivateKey()
    let results = Mutex<[Result]>([])
    let connection = Mutex<AgentConnection?>(nil)
    let acks = Mutex<[WireAck]>([])
    let configs = Mutex<[WireSiteConfig]>([])
    /// Answers to renewal requests.
    let renewals = Mutex<[WireEnrollResponse]>([])
    private let waiter = Mutex<(count: Int, continuation: CheckedContinuation<Void, Never>)?>(nil)

    func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
        self.connection.withLock { $0 = connection }
        record(.ready(welcome.clientID))
    }

    func connection(_ connection: AgentConnection, supportQueued response: WireSupportResponse) {
        self.connection.withLock { $0 = connection }
        record(.supportQueued(response.supportID))
    }

    /// Notices from the appliance, in order.
    let notices = Mutex<[String]>([])

    /// Commands received, and how this agent answers them (nil: it does not answer).
    let commands = Mutex<[WireCommand]>([])
    let commandAnswer = Mutex<WireAckResult?>(.ok)

    func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
        commands.withLock { $0.append(command) }
        if let answer = commandAnswer.withLock({ $0 }) {
            connection.send(.ack(WireAck(ref: id, answer, answer == .ok ? "magic packets sent" : "the interface is down")))
        }
    }

    func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {
        switch message {
        case .ack(let ack): acks.withLock { $0.append(ack) }
        case .siteConfig(let config): configs.withLock { $0.append(config) }
        case .enrollResponse(let response): renewals.withLock { $0.append(response) }
        case .notice(let notice): notices.withLock { $0.append(notice.text) }
        default: break
        }
        record(nil)
    }

    func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {}

    func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
        self.connection.withLock { $0 = nil }
        record(.closed(outcome))
    }

    private func record(_ result: Result?) {
        let count = results.withLock { results in
            if let result { results.append(result) }
            return results.count + acks.withLock(\.count) + configs.withLock(\.count) + renewals.withLock(\.count)
        }
        let ready = waiter.withLock { waiter -> CheckedContinuation<Void, Never>? in
            guard let current = waiter, count >= current.count else { return nil }
            waiter = nil
            return current.continuation
        }
        ready?.resume()
    }

    /// Waits until results, acknowledgements and configurations number `count` in all.
    func waitForEvents(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let now = eventCount
            if now >= count {
                continuation.resume()
            } else {
                waiter.withLock { $0 = (count, continuation) }
            }
        }
    }

    var eventCount: Int {
        results.withLock(\.count) + acks.withLock(\.count) + configs.withLock(\.count) + renewals.withLock(\.count)
    }

    /// Connects once with `purpose` and waits for the connection's first result.
    func connect(
        port: Int,
        trusting ca: Certificate,
        identity: TLSIdentity?,
        purpose: AgentConnectionStateMachine.Purpose
    ) async throws -> Result {
        let before = eventCount
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: ca, identity: identity))
        _ = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    try channel.pipeline.syncOperations.addJumpFraming(
                        AgentConnectionHandler(
                            configuration: .init(purpose: purpose, hello: WireHello()),
                            clock: ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) }),
                            delegate: self
                        )
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        await waitForEvents(before + 1)
        return results.withLock { $0.last! }
    }

    func enrollRequest(token: Data, overrides: WireInstallOverrides = WireInstallOverrides()) throws -> WireEnrollRequest {
        var request = WireEnrollRequest()
        request.token = token
        request.csr = Data(try CertificationRequest.make(for: key, hostname: "kiosk-12"))
        request.host.hostname = "kiosk-12"
        request.overrides = overrides
        return request
    }

    /// Enrolls with `token`; returns the response.
    func enroll(_ harness: ApplianceHarness, token: Data, overrides: WireInstallOverrides = WireInstallOverrides()) async throws -> WireEnrollResponse {
        let result = try await connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: nil,
            purpose: .enroll(try enrollRequest(token: token, overrides: overrides))
        )
        guard case .closed(.enrolled(let response)) = result else {
            throw TestFailure("enrollment ended with \(result)")
        }
        return response
    }

    func identity(from response: WireEnrollResponse) throws -> TLSIdentity {
        TLSIdentity(certificate: try Certificate(derBytes: Array(response.certificate)), privateKey: key)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects log messages so tests can check what the appliance said.
final class LogCapture: LogHandler, @unchecked Sendable {
    // The messages are behind a lock; the handler's own properties are set once.
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let extra = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lines.withLock { $0.append("\(event.level) \(event.message) \(extra)") }
    }

    var messages: [String] { lines.withLock { $0 } }
}
