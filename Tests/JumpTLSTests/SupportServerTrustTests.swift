import Crypto
import Foundation
import JumpProtocol
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing
import X509

/// The support agent's trust: a CA found in the presented chain by the support code's pin, and the
/// leaf verified against it alone. Over real TLS 1.3 on loopback, and the decision on its own.
@Suite(.timeLimit(.minutes(1))) struct SupportServerTrustTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    static func pin(of ca: CertificateAuthority) throws -> [UInt8] {
        Array(SHA256.hash(data: try ca.certificate.derBytes).prefix(SupportServerTrust.minimumPinLength))
    }

    static func serverIdentity(from ca: CertificateAuthority, now: Date = Date()) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let certificate = try ca.issueServerCertificate(
            for: key.publicKey,
            hostnames: ["localhost"],
            ipAddresses: [[127, 0, 0, 1]],
            now: now
        )
        return TLSIdentity(certificate: certificate, privateKey: key)
    }

    /// An appliance listener presenting `identity` and `ca` (``AgentTLSServerContext``).
    static func listen(identity: TLSIdentity, ca: CertificateAuthority) async throws -> any Channel {
        let tls = try AgentTLSServerContext(identity: identity, clientCA: ca.certificate)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addJumpServerHandlers(
                        tls: tls,
                        ServerConnectionHandler(configuration: .init(), clock: TLSLoopbackTests.clock, delegate: Appliance())
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    /// Accepts every support request, so a finished handshake shows as a queued connection.
    final class Appliance: ServerConnectionDelegate {
        func connection(_ connection: ServerConnection, admit clientID: String, certificateSerial: String?, hello: WireHello) {
            connection.refuse(WireGoodbye(.unexpectedMessage))
        }
        func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest) {}
        func connection(_ connection: ServerConnection, support request: WireSupportRequest) {
            var response = WireSupportResponse()
            response.result = .ok
            response.supportID = "support-1"
            response.representative = "rep"
            connection.answerSupport(response)
        }
        func connection(_ connection: ServerConnection, client clientID: String, received message: ControlMessage, id: UInt64, encoded: ByteBuffer) {}
        func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32) {}
        func connectionClosed(_ connection: ServerConnection, clientID: String?) {}
    }

    final class Agent: AgentConnectionDelegate {
        enum Result: Sendable, Equatable {
            case queued(String)
            case closed(AgentConnectionOutcome)
        }

        let result: EventLoopPromise<Result>
        let refusal = Mutex<String?>(nil)

        init(eventLoop: any EventLoop) { result = eventLoop.makePromise() }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {}
        func connection(_ connection: AgentConnection, supportQueued response: WireSupportResponse) {
            result.succeed(.queued(response.supportID))
        }
        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {}
        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {}
        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {}
        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            result.succeed(.closed(outcome))
        }
    }

    /// A support connection as `jump-agent support` makes it; the result and why TLS refused, if it did.
    static func connect(port: Int, pin: [UInt8]) async throws -> (Agent.Result, refusal: String?) {
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.supportClient())
        let eventLoop = group.next()
        let agent = Agent(eventLoop: eventLoop)
        var request = WireSupportRequest()
        request.key = Data(repeating: 1, count: SupportCode.keyLength)
        let trust = SupportServerTrust(caPin: pin)
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelInitializer { [request] channel in
                channel.eventLoop.makeCompletedFuture {
                    let verify = trust.verificationCallback { reason in agent.refusal.withLock { $0 = reason } }
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: nil, customVerificationCallback: verify)
                    )
                    try channel.pipeline.syncOperations.addJumpFraming(
                        AgentConnectionHandler(
                            configuration: .init(purpose: .support(request), hello: WireHello()),
                            clock: TLSLoopbackTests.clock,
                            delegate: agent
                        )
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let result = try await agent.result.futureResult.get()
        try? await channel.close()
        return (result, agent.refusal.withLock { $0 })
    }

    @Test func theRightPinConnects() async throws {
        let ca = try CertificateAuthority.create(commonName: "Support CA")
        let server = try await Self.listen(identity: Self.serverIdentity(from: ca), ca: ca)
        defer { server.close(promise: nil) }
        let (result, refusal) = try await Self.connect(port: server.localAddress!.port!, pin: Self.pin(of: ca))
        #expect(result == .queued("support-1"))
        #expect(refusal == nil)
    }

    @Test func aWrongPinIsRefusedInTheHandshake() async throws {
        let ca = try CertificateAuthority.create(commonName: "Support CA")
        let server = try await Self.listen(identity: Self.serverIdentity(from: ca), ca: ca)
        defer { server.close(promise: nil) }
        var pin = try Self.pin(of: ca)
        pin[10] ^= 1
        let (result, refusal) = try await Self.connect(port: server.localAddress!.port!, pin: pin)
        #expect(result == .closed(.transportClosed))
        #expect(refusal?.contains("no CA matching the support code") == true)
    }

    /// The pinned CA is presented, but the leaf was signed by another CA's key: presenting a
    /// certificate anyone can copy proves nothing.
    @Test func theRightCAWithALeafFromAnotherKeyIsRefused() async throws {
        let ca = try CertificateAuthority.create(commonName: "Support CA")
        let impostor = try CertificateAuthority.create(commonName: "Support CA")
        let server = try await Self.listen(identity: Self.serverIdentity(from: impostor), ca: ca)
        defer { server.close(promise: nil) }
        let (result, refusal) = try await Self.connect(port: server.localAddress!.port!, pin: Self.pin(of: ca))
        #expect(result == .closed(.transportClosed))
        #expect(refusal?.contains("not signed by the CA") == true)
    }

    @Test func theDecisionOnItsOwn() async throws {
        let ca = try CertificateAuthority.create(commonName: "Support CA")
        let trust = SupportServerTrust(caPin: try Self.pin(of: ca))
        let leaf = try Self.serverIdentity(from: ca).certificate
        #expect(trust.evaluate([leaf, ca.certificate]) == .trusted)
        #expect(trust.evaluate([]) != .trusted)
        #expect(trust.evaluate([leaf]) != .trusted, "the CA must be in the chain")

        let expired = try Self.serverIdentity(from: ca, now: Date() - 3 * 365 * 86_400).certificate
        #expect(trust.evaluate([expired, ca.certificate]) != .trusted, "validity is checked")

        let key = P256.Signing.PrivateKey()
        let client = try ca.issueClientCertificate(csrDER: CertificationRequest.make(for: key, hostname: "h"), clientID: "jc-1")
        #expect(trust.evaluate([client, ca.certificate]) != .trusted, "a Jump Client's certificate is no server's")

        let short = SupportServerTrust(caPin: [])
        #expect(short.evaluate([leaf, ca.certificate]) != .trusted, "an empty pin matches nothing")
    }
}
