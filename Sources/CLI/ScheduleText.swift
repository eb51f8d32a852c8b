import Foundation
import JumpPolicy

/// Jump Policy schedule entries as typed: "mon 08:00-fri 18:00", or "sat 09:00-13:00" within one day.
///
/// Days are mon..sun (or their full English names), times are 24-hour HH:MM in the policy's time zone.
/// An entry whose end is not after its start wraps past midnight ("fri 22:00-mon 06:00").
enum ScheduleText {
    static let days: [(String, Weekday)] = [
        ("mon", .monday), ("tue", .tuesday), ("wed", .wednesday), ("thu", .thursday), ("fri", .friday),
        ("sat", .saturday), ("sun", .sunday),
    ]

    static func entry(_ text: String) throws -> AccessSchedule.Entry {
        func refuse(_ why: String) -> CLIError {
            CLIError.usage("'\(text)' is not a schedule entry: \(why); write e.g. \"mon 08:00-fri 18:00\"")
        }
        let halves = text.split(separator: "-", omittingEmptySubsequences: false)
        guard halves.count == 2 else { throw refuse("give one start and one end joined by '-'") }
        let startWords = halves[0].split(separator: " ")
        let endWords = halves[1].split(separator: " ")
        guard startWords.count == 2 else { throw refuse("the start needs a day and a time, like \"mon 08:00\"") }
        let startDay = try day(String(startWords[0]), refuse)
        let start = try time(String(startWords[1]), refuse)
        let endDay: Weekday
        let end: (hour: Int, minute: Int)
        switch endWords.count {
        case 1:
            endDay = startDay
            end = try time(String(endWords[0]), refuse)
        case 2:
            endDay = try day(String(endWords[0]), refuse)
            end = try time(String(endWords[1]), refuse)
        default:
            throw refuse("the end is a time (\"18:00\") or a day and a time (\"fri 18:00\")")
        }
        return AccessSchedule.Entry(
            start: WeekTime(day: startDay, hour: start.hour, minute: start.minute),
            end: WeekTime(day: endDay, hour: end.hour, minute: end.minute)
        )
    }

    static func text(_ entry: AccessSchedule.Entry) -> String {
        "\(text(entry.start))-\(text(entry.end))"
    }

    static func text(_ time: WeekTime) -> String {
        let day = days.first { $0.1 == time.day }?.0 ?? "\(time.day)"
        return "\(day) " + String(format: "%02d:%02d", time.hour, time.minute)
    }

    private static func day(_ word: String, _ refuse: (String) -> CLIError) throws -> Weekday {
        let lower = word.lowercased()
        if let match = days.first(where: { $0.0 == lower || "\($0.1)" == lower }) { return match.1 }
        throw refuse("'\(word)' is not a day (use mon, tue, wed, thu, fri, sat or sun)")
    }

    private static func time(_ word: String, _ refuse: (String) -> CLIError) throws -> (hour: Int, minute: Int) {
        let parts = word.split(separator: ":", omittingEmptySubsequences: false)
        guard word.allSatisfy({ $0 == ":" || ("0"..."9").contains($0) }), parts.count == 2,
            (1...2).contains(parts[0].count), parts[1].count == 2,
            let hour = Int(parts[0]), let minute = Int(parts[1])
        else { throw refuse("'\(word)' is not a 24-hour time HH:MM") }
        if hour == 24 && minute == 0 { throw refuse("24:00 is the next day's 00:00; write that instead") }
        guard (0...23).contains(hour) else { throw refuse("hour \(hour) is not from 0 to 23") }
        guard (0...59).contains(minute) else { throw refuse("minute \(minute) is not from 0 to 59") }
        return (hour, minute)
    }
}
