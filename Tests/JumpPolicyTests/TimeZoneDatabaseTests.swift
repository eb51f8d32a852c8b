import Foundation
import Testing

@testable import JumpPolicy

/// What the time zone and schedule tests share: the system's database, and instants and wall-clock times
/// written the way zdump prints them.
enum ZoneFixtures {
    static let db = TimeZoneDatabase()

    /// An instant written in UTC, "2026-03-08T07:00:00Z".
    static func utc(_ text: String) -> Date {
        Date(timeIntervalSince1970: TimeInterval(local(String(text.dropLast())).secondsSince1970))
    }

    /// A wall-clock reading, "2026-03-08T02:30:00".
    static func local(_ text: String) -> LocalDateTime {
        let fields = text.split(whereSeparator: { "-T:".contains($0) }).map { Int($0)! }
        return LocalDateTime(
            year: fields[0],
            month: fields[1],
            day: fields[2],
            hour: fields[3],
            minute: fields[4],
            second: fields[5]
        )
    }
}

/// The committed vectors of Vectors/zoneinfo_vectors.py: Python's zoneinfo on the same TZif files.
struct ZoneinfoVectors: Decodable {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Vectors")
    static let json = directory.appending(path: "zoneinfo_vectors.json")
    static let generator = directory.appending(path: "zoneinfo_vectors.py")

    var tzdata: String
    var zones: [Zone]
    var schedules: [Schedule]

    struct Zone: Decodable {
        var zone: String
        var instants: [Instant]
        var locals: [Local]
    }

    /// A row of the file's `instantColumns`.
    struct Instant: Decodable, Equatable {
        var t: Int
        var offset: Int
        var dst: Bool
        var abbreviation: String
        var local: String
        var weekday: Int

        /// What TimeZoneDatabase answers, in the same shape.
        init(_ t: Int, in zone: TimeZoneDatabase.Zone) {
            let instant = Date(timeIntervalSince1970: TimeInterval(t))
            self.t = t
            offset = zone.offset(at: instant)
            dst = zone.isDaylightSaving(at: instant)
            abbreviation = zone.abbreviation(at: instant)
            local = zone.localTime(at: instant).description
            weekday = zone.localTime(at: instant).weekday.rawValue
        }

        init(from decoder: any Decoder) throws {
            var row = try decoder.unkeyedContainer()
            t = try row.decode(Int.self)
            offset = try row.decode(Int.self)
            dst = try row.decode(Bool.self)
            abbreviation = try row.decode(String.self)
            local = try row.decode(String.self)
            weekday = try row.decode(Int.self)
        }
    }

    struct Local: Decodable {
        var local: String
        var instants: [Int]
    }

    struct Schedule: Decodable {
        var schedule: AccessSchedule
        var t: Int
        var permits: Bool
        var nextChange: Int?
    }

    static func load() throws -> ZoneinfoVectors {
        try JSONDecoder().decode(ZoneinfoVectors.self, from: Data(contentsOf: json))
    }
}

@Suite struct TimeZoneDatabaseTests {
    typealias Transition = TimeZoneDatabase.Zone.Transition

