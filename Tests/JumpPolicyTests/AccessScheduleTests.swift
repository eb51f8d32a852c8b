import Foundation
import JumpPolicy
import Testing

@Suite struct AccessScheduleTests {
    static func entry(_ start: WeekTime, _ end: WeekTime) -> AccessSchedule.Entry {
        AccessSchedule.Entry(start: start, end: end)
    }

    static func schedule(_ timeZone: String, _ entries: AccessSchedule.Entry...) -> AccessSchedule {
        AccessSchedule(timeZone: timeZone, entries: entries)
    }

    /// The guide's "start at 8 PM and end at 5 PM": Monday evening to Tuesday afternoon.
    static let eightToFive = schedule(
        "America/New_York",
        entry(WeekTime(day: .monday, hour: 20), WeekTime(day: .tuesday, hour: 17))
    )
    /// Sunday night into Monday morning: the entry wraps past the end of the week.
    static let sundayNight = schedule(
        "Europe/Berlin",
        entry(WeekTime(day: .sunday, hour: 22), WeekTime(day: .monday, hour: 6))
    )
    /// Ends at 02:30, inside New York's spring-forward gap on 8 March 2026.
    static let endsInGap = schedule(
        "America/New_York",
        entry(WeekTime(day: .sunday, hour: 0), WeekTime(day: .sunday, hour: 2, minute: 30))
    )
    /// Starts at 02:30, inside the same gap.
    static let startsInGap = schedule(
        "America/New_York",
        entry(WeekTime(day: .sunday, hour: 2, minute: 30), WeekTime(day: .sunday, hour: 4))
    )
    /// 01:00-01:30 on Sunday, which happens twice in New York on 1 November 2026.
    static let repeatedHour = schedule(
        "America/New_York",
        entry(WeekTime(day: .sunday, hour: 1), WeekTime(day: .sunday, hour: 1, minute: 30))
    )
    /// 02:00-03:00 on Sunday, the hour Berlin skips on 29 March 2026.
    static let wholeGap = schedule(
        "Europe/Berlin",
        entry(WeekTime(day: .sunday, hour: 2), WeekTime(day: .sunday, hour: 3))
    )
    static let chathamOffice = schedule(
        "Pacific/Chatham",
        entry(WeekTime(day: .monday, hour: 9), WeekTime(day: .monday, hour: 17))
    )
    static let kolkataOffice = schedule(
        "Asia/Kolkata",
        entry(WeekTime(day: .monday, hour: 9), WeekTime(day: .monday, hour: 17, minute: 30))
    )
    static let leapTuesday = schedule(
        "Europe/Berlin",
        entry(WeekTime(day: .tuesday, hour: 0), WeekTime(day: .wednesday, hour: 0))
    )
    /// Sunday early morning in Sydney, where the clock falls back at 03:00 on 5 April 2026.
    static let sydneySunday = schedule(
        "Australia/Sydney",
        entry(WeekTime(day: .sunday, hour: 2, minute: 30), WeekTime(day: .sunday, hour: 5))
    )
    /// Fridays in Samoa, which left out Friday 30 December 2011 when it crossed the date line.
    static let samoaFriday = schedule(
        "Pacific/Apia",
        entry(WeekTime(day: .friday, hour: 0), WeekTime(day: .saturday, hour: 0))
    )
    static let wholeWeek = schedule(
        "Europe/Berlin",
        entry(WeekTime(day: .wednesday, hour: 12), WeekTime(day: .wednesday, hour: 12))
    )
    static let twoHalves = schedule(
        "Europe/Berlin",
        entry(WeekTime(day: .monday, hour: 0), WeekTime(day: .thursday, hour: 12)),
        entry(WeekTime(day: .thursday, hour: 12), WeekTime(day: .monday, hour: 0))
    )
    static let empty = AccessSchedule(timeZone: "Europe/Berlin", entries: [])

