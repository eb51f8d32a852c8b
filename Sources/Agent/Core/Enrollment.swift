@preconcurrency import Crypto
public import FoundationEssentials
import Glibc
public import JumpProtocol
import JumpTLS
public import NIOCore
public import NIOPosix
import NIOSSL
import Synchronization
import X509

/// Turns an installer file into an enrolled Jump Client: checks the CA against its pin, makes a
/// P-256 key, sends a certification request with the token, and writes the agent's files.
public enum Enrollment {
    /// How long to wait for the appliance while enrolling.
    public static let timeout = TimeAmount.seconds(60)

    public struct Overrides: Sendable {
        public var name: String?
        public var tag: String?
        public var comments: String?
        public var group: String?
        public var installDirectory: String?
        public var jumpPolicy: String?

        public init() {}

        var wire: WireInstallOverrides {
            var wire = WireInstallOverrides()
            if let name { wire.name = name }
            if let tag { wire.tag = tag }
            if let comments { wire.comments = comments }
            if let group { wire.group = group }
            if let installDirectory { wire.installDir = installDirectory }
            if let jumpPolicy { wire.jumpPolicy = jumpPolicy }
            return wire
        }

        /// The overrides given that the installer does not allow.
        func notAllowed(by installer: InstallerFile) -> [String] {
            let given: [(String, Bool)] = [
                ("name", name != nil), ("tag", tag != nil), ("comments", comments != nil), ("group", group != nil),
                ("install-dir", installDirectory != nil), ("jump-policy", jumpPolicy != nil),
            ]
            return given.filter { $0.1 && !installer.allowedOverrides.contains($0.0) }.map(\.0)
        }
    }