    /// As `zdump -v -c 2026,2028` and `-c 2090,2091` print them: zone, instant, offset before, offset after.
    /// 2090 lies past every table, so those changes come from the footer rule.
    static let zdump = """
        America/New_York 2026-03-08T07:00:00Z -18000 -14400
        America/New_York 2026-11-01T06:00:00Z -14400 -18000
        America/New_York 2027-03-14T07:00:00Z -18000 -14400
        America/New_York 2027-11-07T06:00:00Z -14400 -18000
        America/New_York 2090-03-12T07:00:00Z -18000 -14400
        America/New_York 2090-11-05T06:00:00Z -14400 -18000
        Europe/Berlin 2026-03-29T01:00:00Z 3600 7200
        Europe/Berlin 2026-10-25T01:00:00Z 7200 3600
        Europe/Berlin 2027-03-28T01:00:00Z 3600 7200
        Europe/Berlin 2027-10-31T01:00:00Z 7200 3600
        Australia/Sydney 2026-04-04T16:00:00Z 39600 36000
        Australia/Sydney 2026-10-03T16:00:00Z 36000 39600
        Australia/Sydney 2027-04-03T16:00:00Z 39600 36000
        Australia/Sydney 2027-10-02T16:00:00Z 36000 39600
        Australia/Sydney 2090-04-01T16:00:00Z 39600 36000
        Australia/Sydney 2090-09-30T16:00:00Z 36000 39600
        Pacific/Chatham 2026-04-04T14:00:00Z 49500 45900
        Pacific/Chatham 2026-09-26T14:00:00Z 45900 49500
        Australia/Lord_Howe 2026-04-04T15:00:00Z 39600 37800
        Australia/Lord_Howe 2026-10-03T15:30:00Z 37800 39600
        """.split(separator: "\n").map { line in
            let fields = line.split(separator: " ").map(String.init)
            let transition = Transition(
                instant: ZoneFixtures.utc(fields[1]),
                offsetBefore: Int(fields[2])!,
                offsetAfter: Int(fields[3])!
            )
            return (zone: fields[0], transition: transition)
        }

    /// Every change in the year and nothing else; Kolkata has had none since 1945.
    @Test(arguments: [
        ("America/New_York", 2026), ("America/New_York", 2027), ("America/New_York", 2090), ("Europe/Berlin", 2026),
        ("Europe/Berlin", 2027), ("Australia/Sydney", 2026), ("Australia/Sydney", 2027), ("Australia/Sydney", 2090),
        ("Pacific/Chatham", 2026), ("Australia/Lord_Howe", 2026), ("Asia/Kolkata", 2026),
    ])
    func transitionsOfAYear(zone: String, year: Int) throws {
        let start = ZoneFixtures.utc("\(year)-01-01T00:00:00Z")
        let end = ZoneFixtures.utc("\(year + 1)-01-01T00:00:00Z")
        let expected = Self.zdump.filter { $0.zone == zone && (start..<end).contains($0.transition.instant) }
        #expect(expected.count == (zone == "Asia/Kolkata" ? 0 : 2))
        #expect(try ZoneFixtures.db.zone(zone).transitions(from: start, to: end) == expected.map(\.transition))
    }

    @Test func aTransitionBelongsToTheRangeItEnds() throws {
        let zone = try ZoneFixtures.db.zone("America/New_York")
        let spring = ZoneFixtures.utc("2026-03-08T07:00:00Z")
        #expect(zone.transitions(from: spring, to: spring + 3600).isEmpty)
        #expect(zone.transitions(from: spring - 1, to: spring).map(\.instant) == [spring])
    }

