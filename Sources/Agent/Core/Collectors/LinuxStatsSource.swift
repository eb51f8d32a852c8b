import FoundationEssentials
import Glibc
public import Dispatch
public import JumpProtocol
import NIOCore
import Synchronization

/// Statistics from /proc and /sys, every file read under an injected root so tests run against
/// fixture trees captured from real machines. File system usage and interface addresses come from
/// injected readers (statvfs and getifaddrs live).
public final class LinuxStatsSource: StatsSource {
    /// The root's path with a trailing slash, to prefix the relative paths read under it.
    let rootPrefix: String
    let filesystems: any FilesystemUsageReader
    let interfaces: any InterfaceAddressReader
    let console: (any ConsoleReader)?
    let screen: (any ScreenReader)?
    let locator: DisplayLocator
    private let previousCPU = Mutex<[ProcParsers.CPUTimes]>([])
    private let lastProbe = Mutex<ScreenProbe?>(nil)

    public init(
        root: String = "/",
        filesystems: any FilesystemUsageReader = StatvfsReader(),
        interfaces: any InterfaceAddressReader = GetifaddrsReader(),
        console: (any ConsoleReader)? = nil,
        screen: (any ScreenReader)? = nil,
        locator: DisplayLocator? = nil
    ) {
        self.rootPrefix = directoryPrefix(root)
        self.filesystems = filesystems
        self.interfaces = interfaces
        self.console = console
        self.screen = screen
        self.locator = locator ?? DisplayLocator(root: root)
        _ = cpu()  // the baseline, so the first report covers the time since the agent started
    }

