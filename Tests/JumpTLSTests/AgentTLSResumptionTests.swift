import CNIOBoringSSL
import Crypto
import Foundation
import Synchronization
@testable import JumpTLS
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing
import X509

/// The agent's end of ``AgentTLSHandler`` (an ``AgentTLSClientContext``) against the appliance's,
/// each on an `EmbeddedChannel` with the test carrying the bytes: the server's verification, and TLS
/// session resumption with the appliance's tickets. Real TLS 1.3, real certificates.
@Suite struct AgentTLSResumptionTests {
    typealias Fixture = AgentTLSHandlerTests

    struct Connection {
        let server: EmbeddedChannel
        let client: EmbeddedChannel
        let serverHandler: AgentTLSHandler
        let clientHandler: AgentTLSHandler

        func exchange() throws { try server.exchange(with: client) }

        /// The appliance's first write (its Welcome, on a real connection), which carries the ticket,
        /// and what the agent read of it.
        func serverSays(_ text: String) throws -> String {
            try server.writeAndFlush(ByteBuffer(string: text)).wait()
            try exchange()
            var received = ""
            while let buffer = try client.readInbound(as: ByteBuffer.self) { received += String(buffer: buffer) }
            return received
        }
    }

    /// The address the tests' agents connect to, unless a test names another.
    static let appliance = "appliance.example:4433"

    /// Connects a client with `tls` to a server with `server` at `appliance` and runs the handshake.
    static func connect(
        _ tls: AgentTLSClientContext,
        to server: AgentTLSServerContext,
        at appliance: String = appliance
    ) throws -> Connection {
        let serverHandler = AgentTLSHandler(context: server)
        let clientHandler = AgentTLSHandler(context: tls, appliance: appliance)
        let serverChannel = EmbeddedChannel(handler: serverHandler)
        let clientChannel = EmbeddedChannel(handler: clientHandler)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try serverChannel.connect(to: address).wait()
        // The client speaks first, once active.
        try clientChannel.connect(to: address).wait()
        let connection = Connection(server: serverChannel, client: clientChannel, serverHandler: serverHandler, clientHandler: clientHandler)
        try connection.exchange()
        return connection
    }

    static func agentContext(_ identity: TLSIdentity, resumption: Bool = true) throws -> AgentTLSClientContext {
        try AgentTLSClientContext(identity: identity, trusting: Fixture.ca.get().certificate, resumption: resumption)
    }

    @Test func theAgentVerifiesTheApplianceAndPresentsItsCertificate() throws {
        let identity = try Fixture.clientIdentity()
        let connection = try Self.connect(Self.agentContext(identity), to: Fixture.context.get())
        #expect(connection.clientHandler.negotiatedProtocol == "jump/1")
        #expect(connection.serverHandler.negotiatedProtocol == "jump/1")
        #expect(try connection.serverHandler.peerCertificate == identity.certificate.derBytes)
        #expect(try connection.clientHandler.peerCertificate == Fixture.serverIdentity.get().certificate.derBytes)
        #expect(!connection.clientHandler.isResumed && !connection.serverHandler.isResumed)
        #expect(connection.clientHandler.keyExchange == "X25519MLKEM768")
        #expect(connection.serverHandler.keyExchange == "X25519MLKEM768")
        #expect(try connection.serverSays("welcome") == "welcome")
    }

    /// An appliance's context with `keyExchanges` instead of its own list.
    static func appliance(offering keyExchanges: [UInt16]) throws -> AgentTLSServerContext {
        let server = try AgentTLSServerContext(identity: Fixture.serverIdentity.get(), clientCA: Fixture.ca.get().certificate)
        try TLSContextParts.offer(keyExchanges, in: server.context)
        return server
    }

    @Test func anApplianceWithoutTheHybridKeyExchangeFailsTheAgentsHandshake() throws {
        let classical = try Self.appliance(offering: [UInt16(SSL_GROUP_X25519), UInt16(SSL_GROUP_SECP256R1)])
        let tls = try Self.agentContext(Fixture.clientIdentity())
        let error = #expect(throws: AgentTLSError.self) { _ = try Self.connect(tls, to: classical) }
        #expect(error?.handshakeFailure != nil, "\(String(describing: error))")
    }

