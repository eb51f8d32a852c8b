public import Foundation
public import JumpProtocol

/// Where statistics reports come from. The Linux collectors implement it; tests and the load
/// generator use their own.
public protocol StatsSource: Sendable {
    /// A report with the selected statistics; `includeFacts` asks for host and network facts too
    /// (the first report of a connection, and whenever they changed).
    func report(selection: Set<WireStatistic>, includeFacts: Bool) async -> WireStatsReport
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
