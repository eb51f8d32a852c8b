/// Starts terminal sessions (a login shell on a pseudo-terminal) for ``SessionChannels``. The Linux
/// implementation lives in JumpAgentLinux (`ShellSessionHost`); tests use an in-memory twin. Keeping
/// the protocol here keeps JumpAgentCore free of C.
public protocol TerminalHost: Sendable {
    /// Starts a session. `events` receives the session's events in order on a thread of the host's
    /// choosing: output chunks, then exactly one `.exited` once the output has ended.
    func start(
        _ request: TerminalRequest,
        events: @escaping @Sendable (TerminalEvent) -> Void
    ) throws(TerminalError) -> any TerminalSession
}

/// A running terminal session.
public protocol TerminalSession: AnyObject, Sendable {
    /// For people, e.g. "shell as root (pid 1234)".
    var summary: String { get }
    /// Queues input for the terminal, all of it or none: ``TerminalError/Code/inputQueueFull`` when it
    /// does not fit now, ``TerminalError/Code/sessionEnded`` when it never will.
    func write(_ bytes: [UInt8]) throws(TerminalError)
    func resize(columns: UInt16, rows: UInt16) throws(TerminalError)
    /// The consumer has dealt with `bytes` more bytes of output; the host delivers output only within
    /// a window of unacknowledged bytes.
    func acknowledge(bytes: Int)
    /// Ends the session (hang-up, then kill after a grace period); `.exited` still follows.
    func terminate()
}

/// What to start.
public struct TerminalRequest: Sendable, Hashable {
    /// The local account the shell runs as.
    public var user: String
    public var columns: UInt16
    public var rows: UInt16
    /// The terminal type the representative's terminal emulates (TERM).
    public var term: String

    public init(user: String, columns: UInt16, rows: UInt16, term: String) {
        self.user = user
        self.columns = columns
        self.rows = rows
        self.term = term
    }
}

public enum TerminalEvent: Sendable, Hashable {
    case output([UInt8])
    case exited(TerminalExit)
}

/// How a session's process ended.
public enum TerminalExit: Sendable, Hashable {
    case status(Int32)
    case signal(Int32)
    /// The status could not be collected.
    case unknown
}

/// Why a terminal session could not start or take a request. Compared by code; the message is for
/// people and travels in `Ack.detail`.
public struct TerminalError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String

        /// The request was refused before anything started (a bad user name or size).
        public static let invalidRequest = Code(description: "invalidRequest")
        /// The session could not be started.
        public static let startFailed = Code(description: "startFailed")
        /// Too much input is waiting; try again once the terminal has taken some.
        public static let inputQueueFull = Code(description: "inputQueueFull")
        /// The terminal has closed.
        public static let sessionEnded = Code(description: "sessionEnded")
        /// Anything else that failed (e.g. setting the window size).
        public static let failed = Code(description: "failed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: TerminalError, rhs: TerminalError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
