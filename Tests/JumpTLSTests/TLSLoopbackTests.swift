import Crypto
import Foundation
import JumpProtocol
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
import Testing
import X509

/// Both handlers over real TLS 1.3 on loopback: enrollment without a client certificate, then mTLS
/// with the issued one, and the handshakes that must fail.
@Suite(.timeLimit(.minutes(1))) struct TLSLoopbackTests {
    static let group = MultiThreadedEventLoopGroup.singleton
    static let clock = ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })

    /// The appliance side: issues certificates from `ca` and admits every client.
    final class Appliance: ServerConnectionDelegate {
        let ca: CertificateAuthority
        let admitted = Mutex<[String]>([])

        init(ca: CertificateAuthority) { self.ca = ca }

        func connection(_ connection: ServerConnection, admit clientID: String, certificateSerial: String?, hello: WireHello) {
            admitted.withLock { $0.append(clientID) }
            connection.admit(config: WireSiteConfig())
        }

        func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest) {
            var response = WireEnrollResponse()
            do {
                let certificate = try ca.issueClientCertificate(csrDER: Array(request.csr), clientID: "jc-42")
                response.result = .ok
                response.clientID = "jc-42"
                response.certificate = Data(try certificate.derBytes)
            } catch {
                response.result = .csrInvalid
                response.detail = "\(error)"
            }
            connection.finishEnrollment(response)
        }

        func connection(_ connection: ServerConnection, client clientID: String, received message: ControlMessage, id: UInt64, encoded: ByteBuffer) {}
        func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32) {}
        func connectionClosed(_ connection: ServerConnection, clientID: String?) {}
    }

    /// The agent side: reports how the connection went.
    final class Agent: AgentConnectionDelegate {
        enum Result: Sendable, Equatable {
            case ready(String)
            case closed(AgentConnectionOutcome)
        }

        let result: EventLoopPromise<Result>

        init(eventLoop: any EventLoop) { result = eventLoop.makePromise() }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
            result.succeed(.ready(welcome.clientID))
        }

        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {}
        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {}
        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {}

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            result.succeed(.closed(outcome))
        }
    }

    struct Setup {
        let ca: CertificateAuthority
        let appliance: Appliance
        let server: any Channel

        var port: Int { server.localAddress!.port! }
    }

    static func startAppliance() async throws -> Setup {
        let ca = try CertificateAuthority.create(commonName: "Test appliance CA")
        let serverKey = P256.Signing.PrivateKey()
        let serverCertificate = try ca.issueServerCertificate(
            for: serverKey.publicKey,
            hostnames: ["localhost"],
            ipAddresses: [[127, 0, 0, 1]]
        )
        let tls = try AgentTLSServerContext(
            identity: TLSIdentity(certificate: serverCertificate, privateKey: serverKey),
            clientCA: ca.certificate
        )
        let appliance = Appliance(ca: ca)
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
        return Setup(ca: ca, appliance: appliance, server: server)
    }

    static func connectAgent(
        port: Int,
        tls configuration: TLSConfiguration,
        purpose: AgentConnectionStateMachine.Purpose
    ) async throws -> Agent.Result {
        let tls = try NIOSSLContext(configuration: configuration)
        let eventLoop = group.next()
        let agent = Agent(eventLoop: eventLoop)
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: nil)
                    )
                    try channel.pipeline.syncOperations.addJumpFraming(
                        AgentConnectionHandler(
                            configuration: .init(purpose: purpose, hello: WireHello()),
                            clock: clock,
                            delegate: agent
                        )
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let result = try await agent.result.futureResult.get()
        try? await channel.close()
        return result
    }

    static func enrollRequest(key: P256.Signing.PrivateKey) throws -> WireEnrollRequest {
        var request = WireEnrollRequest()
        request.token = Data(repeating: 7, count: 16)
        request.csr = Data(try CertificationRequest.make(for: key, hostname: "kiosk-12"))
        return request
    }

    @Test func enrollThenConnectWithTheIssuedCertificate() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }

        let key = P256.Signing.PrivateKey()
        let enrollment = try await Self.connectAgent(
            port: setup.port,
            tls: JumpTLSConfiguration.client(trusting: setup.ca.certificate, identity: nil),
            purpose: .enroll(Self.enrollRequest(key: key))
        )
        guard case .closed(.enrolled(let response)) = enrollment else {
            Issue.record("enrollment ended with \(enrollment)")
            return
        }
        #expect(response.result == .ok)
        let certificate = try Certificate(derBytes: Array(response.certificate))
        #expect(certificate.jumpClientID == "jc-42")

        let session = try await Self.connectAgent(
            port: setup.port,
            tls: JumpTLSConfiguration.client(
                trusting: setup.ca.certificate,
                identity: TLSIdentity(certificate: certificate, privateKey: key)
            ),
            purpose: .serve(CommandGate(agentID: "jc-42", lastSequence: 0))
        )
        #expect(session == .ready("jc-42"))
        #expect(setup.appliance.admitted.withLock { $0 } == ["jc-42"])
    }

    @Test func aClientCertificateFromAnotherCAFailsTheHandshake() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let stranger = try CertificateAuthority.create(commonName: "Another CA")
        let key = P256.Signing.PrivateKey()
        let certificate = try stranger.issueClientCertificate(
            csrDER: CertificationRequest.make(for: key, hostname: "x"),
            clientID: "jc-42"
        )
        let result = try await Self.connectAgent(
            port: setup.port,
            tls: JumpTLSConfiguration.client(
                trusting: setup.ca.certificate,
                identity: TLSIdentity(certificate: certificate, privateKey: key)
            ),
            purpose: .serve(CommandGate(agentID: "jc-42", lastSequence: 0))
        )
        #expect(result == .closed(.transportClosed))
        #expect(setup.appliance.admitted.withLock { $0 }.isEmpty)
    }

    @Test func anAgentRefusesAnApplianceItDoesNotPin() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        let other = try CertificateAuthority.create(commonName: "Not the appliance")
        let result = try await Self.connectAgent(
            port: setup.port,
            tls: JumpTLSConfiguration.client(trusting: other.certificate, identity: nil),
            purpose: .enroll(Self.enrollRequest(key: P256.Signing.PrivateKey()))
        )
        #expect(result == .closed(.transportClosed))
    }

    @Test func tls12IsRefused() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        var configuration = try JumpTLSConfiguration.client(trusting: setup.ca.certificate, identity: nil)
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv12
        let result = try await Self.connectAgent(
            port: setup.port,
            tls: configuration,
            purpose: .enroll(Self.enrollRequest(key: P256.Signing.PrivateKey()))
        )
        #expect(result == .closed(.transportClosed))
    }

    @Test func aClientWithoutTheALPNIsClosed() async throws {
        let setup = try await Self.startAppliance()
        defer { setup.server.close(promise: nil) }
        var configuration = try JumpTLSConfiguration.client(trusting: setup.ca.certificate, identity: nil)
        configuration.applicationProtocols = []
        let result = try await Self.connectAgent(
            port: setup.port,
            tls: configuration,
            purpose: .enroll(Self.enrollRequest(key: P256.Signing.PrivateKey()))
        )
        #expect(result == .closed(.transportClosed))
    }

    @Test func forgedRequestsAreRefused() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        var csr = try CertificationRequest.make(for: P256.Signing.PrivateKey(), hostname: "h")
        csr[csr.count - 3] ^= 0xFF  // inside the signature
        #expect(throws: PKIError(.badSignature, "")) { try ca.issueClientCertificate(csrDER: csr, clientID: "x") }
        #expect(throws: PKIError(.malformed, "")) { try ca.issueClientCertificate(csrDER: [0x30, 0x01], clientID: "x") }
    }

    @Test func caAndIdentitiesSurviveTheirPEMForm() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let copy = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        #expect(copy.certificate == ca.certificate)
        let key = P256.Signing.PrivateKey()
        let certificate = try ca.issueClientCertificate(csrDER: CertificationRequest.make(for: key, hostname: "h"), clientID: "jc-1")
        let identity = TLSIdentity(certificate: certificate, privateKey: key)
        let read = try TLSIdentity(certificatePEM: identity.certificatePEM, privateKeyPEM: identity.privateKeyPEM)
        #expect(read.certificate.jumpClientID == "jc-1")
        #expect(throws: PKIError(.malformed, "")) {
            try TLSIdentity(certificatePEM: identity.certificatePEM, privateKeyPEM: P256.Signing.PrivateKey().pemRepresentation)
        }
    }
}

@Suite struct HexTests {
    @Test func twoLowercaseDigitsAByte() {
        #expect(Hex.lowercase([0x00, 0x0f, 0xa0, 0xff, 0x7e]) == "000fa0ff7e")
        #expect(Hex.lowercase([UInt8]()) == "")
        let bytes = (0...255).map(UInt8.init)
        #expect(Hex.lowercase(bytes) == bytes.map { String(format: "%02x", $0) }.joined(), "the same as Foundation's")
        #expect(Hex.lowercase([0x00, 0x1a, 0xff], separator: UInt8(ascii: ":")) == "00:1a:ff")
        #expect(Hex.lowercase([0x7e], separator: UInt8(ascii: ":")) == "7e")
    }
}
