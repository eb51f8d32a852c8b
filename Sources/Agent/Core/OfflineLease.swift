public import FoundationEssentials
import Glibc

/// The clocks the offline lease reads. The live one: the kernel's boot id, CLOCK_BOOTTIME (which
/// counts suspend and never jumps) and the wall clock.
public protocol LeaseClock: Sendable {
    /// Changes at every boot (/proc/sys/kernel/random/boot_id).
    var bootID: String { get }
    /// Seconds since this boot, suspend included.
    var sinceBoot: Double { get }
    var wall: Date { get }
}

/// How long this Jump Client has been out of contact with its appliance, counted so that it
/// survives restarts, reboots and wall-clock jumps, and whether that passed the deletion period the
/// appliance last gave it. The guide: the agent "uninstalls itself at the configured time" even if it
/// never reaches the site again, and a period changed on the appliance after contact was lost does not
/// reach it.
///
/// Within one boot the time comes from the boot clock, so setting the wall clock forward or back
/// changes nothing. Across a reboot only the wall clock spans the time the machine was off: the gap
/// counts when the wall clock moved forward, and at least the time since the new boot counts always.
/// The count is saved at every check, so a crash or power cut loses at most one check interval, and
/// in the direction of uninstalling later, never earlier.
public struct OfflineLease: Codable, Hashable, Sendable {
    /// Seconds without contact up to the checkpoint.
    public private(set) var offlineSeconds: Double = 0
    public private(set) var checkpointBootID = ""
    public private(set) var checkpointSinceBoot: Double = 0
    public private(set) var checkpointWall: Date?

    public init() {}

    /// The appliance answered: nothing is owed.
    public mutating func contact(_ clock: some LeaseClock) {
        offlineSeconds = 0
        checkpoint(Reading(clock))
    }

    /// Counts the time since the last checkpoint as time without contact.
    public mutating func advance(_ clock: some LeaseClock) {
        // Each clock read once: the time counted ends where the new checkpoint starts.
        let now = Reading(clock)
        let elapsed: Double
        if checkpointBootID == now.bootID {
            elapsed = max(0, now.sinceBoot - checkpointSinceBoot)
        } else if checkpointBootID.isEmpty {
            elapsed = 0  // never checked before: the count starts now
        } else {
            let gap = checkpointWall.map { now.wall.timeIntervalSince($0) } ?? 0
            elapsed = max(gap, now.sinceBoot, 0)
        }
        offlineSeconds += elapsed
        checkpoint(now)
    }

    private struct Reading {
        let bootID: String
        let sinceBoot: Double
        let wall: Date

        init(_ clock: some LeaseClock) {
            (bootID, sinceBoot, wall) = (clock.bootID, clock.sinceBoot, clock.wall)
        }
    }

    private mutating func checkpoint(_ now: Reading) {
        checkpointBootID = now.bootID
        checkpointSinceBoot = now.sinceBoot
        checkpointWall = now.wall
    }

    /// Whether `days` (0: never) have passed without contact.
    public func expired(deleteAfterDays days: UInt32) -> Bool {
        days > 0 && offlineSeconds >= Double(days) * 86_400
    }

    /// Seconds left before the agent uninstalls itself; nil when it never does.
    public func remaining(deleteAfterDays days: UInt32) -> Double? {
        days > 0 ? max(0, Double(days) * 86_400 - offlineSeconds) : nil
    }
}

/// The machine's clocks, read under an injected root like the collectors.
public struct SystemLeaseClock: LeaseClock {
    let root: URL
    /// Read once (a process does not outlive its boot), again while it could not be read.
    private let readBootID: String

    public init(root: String = "/") {
        self.root = URL(fileURLWithPath: root, isDirectory: true)
        readBootID = Self.bootID(under: self.root)
    }

    public var bootID: String { readBootID.isEmpty ? Self.bootID(under: root) : readBootID }

    private static func bootID(under root: URL) -> String {
        ((try? String(contentsOf: root.appendingPathComponent("proc/sys/kernel/random/boot_id"), encoding: .utf8)) ?? "")
            .trimmed()
    }

    /// CLOCK_BOOTTIME (suspend included): from the kernel itself for the machine's own root, else
    /// /proc/uptime's first figure under the root (the same clock, to the hundredth of a second).
    public var sinceBoot: Double {
        if root.path == "/" {
            var now = timespec()
            if clock_gettime(CLOCK_BOOTTIME, &now) == 0 { return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 }
        }
        let text = (try? String(contentsOf: root.appendingPathComponent("proc/uptime"), encoding: .utf8)) ?? ""
        return text.split(separator: " ").first.flatMap { Double($0) } ?? 0
    }

    public var wall: Date { Date() }
}
