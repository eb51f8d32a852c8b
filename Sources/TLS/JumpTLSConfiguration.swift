public import JumpProtocol
public import NIOCore
public import NIOSSL
public import X509
import NIOTLS

/// swift-nio-ssl's TLS settings: the agent's side (TLS 1.3 only, ALPN `jump/1`, the appliance CA as the
/// only trust root) and the appliance's HTTPS API. The appliance's agent listener is an
/// ``AgentTLSServerContext``.
public enum JumpTLSConfiguration {
    /// The HTTPS API: the appliance's certificate, TLS 1.2 and 1.3 (browsers and scripts connect
    /// here, not agents), no client certificates.
    public static func apiServer(identity: TLSIdentity) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: identity.certificate.derBytes, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        return configuration
    }

    /// The agent's side: trusts only `ca`; presents `identity` when it has one (not while enrolling).
    /// Host names are not checked: the CA is private to this appliance and only the appliance's own
    /// certificate carries the server-authentication usage.
    public static func client(trusting ca: Certificate, identity: TLSIdentity?) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = [ProtocolVersion.alpn]
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: ca.derBytes, format: .der)])
        if let identity {
            configuration.certificateChain = [
                .certificate(try NIOSSLCertificate(bytes: identity.certificate.derBytes, format: .der))
            ]
            configuration.privateKey = .privateKey(
                try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)
            )
        }
        return configuration
    }
}

extension JumpTLSConfiguration {
    /// The support agent's side: it has no installer and so no CA file, and presents no certificate.
    /// The appliance is checked by ``SupportServerTrust``, which must be installed as the
    /// `NIOSSLClientHandler`'s custom verification callback: it replaces the library's own chain
    /// check. Verification stays on (`noHostnameVerification`) because with `.none` the custom
    /// callback is never called at all; no trust roots are loaded, as the callback decides alone.
    public static func supportClient() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = [ProtocolVersion.alpn]
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        return configuration
    }
}

/// Sits behind the appliance's ``AgentTLSHandler``: closes a connection whose handshake does not finish
/// within `handshakeTimeout`; when the handshake completes it checks that ALPN chose `jump/1`, reads
/// the client certificate (already verified against the CA by the handshake) and tells the
/// ``ServerConnectionHandler`` who the peer is with a ``PeerAuthenticated`` event. Then it leaves the
/// pipeline.
public final class TLSPeerAuthenticator: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    /// How long a new connection may take to finish its TLS handshake.
    public static let defaultHandshakeTimeout = TimeAmount.seconds(10)

    private let handshakeTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    public init(handshakeTimeout: TimeAmount = defaultHandshakeTimeout) {
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted(let negotiated) = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        timer?.cancel()
        guard negotiated == ProtocolVersion.alpn else {
            context.close(promise: nil)
            return
        }
        let authenticated: PeerAuthenticated
        do {
            authenticated = try Self.peer(in: context.pipeline.syncOperations.handler(type: AgentTLSHandler.self))
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
        context.fireUserInboundEventTriggered(authenticated)
        // Its work is done: every read and write of the connection's life would otherwise pass through it.
        timer = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    static func peer(in handler: AgentTLSHandler) throws -> PeerAuthenticated {
        guard let presented = handler.peerCertificate else { return PeerAuthenticated(.anonymous) }
        let fields = try ClientCertificateFields(derEncoded: presented)
        guard let clientID = fields.clientID, !clientID.isEmpty else {
            throw PKIError(.missingField, "the client certificate names no Jump Client")
        }
        return PeerAuthenticated(.client(clientID), certificateSerial: fields.serialHex)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The appliance's side of an agent connection, in order: TLS, the ``TLSPeerAuthenticator`` (which
    /// leaves once it has told who the peer is), the framing and `handler`. The agents' listener and the
    /// tests that stand in for the appliance build the same pipeline here.
    public func addJumpServerHandlers(
        tls: AgentTLSServerContext,
        handshakeTimeout: TimeAmount = TLSPeerAuthenticator.defaultHandshakeTimeout,
        _ handler: ServerConnectionHandler
    ) throws {
        try addHandler(AgentTLSHandler(context: tls))
        try addHandler(TLSPeerAuthenticator(handshakeTimeout: handshakeTimeout))
        try addJumpFraming(handler)
    }
}
