public import Foundation

/// When a Jump Policy lets sessions start: weekly windows of wall-clock time in one time zone.
///
/// - An instant is inside the schedule when the wall clock in `timeZone` (weekday, hour, minute) is in
///   [start, end) of some entry. An entry whose end is not after its start in week order (Monday 00:00 first)
///   wraps past midnight and past the end of the week, Sunday into Monday; start equal to end is the whole week.
/// - A disabled schedule permits every instant; an enabled one with no entries permits none.
/// - The rule stays "wall-clock time" across daylight saving changes: both instants of a repeated hour get the
///   same answer, and wall-clock times inside a spring-forward gap never happen, so an entry that ends inside a
///   gap ends at the jump, and one that starts inside a gap starts at it.
public struct AccessSchedule: Codable, Hashable, Sendable {
    /// Each check walks every entry; 64 is several windows a day for a week, more than any rota needs.
    public static let maximumEntries = 64
    /// Every wall-clock time of the week recurs within 7 days of any instant; the extra day covers a week in
    /// which the clock is set back, plus the few hours a daylight-saving gap can hide.
    static let searchHorizon: TimeInterval = 8 * 24 * 3600
    /// A second horizon is searched only when a whole day was skipped (Samoa left out 30 December 2011) and hid
    /// the only change in the first one.
    static let searchHorizons = 2

    public var enabled: Bool
    /// An IANA identifier such as "America/New_York", looked up in the system's tz database.
    public var timeZone: String
    public var entries: [Entry]

    public struct Entry: Codable, Hashable, Sendable {
        public var start: WeekTime
        public var end: WeekTime

        public init(start: WeekTime, end: WeekTime) {
            self.start = start
            self.end = end
        }

        func contains(minuteOfWeek minute: Int) -> Bool {
            let start = start.minuteOfWeek
            let end = end.minuteOfWeek
            if start < end { return start <= minute && minute < end }
            return minute >= start || minute < end
        }
    }

    public init(enabled: Bool = true, timeZone: String, entries: [Entry]) {
        self.enabled = enabled
        self.timeZone = timeZone
        self.entries = entries
    }

    /// Whether a session may start at `instant`. A disabled schedule answers yes without consulting its entries
    /// or its time zone, so switching a schedule off never blocks sessions, even when the zone has gone away.
    public func permits(_ instant: Date, in db: TimeZoneDatabase) throws -> Bool {
        guard enabled else { return true }
        return permits(instant, in: try validatedZone(in: db))
    }

    /// The first instant strictly after `instant` at which `permits` answers differently, or nil when the answer
    /// never changes (disabled, no entries, or the whole week covered).
    ///
    /// The answer changes only where the wall clock reaches an entry's start or end, or where it jumps at a
    /// zone transition (a jump can pass over a boundary), so only those instants are tried, in time order.
    public func nextChange(after instant: Date, in db: TimeZoneDatabase) throws -> Date? {
        guard enabled else { return nil }
        let zone = try validatedZone(in: db)
        let current = permits(instant, in: zone)
        var searched = instant
        for _ in 0..<Self.searchHorizons {
            let horizon = searched + Self.searchHorizon
            let candidates = changeCandidates(after: searched, through: horizon, in: zone)
            if let change = candidates.first(where: { permits($0, in: zone) != current }) {
                return change
            }
            searched = horizon
        }
        return nil
    }

    /// The first instant at or after `start` at which the schedule does not permit a session to start: where a
    /// session started at `start` is closed when its policy forces an end. Nil when that never happens.
    public func windowEnd(containing start: Date, in db: TimeZoneDatabase) throws -> Date? {
        try permits(start, in: db) ? nextChange(after: start, in: db) : start
    }

    /// Checks the entries and that the time zone exists; throws `AccessScheduleError` or `TimeZoneError`.
    public func validate(in db: TimeZoneDatabase) throws {
        _ = try validatedZone(in: db)
    }

    private func validatedZone(in db: TimeZoneDatabase) throws -> TimeZoneDatabase.Zone {
        guard entries.count <= Self.maximumEntries else {
            throw AccessScheduleError(
                .tooManyEntries,
                "A schedule has at most \(Self.maximumEntries) entries; this one has \(entries.count)."
            )
        }
        for (index, entry) in entries.enumerated() {
            for (name, time) in [("start", entry.start), ("end", entry.end)] {
                guard (0...23).contains(time.hour) else {
                    throw AccessScheduleError(
                        .hourOutOfRange,
                        "Schedule entry \(index + 1) has \(name) hour \(time.hour); hours run from 0 to 23."
                    )
                }
                guard (0...59).contains(time.minute) else {
                    throw AccessScheduleError(
                        .minuteOutOfRange,
                        "Schedule entry \(index + 1) has \(name) minute \(time.minute); minutes run from 0 to 59."
                    )
                }
            }
        }
        return try db.zone(timeZone)
    }

    private func permits(_ instant: Date, in zone: TimeZoneDatabase.Zone) -> Bool {
        let local = zone.localTime(at: instant)
        let minute = WeekTime(day: local.weekday, hour: local.hour, minute: local.minute).minuteOfWeek
        return entries.contains { $0.contains(minuteOfWeek: minute) }
    }

    /// The instants in (start, end] where the wall clock shows an entry boundary, and the zone's transitions.
    private func changeCandidates(after start: Date, through end: Date, in zone: TimeZoneDatabase.Zone) -> [Date] {
        let boundaries = Set(entries.flatMap { [$0.start, $0.end] })
        var candidates = zone.transitions(from: start, to: end).map(\.instant)
        // A day either side: setting the clock back can show a wall-clock time from before `start`'s day.
        for dayNumber in zone.localTime(at: start).dayNumber - 1...zone.localTime(at: end).dayNumber + 1 {
            let midnight = LocalDateTime(dayNumber: dayNumber)
            for boundary in boundaries where boundary.day == midnight.weekday {
                var local = midnight
                local.hour = boundary.hour
                local.minute = boundary.minute
                candidates += zone.instants(for: local)
            }
        }
        return candidates.filter { $0 > start && $0 <= end }.sorted()
    }
}

/// A day and time of the week, to the minute.
public struct WeekTime: Codable, Hashable, Sendable {
    public var day: Weekday
    /// 0...23.
    public var hour: Int
    /// 0...59.
    public var minute: Int

    public init(day: Weekday, hour: Int, minute: Int = 0) {
        self.day = day
        self.hour = hour
        self.minute = minute
    }

    /// Minutes since Monday 00:00.
    var minuteOfWeek: Int {
        ((day.rawValue - 1) * 24 + hour) * 60 + minute
    }
}

/// Days of the week numbered as ISO 8601 does, Monday first.
public enum Weekday: Int, CaseIterable, Hashable, Sendable {
    case monday = 1
    case tuesday, wednesday, thursday, friday, saturday, sunday
}

/// Encoded by name ("monday"), so a stored schedule reads plainly and does not depend on a numbering convention.
extension Weekday: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let day = Self.allCases.first(where: { "\($0)" == name }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(name)\" is not a weekday")
        }
        self = day
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("\(self)")
    }
}

/// A schedule that cannot be stored or evaluated; the detail names the entry and the allowed range.
public struct AccessScheduleError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// More than `AccessSchedule.maximumEntries` entries.
        public static let tooManyEntries = Code(name: "too many entries")
        /// An hour outside 0...23.
        public static let hourOutOfRange = Code(name: "hour out of range")
        /// A minute outside 0...59.
        public static let minuteOutOfRange = Code(name: "minute out of range")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: AccessScheduleError, rhs: AccessScheduleError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