    /// Reads and checks an installer file.
    public static func readInstaller(at path: String, now: Date = Date()) throws -> InstallerFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentError(.usage, "cannot read the installer file \(path)")
        }
        return try readInstaller(data, source: path, now: now)
    }

    /// Checks an installer's bytes (from a file, or pinned by a representative during support): its
    /// format, expiry, the CA against its fingerprint and the token. `source` names it in messages.
    public static func readInstaller(_ data: Data, source: String, now: Date = Date()) throws -> InstallerFile {
        let installer: InstallerFile
        do {
            installer = try InstallerFile.decoder.decode(InstallerFile.self, from: data)
        } catch {
            throw AgentError(.data, "\(source) is not a Jump Client installer file")
        }
        guard installer.format == InstallerFile.currentFormat else {
            throw AgentError(.data, "\(source) is an installer of format \(installer.format); this agent reads \(InstallerFile.currentFormat)")
        }
        guard installer.expiresAt > now else {
            throw AgentError(.refused, "the installer expired at \(installer.expiresAt.formatted(.iso8601)); ask an administrator to extend it (jumpctl installer extend) or make a new one")
        }
        let ca: Certificate
        do {
            ca = try Certificate(pemText: installer.caCertificate)
        } catch {
            throw AgentError(.data, "the installer's CA certificate is damaged")
        }
        guard (try? ca.sha256Fingerprint) == installer.caSHA256.lowercased() else {
            throw AgentError(.data, "the installer's CA certificate does not match its fingerprint; the file was altered")
        }
        guard installer.tokenBytes != nil else { throw AgentError(.data, "the installer's token is damaged") }
        return installer
    }

    /// Enrolls with the appliance and writes the agent's configuration, key and certificate under `files`.
    public static func enroll(
        installer: InstallerFile,
        overrides: Overrides,
        host: WireHostFacts,
        files: AgentFiles,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        localAddress: SocketAddress? = nil
    ) async throws -> AgentConfiguration {
        let refused = overrides.notAllowed(by: installer)
        guard refused.isEmpty else {
            throw AgentError(.usage, "the installer does not allow overriding \(refused.joined(separator: ", ")); allowed: \(installer.allowedOverrides.isEmpty ? "none" : installer.allowedOverrides.joined(separator: ", "))")
        }
        let ca = try Certificate(pemText: installer.caCertificate)
        let key = P256.Signing.PrivateKey()
        var request = WireEnrollRequest()
        request.token = installer.tokenBytes!
        request.csr = Data(try CertificationRequest.make(for: key, hostname: host.hostname))
        request.overrides = overrides.wire
        request.host = host

        let response = try await send(request, to: installer.servers, trusting: ca, group: group, localAddress: localAddress)
        switch response.result {
        case .ok: break
        case .tokenExpired, .tokenExhausted, .tokenUnknown, .overrideNotAllowed, .groupUnknown:
            throw AgentError(.refused, "the appliance refused the enrollment: \(response.detail)")
        default:
            throw AgentError(.unavailable, "the appliance could not enroll this computer (\(response.result)): \(response.detail)")
        }
        let certificate = try Certificate(derBytes: Array(response.certificate))
        let configuration = AgentConfiguration(
            clientID: response.clientID,
            servers: installer.servers,
            caSHA256: installer.caSHA256,
            installerID: installer.installerID,
            name: overrides.name ?? installer.name,
            enrolledAt: Date()
        )
        for directory in [files.bin, files.etc, files.variable] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        try writeAtomically(Data(key.pemRepresentation.utf8), to: files.key, mode: 0o600)
        try writeAtomically(Data(try certificate.pemText.utf8), to: files.certificate, mode: 0o644)
        try writeAtomically(Data(installer.caCertificate.utf8), to: files.ca, mode: 0o644)
        try writeAtomically(try JSONEncoder.agentFiles.encode(configuration), to: files.configuration, mode: 0o600)
        var state = AgentState()
        if response.hasConfig { state.apply(response.config) }
        state.contacted(SystemLeaseClock())
        try writeAtomically(try JSONEncoder.agentFiles.encode(state), to: files.state, mode: 0o600)
        return configuration
    }

    /// One enrollment connection to the first appliance address that answers.
    static func send(
        _ request: WireEnrollRequest,
        to servers: [String],
        trusting ca: Certificate,
        group: any EventLoopGroup,
        localAddress: SocketAddress? = nil
    ) async throws -> WireEnrollResponse {
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: ca, identity: nil))
        var problems: [String] = []
        for server in servers {
            guard let (host, port) = AgentRuntime.split(server) else {
                problems.append("\(server) is not HOST:PORT")
                continue
            }
            let result = OneShot()
            do {
                let channel = try await AgentChannel.connect(
                    host: host, port: port, group: group, security: .unenrolled(tls), localAddress: localAddress, connectTimeout: .seconds(30),
                    configuration: .init(purpose: .enroll(request), hello: AgentRuntime.hello()), delegate: result
                )
                let timeout = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                let outcome = await result.wait()
                timeout.cancel()
                switch outcome {
                case .enrolled(let response):
                    return response
                case .peerSaidGoodbye(let goodbye):
                    problems.append("\(server) closed the connection: \(goodbye.reason) \(goodbye.detail)")
                case .retryAfter(let retry):
                    problems.append("\(server) is busy; retry in \(retry.delayMs) ms")
                case .closedLocally(let goodbye):
                    problems.append("\(server): \(goodbye.detail)")
                case .transportClosed, .supportRefused:
                    problems.append("\(server) closed the connection during TLS (is this the appliance the installer was made for?)")
                }
            } catch {
                problems.append("cannot connect to \(server): \(error)")
            }
        }
        throw AgentError(.unavailable, "could not enroll: " + problems.joined(separator: "; "))
    }

    /// Waits for one connection's outcome.
    final class OneShot: AgentConnectionDelegate {
        private let state = Mutex<(outcome: AgentConnectionOutcome?, waiter: CheckedContinuation<AgentConnectionOutcome, Never>?)>((nil, nil))

        func wait() async -> AgentConnectionOutcome {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> AgentConnectionOutcome? in
                    if let outcome = state.outcome { return outcome }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {}
        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {}
        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {}
        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {}

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            let waiter = state.withLock { state in
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: outcome)
        }
    }
}

extension AgentState {
    mutating func apply(_ config: WireSiteConfig) {
        configRevision = config.revision
        statistics = config.statistics.map(\.storedName)
        statisticsIntervalSeconds = config.statisticsIntervalSeconds
        deleteAfterDays = config.deleteAfterDays
        restrictLocalUninstall = config.restrictLocalUninstall
        screenStatePresence = config.screenStatePresence
        reconnectSpreadMilliseconds = config.reconnectSpreadMs > 0 ? config.reconnectSpreadMs : nil
    }
}
