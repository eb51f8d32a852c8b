import Foundation
public import JumpProtocol

/// The Jump Client settings of the guide, with its ranges. Stored as text under the same keys that
/// `jumpctl settings` uses.
public struct SiteSettings: Hashable, Sendable {
    public enum Statistic: String, CaseIterable, Sendable {
        case cpu
        case consoleUser = "console-user"
        case disk
        case thumbnail
        case uptime

        var wire: WireStatistic {
            switch self {
            case .cpu: .cpu
            case .consoleUser: .consoleUser
            case .disk: .disk
            case .thumbnail: .thumbnail
            case .uptime: .uptime
            }
        }
    }

    public enum UpgradeMode: String, CaseIterable, Sendable {
        /// Permanently disable Jump Client upgrades.
        case disabled
        /// Enable upgrades for the current upgrade cycle only.
        case thisCycle = "this-cycle"
        /// Permanently enable Jump Client upgrades.
        case enabled
    }

    public enum UninstalledBehavior: String, CaseIterable, Sendable {
        /// Mark the Jump Client uninstalled and keep it in the list.
        case keep
        /// Remove it from the list.
        case remove
    }

    public var statistics: Set<Statistic> = Set(Statistic.allCases)
    public var statisticsInterval = 60
    public var upgradeMode = UpgradeMode.enabled
    public var upgradeMaxBandwidth = 10
    public var upgradeMaxConcurrent = 100
    public var connectionRate = 50
    public var lostDays = 30
    public var deleteDays = 180
    public var uninstalledBehavior = UninstalledBehavior.keep
    public var restrictLocalUninstall = false
    public var allowWake = true
    public var screenStatePresence = true
    public var simultaneousJumps = true
    /// Increases with every change; agents learn it in `SiteConfig.revision`.
    public var revision: UInt64 = 1

    public init() {}

    // MARK: Bounds (the guide's, where it gives them)

    public static let statisticsIntervalRange = 10...3600
    /// "The maximum upgrade bandwidth is 100MiB/s."
    public static let upgradeMaxBandwidthRange = 1...100
    /// "The maximum number allowed is 500."
    public static let upgradeMaxConcurrentRange = 1...500
    /// "The default is 50 connections and the maximum allowed is 300."
    public static let connectionRateRange = 1...300
    /// "The setting must be configured for 15 days or more."
    public static let minimumDays = 15
    public static let maximumDays = 3650

    /// The keys, in the order `jumpctl settings list` shows them.
    public static let keys = [
        "statistics", "statistics-interval", "upgrade-mode", "upgrade-max-bandwidth", "upgrade-max-concurrent",
        "connection-rate", "lost-days", "delete-days", "uninstalled-behavior", "restrict-local-uninstall",
        "allow-wake", "screen-state-presence", "simultaneous-jumps",
    ]

    /// What each key means, for `jumpctl settings list` and `--help`.
    public static let descriptions: [String: String] = [
        "statistics": "statistics agents report: a comma list of cpu, console-user, disk, thumbnail, uptime",
        "statistics-interval": "seconds between statistics reports (\(statisticsIntervalRange.lowerBound) to \(statisticsIntervalRange.upperBound))",
        "upgrade-mode": "Jump Client upgrades: disabled, this-cycle or enabled",
        "upgrade-max-bandwidth": "MiB/s all concurrent upgrades may use together (1 to 100)",
        "upgrade-max-concurrent": "Jump Clients upgrading at once (1 to 500)",
        "connection-rate": "new agent connections admitted per second (1 to 300)",
        "lost-days": "days without contact before a Jump Client is shown as lost (15 or more)",
        "delete-days": "days without contact before a Jump Client is deleted and uninstalls itself (15 or more)",
        "uninstalled-behavior": "a Jump Client uninstalled by its end user is kept (marked uninstalled) or removed",
        "restrict-local-uninstall": "only root may uninstall or disable a Jump Client on the endpoint",
        "allow-wake": "representatives may wake Jump Clients through Wake-on-LAN",
        "screen-state-presence": "customer presence also needs an unlocked screen without a screen saver",
        "simultaneous-jumps": "several representatives may jump to one Jump Client at once",
    ]

    // MARK: Text form

    public func value(of key: String) throws(SettingError) -> String {
        switch key {
        case "statistics": Statistic.allCases.filter(statistics.contains).map(\.rawValue).joined(separator: ",")
        case "statistics-interval": String(statisticsInterval)
        case "upgrade-mode": upgradeMode.rawValue
        case "upgrade-max-bandwidth": String(upgradeMaxBandwidth)
        case "upgrade-max-concurrent": String(upgradeMaxConcurrent)
        case "connection-rate": String(connectionRate)
        case "lost-days": String(lostDays)
        case "delete-days": String(deleteDays)
        case "uninstalled-behavior": uninstalledBehavior.rawValue
        case "restrict-local-uninstall": String(restrictLocalUninstall)
        case "allow-wake": String(allowWake)
        case "screen-state-presence": String(screenStatePresence)
        case "simultaneous-jumps": String(simultaneousJumps)
        default: throw SettingError.unknownKey(key)
        }
    }

