public import JumpEventLoops
public import JumpProtocol
public import JumpTLS
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Foundation

/// A `HOST:PORT` to listen on.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
    public init?(parsing text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let number = Int(port), (0...65535).contains(number) else { return nil }
        self.host = host.isEmpty ? "0.0.0.0" : String(host)
        self.port = number
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The agents' listener: admission control before TLS, TLS 1.3 with optional client certificates,
/// then the framing and the connection state machine, with the ``ClientHub`` as delegate.
public final class AgentListener: Sendable {
    /// The kernel's queue of connections not accepted yet (see ``AdmissionControlHandler``); the
    /// kernel caps it at `net.core.somaxconn`.
    public static let listenBacklog: Int32 = 65535
    /// How reads from an agent's socket are sized. A channel keeps its receive buffer for the
    /// connection's life, at the largest size it has needed (NIO's pool grows it and never shrinks
    /// it), so an idle connection holds what its largest read took. While a connection carries only
    /// control messages: 1 KiB reads, up to four a wake-up. A statistics report is a few hundred
    /// bytes; the ClientHello, whose post-quantum key share alone is 1,184 bytes (ML-KEM-768), and a 30 KB thumbnail
    /// take several reads, which cost the same CPU per report in `Benchmarks/steady.sh`. With NIO's
    /// adaptive sizes up to 4 KiB instead, each connection kept 2 KiB after its handshake and 4 KiB
    /// once it had sent a thumbnail: 14.4 KiB per client after a thumbnail against 9.5
    /// (docs/performance.md). While a session channel is open: NIO's defaults, for the session's
    /// output (with 4 KiB reads throughout, a 100 MB `cat` was relayed at 14.6 MB/s,
    /// `Benchmarks/session.sh`); the buffer that grows then stays with the connection until it ends.
    public static let readSizing = ServerConnectionHandler.ReadSizing(
        control: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 1024, maximum: 1024),
        controlReadsPerWakeUp: 4,
        sessions: AdaptiveRecvByteBufferAllocator(),
        sessionReadsPerWakeUp: 4
    )

    public let channel: any Channel
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Binds the listener. `coalescing`, when given, must be the metrics delegate of `group`'s loops: the
    /// connections tell it when they need prompt I/O. `admissionRateOverride`, for benchmarks only, replaces the site's
    /// connection-rate setting (and ignores later changes to it): a benchmark of handshake capacity
    /// needs more than the setting's maximum; nothing else should pass it. `ticketKeys` seal and open
    /// the session tickets agents resume with (the data directory's, which outlive a restart);
    /// without them BoringSSL keeps its own in memory.
    public static func bind(
        _ address: ListenAddress,
        identity: TLSIdentity,
        ca: CertificateAuthority,
        ticketKeys: SessionTicketKeys? = nil,
        hub: ClientHub,
        timeouts: ConnectionTimeouts,
        handshakeTimeout: TimeAmount = AgentTLSHandler.defaultHandshakeTimeout,
        admissionRateOverride: Int? = nil,
        group: any EventLoopGroup,
        coalescing: WakeUpCoalescing? = nil,
        logger: Logger
    ) async throws -> AgentListener {
        let tls = try AgentTLSServerContext(identity: identity, clientCA: ca.certificate, ticketKeys: ticketKeys)
        let configuration = ServerConnectionStateMachine.Configuration(timeouts: timeouts)
        let clock = ConnectionClock(unixMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })
        let initialRate = admissionRateOverride ?? hub.settings.connectionRate
        let promptnessChanged = coalescing.map { coalescing in
            { @Sendable prompt in coalescing.connection(needsPromptIO: prompt) }
        }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: listenBacklog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.autoRead, value: false)
            .serverChannelOption(.maxMessagesPerRead, value: 1)
            // Accepted sockets inherit TCP_NODELAY from the listening socket on Linux (NIO sets it
            // there by default; named here so as not to depend on that): no system call for it on
            // each connection. The read sizing is the ServerConnectionHandler's.
            .serverChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let admission = AdmissionControlHandler(rate: initialRate)
                    try channel.pipeline.syncOperations.addHandler(admission)
                    guard admissionRateOverride == nil else { return }
                    let handle = admission.handle(eventLoop: channel.eventLoop)
                    hub.observeSettings { settings in handle.setRate(settings.connectionRate) }
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addJumpServerHandlers(
                        tls: tls,
                        handshakeTimeout: handshakeTimeout,
                        ServerConnectionHandler(
                            configuration: configuration,
                            clock: clock,
                            delegate: hub,
                            readSizing: readSizing,
                            promptnessChanged: promptnessChanged
                        )
                    )
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        logger.info("listening for agents", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "\(address)")"])
        return AgentListener(channel: channel)
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Runs the appliance's agent side: the listener, the statistics writer and the lifecycle sweeper,
/// until graceful shutdown, when it stops listening and writes the last statistics.
public final class AgentService: Service {
    /// How often statistics that changed are written to the store.
    public static let defaultFlushInterval = Duration.seconds(1)
    /// How often Jump Clients out of contact beyond the deletion period are deleted.
    public static let defaultSweepInterval = Duration.seconds(3600)

    let listener: AgentListener
    let hub: ClientHub
    let flushInterval: Duration
    let sweepInterval: Duration
    let logger: Logger

    public init(
        listener: AgentListener,
        hub: ClientHub,
        flushInterval: Duration = defaultFlushInterval,
        sweepInterval: Duration = defaultSweepInterval,
        logger: Logger
    ) {
        self.listener = listener
        self.hub = hub
        self.flushInterval = flushInterval
        self.sweepInterval = sweepInterval
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { [hub, flushInterval] in
                await Self.every(flushInterval) { await hub.flushStats() }
            }
            group.addTask { [hub, sweepInterval] in
                await Self.every(sweepInterval) { await hub.sweep() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await listener.close()
        await hub.flushStats()
        logger.info("agent service stopped")
    }

    /// Runs `body` now and then every `interval` until cancelled.
    static func every(_ interval: Duration, _ body: @Sendable () async -> some Any) async {
        while !Task.isCancelled {
            _ = await body()
            try? await Task.sleep(for: interval)
        }
    }
}
