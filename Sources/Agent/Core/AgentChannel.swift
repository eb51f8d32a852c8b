import JumpProtocol
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL

/// How every agent connection to the appliance starts (the runtime, enrollment, attended support, the
/// local uninstall report): TCP from `localAddress` if given, TLS with `tls`, the Jump framing, and an
/// ``AgentConnectionHandler`` that says Hello once the TLS handshake is done, so the wait in the
/// appliance's listen queue is not counted against the hello time-out.
enum AgentChannel {
    /// An enrolled agent's connection: its certificate, and the session its last connection's ticket
    /// resumes (``AgentTLSHandler``).
    static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        tls: AgentTLSClientContext,
        localAddress: SocketAddress? = nil,
        connectTimeout: TimeAmount,
        configuration: AgentConnectionStateMachine.Configuration,
        delegate: any AgentConnectionDelegate
    ) async throws -> any Channel {
        try await connect(
            host: host, port: port, group: group, localAddress: localAddress, connectTimeout: connectTimeout,
            configuration: configuration, delegate: delegate
        ) { try $0.addHandler(AgentTLSHandler(context: tls)) }
    }

    /// A connection without an enrolled identity (enrollment, attended support), by swift-nio-ssl, with
    /// `verification` in place of the CA check when given.
    static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        tls: NIOSSLContext,
        verification: (@Sendable () -> NIOSSLCustomVerificationCallback)? = nil,
        localAddress: SocketAddress? = nil,
        connectTimeout: TimeAmount,
        configuration: AgentConnectionStateMachine.Configuration,
        delegate: any AgentConnectionDelegate
    ) async throws -> any Channel {
        try await connect(
            host: host, port: port, group: group, localAddress: localAddress, connectTimeout: connectTimeout,
            configuration: configuration, delegate: delegate
        ) { pipeline in
            if let verification {
                try pipeline.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: nil, customVerificationCallback: verification())
                )
            } else {
                try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
            }
        }
    }

    private static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        localAddress: SocketAddress?,
        connectTimeout: TimeAmount,
        configuration: AgentConnectionStateMachine.Configuration,
        delegate: any AgentConnectionDelegate,
        addTLS: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) async throws -> any Channel {
        var bootstrap = ClientBootstrap(group: group)
        if let localAddress { bootstrap = bootstrap.bind(to: localAddress) }
        return try await bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try addTLS(pipeline)
                    try pipeline.addJumpFraming(
                        AgentConnectionHandler(
                            configuration: configuration,
                            clock: AgentRuntime.clock,
                            delegate: delegate,
                            start: .afterTLSHandshake
                        )
                    )
                }
            }
            .connect(host: host, port: port)
            .get()
    }
}
