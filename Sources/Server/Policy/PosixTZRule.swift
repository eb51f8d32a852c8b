/// The rule a TZif footer gives for every instant after the file's last transition: a POSIX TZ string
/// (POSIX.1-2017 section 8.3) with RFC 8536's extension that a change may happen at -167 to +167 hours.
///
/// Slim files end their tables at the last change of rules, so for them this rule answers every year since;
/// fat files end theirs in 2037. Examples: "CET-1CEST,M3.5.0,M10.5.0/3" (Berlin),
/// "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45" (Chatham).
struct PosixTZRule: Hashable, Sendable {
    var standard: LocalTimeType
    var daylight: Daylight?

    struct Daylight: Hashable, Sendable {
        var type: LocalTimeType
        /// Given in local standard time.
        var start: Boundary
        /// Given in local daylight time.
        var end: Boundary
    }

    struct Boundary: Hashable, Sendable {
        var day: Day
        /// Seconds after the local midnight that starts `day`; may be negative or more than a day.
        var time: Int
    }

    enum Day: Hashable, Sendable {
        /// `Jn`: day 1...365 where 29 February is never counted, so day 60 is always 1 March.
        case julian(Int)
        /// `n`: day 0...365 where 29 February is counted in leap years.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday `weekday` (0 is Sunday) of week `week` (1...5, where 5 means the last) of `month`.
        case monthWeek(month: Int, week: Int, weekday: Int)
    }

    /// A switch into (`toDaylight`) or out of daylight saving time, in seconds since 1970.
    struct Change: Hashable, Sendable {
        var instant: Int
        var toDaylight: Bool
    }

    /// POSIX leaves a missing time at 02:00.
    static let defaultChangeTime = 2 * 3600
    /// POSIX leaves a missing daylight offset at one hour ahead of standard time.
    static let defaultDaylightSaving = 3600

    init(_ text: String) throws {
        var scanner = TZStringScanner(bytes: Array(text.utf8))
        let standardName = try scanner.name()
        // POSIX offsets count hours west of Greenwich; everything else here counts seconds east.
        let standardOffset = -(try scanner.duration(maximumHours: 24))
        standard = LocalTimeType(offset: standardOffset, isDaylightSaving: false, abbreviation: standardName)
        guard !scanner.isAtEnd else {
            daylight = nil
            return
        }
        let daylightName = try scanner.name()
        var daylightOffset = standardOffset + Self.defaultDaylightSaving
        if scanner.next != UInt8(ascii: ",") {
            daylightOffset = -(try scanner.duration(maximumHours: 24))
        }
        // Without dates POSIX leaves the changes to the implementation; zic always writes them, so they are required.
        try scanner.expect(",")
        let start = try scanner.boundary()
        try scanner.expect(",")
        let end = try scanner.boundary()
        guard scanner.isAtEnd else { throw scanner.failure("text after the rule") }
        daylight = Daylight(
            type: LocalTimeType(offset: daylightOffset, isDaylightSaving: true, abbreviation: daylightName),
            start: start,
            end: end
        )
    }

    func localTimeType(at seconds: Int) -> LocalTimeType {
        guard let daylight else { return standard }
        let year = LocalDateTime(secondsSince1970: seconds + standard.offset).year
        // A change may be given up to 167 hours past its day, so the neighbouring years' changes count too.
        let latest = changes(in: year - 1...year + 1).last { $0.instant <= seconds }
        return latest?.toDaylight == true ? daylight.type : standard
    }

    /// The changes in these years, in time order. Where one year's end of daylight time meets the next year's
    /// start (daylight time all year, RFC 8536 section 3.3.1), the start comes second and so wins.
    func changes(in years: ClosedRange<Int>) -> [Change] {
        guard let daylight else { return [] }
        let inYearOrder = years.flatMap { year in
            [
                Change(instant: daylight.start.instant(in: year, offset: standard.offset), toDaylight: true),
                Change(instant: daylight.end.instant(in: year, offset: daylight.type.offset), toDaylight: false),
            ]
        }
        return inYearOrder.enumerated()
            .sorted { ($0.element.instant, $0.offset) < ($1.element.instant, $1.offset) }
            .map(\.element)
    }
}

