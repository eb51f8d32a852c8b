import Foundation
import JumpAgentCore
import JumpProtocol
import NIOCore
import Testing

/// The whole report from fixture trees, and from this machine against what other tools say.
@Suite struct LinuxStatsSourceTests {
    struct FixedUsage: FilesystemUsageReader {
        func usage(of mountPoint: String) -> FilesystemUsage? {
            mountPoint == "/mnt/nas" ? nil : FilesystemUsage(total: 1000, used: 400, available: 550)
        }
    }

    struct FixedAddresses: InterfaceAddressReader {
        func addresses() -> [String: [([UInt8], UInt32)]] {
            ["eth0": [([192, 168, 0, 23], 24)], "wlan0": [([192, 168, 1, 57], 24)]]
        }
    }

    static let pi = ProcParsersTests.fixtures.appendingPathComponent("raspberrypi").path
    static let all: Set<WireStatistic> = [.cpu, .consoleUser, .disk, .thumbnail, .uptime]

    @Test func raspberryPiReport() async throws {
        let source = LinuxStatsSource(root: Self.pi, filesystems: FixedUsage(), interfaces: FixedAddresses())
        let report = await source.report(ReportRequest(selection: Self.all, includeFacts: true))
        #expect(report.uptimeSeconds == 21893)
        #expect(report.hasCpuPermille, "the same /proc/stat twice gives no busy time, but a value")
        #expect(report.cpuPermillePerCpu.count == 4)
        #expect(report.memory.totalBytes == 3_881_112 * 1024)
        #expect(report.temperatureMillicelsius == 48312)
        #expect(report.disks.map(\.mountPoint) == ["/", "/boot/firmware", "/media/pi/USB Stick"], "the hung NAS is left out")
        #expect(report.host.hostname == "raspberrypi")
        #expect(report.host.model == "Raspberry Pi 4 Model B Rev 1.4")
        #expect(report.host.kernel == "6.6.51+rpt-rpi-v8")
        #expect(report.host.cpuCount == 4)
        #expect(report.network.interfaces.map(\.name) == ["eth0", "wlan0"])
        #expect(report.network.interfaces[0].mac == Data([0xDC, 0xA6, 0x32, 0x44, 0x55, 0x66]))
        #expect(report.network.interfaces[0].addresses.count == 2, "IPv4 from getifaddrs, IPv6 from if_inet6")
        #expect(report.network.gatewayIpv4 == Data([192, 168, 0, 1]))
        #expect(report.network.gatewayIpv4Mac == Data([0xB8, 0x27, 0xEB, 0x00, 0x11, 0x22]))
        #expect(report.network.gatewayIpv4Interface == "eth0")
        // It fits the protocol's bounds.
        var envelope = WireEnvelope()
        envelope.body = .statsReport(report)
        #expect(throws: Never.self) { try ControlCodec.decode(ControlCodec.encode(envelope)) }
    }

    @Test func unselectedStatisticsAreLeftOut() async {
        let source = LinuxStatsSource(root: Self.pi, filesystems: FixedUsage(), interfaces: FixedAddresses())
        let report = await source.report(ReportRequest(selection: [], includeFacts: false))
        #expect(!report.hasCpuPermille)
        #expect(!report.hasUptimeSeconds)
        #expect(report.disks.isEmpty)
        #expect(!report.hasHost)
    }

    @Test func aReportWithoutFactsOrThumbnailIsSmallOnTheWire() async {
        let source = LinuxStatsSource(root: Self.pi, filesystems: FixedUsage(), interfaces: FixedAddresses())
        let report = await source.report(ReportRequest(selection: Self.all, includeFacts: false))
        let frame = ControlCodec.frame(id: 1000, .statsReport(report))
        #expect(frame.readableBytes < 220, "\(frame.readableBytes) bytes")
    }

    // MARK: This machine