    /// (case, schedule, instant, permits, next change). Hand-checked against `zdump -v` for the zones' offsets.
    static let cases: [(String, AccessSchedule, String, Bool, String?)] = [
        ("8 PM-5 PM: Monday before 8 PM", eightToFive, "2026-03-09T23:59:00Z", false, "2026-03-10T00:00:00Z"),
        ("8 PM-5 PM: Monday 8 PM", eightToFive, "2026-03-10T00:00:00Z", true, "2026-03-10T21:00:00Z"),
        ("8 PM-5 PM: Tuesday 4:59 PM", eightToFive, "2026-03-10T20:59:59Z", true, "2026-03-10T21:00:00Z"),
        ("8 PM-5 PM: Tuesday 5 PM", eightToFive, "2026-03-10T21:00:00Z", false, "2026-03-17T00:00:00Z"),
        // 2 November 2026 is the first Monday after New York falls back: 8 PM is 01:00Z.
        ("8 PM-5 PM: after fall-back", eightToFive, "2026-11-01T12:00:00Z", false, "2026-11-03T01:00:00Z"),
        ("Sunday-Monday: Sunday evening", sundayNight, "2026-06-07T19:59:00Z", false, "2026-06-07T20:00:00Z"),
        ("Sunday-Monday: Sunday 23:00", sundayNight, "2026-06-07T21:00:00Z", true, "2026-06-08T04:00:00Z"),
        ("Sunday-Monday: Monday 05:59", sundayNight, "2026-06-08T03:59:59Z", true, "2026-06-08T04:00:00Z"),
        ("Sunday-Monday: Monday 06:00", sundayNight, "2026-06-08T04:00:00Z", false, "2026-06-14T20:00:00Z"),
        // The clock jumps from 01:59:59 EST to 03:00 EDT, past 02:30: the entry ends at the jump.
        ("ends in gap: that night", endsInGap, "2026-03-08T05:30:00Z", true, "2026-03-08T07:00:00Z"),
        ("ends in gap: a week later", endsInGap, "2026-03-15T05:30:00Z", true, "2026-03-15T06:30:00Z"),
        ("ends in gap: in 2090", endsInGap, "2090-03-12T05:30:00Z", true, "2090-03-12T07:00:00Z"),
        ("starts in gap: begins at the jump", startsInGap, "2026-03-08T06:00:00Z", false, "2026-03-08T07:00:00Z"),
        ("starts in gap: 03:00 EDT", startsInGap, "2026-03-08T07:00:00Z", true, "2026-03-08T08:00:00Z"),
        // 01:15 happens at 05:15Z (EDT) and 06:15Z (EST); both are inside.
        ("repeated hour: first 01:15", repeatedHour, "2026-11-01T05:15:00Z", true, "2026-11-01T05:30:00Z"),
        ("repeated hour: first 01:45", repeatedHour, "2026-11-01T05:45:00Z", false, "2026-11-01T06:00:00Z"),
        ("repeated hour: second 01:15", repeatedHour, "2026-11-01T06:15:00Z", true, "2026-11-01T06:30:00Z"),
        ("repeated hour: after", repeatedHour, "2026-11-01T06:30:00Z", false, "2026-11-08T06:00:00Z"),
        // Berlin skips 02:00-03:00 on 29 March 2026, so the window next opens on 5 April (02:00 CEST).
        ("window inside a gap", wholeGap, "2026-03-28T12:00:00Z", false, "2026-04-05T00:00:00Z"),
        // At 03:00 AEDT the clock falls back to 02:00 AEST, outside the entry until 02:30 comes round again.
        ("Sydney falls back: first 02:30", sydneySunday, "2026-04-04T15:30:00Z", true, "2026-04-04T16:00:00Z"),
        ("Sydney falls back: second 02:00", sydneySunday, "2026-04-04T16:00:00Z", false, "2026-04-04T16:30:00Z"),
        ("Sydney falls back: second 02:30", sydneySunday, "2026-04-04T16:30:00Z", true, "2026-04-04T19:00:00Z"),
        ("Sydney springs forward", sydneySunday, "2026-10-03T12:00:00Z", false, "2026-10-03T16:00:00Z"),
        ("Chatham +12:45: Monday 09:00", chathamOffice, "2026-05-31T20:14:59Z", false, "2026-05-31T20:15:00Z"),
        ("Chatham +13:45: Monday 17:00", chathamOffice, "2027-01-04T00:00:00Z", true, "2027-01-04T03:15:00Z"),
        ("Kolkata +05:30", kolkataOffice, "2026-06-01T03:30:00Z", true, "2026-06-01T12:00:00Z"),
        ("leap day: Tuesday 29 February", leapTuesday, "2028-02-29T12:00:00Z", true, "2028-02-29T23:00:00Z"),
        ("leap day: Wednesday 1 March", leapTuesday, "2028-02-29T23:00:00Z", false, "2028-03-06T23:00:00Z"),
        // From Monday 26 December 2011 the next Friday that happens is 6 January 2012 (+14), past one horizon.
        ("a skipped day hides the window", samoaFriday, "2011-12-26T22:00:00Z", false, "2012-01-05T10:00:00Z"),
        ("start equal to end: whole week", wholeWeek, "2026-03-29T01:00:00Z", true, nil),
        ("two entries covering the week", twoHalves, "2026-03-29T01:00:00Z", true, nil),
        ("enabled with no entries", empty, "2026-03-29T01:00:00Z", false, nil),
    ]