    /// (zone, instant, offset, daylight saving, abbreviation, wall clock, weekday), checked against zdump.
    static let instantCases: [(String, String, Int, Bool, String, String, Weekday)] = [
        ("America/New_York", "2026-03-08T06:59:59Z", -18000, false, "EST", "2026-03-08T01:59:59", .sunday),
        ("America/New_York", "2026-03-08T07:00:00Z", -14400, true, "EDT", "2026-03-08T03:00:00", .sunday),
        ("America/New_York", "2026-11-01T05:59:59Z", -14400, true, "EDT", "2026-11-01T01:59:59", .sunday),
        ("America/New_York", "2026-11-01T06:00:00Z", -18000, false, "EST", "2026-11-01T01:00:00", .sunday),
        ("America/New_York", "2090-07-04T16:00:00Z", -14400, true, "EDT", "2090-07-04T12:00:00", .tuesday),
        ("America/New_York", "2090-12-25T17:00:00Z", -18000, false, "EST", "2090-12-25T12:00:00", .monday),
        ("Europe/Berlin", "2027-03-28T00:59:59Z", 3600, false, "CET", "2027-03-28T01:59:59", .sunday),
        ("Europe/Berlin", "2027-03-28T01:00:00Z", 7200, true, "CEST", "2027-03-28T03:00:00", .sunday),
        ("Europe/Berlin", "2028-02-29T22:59:59Z", 3600, false, "CET", "2028-02-29T23:59:59", .tuesday),
        ("Europe/Berlin", "2028-02-29T23:00:00Z", 3600, false, "CET", "2028-03-01T00:00:00", .wednesday),
        ("Australia/Sydney", "2026-04-04T15:59:59Z", 39600, true, "AEDT", "2026-04-05T02:59:59", .sunday),
        ("Australia/Sydney", "2026-04-04T16:00:00Z", 36000, false, "AEST", "2026-04-05T02:00:00", .sunday),
        ("Australia/Sydney", "2026-12-31T13:00:00Z", 39600, true, "AEDT", "2027-01-01T00:00:00", .friday),
        ("Asia/Kolkata", "2026-06-01T00:00:00Z", 19800, false, "IST", "2026-06-01T05:30:00", .monday),
        ("Pacific/Chatham", "2026-06-01T00:00:00Z", 45900, false, "+1245", "2026-06-01T12:45:00", .monday),
        ("Pacific/Chatham", "2027-01-01T00:00:00Z", 49500, true, "+1345", "2027-01-01T13:45:00", .friday),
        // Ireland's winter time is the daylight-saving period: "negative DST" in the tz database.
        ("Europe/Dublin", "2026-01-15T12:00:00Z", 0, true, "GMT", "2026-01-15T12:00:00", .thursday),
        ("Europe/Dublin", "2026-07-15T12:00:00Z", 3600, false, "IST", "2026-07-15T13:00:00", .wednesday),
        ("UTC", "1970-01-01T00:00:00Z", 0, false, "UTC", "1970-01-01T00:00:00", .thursday),
    ]

    @Test(arguments: instantCases)
    func anInstantInAZone(
        zone: String,
        instant: String,
        offset: Int,
        isDaylightSaving: Bool,
        abbreviation: String,
        wallClock: String,
        weekday: Weekday
    ) throws {
        let zone = try ZoneFixtures.db.zone(zone)
        let instant = ZoneFixtures.utc(instant)
        #expect(zone.offset(at: instant) == offset)
        #expect(zone.isDaylightSaving(at: instant) == isDaylightSaving)
        #expect(zone.abbreviation(at: instant) == abbreviation)
        #expect(zone.localTime(at: instant) == ZoneFixtures.local(wallClock))
        #expect(zone.localTime(at: instant).weekday == weekday)
    }

