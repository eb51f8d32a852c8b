public import Foundation

/// A recording read back: its header and its events, for `jumpctl session replay` and for checks.
public struct AsciicastReplay: Hashable, Sendable {
    public var header: AsciicastHeader
    public var events: [AsciicastEvent]

    /// Parses a whole recording. Empty lines are skipped, as asciinema 3 does. A last line without its newline
    /// that does not parse is `.truncated` (the appliance stopped mid-write), or dropped when
    /// `allowingTruncatedEnd`, so what was recorded before it can still be replayed.
    public init(data: Data, allowingTruncatedEnd: Bool = false) throws {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let endsWithNewline = data.last == UInt8(ascii: "\n")
        if endsWithNewline { lines.removeLast() }
        guard let first = lines.first, !first.isEmpty else {
            throw AsciicastError(
                .invalidHeader,
                "The recording is empty: an asciicast file starts with a header line. Check the file's path.",
                line: 1
            )
        }
        let decoder = JSONDecoder()
        header = try Self.header(Data(first), decoder: decoder)
        events = []
        for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let number = index + 1
            do {
                events.append(try Self.event(Data(line), line: number, decoder: decoder))
            } catch let error as AsciicastError where number == lines.count && !endsWithNewline {
                if allowingTruncatedEnd { break }
                throw AsciicastError(
                    .truncated,
                    "The last line (\(number)) of the recording is cut off: \(error.message) Replay it with the "
                        + "truncated end allowed to see what was recorded before it.",
                    line: number
                )
            }
        }
    }

    public init(contentsOf url: URL, allowingTruncatedEnd: Bool = false) throws {
        try self.init(data: Data(contentsOf: url), allowingTruncatedEnd: allowingTruncatedEnd)
    }

    /// Everything the terminal printed, in order: what `asciinema cat` prints.
    public var output: String { output(through: nil) }

    /// What the terminal had printed by `time` since the start.
    public func output(through time: Duration?) -> String {
        var text = ""
        for event in events where event.kind == .output {
            if let time, event.time > time { break }
            text += event.data
        }
        return text
    }

    /// The recording's length: the time of its last event.
    public var duration: Duration { events.last?.time ?? .zero }

    private struct HeaderLine: Decodable {
        var version: Int
        var width: Int
        var height: Int
        var timestamp: Double?
        var title: String?
        var env: [String: String?]?
        var jump: AsciicastHeader.JumpMetadata?
    }

    private struct EventLine: Decodable {
        var time: Double
        var code: String
        var data: String

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            time = try container.decode(Double.self)
            code = try container.decode(String.self)
            data = try container.decode(String.self)
            guard container.isAtEnd else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "more than three elements")
            }
        }
    }

    private static func header(_ line: Data, decoder: JSONDecoder) throws -> AsciicastHeader {
        let parsed: HeaderLine
        do {
            parsed = try decoder.decode(HeaderLine.self, from: line)
        } catch {
            throw AsciicastError(
                .invalidHeader,
                "The first line of the recording is not an asciicast v2 header (a JSON object with version, width "
                    + "and height): \(reason(error)). Check that the file is a session recording.",
                line: 1
            )
        }
        guard parsed.version == Asciicast.version else {
            throw AsciicastError(
                .unsupportedVersion,
                "The recording is asciicast version \(parsed.version); only version \(Asciicast.version) can be read. "
                    + "Convert it with `asciinema convert --output-format asciicast-v2`.",
                line: 1
            )
        }
        guard parsed.width > 0, parsed.height > 0 else {
            throw AsciicastError(
                .invalidHeader,
                "The recording's header gives a terminal of \(parsed.width)x\(parsed.height); both must be positive.",
                line: 1
            )
        }
        return AsciicastHeader(
            width: parsed.width,
            height: parsed.height,
            timestamp: parsed.timestamp.map { Date(timeIntervalSince1970: $0) },
            title: parsed.title,
            env: parsed.env?.compactMapValues { $0 } ?? [:],
            jump: parsed.jump
        )
    }

    private static func event(_ line: Data, line number: Int, decoder: JSONDecoder) throws -> AsciicastEvent {
        let parsed: EventLine
        do {
            parsed = try decoder.decode(EventLine.self, from: line)
        } catch {
            throw AsciicastError(
                .invalidEvent,
                "Line \(number) of the recording is not an event [seconds, code, data]: \(reason(error)).",
                line: number
            )
        }
        guard parsed.time.isFinite, parsed.time >= 0, !parsed.code.isEmpty else {
            throw AsciicastError(
                .invalidEvent,
                "Line \(number) of the recording has a negative or non-finite time, or an empty event code.",
                line: number
            )
        }
        let event = AsciicastEvent(
            time: .microseconds(Int64((parsed.time * 1_000_000).rounded())),
            kind: AsciicastEvent.Kind(rawValue: parsed.code),
            data: parsed.data
        )
        if event.kind == .resize, event.size == nil {
            throw AsciicastError(
                .invalidEvent,
                "Line \(number) of the recording is a resize event whose size \"\(parsed.data)\" is not COLSxROWS.",
                line: number
            )
        }
        return event
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            let key: String
            if case .keyNotFound(let missing, _) = error as? DecodingError {
                key = "missing \"\(missing.stringValue)\""
            } else {
                key = context.debugDescription
            }
            return path.isEmpty ? key : "\(key) at \(path)"
        default:
            return "\(error)"
        }
    }
}
