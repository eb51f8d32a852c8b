import JumpProtocol
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL

/// Linux's IP_BIND_ADDRESS_NO_PORT (4.2 and later; <linux/in.h>, not in glibc's headers).
private let ipBindAddressNoPort: CInt = 24

/// How every agent connection to the appliance starts (the runtime, enrollment, attended support, the
/// local uninstall report): TCP from `localAddress` if given, TLS as `security` says, the Jump framing, and an
/// ``AgentConnectionHandler`` that says Hello once the TLS handshake is done, so the wait in the
/// appliance's listen queue is not counted against the hello time-out.
enum AgentChannel {
    /// The TLS a connection speaks.
    enum Security {
        /// An enrolled agent: its certificate, and the session its last connection's ticket resumes
        /// (``AgentTLSHandler``).
        case enrolled(AgentTLSClientContext)
        /// No enrolled identity (enrollment, attended support), by swift-nio-ssl, with `verification`
        /// in place of the CA check when given.
        case unenrolled(NIOSSLContext, verification: (@Sendable () -> NIOSSLCustomVerificationCallback)? = nil)

        /// Adds the TLS handler for a connection to `appliance` (HOST:PORT).
        func addHandler(to pipeline: ChannelPipeline.SynchronousOperations, appliance: String) throws {
            switch self {
            case .enrolled(let tls):
                try pipeline.addHandler(AgentTLSHandler(context: tls, appliance: appliance))
            case .unenrolled(let tls, verification: let verification?):
                try pipeline.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: nil, customVerificationCallback: verification())
                )
            case .unenrolled(let tls, verification: nil):
                try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
            }
        }
    }

    static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        security: Security,
        localAddress: SocketAddress? = nil,
        connectTimeout: TimeAmount,
        configuration: AgentConnectionStateMachine.Configuration,
        delegate: any AgentConnectionDelegate
    ) async throws -> any Channel {
        // The kept TLS sessions' key (the port last, so an IPv6 address needs no brackets).
        let appliance = "\(host):\(port)"
        var bootstrap = ClientBootstrap(group: group)
        if let localAddress {
            // The kernel picks the port at connect, for the 4-tuple, instead of searching the
            // address's ports for one that is free at bind.
            bootstrap = bootstrap.channelOption(.ipOption(.init(rawValue: ipBindAddressNoPort)), value: 1).bind(to: localAddress)
        }
        let configured = bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try security.addHandler(to: pipeline, appliance: appliance)
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
        // An address written as one is connected to directly: NIO would otherwise hand the name to
        // getaddrinfo on a Dispatch thread, and run its Happy Eyeballs over the single answer.
        if (0...Int(UInt16.max)).contains(port), let address = try? SocketAddress(ipAddress: host, port: port) {
            return try await configured.connect(to: address).get()
        }
        return try await configured.connect(host: host, port: port).get()
    }
}
