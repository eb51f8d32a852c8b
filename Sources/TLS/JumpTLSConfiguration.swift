public import JumpProtocol
public import NIOCore
public import NIOSSL
public import X509

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

extension ChannelPipeline.SynchronousOperations {
    /// The appliance's side of an agent connection, in order: TLS (which also tells who the peer is),
    /// the framing and `handler`. The agents' listener and the tests that stand in for the appliance
    /// build the same pipeline here.
    public func addJumpServerHandlers(
        tls: AgentTLSServerContext,
        handshakeTimeout: TimeAmount = AgentTLSHandler.defaultHandshakeTimeout,
        _ handler: ServerConnectionHandler
    ) throws {
        try addHandler(AgentTLSHandler(context: tls, handshakeTimeout: handshakeTimeout))
        try addJumpFraming(handler)
    }
}