    /// Every key and its text value.
    public var values: [String: String] {
        var values: [String: String] = [:]
        for key in Self.keys { values[key] = try! value(of: key) }
        return values
    }

    /// Sets `key` from its text form after checking it against the guide's range. Returns warnings
    /// that do not stop the change (e.g. lost days not below deletion days).
    @discardableResult
    public mutating func set(_ key: String, to text: String) throws(SettingError) -> [String] {
        let value = text.trimmingCharacters(in: .whitespaces)
        switch key {
        case "statistics":
            var chosen = Set<Statistic>()
            for name in value.split(separator: ",", omittingEmptySubsequences: true) {
                let name = name.trimmingCharacters(in: .whitespaces)
                guard let statistic = Statistic(rawValue: name) else {
                    throw SettingError.invalid(
                        key,
                        "'\(name)' is not a statistic; choose from \(Statistic.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                chosen.insert(statistic)
            }
            statistics = chosen
        case "statistics-interval":
            statisticsInterval = try Self.integer(key, value, in: Self.statisticsIntervalRange, unit: "seconds")
        case "upgrade-mode":
            upgradeMode = try Self.choice(key, value)
        case "upgrade-max-bandwidth":
            upgradeMaxBandwidth = try Self.integer(key, value, in: Self.upgradeMaxBandwidthRange, unit: "MiB/s")
        case "upgrade-max-concurrent":
            upgradeMaxConcurrent = try Self.integer(key, value, in: Self.upgradeMaxConcurrentRange, unit: "Jump Clients")
        case "connection-rate":
            connectionRate = try Self.integer(key, value, in: Self.connectionRateRange, unit: "connections per second")
        case "lost-days":
            lostDays = try Self.integer(key, value, in: Self.minimumDays...Self.maximumDays, unit: "days")
        case "delete-days":
            deleteDays = try Self.integer(key, value, in: Self.minimumDays...Self.maximumDays, unit: "days")
        case "uninstalled-behavior":
            uninstalledBehavior = try Self.choice(key, value)
        case "restrict-local-uninstall":
            restrictLocalUninstall = try Self.boolean(key, value)
        case "allow-wake":
            allowWake = try Self.boolean(key, value)
        case "screen-state-presence":
            screenStatePresence = try Self.boolean(key, value)
        case "simultaneous-jumps":
            simultaneousJumps = try Self.boolean(key, value)
        default:
            throw SettingError.unknownKey(key)
        }
        return warnings
    }

    /// Advice about the combination of settings.
    public var warnings: [String] {
        lostDays >= deleteDays
            ? [
                "lost-days (\(lostDays)) is not below delete-days (\(deleteDays)): Jump Clients are deleted before they are ever shown as lost"
            ] : []
    }

    /// Reads stored values; unknown keys and values that no longer validate keep their defaults.
    public init(stored: [String: String]) {
        self.init()
        for key in Self.keys {
            if let value = stored[key] { _ = try? set(key, to: value) }
        }
        if let revision = stored["revision"].flatMap(UInt64.init) { self.revision = revision }
    }

    /// The part of the settings every agent keeps.
    public var siteConfig: WireSiteConfig {
        var config = WireSiteConfig()
        config.revision = revision
        config.statistics = Statistic.allCases.filter(statistics.contains).map(\.wire)
        config.statisticsIntervalSeconds = UInt32(statisticsInterval)
        config.deleteAfterDays = UInt32(deleteDays)
        config.restrictLocalUninstall = restrictLocalUninstall
        config.screenStatePresence = screenStatePresence
        return config
    }

    // MARK: Parsing

    private static func integer(_ key: String, _ text: String, in range: ClosedRange<Int>, unit: String) throws(SettingError) -> Int {
        guard let number = Int(text) else {
            throw SettingError.invalid(key, "'\(text)' is not a whole number of \(unit)")
        }
        guard range.contains(number) else {
            throw SettingError.invalid(
                key,
                "\(number) is out of range: \(key) must be from \(range.lowerBound) to \(range.upperBound) \(unit)"
            )
        }
        return number
    }

    private static func boolean(_ key: String, _ text: String) throws(SettingError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw SettingError.invalid(key, "'\(text)' is not true or false")
        }
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ text: String) throws(SettingError) -> T
    where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw SettingError.invalid(
                key,
                "'\(text)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return value
    }
}

/// A setting that cannot be changed as asked.
public enum SettingError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownKey(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .unknownKey(let key):
            "'\(key)' is not a setting; the settings are: \(SiteSettings.keys.joined(separator: ", "))"
        case .invalid(let key, let why):
            "\(key): \(why)"
        }
    }
}
