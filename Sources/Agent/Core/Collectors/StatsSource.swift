import FoundationEssentials
import Glibc
public import JumpProtocol

/// Where statistics reports come from. The Linux collectors implement it; tests and the load
/// generator use their own.
public protocol StatsSource: Sendable {
    func report(_ request: ReportRequest) async -> WireStatsReport
}

/// What a report should hold.
public struct ReportRequest: Hashable, Sendable {
    /// The statistics the site selected.
    public var selection: Set<WireStatistic>
    /// Host and network facts too (the first report of a connection, and whenever they changed).
    public var includeFacts: Bool
    /// The site's "use screen state to detect customer presence".
    public var useScreenState: Bool

    public init(selection: Set<WireStatistic>, includeFacts: Bool, useScreenState: Bool = true) {
        self.selection = selection
        self.includeFacts = includeFacts
        self.useScreenState = useScreenState
    }

    /// Everything, as `jump-agent stats` shows it.
    public static let everything = ReportRequest(selection: [.cpu, .consoleUser, .disk, .thumbnail, .uptime], includeFacts: true)
}

/// The size and use of a mounted file system.
public struct FilesystemUsage: Hashable, Sendable {
    public var total: UInt64
    public var used: UInt64
    public var available: UInt64

    public init(total: UInt64, used: UInt64, available: UInt64) {
        self.total = total
        self.used = used
        self.available = available
    }
}

/// Reads file system usage; the live one calls statvfs(3) with a deadline.
public protocol FilesystemUsageReader: Sendable {
    func usage(of mountPoint: String) -> FilesystemUsage?
}

/// The addresses of the network interfaces; the live one calls getifaddrs(3).
public protocol InterfaceAddressReader: Sendable {
    /// Interface name to (address bytes, prefix length).
    func addresses() -> [String: [([UInt8], UInt32)]]
}
