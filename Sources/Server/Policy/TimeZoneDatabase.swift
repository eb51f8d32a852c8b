public import Foundation
import Synchronization

/// The IANA time zone database as the operating system ships it, read from its TZif files (RFC 8536).
///
/// Foundation's `TimeZone` is not used: on Linux it answers from ICU's own copy of the rules, which can lag
/// behind the system's tzdata package that administrators update and that every other program on the machine
/// follows. Parsed zones are cached inside the value (copies share the cache), so a schedule can be asked
/// about many instants without reading its file again; only zones that loaded are cached, so the cache
/// holds at most one entry per file under `root`.
public struct TimeZoneDatabase: Sendable {
    /// The longest IANA name is about 30 characters; a longer string is not a zone name and is refused unread.
    public static let maximumIdentifierLength = 64
    /// Real TZif files are a few kilobytes; the cap keeps a stray large file out of memory.
    public static let maximumFileSize = 256 * 1024

    public let root: URL
    private let cache = ZoneCache()

    public init(root: URL = URL(filePath: "/usr/share/zoneinfo")) {
        self.root = root
    }

    /// The zone named by an IANA identifier such as "Europe/Berlin"; throws `TimeZoneError`.
    public func zone(_ identifier: String) throws -> Zone {
        if let zone = cache.zones.withLock({ $0[identifier] }) {
            return zone
        }
        try Self.validate(identifier)
        let zone = try Zone(identifier: identifier, tzif: read(identifier))
        cache.zones.withLock { $0[identifier] = zone }
        return zone
    }

    /// Plain IANA names only, so that an identifier from a stored policy can never reach outside `root`.
    static func validate(_ identifier: String) throws {
        guard identifier.utf8.count <= maximumIdentifierLength else {
            throw TimeZoneError(
                .invalidIdentifier,
                "A time zone name has at most \(maximumIdentifierLength) characters."
            )
        }
        let allowed = identifier.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_+-/".contains($0)) }
        let components = identifier.split(separator: "/", omittingEmptySubsequences: false)
        guard allowed, !components.contains(where: \.isEmpty) else {
            throw TimeZoneError(
                .invalidIdentifier,
                "\"\(identifier)\" is not a time zone name; use an IANA name such as Europe/Berlin."
            )
        }
    }

    private func read(_ identifier: String) throws -> [UInt8] {
        let url = root.appending(path: identifier)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path(percentEncoded: false), isDirectory: &isDirectory),
            !isDirectory.boolValue
        else {
            throw TimeZoneError(
                .unknownZone,
                "There is no time zone \"\(identifier)\" in \(root.path(percentEncoded: false)); "
                    + "use an IANA name such as Europe/Berlin, or update the tzdata package."
            )
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: Self.maximumFileSize + 1) ?? Data()
        } catch {
            throw TimeZoneError(.unreadableFile, "The time zone file for \"\(identifier)\" could not be read: \(error)")
        }
        guard data.count <= Self.maximumFileSize else {
            throw TimeZoneError(
                .malformedFile,
                "The time zone file for \"\(identifier)\" is too large to be a TZif file."
            )
        }
        return [UInt8](data)
    }
}

private final class ZoneCache: Sendable {
    let zones = Mutex<[String: TimeZoneDatabase.Zone]>([:])
}

/// A problem finding or reading a zone; the detail names the zone and what to do.
public struct TimeZoneError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// Not a plain IANA name (characters other than letters, digits, "_", "+", "-" and "/", or an empty part).
        public static let invalidIdentifier = Code(name: "invalid identifier")
        /// A well-formed name with no file under the database root.
        public static let unknownZone = Code(name: "unknown zone")
        /// The file exists but could not be read.
        public static let unreadableFile = Code(name: "unreadable file")
        /// The file is not a TZif file this reader understands (RFC 8536).
        public static let malformedFile = Code(name: "malformed file")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: TimeZoneError, rhs: TimeZoneError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

// MARK: - Zone

extension TimeZoneDatabase {
    /// One zone's rules: the transition table of its TZif file, then the footer's rule for the years after it.
    public struct Zone: Hashable, Sendable {
        public let identifier: String
        /// Seconds since 1970, ascending; `transitionTypes[i]` is in effect from `transitionTimes[i]`.
        let transitionTimes: [Int]
        let transitionTypes: [LocalTimeType]
        /// In effect before the first transition (RFC 8536 section 3.2: time type 0).
        let initialType: LocalTimeType
        /// In effect from the last transition on; nil when the file has no footer.
        let footer: PosixTZRule?

