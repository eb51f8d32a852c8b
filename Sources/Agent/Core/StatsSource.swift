public import Foundation
public import JumpProtocol
import Synchronization

/// Where statistics reports come from. The Linux collectors implement it; tests and the load
/// generator use their own.
public protocol StatsSource: Sendable {
    /// A report with the selected statistics; `includeFacts` asks for host and network facts too
    /// (the first report of a connection, and whenever they changed).
    func report(selection: Set<WireStatistic>, includeFacts: Bool) async -> WireStatsReport
}

/// The statistics `/proc` and `statvfs` give, read under an injected root so tests use fixture trees.
public final class ProcStatsSource: StatsSource {
    let root: URL
    private let previousCPU = Mutex<[UInt64]?>(nil)

    public init(root: String = "/") {
        self.root = URL(fileURLWithPath: root, isDirectory: true)
        _ = cpuPermille()  // the baseline, so the first report covers the time since the agent started
    }

    func read(_ path: String) -> String? {
        try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    public func report(selection: Set<WireStatistic>, includeFacts: Bool) async -> WireStatsReport {
        var report = WireStatsReport()
        report.takenAtMs = UInt64(Date().timeIntervalSince1970 * 1000)
        if selection.contains(.cpu), let busy = cpuPermille() { report.cpuPermille = busy }
        if selection.contains(.uptime), let uptime = uptimeSeconds() { report.uptimeSeconds = uptime }
        if let memory = memory() { report.memory = memory }
        if let load = load() { report.load = load }
        if selection.contains(.disk) { report.disks = disks() }
        if includeFacts { report.host = hostFacts() }
        return report
    }

    func uptimeSeconds() -> UInt64? {
        guard let text = read("proc/uptime"), let first = text.split(separator: " ").first, let value = Double(first) else {
            return nil
        }
        return UInt64(value)
    }

    /// Busy share of all CPUs since the previous call (the first call compares with boot).
    func cpuPermille() -> UInt32? {
        guard let line = read("proc/stat")?.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let previous = previousCPU.withLock { previous in
            defer { previous = values }
            return previous
        }
        func idle(_ v: [UInt64]) -> UInt64 { v[3] + (v.count > 4 ? v[4] : 0) }
        let total = values.reduce(0, +) - (previous?.reduce(0, +) ?? 0)
        let idleDelta = idle(values) - (previous.map(idle) ?? 0)
        guard total > 0, idleDelta <= total else { return 0 }
        return UInt32((total - idleDelta) * 1000 / total)
    }

    func memory() -> WireMemory? {
        guard let text = read("proc/meminfo") else { return nil }
        var fields: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let value = UInt64(parts[1]) { fields[String(parts[0].dropLast())] = value * 1024 }
        }
        guard let total = fields["MemTotal"] else { return nil }
        var memory = WireMemory()
        memory.totalBytes = total
        memory.availableBytes = fields["MemAvailable"] ?? fields["MemFree"] ?? 0
        return memory
    }

    func load() -> WireLoad? {
        guard let parts = read("proc/loadavg")?.split(separator: " "), parts.count >= 3 else { return nil }
        let values = parts.prefix(3).compactMap { Double($0) }.map { UInt32(($0 * 100).rounded()) }
        guard values.count == 3 else { return nil }
        var load = WireLoad()
        load.one = values[0]
        load.five = values[1]
        load.fifteen = values[2]
        return load
    }

    func disks() -> [WireDisk] {
        var stats = statvfs()
        guard statvfs(root.path, &stats) == 0 else { return [] }
        let block = UInt64(stats.f_frsize)
        var disk = WireDisk()
        disk.mountPoint = "/"
        disk.totalBytes = UInt64(stats.f_blocks) * block
        disk.availableBytes = UInt64(stats.f_bavail) * block
        disk.usedBytes = (UInt64(stats.f_blocks) - UInt64(stats.f_bfree)) * block
        return [disk]
    }

    func hostFacts() -> WireHostFacts {
        var facts = WireHostFacts()
        facts.hostname = (read("proc/sys/kernel/hostname") ?? ProcessInfo.processInfo.hostName)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let release = read("etc/os-release") ?? read("usr/lib/os-release") {
            for line in release.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if parts[0] == "PRETTY_NAME" { facts.osName = value }
                if parts[0] == "VERSION_ID" { facts.osVersion = value }
            }
        }
        facts.kernel = (read("proc/sys/kernel/osrelease") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var names = utsname()
        if uname(&names) == 0 {
            facts.architecture = withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        facts.model = (read("proc/device-tree/model") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\u{0}\n "))
        facts.cpuCount = UInt32(ProcessInfo.processInfo.activeProcessorCount)
        facts.agentVersion = JumpBuild.version
        return facts
    }
}