    /// A file under the root, as text. Plain paths and read(2): the idle agent runs this for every
    /// report, and Foundation's URL and String(contentsOf:) would keep their code resident for it.
    func read(_ path: String) -> String? {
        readWhole(rootPrefix + path, maximumBytes: 4 << 20).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Collects on ``BlockingWork``'s thread: reading files, statvfs (up to its deadline) and D-Bus
    /// block, and must not hold an event loop or a thread of Swift's cooperative pool.
    public func report(_ request: ReportRequest) async -> WireStatsReport {
        await BlockingWork.run { self.collect(request) }
    }

    func collect(_ request: ReportRequest) -> WireStatsReport {
        let selection = request.selection
        let includeFacts = request.includeFacts
        var report = WireStatsReport()
        report.takenAtMs = UInt64(Date().timeIntervalSince1970 * 1000)
        if selection.contains(.cpu), let (all, perCPU) = cpu() {
            report.cpuPermille = all
            report.cpuPermillePerCpu = perCPU
        }
        if selection.contains(.uptime), let uptime = read("proc/uptime").flatMap(ProcParsers.uptime) {
            report.uptimeSeconds = uptime
        }
        if let (total, available) = read("proc/meminfo").flatMap(ProcParsers.memory) {
            report.memory.totalBytes = total
            report.memory.availableBytes = available
        }
        if let (one, five, fifteen) = read("proc/loadavg").flatMap(ProcParsers.load) {
            report.load.one = one
            report.load.five = five
            report.load.fifteen = fifteen
        }
        if let temperature = temperature() { report.temperatureMillicelsius = temperature }
        if selection.contains(.disk) { report.disks = disks() }
        // Without logind (no system bus) the console stays unknown and presence is left out.
        if let console, let reading = try? console.read() {
            let probe = screenProbe(reading, request: request, into: &report)
            report.console = reading.state(screenSaver: probe?.screenSaverState ?? .unknown)
            if probe?.lockedByScreenSaver == true { report.console.locked = true }
            report.presence = PresenceRule.presence(report.console, useScreenState: request.useScreenState)
        } else if selection.contains(.thumbnail) {
            report.thumbnailStatus = .noDisplay
            report.thumbnailDetail = "the console is unknown: logind cannot be reached"
        }
        if includeFacts {
            report.host = hostFacts()
            report.network = networkFacts()
        }
        return report
    }

    /// The screen's saver state and, when selected, its thumbnail, from the helper that runs as the
    /// console user. Thumbnail status and detail go into `report`.
    func screenProbe(_ console: LogindConsole, request: ReportRequest, into report: inout WireStatsReport) -> ScreenProbe? {
        let wantThumbnail = request.selection.contains(.thumbnail)
        let plan = ScreenPlan.plan(for: console)
        var probe: ScreenProbe?
        if let screen, let session = plan.session {
            if let display = locator.locate(session, wantDisplay: plan.capture) {
                probe = screen.probe(display, thumbnail: wantThumbnail && plan.capture)
            } else if plan.capture {
                report.thumbnailStatus = .failed
                report.thumbnailDetail = "cannot find the X display of \(session.user)'s session"
            }
        }
        lastProbe.withLock { $0 = probe }
        guard wantThumbnail, !report.hasThumbnail, report.thumbnailStatus == .unspecified else { return probe }
        if !plan.capture {
            report.thumbnailStatus = plan.status
            report.thumbnailDetail = plan.detail
        } else if let picture = probe?.thumbnail {
            report.thumbnailStatus = .captured
            report.thumbnail.jpeg = picture.jpeg
            report.thumbnail.width = picture.width
            report.thumbnail.height = picture.height
            report.thumbnail.signature = picture.signature
        } else {
            report.thumbnailStatus = .failed
            report.thumbnailDetail = String((probe?.captureError ?? (screen == nil ? "this agent has no screen capture" : "the screen helper gave no picture")).prefix(512))
        }
        return probe
    }

    /// The screen helper's last answer: the inputs of the screen-saver state, for `jump-agent stats`.
    public var lastScreenProbe: ScreenProbe? { lastProbe.withLock { $0 } }

    /// Busy thousandths of all CPUs and of each, since the previous call.
    func cpu() -> (UInt32, [UInt32])? {
        guard let text = read("proc/stat") else { return nil }
        let current = ProcParsers.cpuTimes(text)
        guard !current.isEmpty else { return nil }
        let previous = previousCPU.withLock { previous in
            defer { previous = current }
            return previous
        }
        guard previous.count == current.count else { return nil }
        let shares = zip(previous, current).map { ProcParsers.CPUTimes.busyPermille(from: $0, to: $1) ?? 0 }
        return (shares[0], Array(shares.dropFirst()))
    }

    func temperature() -> Int32? {
        guard let text = read("sys/class/thermal/thermal_zone0/temp"),
            let value = Int32(text.trimmed())
        else { return nil }
        return value
    }

    func disks() -> [WireDisk] {
        guard let text = read("proc/self/mountinfo") else { return [] }
        return ProcParsers.realMounts(ProcParsers.mounts(text)).prefix(ProtocolLimits.maximumDisks).compactMap { mount in
            guard let usage = filesystems.usage(of: mount.mountPoint) else { return nil }
            var disk = WireDisk()
            disk.mountPoint = mount.mountPoint
            disk.filesystem = mount.filesystem
            disk.totalBytes = usage.total
            disk.usedBytes = usage.used
            disk.availableBytes = usage.available
            return disk
        }
    }

    func hostFacts() -> WireHostFacts {
        var facts = WireHostFacts()
        facts.hostname = (read("proc/sys/kernel/hostname") ?? "").trimmed()
        let release = ProcParsers.osRelease(read("etc/os-release") ?? read("usr/lib/os-release") ?? "")
        facts.osName = release.name
        facts.osVersion = release.version
        facts.kernel = (read("proc/sys/kernel/osrelease") ?? "").trimmed()
        facts.architecture = Self.machine()
        facts.model = (read("proc/device-tree/model") ?? "").trimmed { $0 == "\u{0}" || $0 == "\n" || $0 == " " }
        facts.cpuCount = UInt32(max(ProcParsers.cpuTimes(read("proc/stat") ?? "").count - 1, 0))
        facts.agentVersion = JumpBuild.version
        return facts
    }

    static func machine() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func networkFacts() -> WireNetworkFacts {
        var facts = WireNetworkFacts()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: rootPrefix + "sys/class/net")) ?? []
        var addresses = interfaces.addresses()
        for (name, list) in ProcParsers.ipv6Addresses(read("proc/net/if_inet6") ?? "") {
            addresses[name, default: []] += list.filter { candidate in
                !(addresses[name] ?? []).contains { $0.0 == candidate.0 }
            }
        }
        for name in names.sorted().prefix(ProtocolLimits.maximumInterfaces) where name != "lo" {
            var interface = WireNetworkInterface()
            interface.name = name
            if let mac = read("sys/class/net/\(name)/address").flatMap(ProcParsers.mac) { interface.mac = Data(mac) }
            interface.addresses = (addresses[name] ?? []).prefix(ProtocolLimits.maximumAddressesPerInterface).map { bytes, prefix in
                var address = WireInterfaceAddress()
                address.ip = Data(bytes)
                address.prefixLength = prefix
                return address
            }
            facts.interfaces.append(interface)
        }
        if let gateway = read("proc/net/route").flatMap(ProcParsers.defaultGatewayIPv4) {
            facts.gatewayIpv4 = Data(gateway.address)
            facts.gatewayIpv4Interface = gateway.interface
            if let mac = read("proc/net/arp").flatMap({ ProcParsers.arpEntry($0, for: gateway.address) }) {
                facts.gatewayIpv4Mac = Data(mac)
            }
        }
        if let gateway = read("proc/net/ipv6_route").flatMap(ProcParsers.defaultGatewayIPv6) {
            facts.gatewayIpv6 = Data(gateway.address)
            facts.gatewayIpv6Interface = gateway.interface
        }
        return facts
    }
}