    /// A wall-clock time maps to no instant in a spring-forward gap and to two in a repeated hour.
    static let wallClockCases: [(zone: String, wallClock: String, instants: [String])] = [
        ("America/New_York", "2026-03-08T02:30:00", []),
        ("America/New_York", "2026-03-08T03:00:00", ["2026-03-08T07:00:00Z"]),
        ("America/New_York", "2026-11-01T01:30:00", ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"]),
        ("America/New_York", "2026-07-01T12:00:00", ["2026-07-01T16:00:00Z"]),
        ("America/New_York", "2090-03-12T02:00:00", []),
        ("Europe/Berlin", "2026-10-25T02:59:59", ["2026-10-25T00:59:59Z", "2026-10-25T01:59:59Z"]),
        ("Europe/Berlin", "2026-10-25T03:00:00", ["2026-10-25T02:00:00Z"]),
        ("Australia/Sydney", "2026-04-05T02:30:00", ["2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"]),
        ("Australia/Sydney", "2026-10-04T02:30:00", []),
        ("Australia/Lord_Howe", "2026-04-05T01:45:00", ["2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z"]),
        ("Pacific/Chatham", "2026-09-27T03:00:00", []),
        ("Asia/Kolkata", "2028-02-29T00:00:00", ["2028-02-28T18:30:00Z"]),
    ]

    @Test(arguments: wallClockCases)
    func instantsOfAWallClockTime(zone: String, wallClock: String, instants: [String]) throws {
        let zone = try ZoneFixtures.db.zone(zone)
        #expect(zone.instants(for: ZoneFixtures.local(wallClock)) == instants.map(ZoneFixtures.utc))
    }

    @Test func wallClockFieldsCarryOver() throws {
        let zone = try ZoneFixtures.db.zone("Europe/Berlin")
        let carried = LocalDateTime(year: 2027, month: 14, day: 0, hour: 24, minute: 0)
        #expect(zone.instants(for: carried) == [ZoneFixtures.utc("2028-02-01T00:00:00Z") - 3600])
    }

    static let invalidIdentifiers = [
        "", "/etc/passwd", "../etc/passwd", "Europe/../../etc/passwd", "Europe//Berlin", "Europe/Berlin/",
        "Europe/Berlin ", "Europe/Berlin\u{0}", "Europe\\Berlin", "Ämerica/New_York", "./UTC",
        String(repeating: "A", count: TimeZoneDatabase.maximumIdentifierLength + 1),
    ]

    @Test(arguments: invalidIdentifiers)
    func anIdentifierThatIsNotAPlainIANANameIsRefused(identifier: String) {
        #expect(throws: TimeZoneError(.invalidIdentifier, "")) { try ZoneFixtures.db.zone(identifier) }
    }

    @Test(arguments: ["Mars/Olympus_Mons", "America", "Etc/GMT+15"])
    func aNameWithoutAZoneFileIsUnknown(identifier: String) throws {
        let error = try #require(throws: TimeZoneError.self) { try ZoneFixtures.db.zone(identifier) }
        #expect(error.code == .unknownZone)
        #expect(error.detail.contains(identifier))
    }

    @Test func namesWithSignsAndDigitsLoad() throws {
        #expect(try ZoneFixtures.db.zone("Etc/GMT+5").offset(at: Date(timeIntervalSince1970: 0)) == -18000)
        #expect(try ZoneFixtures.db.zone("America/Port-au-Prince").identifier == "America/Port-au-Prince")
    }

    /// A directory of hand-made files, removed when the test ends.
    static func withRoot(_ files: [String: [UInt8]], _ body: (TimeZoneDatabase) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "tzroot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (name, bytes) in files {
            let file = root.appending(path: name)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(bytes).write(to: file)
        }
        try body(TimeZoneDatabase(root: root))
    }

    static let newYork = try! [UInt8](Data(contentsOf: URL(filePath: "/usr/share/zoneinfo/America/New_York")))
    /// A count of one leap-second record in the header, as the "right/" zones have.
    static let leapSeconds = Array(newYork.prefix(31)) + [1] + newYork.dropFirst(32)

    static let malformedFiles: [(name: String, bytes: [UInt8])] = [
        ("empty", []),
        ("text", Array("Europe/Berlin\n".utf8)),
        ("truncated", Array(newYork.prefix(100))),
        ("no footer", Array(newYork.dropLast())),
        ("bad footer", Array(newYork.dropLast(24)) + Array("\nEST5EDT,M3.2.0\n".utf8)),
        ("leap seconds", leapSeconds),
        ("unknown version", Array(newYork.prefix(4)) + [UInt8(ascii: "1")] + newYork.dropFirst(5)),
    ]

    @Test(arguments: malformedFiles)
    func aFileThatIsNotTZifIsMalformed(name: String, bytes: [UInt8]) throws {
        try Self.withRoot(["Test/Zone": bytes]) { db in
            let error = try #require(throws: TimeZoneError.self) { try db.zone("Test/Zone") }
            #expect(error.code == .malformedFile, "\(error)")
            #expect(error.detail.contains("Test/Zone"))
        }
    }

