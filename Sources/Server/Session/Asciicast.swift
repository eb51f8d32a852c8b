public import Foundation

/// The asciicast v2 format (https://docs.asciinema.org/manual/asciicast/v2/): newline-delimited JSON, a header
/// object then one `[seconds, code, data]` array per event. Sessions are recorded in it so that `asciinema play`
/// and `asciinema cat`, as well as `jumpctl session replay`, read them.
public enum Asciicast {
    /// The only version written and read.
    public static let version = 2
    /// Recorded bytes held in memory before they are written out: a crash loses at most this much (or
    /// `flushInterval` of output), and a busy session makes one write per 64 KiB rather than one per read. The
    /// buffer can exceed it by the one event that crosses it.
    public static let maximumBufferedBytes = 64 * 1024
    /// Buffered events older than this are written at the next event, so a quiet session reaches the disk too.
    public static let flushInterval: Duration = .seconds(1)
}

/// The first line of a recording.
public struct AsciicastHeader: Hashable, Sendable {
    /// The terminal's size when the recording starts, in columns and rows.
    public var width: Int
    public var height: Int
    /// When the recording starts; written as whole seconds since 1970.
    public var timestamp: Date?
    public var title: String?
    /// Environment variables of the endpoint's shell, `TERM` and `SHELL` by convention.
    public var env: [String: String]
    /// Who jumped into what, as an extra header key. asciinema ignores keys it does not know: the Python CLI
    /// (2.x) reads the header as a dictionary, the Rust CLI (3.x) deserialises it without `deny_unknown_fields`.
    public var jump: JumpMetadata?

    public struct JumpMetadata: Hashable, Sendable, Codable {
        /// The representative's user name.
        public var who: String
        /// The Jump Client's name.
        public var client: String
        public var ticket: String?
        /// The Jump Policies applied to the session, by code name.
        public var policies: [String]

        public init(who: String, client: String, ticket: String? = nil, policies: [String] = []) {
            self.who = who
            self.client = client
            self.ticket = ticket
            self.policies = policies
        }
    }

    public init(
        width: Int,
        height: Int,
        timestamp: Date? = nil,
        title: String? = nil,
        env: [String: String] = [:],
        jump: JumpMetadata? = nil
    ) {
        self.width = width
        self.height = height
        self.timestamp = timestamp
        self.title = title
        self.env = env
        self.jump = jump
    }
}

/// One line after the header.
public struct AsciicastEvent: Hashable, Sendable {
    /// Since the start of the recording; microsecond precision in the file.
    public var time: Duration
    public var kind: Kind
    public var data: String

    /// An event code. A struct rather than an enum because readers must keep codes they do not know.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String

        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// What the endpoint's terminal printed.
        public static let output = Kind(rawValue: "o")
        /// What the representative typed.
        public static let input = Kind(rawValue: "i")
        /// The terminal's new size, as "COLSxROWS".
        public static let resize = Kind(rawValue: "r")
        /// A bookmark.
        public static let marker = Kind(rawValue: "m")

        public var description: String { rawValue }
    }

    public init(time: Duration, kind: Kind, data: String) {
        self.time = time
        self.kind = kind
        self.data = data
    }

    public static func resize(at time: Duration, columns: Int, rows: Int) -> AsciicastEvent {
        AsciicastEvent(time: time, kind: .resize, data: "\(columns)x\(rows)")
    }

    /// The columns and rows of a resize event; nil for another kind or a malformed size.
    public var size: (columns: Int, rows: Int)? {
        guard kind == .resize else { return nil }
        let parts = data.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let columns = Int(parts[0]), let rows = Int(parts[1]), columns > 0, rows > 0 else {
            return nil
        }
        return (columns, rows)
    }
}