extension PosixTZRule.Boundary {
    /// The instant of this boundary in `year`, given the offset of the local time it is stated in.
    func instant(in year: Int, offset: Int) -> Int {
        day.dayNumber(in: year) * CivilCalendar.secondsPerDay + time - offset
    }
}

extension PosixTZRule.Day {
    func dayNumber(in year: Int) -> Int {
        let january1 = CivilCalendar.dayNumber(year: year, month: 1, day: 1)
        switch self {
        case .julian(let day):
            return january1 + day - 1 + (day >= 60 && CivilCalendar.isLeapYear(year) ? 1 : 0)
        case .zeroBased(let day):
            return january1 + day
        case .monthWeek(let month, let week, let weekday):
            let first = CivilCalendar.dayNumber(year: year, month: month, day: 1)
            // 1970-01-01 was a Thursday, 4 counting from Sunday.
            let firstWeekday = CivilCalendar.floorModulo(first + 4, 7)
            let day = first + CivilCalendar.floorModulo(weekday - firstWeekday, 7) + 7 * (week - 1)
            return day < first + CivilCalendar.daysInMonth(month, of: year) ? day : day - 7
        }
    }
}

private struct TZStringScanner {
    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position == bytes.count }
    var next: UInt8? { isAtEnd ? nil : bytes[position] }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard next == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    mutating func expect(_ character: Unicode.Scalar) throws {
        guard skip(character) else { throw failure("expected \"\(character)\"") }
    }

    /// Either three or more letters, or `<...>` around letters, digits, "+" and "-".
    mutating func name() throws -> String {
        let quoted = skip("<")
        let start = position
        while let byte = next, Self.isLetter(byte) || (quoted && Self.isSignOrDigit(byte)) {
            position += 1
        }
        let name = String(decoding: bytes[start..<position], as: UTF8.self)
        if quoted { try expect(">") }
        guard name.utf8.count >= 3 else { throw failure("a zone abbreviation is shorter than three characters") }
        return name
    }

    /// `[+|-]hh[:mm[:ss]]` in seconds.
    mutating func duration(maximumHours: Int) throws -> Int {
        let sign = skip("-") ? -1 : 1
        if sign == 1 { _ = skip("+") }
        var seconds = try number(in: 0...maximumHours) * 3600
        if skip(":") {
            seconds += try number(in: 0...59) * 60
            if skip(":") { seconds += try number(in: 0...59) }
        }
        return sign * seconds
    }

    /// `Jn`, `n` or `Mm.w.d`, then an optional `/time`.
    mutating func boundary() throws -> PosixTZRule.Boundary {
        let day: PosixTZRule.Day
        if skip("J") {
            day = .julian(try number(in: 1...365))
        } else if skip("M") {
            let month = try number(in: 1...12)
            try expect(".")
            let week = try number(in: 1...5)
            try expect(".")
            day = .monthWeek(month: month, week: week, weekday: try number(in: 0...6))
        } else {
            day = .zeroBased(try number(in: 0...365))
        }
        let time = skip("/") ? try duration(maximumHours: 167) : PosixTZRule.defaultChangeTime
        return PosixTZRule.Boundary(day: day, time: time)
    }

    /// Decimal digits; at most three, which is all any field needs.
    mutating func number(in range: ClosedRange<Int>) throws -> Int {
        let start = position
        while let byte = next, Self.isDigit(byte), position - start < 3 {
            position += 1
        }
        let digits = bytes[start..<position]
        guard let value = Int(String(decoding: digits, as: UTF8.self)), range.contains(value) else {
            throw failure("a number is missing or outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func failure(_ problem: String) -> TZifFormatError {
        TZifFormatError(problem: "the footer \"\(String(decoding: bytes, as: UTF8.self))\": \(problem)")
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    static func isSignOrDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }
    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
