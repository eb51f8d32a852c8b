import Crypto
import Foundation
import JumpProtocol
@testable import JumpTLS
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import Testing
import X509

/// The appliance's TLS handler against the agent's (swift-nio-ssl's `NIOSSLClientHandler`), each on
/// an `EmbeddedChannel`, with the test carrying the bytes between them: real TLS 1.3 and real
/// certificates, every step in the test's hands, time only as the test advances it.
@Suite struct AgentTLSHandlerTests {
    /// Records, in order, the events that reach the end of a pipeline.
    final class Events: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        enum Event: Equatable {
            case handshake(String?)
            case peer(PeerAuthenticated)
        }
        var all: [Event] = []
        var handshakes: [String?] { all.compactMap { if case .handshake(let negotiated) = $0 { negotiated } else { nil } } }
        var peers: [PeerAuthenticated] { all.compactMap { if case .peer(let peer) = $0 { peer } else { nil } } }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent { all.append(.handshake(negotiated)) }
            if let peer = event as? PeerAuthenticated { all.append(.peer(peer)) }
            context.fireUserInboundEventTriggered(event)
        }
    }

    struct Pair {
        let server: EmbeddedChannel
        let client: EmbeddedChannel
        let handler: AgentTLSHandler
        let events: Events
        /// The client's: its handshake finished when it holds one.
        let clientEvents: Events
        let clientCertificate: Certificate?

        /// Carries bytes both ways until neither side has anything more to send. Errors either side
        /// raises are thrown.
        func exchange() throws { try server.exchange(with: client) }

        /// Everything the server has passed on as plaintext, buffer by buffer.
        func serverReceived() throws -> [ByteBuffer] {
            var received: [ByteBuffer] = []
            while let buffer = try server.readInbound(as: ByteBuffer.self) { received.append(buffer) }
            return received
        }

        func clientReceived() throws -> [UInt8] {
            var received: [UInt8] = []
            while let buffer = try client.readInbound(as: ByteBuffer.self) { received += buffer.readableBytesView }
            return received
        }
    }

    static let ca = Result { try CertificateAuthority.create(commonName: "Handler Test CA") }
    static let serverKey = P256.Signing.PrivateKey()
    static let serverIdentity = Result {
        TLSIdentity(
            certificate: try ca.get().issueServerCertificate(
                for: serverKey.publicKey, hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]
            ),
            privateKey: serverKey
        )
    }
    static let context = Result { try AgentTLSServerContext(identity: serverIdentity.get(), clientCA: ca.get().certificate) }

    static func clientIdentity(issuer: CertificateAuthority? = nil, now: Date = Date(), validity: TimeInterval = 3600) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let certificate = try (issuer ?? ca.get()).issueClientCertificate(
            csrDER: CertificationRequest.make(for: key, hostname: "kiosk"),
            clientID: "jc-7",
            now: now,
            validity: validity
        )
        return TLSIdentity(certificate: certificate, privateKey: key)
    }

    /// Both sides connected, the handshake not yet begun (the client speaks first).
    static func pair(
        identity: TLSIdentity?,
        alpn: [String] = ["jump/1"],
        extraChain: [Certificate] = [],
        extraHandler: (any ChannelHandler)? = nil
    ) throws -> Pair {
        let handler = AgentTLSHandler(context: try context.get())
        let events = Events()
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandler(handler)
        if let extraHandler { try server.pipeline.syncOperations.addHandler(extraHandler) }
        try server.pipeline.syncOperations.addHandler(events)

        var configuration = try JumpTLSConfiguration.client(trusting: ca.get().certificate, identity: identity)
        configuration.applicationProtocols = alpn
        for certificate in extraChain {
            configuration.certificateChain.append(.certificate(try NIOSSLCertificate(bytes: certificate.derBytes, format: .der)))
        }
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(
            NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: nil)
        )
        let clientEvents = Events()
        try client.pipeline.syncOperations.addHandler(clientEvents)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        return Pair(
            server: server, client: client, handler: handler, events: events, clientEvents: clientEvents,
            clientCertificate: identity?.certificate
        )
    }

    static func connected(identity: TLSIdentity? = nil) throws -> Pair {
        let pair = try pair(identity: identity ?? clientIdentity())
        try pair.exchange()
        return pair
    }

    static func bytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0 ..< count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    // MARK: Handshake

    @Test func theHandshakeVerifiesTheClientAndChoosesJump1() throws {
        let identity = try Self.clientIdentity()
        let pair = try Self.connected(identity: identity)
        #expect(pair.handler.negotiatedProtocol == "jump/1")
        #expect(try pair.handler.peerCertificate == identity.certificate.derBytes)
        #expect(pair.events.all == [
            .handshake("jump/1"), .peer(PeerAuthenticated(.client("jc-7"), certificateSerial: identity.certificate.serialHex)),
        ])
        #expect(pair.server.isActive && pair.client.isActive)
    }

    @Test func aClientWithoutACertificateIsAnonymous() throws {
        let pair = try Self.pair(identity: nil)
        try pair.exchange()
        #expect(pair.handler.peerCertificate == nil)
        #expect(pair.events.all == [.handshake("jump/1"), .peer(PeerAuthenticated(.anonymous))])
        #expect(pair.server.isActive)
    }

    @Test func aClientOfferingOtherProtocolsFailsTheHandshake() throws {
        let pair = try Self.pair(identity: nil, alpn: ["h2", "http/1.1"])
        let error = #expect(throws: AgentTLSError.self) { try pair.exchange() }
        #expect(error?.handshakeFailure != nil, "\(String(describing: error))")
        #expect(pair.events.handshakes.isEmpty)
        #expect(!pair.server.isActive)
    }

    /// BoringSSL finishes the handshake of a client that offers no protocol at all (RFC 7301); the
    /// handler then closes the connection without passing anything on.
    @Test func aClientOfferingNoProtocolIsClosedOnceTheHandshakeFinishes() throws {
        let pair = try Self.pair(identity: Self.clientIdentity(), alpn: [])
        try pair.exchange()
        #expect(pair.clientEvents.handshakes == [nil])
        #expect(pair.events.all.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test func aHandshakeThatDoesNotFinishInTimeClosesTheConnection() throws {
        let pair = try Self.pair(identity: Self.clientIdentity())
        // The ClientHello arrives and is answered; the client's Finished never does.
        let hello = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        try pair.server.writeInbound(hello)
        pair.server.embeddedEventLoop.advanceTime(by: AgentTLSHandler.defaultHandshakeTimeout - .milliseconds(1))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!pair.server.isActive)
        #expect(pair.events.peers.isEmpty)
    }

    @Test func aFinishedHandshakeStopsTheTimer() throws {
        let pair = try Self.connected()
        pair.server.embeddedEventLoop.advanceTime(by: AgentTLSHandler.defaultHandshakeTimeout * 2)
        #expect(pair.server.isActive)
        #expect(pair.events.peers.count == 1)
    }

    /// A handler added to a connection already up starts its timer at once.
    @Test func theTimerStartsWhenTheHandlerJoinsAConnectionAlreadyUp() throws {
        let server = EmbeddedChannel()
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try server.pipeline.syncOperations.addHandler(AgentTLSHandler(context: try Self.context.get()))
        server.embeddedEventLoop.advanceTime(by: AgentTLSHandler.defaultHandshakeTimeout - .milliseconds(1))
        #expect(server.isActive)
        server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!server.isActive)
    }

    /// A certificate the appliance's CA signed that names no Jump Client (no common name, or an
    /// empty one) is closed once the handshake finishes, without a word to the handlers behind.
    @Test(arguments: [nil, ""] as [String?])
    func aCertificateNamingNoJumpClientIsClosed(_ commonName: String?) throws {
        let subject = try DistinguishedName {
            OrganizationName("Jump Client")
            if let commonName { CommonName(commonName) }
        }
        let pair = try Self.pair(identity: HandMadeCertificate.make(subject: subject, signedBy: Self.ca.get()))
        try pair.exchange()
        #expect(pair.clientEvents.handshakes == ["jump/1"])
        #expect(pair.events.all.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test(arguments: ["another CA", "expired", "not yet valid", "the appliance's server certificate", "a chain over 16 KiB"])
    func aCertificateTheApplianceDidNotIssueForAClientFailsTheHandshake(_ kind: String) throws {
        let identity: TLSIdentity
        switch kind {
        case "another CA":
            identity = try Self.clientIdentity(issuer: CertificateAuthority.create(commonName: "Stranger CA"))
        case "expired":
            identity = try Self.clientIdentity(now: Date() - 7200, validity: 60)
        case "not yet valid":
            identity = try Self.clientIdentity(now: Date() + 7200)
        case "a chain over 16 KiB":
            // A good leaf, followed by copies of the CA until the message passes the bound.
            identity = try Self.clientIdentity()
        default:
            // Same CA, but issued for server authentication only.
            identity = try Self.serverIdentity.get()
        }
        let caSize = try Self.ca.get().certificate.derBytes.count
        let padding = kind == "a chain over 16 KiB" ? AgentTLSServerContext.maximumCertificateMessage / caSize + 1 : 0
        let pair = try Self.pair(identity: identity, extraChain: Array(repeating: try Self.ca.get().certificate, count: padding))
        let error = #expect(throws: AgentTLSError.self) { try pair.exchange() }
        #expect(error?.handshakeFailure != nil, "\(String(describing: error))")
        #expect(!pair.server.isActive)
        #expect(pair.events.handshakes.isEmpty)
        #expect(pair.handler.peerCertificate == nil)
    }

    @Test func bytesThatAreNotTLSFailTheHandshake() throws {
        let pair = try Self.pair(identity: nil)
        _ = try pair.client.readOutbound(as: ByteBuffer.self)  // the ClientHello, not delivered
        let error = #expect(throws: AgentTLSError.self) {
            try pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        }
        #expect(error?.handshakeFailure?.isEmpty == false, "\(String(describing: error))")
        #expect(!pair.server.isActive)
    }

    // MARK: Records

    @Test func recordsArriveOneBufferEachOfTheirOwnSize() throws {
        let pair = try Self.connected()
        // Three writes, one flush: three records in one read on the server's side.
        for size in [5, 300, 1200] { pair.client.write(ByteBuffer(bytes: Self.bytes(size)), promise: nil) }
        pair.client.flush()
        try pair.exchange()
        let received = try pair.serverReceived()
        #expect(received.map(\.readableBytes) == [5, 300, 1200])
        // Sized for the record (NIO's allocator rounds up to a power of two), not for the largest record.
        #expect(received.allSatisfy { $0.capacity < 2 * $0.readableBytes })
        #expect(received.map { Array($0.readableBytesView) } == [5, 300, 1200].map { Self.bytes($0) })
    }

    @Test func aRecordSplitAcrossReadsIsPassedOnWhole() throws {
        let pair = try Self.connected()
        try pair.client.writeAndFlush(ByteBuffer(bytes: Self.bytes(4000, seed: 3))).wait()
        var ciphertext = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        while ciphertext.readableBytes > 0 {
            try pair.server.writeInbound(ciphertext.readSlice(length: min(700, ciphertext.readableBytes))!)
        }
        let received = try pair.serverReceived()
        #expect(received.count == 1)
        #expect(received.first.map { Array($0.readableBytesView) } == Self.bytes(4000, seed: 3))
    }

    @Test func largeMessagesCrossBothWays() throws {
        let pair = try Self.connected()
        let large = Self.bytes(100_000, seed: 9)
        pair.client.writeAndFlush(ByteBuffer(bytes: large), promise: nil)
        try pair.exchange()
        let received = try pair.serverReceived()
        #expect(received.flatMap { Array($0.readableBytesView) } == large)
        #expect(received.allSatisfy { $0.readableBytes <= 16384 })

        let written = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.writeAndFlush(ByteBuffer(bytes: large), promise: written)
        try pair.exchange()
        #expect(try pair.clientReceived() == large)
        try written.futureResult.wait()
    }

    @Test func nothingIsHeldBetweenReadsAndWrites() throws {
        let pair = try Self.connected()
        pair.client.writeAndFlush(ByteBuffer(bytes: Self.bytes(30_000)), promise: nil)
        try pair.exchange()
        pair.server.writeAndFlush(ByteBuffer(bytes: Self.bytes(30_000)), promise: nil)
        try pair.exchange()
        #expect(try pair.serverReceived().reduce(0) { $0 + $1.readableBytes } == 30_000)
        #expect(try pair.clientReceived().count == 30_000)
        #expect(pair.handler.heldBufferBytes == 0)
    }

    @Test func writesBeforeTheHandshakeWaitForIt() throws {
        let pair = try Self.pair(identity: Self.clientIdentity())
        let written = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.writeAndFlush(ByteBuffer(string: "welcome"), promise: written)
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        try pair.exchange()
        #expect(try pair.clientReceived() == Array("welcome".utf8))
        try written.futureResult.wait()
    }

    /// Writes on hearing of the handshake, as the appliance's Welcome would be.
    final class WritesOnHandshake: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent {
                context.writeAndFlush(NIOAny(ByteBuffer(string: " second")), promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    @Test func writesKeepTheirOrderAcrossTheHandshake() throws {
        let pair = try Self.pair(identity: Self.clientIdentity(), extraHandler: WritesOnHandshake())
        pair.server.writeAndFlush(ByteBuffer(string: "first"), promise: nil)
        try pair.exchange()
        #expect(String(decoding: try pair.clientReceived(), as: UTF8.self) == "first second")
    }

    @Test func writesWaitingForAHandshakeThatIsRefusedFail() throws {
        let pair = try Self.pair(identity: nil, alpn: [])
        let written = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.writeAndFlush(ByteBuffer(string: "welcome"), promise: written)
        try pair.exchange()
        #expect(!pair.server.isActive)
        #expect(throws: ChannelError.ioOnClosedChannel) { try written.futureResult.wait() }
        #expect(try pair.clientReceived().isEmpty)
    }

    @Test func aRecordThatDoesNotOpenFailsTheConnection() throws {
        let pair = try Self.connected()
        try pair.client.writeAndFlush(ByteBuffer(bytes: Self.bytes(64))).wait()
        var ciphertext = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        let last = ciphertext.writerIndex - 1
        ciphertext.setInteger(ciphertext.getInteger(at: last, as: UInt8.self)! ^ 0x01, at: last)
        let error = #expect(throws: AgentTLSError.self) { try pair.server.writeInbound(ciphertext) }
        #expect(error?.recordFailure != nil, "\(String(describing: error))")
        #expect(try pair.serverReceived().isEmpty)
        #expect(!pair.server.isActive)
        // The alert went out (flushed) before the socket closed, and the client hears it.
        let alert = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        let heard = #expect(throws: BoringSSLError.self) { try pair.client.writeInbound(alert) }
        #expect(String(describing: heard).contains("BAD_RECORD_MAC"))
    }

    // MARK: Closing

    @Test func closingSendsCloseNotifyAndClosesOnTheClientsAnswer() throws {
        let pair = try Self.connected()
        let closed = pair.server.close()
        #expect(pair.server.isActive)  // waiting for the client's close_notify
        try pair.exchange()  // the client answers and closes without an error (no unclean shutdown)
        #expect(!pair.server.isActive)
        #expect(!pair.client.isActive)
        try closed.wait()
    }

    @Test func aClientThatNeverAnswersIsClosedAfterTheShutdownTimeout() throws {
        let pair = try Self.connected()
        let closed = pair.server.close()
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) != nil)  // close_notify, not delivered
        pair.server.embeddedEventLoop.advanceTime(by: AgentTLSHandler.defaultShutdownTimeout - .milliseconds(1))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!pair.server.isActive)
        try closed.wait()
    }

    @Test func whatAClientSendsWhileClosingIsDropped() throws {
        let pair = try Self.connected()
        let closed = pair.server.close()
        let notify = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        try pair.client.writeAndFlush(ByteBuffer(string: "late report")).wait()
        try pair.exchange()  // the late record reaches the server before the close_notify does
        #expect(try pair.serverReceived().isEmpty)
        #expect(pair.server.isActive)
        try pair.client.writeInbound(notify)
        try pair.exchange()
        #expect(!pair.server.isActive)
        try closed.wait()
        #expect(throws: ChannelError.self) { try pair.server.writeAndFlush(ByteBuffer(string: "after")).wait() }
    }

    /// Closes the connection on the first record it is handed, after passing it on, as the appliance
    /// does on an agent's Goodbye.
    final class ClosesOnFirstRecord: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.fireChannelRead(data)
            context.close(promise: nil)
        }
    }

    /// An agent stopping sends its Goodbye and its close_notify together: the connection closed on
    /// the Goodbye closes at once, without the shutdown timer or a wait for the end of the stream.
    @Test func aCloseNotifyBehindTheRecordThatClosesEndsTheConnectionAtOnce() throws {
        let pair = try Self.pair(identity: Self.clientIdentity(), extraHandler: ClosesOnFirstRecord())
        try pair.exchange()
        try pair.client.writeAndFlush(ByteBuffer(string: "goodbye")).wait()
        _ = pair.client.close()
        var together = ByteBuffer()
        var records = 0
        while var bytes = try pair.client.readOutbound(as: ByteBuffer.self) {
            together.writeBuffer(&bytes)
            records += 1
        }
        #expect(records == 2)  // the record, then close_notify
        try pair.server.writeInbound(together)
        #expect(!pair.server.isActive)
        #expect(try pair.serverReceived().map { String(buffer: $0) } == ["goodbye"])
        // Its own close_notify went out before the socket closed.
        let notify = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        try pair.client.writeInbound(notify)
        #expect(!pair.client.isActive)
    }

    @Test func theClientsCloseNotifyIsAnswered() throws {
        let pair = try Self.connected()
        let clientClosed = pair.client.close()
        try pair.exchange()
        #expect(!pair.server.isActive)
        try? clientClosed.wait()
        #expect(try pair.serverReceived().isEmpty)
    }
}

extension AgentTLSError {
    /// The detail of a failed handshake; `nil` for any other error.
    var handshakeFailure: String? {
        if case .handshakeFailed(let detail) = self { detail } else { nil }
    }

    /// The detail of a record that failed; `nil` for any other error.
    var recordFailure: String? {
        if case .recordFailed(let detail) = self { detail } else { nil }
    }
}
