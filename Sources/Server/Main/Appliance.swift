import Foundation
import Hummingbird
import HummingbirdTLS
import HummingbirdWebSocket
import JumpAPI
import JumpEventLoops
import JumpProtocol
import JumpServerCore
import JumpTLS
import Logging
import NIOPosix
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// Wires the appliance together: data directory, client hub, agent listener, API, one ServiceGroup.
enum Appliance {
    struct Configuration {
        var dataDirectory: String
        var agentListen: ListenAddress
        var apiListen: ListenAddress
        var publicAddresses: [String]
        var hostnames: [String]
        /// Event-loop threads for agent connections (`--agent-threads`); the API keeps the process's shared group.
        var agentThreads: Int
        /// How long a mostly idle agent loop gathers I/O before it waits for more (`--agent-coalescing-ms`); 0: not at all.
        var agentCoalescingMilliseconds: Int = WakeUpCoalescing.defaultMilliseconds
        /// New agent connections admitted per second in place of the connection-rate setting: for
        /// benchmarks of handshake capacity only (`jump-server run --unlimited-admission`).
        var admissionRateOverride: Int? = nil
    }

    static func run(_ configuration: Configuration, logLevel: Logger.Level) async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "jump-server")
        if !HeapTuning.apply() { logger.notice("the C library did not take the heap tuning; memory per connection will be higher") }

        let hostname = ProcessInfo.processInfo.hostName
        var names = ["localhost"] + configuration.hostnames
        if !hostname.isEmpty, !names.contains(hostname) { names.append(hostname) }
        for address in configuration.publicAddresses {
            if let parsed = ListenAddress(parsing: address), !names.contains(parsed.host), IPv4.parse(parsed.host) == nil {
                names.append(parsed.host)
            }
        }
        var addresses: [[UInt8]] = [[127, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]
        for host in [configuration.agentListen.host, configuration.apiListen.host]
            + configuration.publicAddresses.compactMap({ ListenAddress(parsing: $0)?.host })
        {
            if let ip = IPv4.parse(host), ip != [0, 0, 0, 0], !addresses.contains(ip) { addresses.append(ip) }
        }

        let directory = DataDirectory(configuration.dataDirectory)
        let contents = try await directory.open(hostnames: names, ipAddresses: addresses)
        if contents.initialAdminPassword != nil {
            logger.notice(
                "first start: the administrator is 'admin'; the password is in \(directory.initialAdminPassword.path)"
            )
        }
        let hub = try await ClientHub.load(store: contents.store, ca: contents.ca, logger: logger)
        if let rate = configuration.admissionRateOverride {
            logger.warning(
                "admission control is lifted for a benchmark: the connection-rate setting is ignored, nothing protects the appliance from a reconnect storm",
                metadata: ["connections-per-second": "\(rate)"]
            )
        }
        let coalescing = WakeUpCoalescing(milliseconds: configuration.agentCoalescingMilliseconds)
        // The same coalescing goes to the listener, whose connections tell it when they need prompt I/O.
        // Never shut down, like the process's shared group: it lives until the process exits, so that
        // nothing handed to a connection's loop while the appliance stops meets a closed loop.
        let agentLoops = WakeUpCoalescing.group(threads: configuration.agentThreads, coalescing: coalescing)
        let listener = try await AgentListener.bind(
            configuration.agentListen,
            identity: contents.serverIdentity,
            ca: contents.ca,
            ticketKeys: contents.ticketKeys,
            hub: hub,
            timeouts: ConnectionTimeouts(),
            admissionRateOverride: configuration.admissionRateOverride,
            group: agentLoops,
            coalescing: coalescing,
            logger: logger
        )
        let agentService = AgentService(listener: listener, hub: hub, logger: logger)

        var agentAddresses = configuration.publicAddresses
        if agentAddresses.isEmpty {
            let bound = listener.localAddress?.port ?? configuration.agentListen.port
            let host = configuration.agentListen.host == "0.0.0.0" || configuration.agentListen.host == "::"
                ? hostname : configuration.agentListen.host
            agentAddresses = [ListenAddress(host: host, port: bound).description]
        }
        let sessions = JumpSessions(
            hub: hub,
            store: contents.store,
            recordingsDirectory: directory.recordings,
            clock: SystemSessionClock(),
            logger: logger
        )
        try await sessions.closeLeftovers()
        let routes = APIRoutes(
            hub: hub,
            store: contents.store,
            ca: contents.ca,
            tokens: contents.installerTokens,
            agentAddresses: agentAddresses,
            sessions: sessions
        )
        let tls = try JumpTLSConfiguration.apiServer(identity: contents.serverIdentity)
        let router = routes.router()
        let api = Application(
            router: router,
            server: try .tls(
                .http1WebSocketUpgrade(
                    webSocketRouter: router,
                    configuration: .init(ws: .init(maxFrameSize: 64 * 1024, autoPing: .enabled(timePeriod: .seconds(30))))
                ),
                tlsConfiguration: tls
            ),
            configuration: .init(
                address: .hostname(configuration.apiListen.host, port: configuration.apiListen.port),
                serverName: "jump-server"
            ),
            onServerRunning: { channel in
                logger.info("API listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
            },
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: agentService), .init(service: api)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

enum IPv4 {
    static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
