import Foundation

/// A session recording in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header line (a JSON
/// object), then one event per line, `[seconds, "o" | "i" | "r" | "m", "data"]`. Parsed whole before anything is
/// played, so a damaged file is reported before any of it reaches the terminal.
struct AsciicastRecording: Equatable, Sendable {
    struct Header: Equatable, Sendable {
        var width: Int
        var height: Int
        /// The idle limit the recording asks for, in seconds.
        var idleTimeLimit: Double?
        var title: String?
    }

    struct Event: Equatable, Sendable {
        /// Seconds since the start of the recording.
        var time: Double
        /// "o" output, "i" input, "r" resize, "m" marker; others may come.
        var kind: String
        var data: String
    }

    var header: Header
    var events: [Event]

    /// The output, in order, without timing.
    var output: String { events.filter { $0.kind == "o" }.map(\.data).joined() }

    init(header: Header, events: [Event]) {
        self.header = header
        self.events = events
    }

    /// Parses a whole recording. Empty lines and a final newline are allowed; a last line without its newline
    /// that is not a complete event means the file was cut short.
    init(parsing data: Data) throws(AsciicastParseError) {
        let decoder = JSONDecoder()
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let endsWithNewline = lines.last?.isEmpty ?? true
        if endsWithNewline, !lines.isEmpty { lines.removeLast() }
        var header: Header?
        var events: [Event] = []
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            let line = rawLine.last == UInt8(ascii: "\r") ? rawLine.dropLast() : rawLine
            let isUnfinished = !endsWithNewline && index == lines.count - 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            do throws(AsciicastParseError) {
                if header == nil {
                    header = try Self.header(Data(line), decoder: decoder, line: number)
                } else {
                    events.append(try Self.event(Data(line), decoder: decoder, line: number))
                }
            } catch let error where isUnfinished && error.reason != .unsupportedVersion {
                throw AsciicastParseError(line: number, reason: .truncated, detail: error.detail)
            }
        }
        guard let header else { throw AsciicastParseError(line: 1, reason: .notAHeader, detail: "the file is empty") }
        self.header = header
        self.events = events
    }

    private static func header(
        _ line: Data,
        decoder: JSONDecoder,
        line number: Int
    ) throws(AsciicastParseError) -> Header {
        struct Wire: Decodable {
            var version: Int
            var width: Int?
            var height: Int?
            var idle_time_limit: Double?
            var title: String?
        }
        let wire: Wire
        do {
            wire = try decoder.decode(Wire.self, from: line)
        } catch {
            throw AsciicastParseError(line: number, reason: .notAHeader, detail: reason(error))
        }
        guard wire.version == 2 else {
            throw AsciicastParseError(line: number, reason: .unsupportedVersion, detail: "version \(wire.version)")
        }
        return Header(
            width: wire.width ?? 80,
            height: wire.height ?? 24,
            idleTimeLimit: wire.idle_time_limit,
            title: wire.title
        )
    }

    private static func event(_ line: Data, decoder: JSONDecoder, line number: Int) throws(AsciicastParseError) -> Event
    {
        struct Wire: Decodable {
            var event: Event
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                let time = try container.decode(Double.self)
                let kind = try container.decode(String.self)
                let data = try container.decode(String.self)
                guard container.isAtEnd else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "more than three elements")
                }
                guard time.isFinite, time >= 0 else {
                    throw DecodingError.dataCorruptedError(
                        in: container,
                        debugDescription: "a negative or infinite time"
                    )
                }
                event = Event(time: time, kind: kind, data: data)
            }
        }
        do {
            return try decoder.decode(Wire.self, from: line).event
        } catch {
            throw AsciicastParseError(line: number, reason: .notAnEvent, detail: reason(error))
        }
    }

    /// A short reason from a decoding error, without Swift's type names.
    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
            DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context):
            if let underlying = context.underlyingError {
                return "\(context.debugDescription) (\(underlying.localizedDescription))"
            }
            return context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// Why a recording cannot be read, and on which line (counting from 1).
struct AsciicastParseError: Error, Equatable, CustomStringConvertible {
    enum Reason: Equatable, Sendable {
        /// The first line is not a JSON object with a version.
        case notAHeader
        /// The header names a version other than 2.
        case unsupportedVersion
        /// A line is not a `[time, kind, data]` array.
        case notAnEvent
        /// The last line has no newline and is not a complete event: the file was cut short.
        case truncated
    }

    var line: Int
    var reason: Reason
    var detail: String

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.line == rhs.line && lhs.reason == rhs.reason }

    var description: String {
        switch reason {
        case .notAHeader:
            "line \(line) is not an asciicast header (a JSON object with \"version\": 2): \(detail)"
        case .unsupportedVersion:
            "the recording is asciicast \(detail); only version 2 can be played"
        case .notAnEvent:
            "line \(line) is not an asciicast event ([time, \"o\", \"text\"]): \(detail)"
        case .truncated:
            "the recording was cut short: its last line (\(line)) ends in the middle of an event"
        }
    }
}