        /// A change of UTC offset: the wall clock jumps by `offsetAfter - offsetBefore` seconds at `instant`.
        public struct Transition: Codable, Hashable, Sendable {
            public var instant: Date
            public var offsetBefore: Int
            public var offsetAfter: Int
        }

        /// Seconds east of UTC.
        public func offset(at instant: Date) -> Int {
            localTimeType(at: Self.seconds(instant)).offset
        }

        public func isDaylightSaving(at instant: Date) -> Bool {
            localTimeType(at: Self.seconds(instant)).isDaylightSaving
        }

        public func abbreviation(at instant: Date) -> String {
            localTimeType(at: Self.seconds(instant)).abbreviation
        }

        /// The wall clock in this zone at `instant` (fractions of a second are dropped).
        public func localTime(at instant: Date) -> LocalDateTime {
            let seconds = Self.seconds(instant)
            return LocalDateTime(secondsSince1970: seconds + localTimeType(at: seconds).offset)
        }

        /// Every instant at which the wall clock shows `local`, earliest first: none in a gap where the clock
        /// jumps forward, two in an hour that repeats when it falls back, otherwise one.
        public func instants(for local: LocalDateTime) -> [Date] {
            let wall = local.secondsSince1970
            // An instant showing `wall` lies within one offset of it, and offsets stay within this bound.
            let reach = 26 * 3600
            let offsets = Set(
                [localTimeType(at: wall - reach).offset]
                    + changes(after: wall - reach, through: wall + reach).map { localTimeType(at: $0).offset }
            )
            return offsets.map { wall - $0 }
                .filter { localTimeType(at: $0).offset == wall - $0 }
                .sorted()
                .map { Date(timeIntervalSince1970: TimeInterval($0)) }
        }

        /// The changes of UTC offset after `start`, up to and including `end`, including those the footer's
        /// rule makes for years past the table. A change exactly at `start` is already in effect there, so it
        /// is not reported; consecutive ranges thus report each change once.
        public func transitions(from start: Date, to end: Date) -> [Transition] {
            changes(after: Self.seconds(start), through: Self.seconds(end)).map { instant in
                Transition(
                    instant: Date(timeIntervalSince1970: TimeInterval(instant)),
                    offsetBefore: localTimeType(at: instant - 1).offset,
                    offsetAfter: localTimeType(at: instant).offset
                )
            }
        }

        func localTimeType(at seconds: Int) -> LocalTimeType {
            if let footer, seconds >= transitionTimes.last ?? .min {
                return footer.localTimeType(at: seconds)
            }
            // Binary search for the number of transitions at or before `seconds`.
            var low = 0
            var high = transitionTimes.count
            while low < high {
                let middle = (low + high) / 2
                if transitionTimes[middle] <= seconds { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? initialType : transitionTypes[low - 1]
        }

        /// Instants in (start, end] where the offset changes. Table entries that change only the abbreviation
        /// or the DST flag, and footer rules that change nothing, are left out.
        func changes(after start: Int, through end: Int) -> [Int] {
            guard start < end else { return [] }
            var candidates = transitionTimes.filter { $0 > start && $0 <= end }
            let footerStart = max(start, transitionTimes.last ?? start)
            if let footer, footerStart < end {
                // A year either side: a rule may put a change up to 167 hours past its day, into the next year.
                let firstYear = LocalDateTime(secondsSince1970: footerStart).year - 1
                let lastYear = LocalDateTime(secondsSince1970: end).year + 1
                candidates += footer.changes(in: firstYear...lastYear).map(\.instant).filter {
                    $0 > footerStart && $0 <= end
                }
            }
            return candidates.filter { localTimeType(at: $0 - 1).offset != localTimeType(at: $0).offset }
        }

        /// Whole seconds since 1970, rounded down so that a fraction of a second belongs to the second it is in.
        static func seconds(_ instant: Date) -> Int {
            Int(instant.timeIntervalSince1970.rounded(.down))
        }
    }
}

/// What a wall clock shows in one period of a zone's history.
struct LocalTimeType: Hashable, Sendable {
    /// Seconds east of UTC.
    var offset: Int
    var isDaylightSaving: Bool
    var abbreviation: String
}

// MARK: - TZif

extension TimeZoneDatabase.Zone {
    /// RFC 8536 allows offsets from -25:59:59 to +25:59:59.
    static let offsetLimit = 26 * 3600

