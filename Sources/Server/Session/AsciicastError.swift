/// Why a recording could not be written or read back. Compared by code: the message and details are for people.
public struct AsciicastError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(name: String) {
            self.name = name
        }

        /// The disk (or the quota) holding the recording is full. The session must end: it can no longer be recorded.
        public static let diskFull = Code(name: "disk full")
        /// Any other failure to write or sync the recording; the session must end for the same reason.
        public static let writeFailed = Code(name: "write failed")
        /// The writer was used after `close()`.
        public static let closed = Code(name: "closed")
        /// The first line is not an asciicast header.
        public static let invalidHeader = Code(name: "invalid header")
        /// The header names a version other than 2.
        public static let unsupportedVersion = Code(name: "unsupported version")
        /// A line after the header is not a `[seconds, code, data]` event.
        public static let invalidEvent = Code(name: "invalid event")
        /// The last line is cut off, as when the appliance stopped in the middle of a write.
        public static let truncated = Code(name: "truncated")

        public var description: String { name }
    }

    public let code: Code
    /// What was wrong and what to do.
    public let message: String
    /// The 1-based line of the recording a parse error is about.
    public let line: Int?
    /// The `errno` of a failed system call.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, line: Int? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.line = line
        self.errno = errno
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: AsciicastError, rhs: AsciicastError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