    @Test(arguments: cases)
    func permitsAndNextChange(
        name: String,
        schedule: AccessSchedule,
        instant: String,
        permits: Bool,
        next: String?
    ) throws {
        let instant = ZoneFixtures.utc(instant)
        #expect(try schedule.permits(instant, in: ZoneFixtures.db) == permits)
        #expect(try schedule.nextChange(after: instant, in: ZoneFixtures.db) == next.map(ZoneFixtures.utc))
    }

    @Test func aRepeatedHourGetsTheSameAnswerTwice() throws {
        for minutes in stride(from: 0, to: 60, by: 5) {
            let first = ZoneFixtures.utc("2026-11-01T05:00:00Z") + TimeInterval(minutes * 60)
            #expect(try Self.repeatedHour.permits(first, in: ZoneFixtures.db) == (minutes < 30))
            #expect(try Self.repeatedHour.permits(first + 3600, in: ZoneFixtures.db) == (minutes < 30))
        }
    }

    @Test func aDisabledSchedulePermitsEverythingAndNeverChanges() throws {
        var schedule = Self.empty
        schedule.enabled = false
        // Not even the time zone is consulted.
        schedule.timeZone = "Mars/Olympus_Mons"
        let instant = ZoneFixtures.utc("2026-03-08T07:00:00Z")
        #expect(try schedule.permits(instant, in: ZoneFixtures.db))
        #expect(try schedule.nextChange(after: instant, in: ZoneFixtures.db) == nil)
        #expect(try schedule.windowEnd(containing: instant, in: ZoneFixtures.db) == nil)
    }