    /// Parses a TZif file: version 1 files from their 32-bit block; version 2 and later from the 64-bit block
    /// and the footer, skipping the version 1 block that precedes them.
    init(identifier: String, tzif bytes: [UInt8]) throws {
        do {
            var reader = TZifReader(bytes: bytes)
            var header = try reader.header()
            if header.version == 0 {
                (transitionTimes, transitionTypes, initialType) = try reader.block(header, timeSize: 4)
                footer = nil
            } else {
                try reader.skip(header.blockLength(timeSize: 4))
                header = try reader.header()
                (transitionTimes, transitionTypes, initialType) = try reader.block(header, timeSize: 8)
                let text = try reader.footer()
                footer = text.isEmpty ? nil : try PosixTZRule(text)
            }
            self.identifier = identifier
        } catch let error as TZifFormatError {
            throw TimeZoneError(
                .malformedFile,
                "The time zone file for \"\(identifier)\" is not a valid TZif file (\(error.problem)); "
                    + "reinstall the tzdata package."
            )
        }
    }
}

struct TZifFormatError: Error {
    var problem: String
}

private struct TZifReader {
    struct Header {
        var version: UInt8
        var isUTCCount, isStandardCount, leapCount, timeCount, typeCount, characterCount: Int

        func blockLength(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + characterCount + leapCount * (timeSize + 4)
                + isStandardCount + isUTCCount
        }
    }

    let bytes: [UInt8]
    var position = 0

    mutating func skip(_ count: Int) throws {
        _ = try take(count)
    }

    mutating func byte() throws -> UInt8 {
        let slice = try take(1)
        return slice[slice.startIndex]
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count <= bytes.count - position else { throw TZifFormatError(problem: "it ends early") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// A big-endian two's-complement integer of 4 or 8 bytes.
    mutating func integer(size: Int) throws -> Int {
        let raw = try take(size).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return size == 8 ? Int(Int64(bitPattern: raw)) : Int(Int32(truncatingIfNeeded: raw))
    }

    mutating func header() throws -> Header {
        guard try take(4).elementsEqual("TZif".utf8) else { throw TZifFormatError(problem: "no TZif magic") }
        let version = try byte()
        guard version == 0 || version >= UInt8(ascii: "2") else {
            throw TZifFormatError(problem: "an unknown version")
        }
        try skip(15)
        var counts: [Int] = []
        for _ in 0..<6 {
            counts.append(Int(UInt32(truncatingIfNeeded: try integer(size: 4))))
        }
        let header = Header(
            version: version,
            isUTCCount: counts[0],
            isStandardCount: counts[1],
            leapCount: counts[2],
            timeCount: counts[3],
            typeCount: counts[4],
            characterCount: counts[5]
        )
        guard header.typeCount > 0, header.characterCount > 0 else {
            throw TZifFormatError(problem: "no local time types")
        }
        // Leap-second ("right/") files count seconds differently from Date; no policy needs them.
        guard header.leapCount == 0 else { throw TZifFormatError(problem: "leap-second files are not supported") }
        return header
    }

    mutating func block(
        _ header: Header,
        timeSize: Int
    ) throws -> (times: [Int], types: [LocalTimeType], initial: LocalTimeType) {
        var times: [Int] = []
        for _ in 0..<header.timeCount {
            let time = try integer(size: timeSize)
            guard time > times.last ?? .min else { throw TZifFormatError(problem: "transitions out of order") }
            times.append(time)
        }
        let indices = try take(header.timeCount)
        var records: [(offset: Int, isDaylightSaving: UInt8, designation: Int)] = []
        for _ in 0..<header.typeCount {
            records.append((try integer(size: 4), try byte(), Int(try byte())))
        }
        let designations = try take(header.characterCount)
        try skip(header.isStandardCount + header.isUTCCount)

        var types: [LocalTimeType] = []
        for record in records {
            guard abs(record.offset) < TimeZoneDatabase.Zone.offsetLimit, record.isDaylightSaving <= 1,
                record.designation < header.characterCount
            else { throw TZifFormatError(problem: "a local time type is out of range") }
            let abbreviation = designations.dropFirst(record.designation).prefix { $0 != 0 }
            types.append(
                LocalTimeType(
                    offset: record.offset,
                    isDaylightSaving: record.isDaylightSaving == 1,
                    abbreviation: String(decoding: abbreviation, as: UTF8.self)
                )
            )
        }
        guard indices.allSatisfy({ Int($0) < types.count }) else {
            throw TZifFormatError(problem: "a transition names a missing local time type")
        }
        return (times, indices.map { types[Int($0)] }, types[0])
    }

    /// The TZ string between the two newlines that end a version 2+ file.
    mutating func footer() throws -> String {
        guard try take(1).first == UInt8(ascii: "\n"),
            let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n"))
        else { throw TZifFormatError(problem: "no footer") }
        let text = try take(end - position)
        guard text.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw TZifFormatError(problem: "the footer is not printable ASCII")
        }
        return String(decoding: text, as: UTF8.self)
    }
}

// MARK: - Wall-clock time

/// A reading of a wall clock in the proleptic Gregorian calendar, with no zone attached.
///
/// Fields outside their usual ranges carry over (the 32nd of January is the 1st of February, minute 60 is the
/// next hour), so callers can do arithmetic on fields without normalising first.
public struct LocalDateTime: Codable, Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The start of a day counted from 1970-01-01.
    init(dayNumber: Int) {
        self.init(secondsSince1970: dayNumber * CivilCalendar.secondsPerDay)
    }