    @Test func theApplianceServesAClientWithoutMLKEMWithX25519() throws {
        // As `openssl s_client` without ML-KEM would connect: the certificate and ALPN checks are
        // reached; agents never offer this (the test above).
        let tls = try Self.agentContext(Fixture.clientIdentity(), resumption: false)
        try TLSContextParts.offer([UInt16(SSL_GROUP_X25519)], in: tls.context)
        let connection = try Self.connect(tls, to: Fixture.context.get())
        #expect(connection.serverHandler.keyExchange == "X25519")
        #expect(connection.serverHandler.negotiatedProtocol == "jump/1")
        let refused = try Self.agentContext(Fixture.clientIdentity(), resumption: false)
        try TLSContextParts.offer([UInt16(SSL_GROUP_SECP384R1)], in: refused.context)
        #expect(throws: AgentTLSError.self) { _ = try Self.connect(refused, to: Fixture.context.get()) }
    }

    @Test func anApplianceWhoseCertificateTheAgentsCADidNotIssueFailsTheHandshake() throws {
        let stranger = try CertificateAuthority.create(commonName: "Stranger CA")
        let key = P256.Signing.PrivateKey()
        let impostor = try AgentTLSServerContext(
            identity: TLSIdentity(
                certificate: stranger.issueServerCertificate(for: key.publicKey, hostnames: ["localhost"], ipAddresses: []),
                privateKey: key
            ),
            clientCA: Fixture.ca.get().certificate
        )
        let tls = try Self.agentContext(Fixture.clientIdentity())
        let error = #expect(throws: AgentTLSError.self) { _ = try Self.connect(tls, to: impostor) }
        #expect(error?.handshakeFailure != nil, "\(String(describing: error))")
        #expect(!tls.hasSession(for: Self.appliance))
    }

    @Test func theNextConnectionResumesWithTheSameClientCertificate() throws {
        let identity = try Fixture.clientIdentity()
        let tls = try Self.agentContext(identity)
        let first = try Self.connect(tls, to: Fixture.context.get())
        #expect(!tls.hasSession(for: Self.appliance), "the ticket comes with the appliance's first write")
        #expect(try first.serverSays("welcome") == "welcome")
        #expect(tls.hasSession(for: Self.appliance))

        let second = try Self.connect(tls, to: Fixture.context.get())
        #expect(second.clientHandler.isResumed && second.serverHandler.isResumed)
        // A resumption makes the same hybrid key exchange as a full handshake: without it, whoever
        // took the appliance's ticket-key secret could, with a quantum computer, open recordings.
        #expect(second.clientHandler.keyExchange == "X25519MLKEM768")
        #expect(second.serverHandler.keyExchange == "X25519MLKEM768")
        // The appliance checks this certificate's serial at Hello, as on a full handshake.
        #expect(try second.serverHandler.peerCertificate == identity.certificate.derBytes)
        #expect(second.serverHandler.negotiatedProtocol == "jump/1")
        #expect(try second.serverSays("welcome again") == "welcome again")
        try second.client.writeAndFlush(ByteBuffer(string: "hello")).wait()
        try second.exchange()
        #expect(try second.server.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "hello")
    }

    @Test func withoutResumptionEveryConnectionIsAFullHandshake() throws {
        let tls = try Self.agentContext(Fixture.clientIdentity(), resumption: false)
        let first = try Self.connect(tls, to: Fixture.context.get())
        _ = try first.serverSays("welcome")
        #expect(!tls.hasSession(for: Self.appliance))
        let second = try Self.connect(tls, to: Fixture.context.get())
        #expect(!second.clientHandler.isResumed && !second.serverHandler.isResumed)
    }

    @Test func aTicketAnotherApplianceProcessIssuedGivesAFullHandshake() throws {
        // A restarted appliance has new ticket keys: the agent's session is not resumed, and the
        // full handshake that follows verifies both certificates again.
        let identity = try Fixture.clientIdentity()
        let tls = try Self.agentContext(identity)
        _ = try Self.connect(tls, to: Fixture.context.get()).serverSays("welcome")
        #expect(tls.hasSession(for: Self.appliance))
        let restarted = try AgentTLSServerContext(identity: Fixture.serverIdentity.get(), clientCA: Fixture.ca.get().certificate)
        let connection = try Self.connect(tls, to: restarted)
        #expect(!connection.clientHandler.isResumed && !connection.serverHandler.isResumed)
        #expect(try connection.serverHandler.peerCertificate == identity.certificate.derBytes)
        #expect(try connection.serverSays("welcome") == "welcome")
    }

