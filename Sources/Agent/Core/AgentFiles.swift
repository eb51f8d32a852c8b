public import FoundationEssentials
public import Glibc

/// Where an installed Jump Client keeps its files, all under one directory:
///
///     DIR/bin/jump-agent      the program
///     DIR/etc/agent.json      configuration (appliance addresses, client id, install parameters)
///     DIR/etc/key.pem         the client's P-256 key, mode 0600
///     DIR/etc/cert.pem        its certificate from the appliance CA
///     DIR/etc/ca.pem          the appliance CA, the only trust root
///     DIR/var/state.json      what the agent learns while running (site configuration, last contact)
public struct AgentFiles: Sendable {
    public static let defaultDirectory = "/opt/jump-client"

    public let root: URL

    public init(root: String) {
        self.root = URL(fileURLWithPath: root, isDirectory: true)
    }

    /// The directory of an installed agent, from the path of its own program (`DIR/bin/jump-agent`).
    public static func forProgram(at path: String) -> AgentFiles? {
        let program = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        let bin = program.deletingLastPathComponent()
        guard bin.lastPathComponent == "bin" else { return nil }
        let root = bin.deletingLastPathComponent()
        let files = AgentFiles(root: root.path)
        return FileManager.default.fileExists(atPath: files.configuration.path) ? files : nil
    }

    public var bin: URL { root.appendingPathComponent("bin") }
    public var etc: URL { root.appendingPathComponent("etc") }
    public var variable: URL { root.appendingPathComponent("var") }
    public var program: URL { bin.appendingPathComponent("jump-agent") }
    public var configuration: URL { etc.appendingPathComponent("agent.json") }
    public var key: URL { etc.appendingPathComponent("key.pem") }
    public var certificate: URL { etc.appendingPathComponent("cert.pem") }
    public var ca: URL { etc.appendingPathComponent("ca.pem") }
    public var state: URL { variable.appendingPathComponent("state.json") }
}

/// `etc/agent.json`.
public struct AgentConfiguration: Codable, Hashable, Sendable {
    public var clientID: String
    public var servers: [String]
    public var caSHA256: String
    public var installerID: String
    public var name: String
    public var enrolledAt: Date
    /// The systemd service it was installed as; nil when installed without one (`--no-service`) or
    /// only enrolled.
    public var serviceUnit: String?

    public init(clientID: String, servers: [String], caSHA256: String, installerID: String, name: String, enrolledAt: Date) {
        self.clientID = clientID
        self.servers = servers
        self.caSHA256 = caSHA256
        self.installerID = installerID
        self.name = name
        self.enrolledAt = enrolledAt
    }
}

/// `var/state.json`: what the appliance last told the agent, and when it last heard from it.
public struct AgentState: Codable, Hashable, Sendable {
    public var lastCommandSequence: UInt64 = 0
    public var configRevision: UInt64 = 0
    public var statistics: [String] = []
    public var statisticsIntervalSeconds: UInt32 = 60
    public var deleteAfterDays: UInt32 = 0
    public var restrictLocalUninstall = false
    public var screenStatePresence = true
    public var lastContact: Date?
    /// Time without contact, against `deleteAfterDays` (absent in files of older agents).
    public var lease: OfflineLease?
    /// The appliance's reconnect spread (`SiteConfig.reconnect_spread_ms`): the backoff stops growing
    /// there. Absent in files of older agents and when the appliance gives none.
    public var reconnectSpreadMilliseconds: UInt32?

    public init() {}

    /// The appliance answered.
    public mutating func contacted(_ clock: some LeaseClock) {
        lastContact = clock.wall
        var lease = self.lease ?? OfflineLease()
        lease.contact(clock)
        self.lease = lease
    }

    /// Counts the time since the last check; true when the deletion period has passed.
    public mutating func leaseExpired(_ clock: some LeaseClock) -> Bool {
        var lease = self.lease ?? OfflineLease()
        lease.advance(clock)
        self.lease = lease
        return lease.expired(deleteAfterDays: deleteAfterDays)
    }

    /// Whether writing this state in place of `written` (the state on disk) can wait: everything but
    /// the contact time, the lease and the reconnect spread is the same, on the same boot, less than
    /// `interval` seconds after the lease on disk was last checked, and the lease on disk, counted on
    /// to this one's checkpoint, says no less time without contact than this one and less than
    /// `interval` seconds more. A crash or a stop before the next write then costs at most
    /// `interval` seconds counted as time without contact, against a deletion period of days; time
    /// without contact is never lost. Time counted on since the file's checkpoint is what the file already says (the
    /// boot clock counts it again after a restart); a later contact is what may cost the interval.
    /// The reconnect spread comes with every Welcome and follows the number of agents connected, so
    /// it is nearly always new; the agent uses the one in memory, and one restarted after a crash
    /// starts from a spread at most `interval` old.
    /// So an agent that reconnects often (a flapping network, a load generator's churn) does not
    /// write and fsync its state at each connection, a connected agent writes its contact about once
    /// in `interval`, and so is a long outage's count, at the first check past it (on another boot
    /// the count goes by the wall clock, which may have been wrong).
    public func writeCanWait(after written: AgentState, within interval: Double) -> Bool {
        guard let lease, let writtenLease = written.lease,
              !lease.checkpointBootID.isEmpty, lease.checkpointBootID == writtenLease.checkpointBootID
        else { return false }
        let since = lease.checkpointSinceBoot - writtenLease.checkpointSinceBoot
        guard since >= 0, since < interval else { return false }
        let overstated = writtenLease.offlineSeconds + since - lease.offlineSeconds
        guard overstated > -0.001, overstated < interval else { return false }
        var this = self, that = written
        (this.lastContact, this.lease, this.reconnectSpreadMilliseconds) = (nil, nil, nil)
        (that.lastContact, that.lease, that.reconnectSpreadMilliseconds) = (nil, nil, nil)
        return this == that
    }
}

extension JSONEncoder {
    public static var agentFiles: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    public static var agentFiles: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Writes a file atomically (temporary file, fsync, rename) with `mode`.
public func writeAtomically(_ data: Data, to url: URL, mode: mode_t) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid())")
    let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard descriptor >= 0 else { throw AgentError(.io, "cannot write \(url.path): \(String(cString: strerror(errno)))") }
    var failed = !data.withUnsafeBytes { writeAll($0, to: descriptor) }
    if fchmod(descriptor, mode) != 0 || fsync(descriptor) != 0 { failed = true }
    close(descriptor)
    guard !failed, rename(temporary.path, url.path) == 0 else {
        unlink(temporary.path)
        throw AgentError(.io, "cannot write \(url.path): \(String(cString: strerror(errno)))")
    }
}

/// An agent failure with a code for the exit status and a message for the person.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public enum Code: Int32, Sendable {
        /// Bad arguments or a bad installer file.
        case usage = 64
        /// The installer file or a configuration file cannot be read or is damaged.
        case data = 65
        /// The appliance cannot be reached; or what was asked for is not available (a thumbnail).
        case unavailable = 69
        /// Files cannot be written.
        case io = 74
        /// The appliance refused (token, override, certificate).
        case refused = 77
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