    /// CPU count, memory, uptime and the root file system agree with what the kernel tells other tools.
    @Test func thisMachineAgreesWithDfAndTheKernel() async throws {
        let source = LinuxStatsSource()
        let started = ContinuousClock.now
        let before = try Self.df("/")
        let report = await source.report(ReportRequest(selection: Self.all, includeFacts: true))
        #expect(Int(report.host.cpuCount) == ProcessInfo.processInfo.activeProcessorCount)
        let uptime = ProcessInfo.processInfo.systemUptime
        // Whole seconds, read a moment apart (longer on a loaded machine): 1 s plus that moment.
        let apart = Double((ContinuousClock.now - started).components.seconds) + 1
        #expect(abs(Double(report.uptimeSeconds) - uptime) <= 1 + apart, "uptime within 1 s")
        #expect(report.memory.totalBytes / 1024 / 1024 == ProcessInfo.processInfo.physicalMemory / 1024 / 1024)
        let root = try #require(report.disks.first { $0.mountPoint == "/" })
        let after = try Self.df("/")
        // df rounds to 1 KiB blocks. Other programs write while we read, so the agent's figure must
        // lie between df's before and after, give or take 16 MiB: tests running beside this one write
        // and delete files of a few MiB (MappedFilePagesTests two of 1 MiB), so the use can dip
        // between the two readings. A wrong sum (free for available, fragments for blocks) is off by
        // far more: the reserved blocks alone are usually 5% of the disk.
        #expect(abs(Int64(root.totalBytes / 1024) - after.total) < 1024)
        let low = min(before.used, after.used) - 16 * 1024
        let high = max(before.used, after.used) + 16 * 1024
        #expect((low...high).contains(Int64(root.usedBytes / 1024)), "used \(root.usedBytes / 1024) KiB, df \(before.used) then \(after.used)")
    }

    static let psutilAvailable = FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/psutil")

    /// psutil (Debian's python3-psutil) read in the same moment: CPU count, boot-based uptime, the root
    /// file system and total memory agree within the stated tolerances.
    @Test(.enabled(if: psutilAvailable, "needs python3-psutil (make test installs it)"))
    func thisMachineAgreesWithPsutil() async throws {
        let started = ContinuousClock.now
        let before = try Self.df("/")
        let report = await LinuxStatsSource().report(ReportRequest(selection: Self.all, includeFacts: true))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", """
            import psutil, time
            d = psutil.disk_usage('/')
            print(psutil.cpu_count(), int(time.time() - psutil.boot_time()), d.total, d.used, psutil.virtual_memory().total)
            """]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let values = text.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(values.count == 5)
        #expect(Int64(report.host.cpuCount) == values[0])
        // Whole seconds, read a moment apart (Python's start-up; longer on a loaded machine).
        let apart = (ContinuousClock.now - started).components.seconds + 1
        #expect(abs(Int64(report.uptimeSeconds) - values[1]) <= 2 + apart, "uptime within 2 s")
        let root = try #require(report.disks.first { $0.mountPoint == "/" })
        #expect(Int64(root.totalBytes) == values[2])
        // Used space moves while we read (other programs write): between df before and psutil after,
        // give or take 16 MiB, as in the df test above: tests running beside this one write and
        // delete files of a few MiB, so the use can dip between the readings (it did by 2 MiB, once,
        // with 1 MiB allowed). A wrong sum is off by far more.
        let low = min(before.used * 1024, values[3]) - 16 * 1_048_576
        let high = max(before.used * 1024, values[3]) + 16 * 1_048_576
        #expect((low...high).contains(Int64(root.usedBytes)), "used \(root.usedBytes), df before \(before.used * 1024), psutil after \(values[3])")
        #expect(Int64(report.memory.totalBytes) == values[4])
    }

    static func df(_ path: String) throws -> (total: Int64, used: Int64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/df")
        process.arguments = ["-k", "--output=size,used", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let numbers = text.split(separator: "\n").last!.split(separator: " ").compactMap { Int64($0) }
        return (numbers[0], numbers[1])
    }

    @Test func cpuBusyMatchesALoadWeMake() async throws {
        // Keep one core busy for a second: the busy share of all CPUs rises to at least 1/N of it.
        let source = LinuxStatsSource()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let start = ContinuousClock.now
        var spin = 0
        while ContinuousClock.now - start < .seconds(1) { spin &+= 1 }
        let report = await source.report(ReportRequest(selection: [.cpu], includeFacts: false))
        #expect(spin != 0)
        #expect(report.cpuPermille >= UInt32(1000 / cores * 8 / 10), "busy \(report.cpuPermille)‰ while one of \(cores) cores spun")
    }

    @Test func interfaceAddressesOfLoopback() throws {
        // The real reader on this machine's loopback: 127.0.0.1/8, and ::1/128 where IPv6 is on.
        let loopback = try #require(GetifaddrsReader().addresses()["lo"])
        #expect(loopback.contains { $0.0 == [127, 0, 0, 1] && $0.1 == 8 }, "lo has \(loopback)")
        let ipv6 = FileManager.default.fileExists(atPath: "/proc/net/if_inet6")
            && ((try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? "").contains(" lo\n")
        if ipv6 { #expect(loopback.contains { $0.0 == [UInt8](repeating: 0, count: 15) + [1] && $0.1 == 128 }, "lo has \(loopback)") }
    }

}