    @Test func aSessionCannotOutliveTheClientCertificate() throws {
        // A resumption skips the certificate check, so the session the check made is bounded by the
        // certificate's end (here in an hour) and by the resumption lifetime (a day).
        let identity = try Fixture.clientIdentity(validity: 3600)
        let shortLived = try Self.agentContext(identity)
        _ = try Self.connect(shortLived, to: Fixture.context.get()).serverSays("welcome")
        let short = try #require(shortLived.keptSessionLifetime(for: Self.appliance))
        // Whole seconds both: the certificate's end as encoded, the session's start.
        let left = identity.certificate.notValidAfter.timeIntervalSinceNow
        #expect(abs(Double(short) - left) < 2, "a lifetime of \(short) s for a certificate ending in \(left) s")

        // A resumption renews the session, but not past that end either.
        let resumed = try Self.connect(shortLived, to: Fixture.context.get())
        #expect(resumed.serverHandler.isResumed)
        _ = try resumed.serverSays("welcome again")
        let renewed = try #require(shortLived.keptSessionLifetime(for: Self.appliance))
        #expect(abs(Double(renewed) - identity.certificate.notValidAfter.timeIntervalSinceNow) < 2, "\(renewed) s")

        let longLived = try Self.agentContext(Fixture.clientIdentity(validity: 30 * 86400))
        _ = try Self.connect(longLived, to: Fixture.context.get()).serverSays("welcome")
        // BoringSSL counts from the ClientHello and takes off the seconds until the ticket is sealed.
        let lifetime = try #require(longLived.keptSessionLifetime(for: Self.appliance))
        #expect(AgentTLSServerContext.resumptionLifetime - 5 ... AgentTLSServerContext.resumptionLifetime ~= lifetime)
    }

    @Test func anAgentsCertificatePresentedAsTheAppliancesFailsTheHandshake() throws {
        // Issued by the same CA, but for client authentication only: one agent cannot pose as the
        // appliance to another.
        let impostor = try Fixture.clientIdentity()
        let server = try AgentTLSServerContext(identity: impostor, clientCA: Fixture.ca.get().certificate)
        let tls = try Self.agentContext(Fixture.clientIdentity())
        let error = #expect(throws: AgentTLSError.self) { _ = try Self.connect(tls, to: server) }
        #expect(error?.handshakeFailure != nil, "\(String(describing: error))")
    }

    @Test func addedToAConnectedChannelTheAgentStartsTheHandshakeAtOnce() throws {
        let serverHandler = AgentTLSHandler(context: try Fixture.context.get())
        let clientHandler = AgentTLSHandler(context: try Self.agentContext(Fixture.clientIdentity()), appliance: Self.appliance)
        let server = EmbeddedChannel(handler: serverHandler)
        let client = EmbeddedChannel()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        try client.pipeline.syncOperations.addHandler(clientHandler)
        #expect(try client.readOutbound(as: ByteBuffer.self) != nil, "the ClientHello")
    }

    // MARK: The appliance's ticket keys

    static func restartableContext(secret: [UInt8], now: @escaping @Sendable () -> Int64) throws -> AgentTLSServerContext {
        try AgentTLSServerContext(
            identity: Fixture.serverIdentity.get(),
            clientCA: Fixture.ca.get().certificate,
            ticketKeys: SessionTicketKeys(secret: secret, now: now)
        )
    }

    @Test func aTicketFromBeforeARestartResumesWithTheSameSecret() throws {
        let secret = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }
        let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
        let identity = try Fixture.clientIdentity()
        let tls = try Self.agentContext(identity)
        _ = try Self.connect(tls, to: Self.restartableContext(secret: secret, now: clock)).serverSays("welcome")
        let restarted = try Self.connect(tls, to: Self.restartableContext(secret: secret, now: clock))
        #expect(restarted.clientHandler.isResumed && restarted.serverHandler.isResumed)
        #expect(try restarted.serverHandler.peerCertificate == identity.certificate.derBytes)

