/// Why a shell session could not start or could not take a request. Compared by code; the message says
/// what happened and, where the caller can do something, what to do.
public struct ShellError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String

        /// The command or configuration was refused before anything was started.
        public static let invalidCommand = Code(description: "invalidCommand")
        /// No pseudo-terminal could be allocated.
        public static let terminalUnavailable = Code(description: "terminalUnavailable")
        /// The process could not be started.
        public static let spawnFailed = Code(description: "spawnFailed")
        /// More input is waiting than `ShellSession.maximumPendingInput`.
        public static let inputQueueFull = Code(description: "inputQueueFull")
        /// The terminal is gone: its output has ended.
        public static let sessionEnded = Code(description: "sessionEnded")
        /// The window size could not be set.
        public static let resizeFailed = Code(description: "resizeFailed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: ShellError, rhs: ShellError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
