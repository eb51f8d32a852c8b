import FoundationEssentials
import Glibc

/// Parsers for the files under /proc and /sys the collectors read. Pure functions over text, so the
/// tests feed them files captured from real machines.
public enum ProcParsers {
    /// One line of /proc/stat: jiffies in user, nice, system, idle, iowait, irq, softirq, steal.
    public struct CPUTimes: Hashable, Sendable {
        public var values: [UInt64]

        public init(values: [UInt64]) {
            self.values = values
        }

        public var total: UInt64 { values.prefix(8).reduce(0, +) }
        /// idle + iowait: time the CPU had nothing to run.
        public var idle: UInt64 { values[3] + (values.count > 4 ? values[4] : 0) }

        /// Busy share in thousandths between two samples; nil when no time passed or the counters went back.
        public static func busyPermille(from earlier: CPUTimes, to later: CPUTimes) -> UInt32? {
            guard later.total > earlier.total, later.idle >= earlier.idle else { return nil }
            let total = later.total - earlier.total
            let idle = later.idle - earlier.idle
            guard idle <= total else { return nil }
            return UInt32((total - idle) * 1000 / total)
        }
    }

    /// The aggregate line first, then one per CPU in order.
    public static func cpuTimes(_ text: String) -> [CPUTimes] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("cpu") else { return nil }
            let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            return values.count >= 4 ? CPUTimes(values: values) : nil
        }
    }

    /// Seconds since boot from /proc/uptime.
    public static func uptime(_ text: String) -> UInt64? {
        text.split(separator: " ").first.flatMap { Double($0) }.map { UInt64($0) }
    }

    /// MemTotal and MemAvailable (bytes) from /proc/meminfo.
    public static func memory(_ text: String) -> (total: UInt64, available: UInt64)? {
        var fields: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let value = UInt64(parts[1]) { fields[parts[0].dropLast()] = value * 1024 }
        }
        guard let total = fields["MemTotal"] else { return nil }
        return (total, fields["MemAvailable"] ?? fields["MemFree"] ?? 0)
    }

    /// The three load averages from /proc/loadavg, times 100.
    public static func load(_ text: String) -> (UInt32, UInt32, UInt32)? {
        let values = text.split(separator: " ").prefix(3).compactMap { Double($0) }.map { UInt32(($0 * 100).rounded()) }
        return values.count == 3 ? (values[0], values[1], values[2]) : nil
    }

    /// PRETTY_NAME and VERSION_ID from os-release.
    public static func osRelease(_ text: String) -> (name: String, version: String) {
        var name = ""
        var version = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let value = parts[1].trimmed { $0 == "\"" || $0 == "'" }
            if parts[0] == "PRETTY_NAME" { name = value }
            if parts[0] == "VERSION_ID" { version = value }
        }
        return (name, version)
    }

    // MARK: Mounts

    public struct Mount: Hashable, Sendable {
        public var device: String  // major:minor
        public var mountPoint: String
        public var filesystem: String
        public var source: String
    }

    /// Every mount in /proc/self/mountinfo, with `\040`-style escapes decoded.
    public static func mounts(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count > separator + 2 else { return nil }
            return Mount(
                device: String(fields[2]),
                mountPoint: unescape(fields[4]),
                filesystem: String(fields[separator + 1]),
                source: unescape(fields[separator + 2])
            )
        }
    }

    /// File systems that hold no user data: kernel interfaces, memory, containers' layers, snaps.
    public static let pseudoFilesystems: Set<String> = [
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs",
        "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "fuse.gvfsd-fuse",
        "fuse.portal", "fuse.lxcfs", "nfsd", "zram",
    ]

    /// Network file systems: reported, but their statistics are read with a deadline.
    public static let networkFilesystems: Set<String> = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "ceph", "glusterfs"]

    /// The mounts worth reporting: real file systems, each device once (at its shortest mount point,
    /// so bind mounts and snap's many views of one disk count once).
    public static func realMounts(_ mounts: [Mount]) -> [Mount] {
        var byDevice: [String: Mount] = [:]
        for mount in mounts where !pseudoFilesystems.contains(mount.filesystem) {
            let isDevice = mount.source.hasPrefix("/dev/") || networkFilesystems.contains(mount.filesystem)
                || mount.filesystem == "zfs" || mount.filesystem == "btrfs"
            guard isDevice else { continue }
            let key = networkFilesystems.contains(mount.filesystem) ? mount.source : mount.device
            if let existing = byDevice[key], existing.mountPoint.count <= mount.mountPoint.count { continue }
            byDevice[key] = mount
        }
        return byDevice.values.sorted { $0.mountPoint < $1.mountPoint }
    }

    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var index = field.utf8.startIndex
        let utf8 = field.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\\"), let end = utf8.index(index, offsetBy: 4, limitedBy: utf8.endIndex),
                let value = UInt8(String(decoding: utf8[utf8.index(after: index)..<end], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index = end
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Network

    public struct Gateway: Hashable, Sendable {
        public var interface: String
        public var address: [UInt8]
    }

    /// The IPv4 default route's gateway from /proc/net/route, whose addresses are little-endian hex
    /// (`010200C0` is 192.0.2.1). The route with the lowest metric wins.
    public static func defaultGatewayIPv4(_ text: String) -> Gateway? {
        var best: (Gateway, Int)?
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                let flags = UInt32(fields[3], radix: 16), flags & 0x3 == 0x3,  // RTF_UP | RTF_GATEWAY
                let raw = UInt32(fields[2], radix: 16), let metric = Int(fields[6])
            else { continue }
            let address = withUnsafeBytes(of: raw.littleEndian, Array.init)
            if best == nil || metric < best!.1 { best = (Gateway(interface: String(fields[0]), address: address), metric) }
        }
        return best?.0
    }

    /// The IPv6 default route's next hop from /proc/net/ipv6_route.
    public static func defaultGatewayIPv6(_ text: String) -> Gateway? {
        var best: (Gateway, Int)?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10, fields[0] == String(repeating: "0", count: 32), fields[1] == "00",
                fields[4] != String(repeating: "0", count: 32),
                let metric = Int(fields[5], radix: 16), let flags = UInt32(fields[8], radix: 16), flags & 0x3 == 0x3,
                let address = hexBytes(fields[4]), address.count == 16
            else { continue }
            if best == nil || metric < best!.1 { best = (Gateway(interface: String(fields[9]), address: address), metric) }
        }
        return best?.0
    }

    /// The hardware address of `ip` in /proc/net/arp, if complete.
    public static func arpEntry(_ text: String, for ip: [UInt8]) -> [UInt8]? {
        let dotted = ip.map(String.init).joined(separator: ".")
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, fields[0] == dotted, fields[2] != "0x0" else { continue }
            return mac(String(fields[3]))
        }
        return nil
    }

    /// `aa:bb:cc:dd:ee:ff` as bytes; nil for anything else or all zeros.
    public static func mac(_ text: String) -> [UInt8]? {
        let parts = text.trimmed().split(separator: ":")
        guard parts.count == 6 else { return nil }
        let bytes = parts.compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6, bytes.contains(where: { $0 != 0 }) else { return nil }
        return bytes
    }

    /// IPv6 addresses per interface from /proc/net/if_inet6.
    public static func ipv6Addresses(_ text: String) -> [String: [([UInt8], UInt32)]] {
        var result: [String: [([UInt8], UInt32)]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let address = hexBytes(fields[0]), address.count == 16,
                let prefix = UInt32(fields[2], radix: 16)
            else { continue }
            result[String(fields[5]), default: []].append((address, prefix))
        }
        return result
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
