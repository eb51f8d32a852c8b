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
        checkpoint(clock)
    }

    /// Counts the time since the last checkpoint as time without contact.
    public mutating func advance(_ clock: some LeaseClock) {
        let elapsed: Double
        if checkpointBootID == clock.bootID {
            elapsed = max(0, clock.sinceBoot - checkpointSinceBoot)
        } else if checkpointBootID.isEmpty {
            elapsed = 0  // never checked before: the count starts now
        } else {
            let gap = checkpointWall.map { clock.wall.timeIntervalSince($0) } ?? 0
            elapsed = max(gap, clock.sinceBoot, 0)
        }
        offlineSeconds += elapsed
        checkpoint(clock)
    }

    mutating func checkpoint(_ clock: some LeaseClock) {
        checkpointBootID = clock.bootID
        checkpointSinceBoot = clock.sinceBoot
        checkpointWall = clock.wall
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

    public init(root: String = "/") {
        self.root = URL(fileURLWithPath: root, isDirectory: true)
    }

    public var bootID: String {
        ((try? String(contentsOf: root.appendingPathComponent("proc/sys/kernel/random/boot_id"), encoding: .utf8)) ?? "")
            .trimmed()
    }

    /// /proc/uptime's first figure: CLOCK_BOOTTIME, to the hundredth of a second.
    public var sinceBoot: Double {
        let text = (try? String(contentsOf: root.appendingPathComponent("proc/uptime"), encoding: .utf8)) ?? ""
        return text.split(separator: " ").first.flatMap { Double($0) } ?? 0
    }

    public var wall: Date { Date() }
}
