@preconcurrency import Crypto
import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import JumpTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing
import X509

/// `jump-agent support` against a scripted appliance over real TLS 1.3 on loopback: the appliance
/// presents its leaf and CA, answers the support request as each test says, sends commands, and
/// enrolls a pinned computer on a second connection.
@Suite(.timeLimit(.minutes(1))) struct SupportAgentTests {
    static let group = MultiThreadedEventLoopGroup.singleton
    static let clock = ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })

    /// Things that happen, kept in order; a test waits for the first that matches.
    final class Mailbox<Element: Sendable>: Sendable {
        private let state = Mutex<(items: [Element], waiters: [(predicate: @Sendable (Element) -> Bool, continuation: CheckedContinuation<Element, Never>)])>(([], []))

        func post(_ item: Element) {
            let ready = state.withLock { state in
                state.items.append(item)
                let (ready, waiting) = (state.waiters.filter { $0.predicate(item) }, state.waiters.filter { !$0.predicate(item) })
                state.waiters = waiting
                return ready
            }
            for waiter in ready { waiter.continuation.resume(returning: item) }
        }

        func first(where predicate: @escaping @Sendable (Element) -> Bool) async -> Element {
            await withCheckedContinuation { continuation in
                let found = state.withLock { state -> Element? in
                    if let item = state.items.first(where: predicate) { return item }
                    state.waiters.append((predicate, continuation))
                    return nil
                }
                if let found { continuation.resume(returning: found) }
            }
        }

        var items: [Element] { state.withLock { $0.items } }
    }

    enum Event: Sendable {
        case support(WireSupportRequest, ServerConnection)
        case enroll(WireEnrollRequest)
        case message(ControlMessage)
        case closed(String?)
    }

    final class Appliance: ServerConnectionDelegate {
        let ca: CertificateAuthority
        let answer: WireSupportResponse
        let token = Data(repeating: 9, count: 16)
        let clientID = "jc-77"
        let events = Mailbox<Event>()

        init(ca: CertificateAuthority, answer: WireSupportResponse) {
            self.ca = ca
            self.answer = answer
        }

        func connection(_ connection: ServerConnection, admit clientID: String, certificateSerial: String?, hello: WireHello) {
            connection.admit(config: WireSiteConfig())
        }

        func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest) {
            events.post(.enroll(request))
            var response = WireEnrollResponse()
            do {
                guard request.token == token else { throw PKIError(.malformed, "token") }
                let certificate = try ca.issueClientCertificate(csrDER: Array(request.csr), clientID: clientID)
                response.result = .ok
                response.clientID = clientID
                response.certificate = Data(try certificate.derBytes)
            } catch {
                response.result = .tokenUnknown
                response.detail = "\(error)"
            }
            connection.finishEnrollment(response)
        }

        func connection(_ connection: ServerConnection, support request: WireSupportRequest) {
            events.post(.support(request, connection))
            connection.answerSupport(answer)
        }

        func connection(_ connection: ServerConnection, client clientID: String, received message: ControlMessage, id: UInt64, encoded: ByteBuffer) {
            events.post(.message(message))
        }

        func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32) {}

        func connectionClosed(_ connection: ServerConnection, clientID: String?) {
            events.post(.closed(clientID))
        }
    }

    /// A terminal that prints nothing and exits when told to.
    final class QuietHost: TerminalHost {
        final class Terminal: TerminalSession {
            let events: @Sendable (TerminalEvent) -> Void
            let summary = "quiet terminal"
            init(events: @escaping @Sendable (TerminalEvent) -> Void) { self.events = events }
            func write(_ bytes: [UInt8]) throws(TerminalError) {}
            func resize(columns: UInt16, rows: UInt16) throws(TerminalError) {}
            func acknowledge(bytes: Int) {}
            func terminate() { events(.exited(.status(0))) }
        }

        func start(
            _ request: TerminalRequest,
            events: @escaping @Sendable (TerminalEvent) -> Void
        ) throws(TerminalError) -> any TerminalSession {
            Terminal(events: events)
        }
    }

    struct Setup {
        let ca: CertificateAuthority
        let appliance: Appliance
        let server: any Channel
        let directory: URL
        var port: Int { server.localAddress!.port! }
        var address: String { "127.0.0.1:\(port)" }
        var code: SupportCode {
            SupportCode(key: Array(repeating: 5, count: SupportCode.keyLength), caFingerprint: Array(SHA256.hash(data: try! ca.certificate.derBytes)))
        }
    }

    static func answer(_ result: WireSupportResult, detail: String = "") -> WireSupportResponse {
        var response = WireSupportResponse()
        response.result = result
        response.detail = detail
        if result == .ok {
            response.supportID = "support-9"
            response.representative = "Rita Rep"
        }
        return response
    }

    static func startAppliance(answer: WireSupportResponse = answer(.ok)) async throws -> Setup {
        let ca = try CertificateAuthority.create(commonName: "Support Test CA")
        let key = P256.Signing.PrivateKey()
        let certificate = try ca.issueServerCertificate(for: key.publicKey, hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]])
        let tls = try AgentTLSServerContext(identity: TLSIdentity(certificate: certificate, privateKey: key), clientCA: ca.certificate)
        let appliance = Appliance(ca: ca, answer: answer)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addJumpServerHandlers(
                        tls: tls,
                        ServerConnectionHandler(configuration: .init(), clock: clock, delegate: appliance)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-support-\(UUID().uuidString)")
        return Setup(ca: ca, appliance: appliance, server: server, directory: directory)
    }

    static func agent(
        _ setup: Setup,
        code: SupportCode? = nil,
        service: Bool = false,
        effectiveUID: UInt32 = 0,
        transcript: Mailbox<String>
    ) -> SupportAgent {
        var host = WireHostFacts()
        host.hostname = "kiosk-7"
        return SupportAgent(
            configuration: .init(
                server: setup.address,
                code: code ?? setup.code,
                localUser: "root",
                host: host,
                installDirectory: setup.directory.path,
                installService: service
            ),
            sessionHost: QuietHost(),
            install: { files, service in
                // A small stand-in for this program; systemd is not asked.
                try Installation.install(
                    program: URL(fileURLWithPath: "/bin/true"),
                    files: files,
                    service: service,
                    tools: SystemdTools(systemctl: "/bin/true", unitDirectory: setup.directory.appendingPathComponent("units").path)
                )?.service
            },
            say: { transcript.post($0) },
            logger: Logger(label: "support-test"),
            effectiveUID: effectiveUID
        )
    }

    static func installer(_ setup: Setup, expires: Date = Date() + 3600) throws -> Data {
        let file = InstallerFile(
            installerID: "inst-1",
            servers: [setup.address],
            caCertificate: try setup.ca.certificatePEM,
            caSHA256: try setup.ca.certificate.sha256Fingerprint,
            token: Base64URL.encode(setup.appliance.token),
            expiresAt: expires,
            group: "helpdesk",
            jumpPolicy: "",
            name: "",
            tag: "",
            comments: "",
            allowedOverrides: []
        )
        return try InstallerFile.encoder.encode(file)
    }

    /// Waits for the support request and returns the appliance's handle on it.
    static func queued(_ setup: Setup, transcript: Mailbox<String>) async -> (WireSupportRequest, ServerConnection) {
        _ = await transcript.first { $0.contains("waiting for") }
        guard case .support(let request, let connection) = await setup.appliance.events.first(where: { if case .support = $0 { true } else { false } })
        else { fatalError("unreachable") }
        return (request, connection)
    }

    static let sequence = Atomic<UInt64>(0)

    /// Sends a command for the support session and waits for its Ack.
    static func command(_ action: WireCommand.OneOf_Action, on connection: ServerConnection, in setup: Setup) async throws -> WireAck {
        var command = WireCommand()
        command.agentID = "support-9"
        command.sequence = sequence.add(1, ordering: .relaxed).newValue
        command.expiresAtMs = UInt64(Date().timeIntervalSince1970 * 1000) + 60_000
        command.action = action
        let id = try await connection.send(.command(command)).get()
        guard case .message(.ack(let ack)) = await setup.appliance.events.first(where: { event in
            if case .message(.ack(let ack)) = event { ack.ref == id } else { false }
        }) else { fatalError("unreachable") }
        return ack
    }

    static func pin(_ installer: Data) -> WireCommand.OneOf_Action {
        var pin = WirePin()
        pin.installer = installer
        return .pin(pin)
    }

    // MARK: Tests

    @Test func anAcceptedRequestWaitsForTheRepresentativeAndShowsTheirNotices() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let transcript = Mailbox<String>()
        let agent = Self.agent(setup, transcript: transcript)
        let run = Task { await agent.run() }

        let (request, connection) = await Self.queued(setup, transcript: transcript)
        #expect(request.key == Data(setup.code.key))
        #expect(request.localUser == "root")
        #expect(request.host.hostname == "kiosk-7")
        #expect(transcript.items.contains { $0.contains("waiting for Rita Rep") })

        var notice = WireNotice()
        notice.text = "I am looking at your printer settings"
        connection.send(.notice(notice))
        _ = await transcript.first { $0.contains("I am looking at your printer settings") }

        connection.close(WireGoodbye(.normal, "the representative ended the support session"))
        let ending = await run.value
        #expect(ending == .finished("the support session has ended: the representative ended the support session"))
        #expect(ending.exitStatus == 0)
    }

    @Test func aSessionIsAnnouncedWhenItStartsAndEnds() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)

        try await connection.eventLoop.submit { try connection.openChannel(1, receiveWindow: 65_536, sendWindow: 0) }.get()
        var open = WireOpenSession()
        open.channelID = 1
        open.kind = .shell
        open.columns = 80
        open.rows = 24
        open.initialWindow = 65_536
        let opened = try await Self.command(.openSession(open), on: connection, in: setup)
        #expect(opened.result == .ok)
        _ = await transcript.first { $0.contains("started a shell as root") }

        var close = WireCloseSession()
        close.channelID = 1
        let closed = try await Self.command(.closeSession(close), on: connection, in: setup)
        #expect(closed.result == .ok)
        _ = await transcript.first { $0.contains("shell has ended") }

        connection.close(WireGoodbye(.normal))
        #expect(await run.value.exitStatus == 0)
    }

    @Test func aRefusedCodeEndsWithTheAppliancesDetail() async throws {
        let setup = try await Self.startAppliance(answer: Self.answer(.codeExpired, detail: "the code expired at 10:42"))
        defer { setup.server.close(promise: nil) }
        let transcript = Mailbox<String>()
        let ending = await Self.agent(setup, transcript: transcript).run()
        guard case .failed(let code, let message) = ending else {
            Issue.record("ended with \(ending)")
            return
        }
        #expect(code == .refused && ending.exitStatus == 77)
        #expect(message.contains("the code expired at 10:42"))
    }

    @Test func anApplianceTheCodeDoesNotNameIsRefused() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let other = SupportCode(key: setup.code.key, caFingerprint: Array(repeating: 0xAB, count: 32))
        let ending = await Self.agent(setup, code: other, transcript: Mailbox()).run()
        #expect(ending.exitStatus == 69)
        #expect(ending.message.contains("is not the appliance this support code was made for"))
        #expect(!setup.appliance.events.items.contains { if case .support = $0 { true } else { false } })
    }

    @Test func aPinEnrollsAndInstallsAndAnswersWithTheClientID() async throws {
        let setup = try await Self.startAppliance()
        defer {
            setup.server.close(promise: nil)
            try? FileManager.default.removeItem(at: setup.directory)
        }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)

        let ack = try await Self.command(Self.pin(try Self.installer(setup)), on: connection, in: setup)
        #expect(ack.result == .ok)
        #expect(ack.detail == "jc-77")
        guard case .enroll(let request) = await setup.appliance.events.first(where: { if case .enroll = $0 { true } else { false } }) else { return }
        #expect(request.host.hostname == "kiosk-7")

        let files = AgentFiles(root: setup.directory.path)
        let configuration = try JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: Data(contentsOf: files.configuration))
        #expect(configuration.clientID == "jc-77")
        #expect(configuration.servers == [setup.address])
        #expect(FileManager.default.isExecutableFile(atPath: files.program.path))
        #expect(FileManager.default.fileExists(atPath: files.key.path))
        let installed = await transcript.first { $0.contains("installed as Jump Client jc-77") }
        #expect(installed.contains("\(files.program.path) run"), "without a service, how to start it")

        // The session goes on until the representative ends it.
        connection.close(WireGoodbye(.normal))
        #expect(await run.value.exitStatus == 0)
    }

    @Test func aPinIntoADirectoryWithAJumpClientFails() async throws {
        let setup = try await Self.startAppliance()
        let files = AgentFiles(root: setup.directory.path)
        try FileManager.default.createDirectory(at: files.etc, withIntermediateDirectories: true)
        let existing = AgentConfiguration(clientID: "jc-1", servers: [], caSHA256: "", installerID: "", name: "", enrolledAt: Date())
        try JSONEncoder.agentFiles.encode(existing).write(to: files.configuration)
        defer {
            setup.server.close(promise: nil)
            try? FileManager.default.removeItem(at: setup.directory)
        }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)

        let ack = try await Self.command(Self.pin(try Self.installer(setup)), on: connection, in: setup)
        #expect(ack.result == .failed)
        #expect(ack.detail.contains("already holds the enrolled Jump Client jc-1"))
        #expect(!setup.appliance.events.items.contains { if case .enroll = $0 { true } else { false } }, "the token is not spent")
        connection.close(WireGoodbye(.normal))
        _ = await run.value
    }

    @Test func aPinWithAnExpiredInstallerFails() async throws {
        let setup = try await Self.startAppliance()
        defer {
            setup.server.close(promise: nil)
            try? FileManager.default.removeItem(at: setup.directory)
        }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)

        let ack = try await Self.command(Self.pin(try Self.installer(setup, expires: Date() - 60)), on: connection, in: setup)
        #expect(ack.result == .failed)
        #expect(ack.detail.contains("expired"))
        #expect(!FileManager.default.fileExists(atPath: AgentFiles(root: setup.directory.path).configuration.path))
        _ = await transcript.first { $0.contains("failed") }

        let garbage = try await Self.command(Self.pin(Data("not json".utf8)), on: connection, in: setup)
        #expect(garbage.result == .failed)
        #expect(garbage.detail.contains("not a Jump Client installer"))
        connection.close(WireGoodbye(.normal))
        _ = await run.value
    }

    @Test func aServiceNeedsRoot() async throws {
        let setup = try await Self.startAppliance()
        defer {
            setup.server.close(promise: nil)
            try? FileManager.default.removeItem(at: setup.directory)
        }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, service: true, effectiveUID: 1000, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)

        let ack = try await Self.command(Self.pin(try Self.installer(setup)), on: connection, in: setup)
        #expect(ack.result == .failed)
        #expect(ack.detail.contains("not root"))
        connection.close(WireGoodbye(.normal))
        _ = await run.value
    }

    @Test func stoppingHereSaysGoodbyeAndEndsNormally() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        _ = await Self.queued(setup, transcript: transcript)
        run.cancel()
        let ending = await run.value
        #expect(ending == .finished("the support session was ended on this computer"))
        _ = await setup.appliance.events.first { if case .closed("support-9") = $0 { true } else { false } }
    }

    @Test func aLostConnectionIsNotANormalEnd() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let transcript = Mailbox<String>()
        let run = Task { await Self.agent(setup, transcript: transcript).run() }
        let (_, connection) = await Self.queued(setup, transcript: transcript)
        connection.channel.close(promise: nil)
        let ending = await run.value
        #expect(ending.exitStatus == 69)
        #expect(ending.message.contains("lost"))
    }
}