/// statvfs(3) on a thread of its own with a deadline: a hung network mount cannot hang the agent.
/// A mount whose call did not come back is skipped until it does, so stuck threads never pile up.
public final class StatvfsReader: FilesystemUsageReader {
    /// How long one statvfs may take before the mount is reported as unavailable.
    public static let deadline = DispatchTimeInterval.seconds(2)

    private let stuck = Mutex<Set<String>>([])
    let root: String

    public init(root: String = "/") {
        self.root = root
    }

    public func usage(of mountPoint: String) -> FilesystemUsage? {
        let path = root == "/" ? mountPoint : root + mountPoint
        guard stuck.withLock({ $0.insert(path).inserted }) else { return nil }
        let call = Call()
        let started = DetachedThread.start(name: "jump-statvfs", stackSize: 64 * 1024) { [self] in
            var stats = statvfs()
            let usage: FilesystemUsage? =
                statvfs(path, &stats) == 0
                ? FilesystemUsage(
                    total: UInt64(stats.f_blocks) * UInt64(stats.f_frsize),
                    used: (UInt64(stats.f_blocks) - UInt64(stats.f_bfree)) * UInt64(stats.f_frsize),
                    available: UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
                ) : nil
            call.result.withLock { $0 = usage }
            _ = stuck.withLock { $0.remove(path) }
            call.done.signal()
        }
        guard started else {
            _ = stuck.withLock { $0.remove(path) }
            return nil
        }
        guard call.done.wait(timeout: .now() + Self.deadline) == .success else { return nil }
        return call.result.withLock { $0 }
    }

    /// One statvfs call's answer, shared with the thread that makes it.
    private final class Call: Sendable {
        let result = Mutex<FilesystemUsage?>(nil)
        let done = DispatchSemaphore(value: 0)
    }
}

/// getifaddrs(3), through NIO's `System.enumerateDevices`: every IPv4 and IPv6 address with its
/// prefix length.
///
/// The addresses are read back from their text form rather than from `sockaddr_in`'s fields: Glibc
/// and NIO's CNIOLinux both include <netinet/in.h>, and which of the two modules owns `in_addr` depends
/// on the order the compiler loads them, so a field access that builds once can fail member import
/// visibility on the next clean build.
public struct GetifaddrsReader: InterfaceAddressReader {
    public init() {}

    public func addresses() -> [String: [([UInt8], UInt32)]] {
        guard let devices = try? System.enumerateDevices() else { return [:] }
        var result: [String: [([UInt8], UInt32)]] = [:]
        for device in devices {
            guard let address = device.address.flatMap(Self.bytes), let mask = device.netmask.flatMap(Self.bytes),
                address.count == mask.count
            else { continue }
            let bits = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            result[device.name, default: []].append((address, UInt32(bits)))
        }
        return result
    }

    /// The address's bytes in network order: 4 for IPv4, 16 for IPv6, nil for anything else.
    static func bytes(_ address: SocketAddress) -> [UInt8]? {
        let family: Int32
        var bytes: [UInt8]
        switch address {
        case .v4: (family, bytes) = (AF_INET, [UInt8](repeating: 0, count: 4))
        case .v6: (family, bytes) = (AF_INET6, [UInt8](repeating: 0, count: 16))
        case .unixDomainSocket: return nil
        }
        guard let text = address.ipAddress, inet_pton(family, text, &bytes) == 1 else { return nil }
        return bytes
    }
}