    /// The reading of a clock that shows UTC (or any zone, with the offset already added).
    init(secondsSince1970 seconds: Int) {
        let dayNumber = CivilCalendar.floorDivide(seconds, CivilCalendar.secondsPerDay)
        let secondOfDay = seconds - dayNumber * CivilCalendar.secondsPerDay
        let date = CivilCalendar.date(dayNumber: dayNumber)
        self.init(
            year: date.year,
            month: date.month,
            day: date.day,
            hour: secondOfDay / 3600,
            minute: secondOfDay / 60 % 60,
            second: secondOfDay % 60
        )
    }

    public var weekday: Weekday {
        // 1970-01-01 was a Thursday, index 3 counting from Monday.
        Weekday.allCases[CivilCalendar.floorModulo(dayNumber + 3, 7)]
    }

    /// Days from 1970-01-01 to this date.
    var dayNumber: Int {
        let monthsSinceYearStart = month - 1
        let year = year + CivilCalendar.floorDivide(monthsSinceYearStart, 12)
        let month = CivilCalendar.floorModulo(monthsSinceYearStart, 12) + 1
        return CivilCalendar.dayNumber(year: year, month: month, day: 1) + day - 1
    }

    /// The same arithmetic as `Date` does for UTC, so a zone's offset can be added or subtracted.
    var secondsSince1970: Int {
        dayNumber * CivilCalendar.secondsPerDay + hour * 3600 + minute * 60 + second
    }

    /// ISO 8601 without a zone, e.g. "2026-03-08T02:30:00".
    public var description: String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
            + "T\(padded(hour, 2)):\(padded(minute, 2)):\(padded(second, 2))"
    }
}

/// Day arithmetic in the proleptic Gregorian calendar, on day numbers counted from 1970-01-01.
enum CivilCalendar {
    static let secondsPerDay = 86_400
    /// Days from 0001-01-01 to 1970-01-01.
    private static let daysBefore1970 = 719_162
    private static let daysPerMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    private static let cumulativeDaysBeforeMonth = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(_ month: Int, of year: Int) -> Int {
        month == 2 && isLeapYear(year) ? 29 : daysPerMonth[month - 1]
    }

    /// `month` is 1...12; `day` may run past the month.
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let yearsBefore = year - 1
        let leapDaysBefore = floorDivide(yearsBefore, 4) - floorDivide(yearsBefore, 100) + floorDivide(yearsBefore, 400)
        let leapDayThisYear = month > 2 && isLeapYear(year) ? 1 : 0
        return 365 * yearsBefore + leapDaysBefore - daysBefore1970 + cumulativeDaysBeforeMonth[month - 1]
            + leapDayThisYear + day - 1
    }

    static func date(dayNumber: Int) -> (year: Int, month: Int, day: Int) {
        // Estimate from the 400-year cycle's 146,097 days, then correct by at most a year either way.
        var year = 1970 + floorDivide(dayNumber * 400, 146_097)
        while dayNumber < self.dayNumber(year: year, month: 1, day: 1) { year -= 1 }
        while dayNumber >= self.dayNumber(year: year + 1, month: 1, day: 1) { year += 1 }
        var dayOfYear = dayNumber - self.dayNumber(year: year, month: 1, day: 1)
        var month = 1
        while dayOfYear >= daysInMonth(month, of: year) {
            dayOfYear -= daysInMonth(month, of: year)
            month += 1
        }
        return (year, month, dayOfYear + 1)
    }

    /// Division that rounds towards minus infinity (for a positive denominator), so days before 1970 work too.
    static func floorDivide(_ numerator: Int, _ denominator: Int) -> Int {
        let quotient = numerator / denominator
        return numerator % denominator < 0 ? quotient - 1 : quotient
    }

    static func floorModulo(_ numerator: Int, _ denominator: Int) -> Int {
        numerator - floorDivide(numerator, denominator) * denominator
    }
}