    @Test func aFileTooLargeToBeTZifIsRefusedUnparsed() throws {
        let large = Self.newYork + [UInt8](repeating: 0, count: TimeZoneDatabase.maximumFileSize)
        try Self.withRoot(["Test/Large": large]) { db in
            #expect(throws: TimeZoneError(.malformedFile, "")) { try db.zone("Test/Large") }
        }
    }

    /// Version 1 files hold only 32-bit data and no footer; the last transition's type then lasts forever.
    @Test func aVersion1FileIsReadFromItsOnlyBlock() throws {
        let version1 = Array(Self.newYork.prefix(4)) + [0] + Self.newYork.dropFirst(5)
        try Self.withRoot(["Test/Old": version1]) { db in
            let zone = try db.zone("Test/Old")
            #expect(zone.offset(at: ZoneFixtures.utc("2026-07-01T12:00:00Z")) == -14400)
            #expect(zone.offset(at: ZoneFixtures.utc("2090-07-01T12:00:00Z")) == -18000)
        }
    }

    /// A loaded zone stays in the value (and in its copies) even when its file disappears.
    @Test func aLoadedZoneIsCached() throws {
        try Self.withRoot(["Test/Cached": Self.newYork]) { db in
            let copy = db
            let loaded = try db.zone("Test/Cached")
            try FileManager.default.removeItem(at: db.root.appending(path: "Test/Cached"))
            #expect(try copy.zone("Test/Cached") == loaded)
            #expect(throws: TimeZoneError(.unknownZone, "")) { try TimeZoneDatabase(root: db.root).zone("Test/Cached") }
        }
    }

    /// Offset, DST flag, abbreviation and wall clock for 3,000 instants from 1970 to 2100, half of them within
    /// a few hours of a transition.
    @Test func everyInstantMatchesPythonZoneinfo() throws {
        let zones = try ZoneinfoVectors.load().zones
        #expect(zones.reduce(0) { $0 + $1.instants.count } >= 3000)
        for vectors in zones {
            let zone = try ZoneFixtures.db.zone(vectors.zone)
            let wrong = vectors.instants.filter { $0 != ZoneinfoVectors.Instant($0.t, in: zone) }
            #expect(
                wrong.isEmpty,
                "\(vectors.zone): \(wrong.count) differ, first \(wrong.first.map(String.init(describing:)) ?? "")"
            )
        }
    }

    /// Wall-clock times in and around gaps and repeated hours.
    @Test func everyWallClockTimeMatchesPythonZoneinfo() throws {
        for vectors in try ZoneinfoVectors.load().zones {
            let zone = try ZoneFixtures.db.zone(vectors.zone)
            let wrong = vectors.locals.filter { vector in
                zone.instants(for: ZoneFixtures.local(vector.local)).map(TimeZoneDatabase.Zone.seconds)
                    != vector.instants
            }
            #expect(
                wrong.isEmpty,
                "\(vectors.zone): \(wrong.count) differ, first \(wrong.first.map(String.init(describing:)) ?? "")"
            )
        }
    }

    static let python3 = ProcessInfo.processInfo.environment["PATH", default: "/usr/bin"].split(separator: ":")
        .map { URL(filePath: String($0)).appending(path: "python3") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path(percentEncoded: false)) }

    /// The vectors come from this machine's tzdata package; when the package is updated the committed file falls
    /// behind, and this test says so rather than letting the comparison above fail with no explanation. It needs
    /// python3 (3.9 or later, for zoneinfo), which the test machine has but a bare Swift toolchain may not.
    @Test(.enabled(if: python3 != nil, "needs python3 to re-run Vectors/zoneinfo_vectors.py"))
    func theCommittedVectorsAreWhatTheGeneratorWritesHere() throws {
        let output = FileManager.default.temporaryDirectory.appending(
            path: "zoneinfo_vectors-\(UUID().uuidString).json"
        )
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = Self.python3
        process.arguments = [
            ZoneinfoVectors.generator.path(percentEncoded: false), "--output", output.path(percentEncoded: false),
        ]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the generator failed")
        let regenerated = try JSONDecoder().decode(ZoneinfoVectors.self, from: Data(contentsOf: output))
        let committed = try ZoneinfoVectors.load()
        #expect(
            try Data(contentsOf: output) == Data(contentsOf: ZoneinfoVectors.json),
            """
            Vectors/zoneinfo_vectors.json was made from tzdata \(committed.tzdata); this machine has \
            \(regenerated.tzdata). Run python3 Tests/JumpPolicyTests/Vectors/zoneinfo_vectors.py and commit the JSON.
            """
        )
    }
}