        // Another secret (another appliance, or a replaced file) opens none of them.
        let other = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }
        let elsewhere = try Self.connect(tls, to: Self.restartableContext(secret: other, now: clock))
        #expect(!elsewhere.serverHandler.isResumed)
    }

    @Test func aTicketOpensInItsPeriodAndTheNextOnly() throws {
        let secret = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }
        let period = Int64(AgentTLSServerContext.resumptionLifetime)
        let start = Int64(Date().timeIntervalSince1970)
        let shift = Atomic<Int64>(0)
        let server = try Self.restartableContext(secret: secret) { start + shift.load(ordering: .relaxed) }
        func resumes(after seconds: Int64) throws -> Bool {
            // A ticket issued now, offered `seconds` later (by the appliance's clock; BoringSSL's own
            // lifetime check uses the real one).
            shift.store(0, ordering: .relaxed)
            let tls = try Self.agentContext(Fixture.clientIdentity())
            _ = try Self.connect(tls, to: server).serverSays("welcome")
            shift.store(seconds, ordering: .relaxed)
            return try Self.connect(tls, to: server).serverHandler.isResumed
        }
        #expect(try resumes(after: 0))
        #expect(try resumes(after: period), "the next period opens it")
        #expect(try !resumes(after: 2 * period), "two periods on, it is a full handshake")
    }

    @Test func aTicketFromBeforeTheCAWasReplacedDoesNotResume() throws {
        // The ticket keys stay (the same secret), the CA changes: the session is bound to the CA
        // that verified it, so the agent makes a full handshake, and its certificate from the old CA
        // fails it.
        let secret = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }
        let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
        let tls = try Self.agentContext(Fixture.clientIdentity())
        _ = try Self.connect(tls, to: Self.restartableContext(secret: secret, now: clock)).serverSays("welcome")
        let replaced = try AgentTLSServerContext(
            identity: Fixture.serverIdentity.get(),
            clientCA: CertificateAuthority.create(commonName: "Replacement CA").certificate,
            ticketKeys: SessionTicketKeys(secret: secret, now: clock)
        )
        let error = #expect(throws: AgentTLSError.self) { _ = try Self.connect(tls, to: replaced) }
        #expect(error?.handshakeFailure != nil || error?.recordFailure != nil, "\(String(describing: error))")
    }

    @Test func eachApplianceAddressResumesWithItsOwnTicket() throws {
        // An agent failing over between two appliances (each its own ticket keys) and back: each
        // is offered the session of its own last ticket, not the other's.
        let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
        let first = try Self.restartableContext(secret: (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }, now: clock)
        let second = try Self.restartableContext(secret: (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }, now: clock)
        let tls = try Self.agentContext(Fixture.clientIdentity())
        _ = try Self.connect(tls, to: first, at: "first.example:4433").serverSays("welcome")
        #expect(tls.hasSession(for: "first.example:4433"))
        #expect(!tls.hasSession(for: "[2001:db8::2]:4433"), "the first's ticket is not offered to the second")
        let failedOver = try Self.connect(tls, to: second, at: "[2001:db8::2]:4433")
        #expect(!failedOver.clientHandler.isResumed && !failedOver.serverHandler.isResumed)
        _ = try failedOver.serverSays("welcome")
        let back = try Self.connect(tls, to: first, at: "first.example:4433")
        #expect(back.clientHandler.isResumed && back.serverHandler.isResumed)
        _ = try back.serverSays("welcome again")
        let again = try Self.connect(tls, to: second, at: "[2001:db8::2]:4433")
        #expect(again.clientHandler.isResumed && again.serverHandler.isResumed)
    }

    @Test func theSessionsOfAtMostEightAddressesAreKept() throws {
        let tls = try Self.agentContext(Fixture.clientIdentity())
        let addresses = (0 ... AgentTLSClientContext.keptSessionsLimit).map { "appliance-\($0).example:4433" }
        for address in addresses {
            _ = try Self.connect(tls, to: Fixture.context.get(), at: address).serverSays("welcome")
        }
        #expect(!tls.hasSession(for: addresses[0]), "the address given a ticket longest ago is forgotten")
        #expect(addresses.dropFirst().allSatisfy { tls.hasSession(for: $0) })
        // A new ticket for a kept address replaces its session, forgets no other address's, and
        // makes it the newest: the next address to come forgets the one after it.
        _ = try Self.connect(tls, to: Fixture.context.get(), at: addresses[1]).serverSays("welcome again")
        #expect(addresses.dropFirst().allSatisfy { tls.hasSession(for: $0) })
        _ = try Self.connect(tls, to: Fixture.context.get(), at: "one-more.example:4433").serverSays("welcome")
        #expect(tls.hasSession(for: addresses[1]) && !tls.hasSession(for: addresses[2]))
    }

    @Test func aTicketSecretShorterThan32BytesIsRefused() {
        #expect(throws: AgentTLSError.self) { try SessionTicketKeys(secret: [UInt8](repeating: 7, count: 16)) }
    }
}