    @Test func theWindowEndIsWhereASessionWouldBeClosed() throws {
        let inside = ZoneFixtures.utc("2026-03-10T20:00:00Z")
        let outside = ZoneFixtures.utc("2026-03-10T22:00:00Z")
        #expect(
            try Self.eightToFive.windowEnd(containing: inside, in: ZoneFixtures.db)
                == ZoneFixtures.utc("2026-03-10T21:00:00Z")
        )
        #expect(try Self.eightToFive.windowEnd(containing: outside, in: ZoneFixtures.db) == outside)
        #expect(
            try Self.endsInGap.windowEnd(containing: ZoneFixtures.utc("2026-03-08T05:00:00Z"), in: ZoneFixtures.db)
                == ZoneFixtures.utc("2026-03-08T07:00:00Z")
        )
        #expect(try Self.wholeWeek.windowEnd(containing: inside, in: ZoneFixtures.db) == nil)
    }

    static let invalid: [(AccessSchedule, AccessScheduleError.Code)] = [
        (schedule("UTC", entry(WeekTime(day: .monday, hour: 24), WeekTime(day: .tuesday, hour: 0))), .hourOutOfRange),
        (schedule("UTC", entry(WeekTime(day: .monday, hour: 0), WeekTime(day: .tuesday, hour: -1))), .hourOutOfRange),
        (
            schedule("UTC", entry(WeekTime(day: .monday, hour: 0, minute: 60), WeekTime(day: .tuesday, hour: 0))),
            .minuteOutOfRange
        ),
        (
            schedule("UTC", entry(WeekTime(day: .monday, hour: 0), WeekTime(day: .tuesday, hour: 0, minute: -1))),
            .minuteOutOfRange
        ),
        (
            AccessSchedule(
                timeZone: "UTC",
                entries: Array(
                    repeating: entry(WeekTime(day: .monday, hour: 0), WeekTime(day: .monday, hour: 1)),
                    count: AccessSchedule.maximumEntries + 1
                )
            ),
            .tooManyEntries
        ),
    ]

    @Test(arguments: invalid)
    func anInvalidScheduleIsRefusedWithTheRuleItBreaks(schedule: AccessSchedule, code: AccessScheduleError.Code) throws
    {
        let error = try #require(throws: AccessScheduleError.self) { try schedule.validate(in: ZoneFixtures.db) }
        #expect(error.code == code)
        #expect(throws: AccessScheduleError.self) {
            try schedule.permits(Date(timeIntervalSince1970: 0), in: ZoneFixtures.db)
        }
        #expect(throws: AccessScheduleError.self) {
            try schedule.nextChange(after: Date(timeIntervalSince1970: 0), in: ZoneFixtures.db)
        }
    }

    @Test func theLimitsThemselvesAreValid() throws {
        let edges = AccessSchedule(
            timeZone: "UTC",
            entries: Array(
                repeating: Self.entry(WeekTime(day: .monday, hour: 0), WeekTime(day: .sunday, hour: 23, minute: 59)),
                count: AccessSchedule.maximumEntries
            )
        )
        try edges.validate(in: ZoneFixtures.db)
    }

    @Test func anUnknownTimeZoneIsAnError() {
        #expect(throws: TimeZoneError(.unknownZone, "")) {
            try Self.schedule("Mars/Olympus_Mons").permits(Date(timeIntervalSince1970: 0), in: ZoneFixtures.db)
        }
    }

    @Test func weekdaysAreStoredByName() throws {
        let json = String(decoding: try JSONEncoder().encode(Self.sundayNight), as: UTF8.self)
        #expect(json.contains("\"sunday\"") && json.contains("\"monday\""))
        #expect(try JSONDecoder().decode(AccessSchedule.self, from: Data(json.utf8)) == Self.sundayNight)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(WeekTime.self, from: Data(#"{"day":"funday","hour":1,"minute":0}"#.utf8))
        }
    }

    /// Python decides `permits` from the wall clock and finds the next change by stepping minute by minute.
    @Test func everyScheduleVectorMatchesPythonZoneinfo() throws {
        let vectors = try ZoneinfoVectors.load().schedules
        #expect(vectors.count >= 300)
        for vector in vectors {
            let instant = Date(timeIntervalSince1970: TimeInterval(vector.t))
            let permits = try vector.schedule.permits(instant, in: ZoneFixtures.db)
            let next = try vector.schedule.nextChange(after: instant, in: ZoneFixtures.db)
            #expect(permits == vector.permits, "\(vector.schedule) at \(vector.t)")
            #expect(
                next == vector.nextChange.map { Date(timeIntervalSince1970: TimeInterval($0)) },
                "\(vector.schedule) at \(vector.t)"
            )
        }
    }
}