@Suite struct PosixTZRuleTests {
    /// (footer, instant, offset, daylight saving, abbreviation).
    static let cases: [(String, String, Int, Bool, String)] = [
        ("EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59Z", -18000, false, "EST"),
        ("EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00Z", -14400, true, "EDT"),
        ("EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59Z", -14400, true, "EDT"),
        ("EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00:00Z", -18000, false, "EST"),
        // Southern hemisphere: daylight time spans the new year.
        ("AEST-10AEDT,M10.1.0,M4.1.0/3", "2027-01-01T00:00:00Z", 39600, true, "AEDT"),
        ("AEST-10AEDT,M10.1.0,M4.1.0/3", "2027-07-01T00:00:00Z", 36000, false, "AEST"),
        ("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "2026-09-26T14:00:00Z", 49500, true, "+1345"),
        // Greenland changes at -1:00 on the last Sunday of March: 23:00 on the Saturday (RFC 8536 extension).
        ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-03-29T00:59:59Z", -7200, false, "-02"),
        ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-03-29T01:00:00Z", -3600, true, "-01"),
        // Negative daylight saving: the "daylight" GMT is an hour behind the standard IST.
        ("IST-1GMT0,M10.5.0,M3.5.0/1", "2026-01-15T12:00:00Z", 0, true, "GMT"),
        // Julian days: J60 is 1 March even in a leap year; day 59 counted from zero is 29 February.
        ("XXX0YYY,J60/0,J300/0", "2028-02-29T23:59:59Z", 0, false, "XXX"),
        ("XXX0YYY,J60/0,J300/0", "2028-03-01T00:00:00Z", 3600, true, "YYY"),
        ("XXX0YYY,59/0,300/0", "2028-02-29T00:00:00Z", 3600, true, "YYY"),
        // Daylight time all year (RFC 8536 section 3.3.1): it starts as it ends, so it never ends.
        ("EST5EDT,0/0,J365/25", "2026-01-01T05:00:00Z", -14400, true, "EDT"),
        ("EST5EDT,0/0,J365/25", "2026-12-31T23:00:00Z", -14400, true, "EDT"),
        ("<+0545>-5:45", "2026-01-01T00:00:00Z", 20700, false, "+0545"),
    ]

    @Test(arguments: cases)
    func aFooterRule(text: String, instant: String, offset: Int, isDaylightSaving: Bool, abbreviation: String) throws {
        let rule = try PosixTZRule(text)
        let seconds = TimeZoneDatabase.Zone.seconds(ZoneFixtures.utc(instant))
        #expect(
            rule.localTimeType(at: seconds)
                == LocalTimeType(offset: offset, isDaylightSaving: isDaylightSaving, abbreviation: abbreviation)
        )
    }

    @Test(arguments: [
        "", "EST", "ES5", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365", "EST5EDT,M3.2.0/168,M11.1.0", "EST25", "EST5:60", "<+05",
        "EST5EDT,M3.2.0,M11.1.0,", "EST5 ",
    ])
    func aMalformedFooterIsRefused(text: String) {
        #expect(throws: TZifFormatError.self) { try PosixTZRule(text) }
    }
}
