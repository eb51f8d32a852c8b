/// What `jumpctl jump` does with each thing that happens during a session, decided without any I/O so that
/// the exit status and the messages can be tested line by line; ``TerminalSessionRunner`` carries it out.
struct JumpSessionState: Sendable {
    /// The exit status when the session ended without the shell's own exit status (as ssh uses 255): ended
    /// by someone, force-ended by a Jump Policy, the agent disconnected, the recording or the shell failed,
    /// or the connection was lost.
    static let endedWithoutStatus: Int32 = 255
    /// Added to a signal number when the shell was killed by it, as shells do.
    static let signalBase: Int32 = 128

    struct Exit: Equatable, Sendable {
        var status: Int32
        /// Printed on standard error after the terminal is restored (without "jumpctl: ").
        var message: String?
    }

    enum Action: Equatable, Sendable {
        case none
        /// Print this line on standard error (without "jumpctl: ").
        case show(String)
        /// The session is over: stop reading and exit.
        case finish(Exit)
    }

    enum InputEndAction: Equatable, Sendable {
        case none
        /// Send one EOT byte (Ctrl-D) so that a shell at its prompt exits when a piped script ends.
        case sendEndOfTransmission
    }

    /// Whether standard input is a terminal (in raw mode) rather than a pipe or a file.
    let inputIsTerminal: Bool
    /// A participant who joined someone else's session never ends its shell when their input ends.
    let ownsSession: Bool
    private(set) var finished: Exit?
    private var sawInputEnd = false

    init(inputIsTerminal: Bool, ownsSession: Bool = true) {
        self.inputIsTerminal = inputIsTerminal
        self.ownsSession = ownsSession
    }

    mutating func received(_ message: TerminalServerMessage) -> Action {
        guard finished == nil else { return .none }
        switch message {
        case .notice(let level, let text, _):
            return .show(level == "warning" ? "warning: \(text)" : text)
        case .participant(let user, let joined):
            return .show(joined ? "\(user) joined the session" : "\(user) left the session")
        case .end(let outcome):
            let exit = Self.exit(for: outcome)
            finished = exit
            return .finish(exit)
        case .unknown:
            return .none
        }
    }

    /// Standard input reached its end (or a terminal hung up).
    mutating func inputEnded() -> InputEndAction {
        guard !sawInputEnd, finished == nil else { return .none }
        sawInputEnd = true
        return inputIsTerminal || !ownsSession ? .none : .sendEndOfTransmission
    }

    /// The WebSocket closed or failed; `reason` says how when known.
    mutating func connectionEnded(reason: String?) -> Exit {
        if let finished { return finished }
        let exit = Exit(
            status: Self.endedWithoutStatus,
            message: "the connection to the appliance was lost before the session ended"
                + (reason.map { ": \($0)" } ?? "")
        )
        finished = exit
        return exit
    }

    /// Writing the session's output failed (standard output closed, disk full).
    mutating func outputFailed(_ reason: String) -> Exit {
        if let finished { return finished }
        let exit = Exit(status: Self.endedWithoutStatus, message: "cannot write the session's output: \(reason)")
        finished = exit
        return exit
    }

    static func exit(for end: TerminalSessionOutcome) -> Exit {
        let detail = end.detail.isEmpty ? "" : ": \(end.detail)"
        switch end.outcome {
        case "exited":
            guard let status = end.exitStatus else {
                return Exit(status: endedWithoutStatus, message: "the shell exited without an exit status\(detail)")
            }
            return Exit(status: Int32(truncatingIfNeeded: status & 0xFF), message: nil)
        case "signaled":
            guard let signal = end.signal, (1..<128).contains(signal) else {
                return Exit(status: endedWithoutStatus, message: "the shell was killed by a signal\(detail)")
            }
            return Exit(
                status: signalBase + Int32(signal),
                message: "the shell was killed by signal \(signal)\(detail)"
            )
        case "force-ended":
            return Exit(status: endedWithoutStatus, message: "the session was force-ended\(detail)")
        case "ended":
            return Exit(status: endedWithoutStatus, message: "the session was ended\(detail)")
        case "agent-disconnected":
            return Exit(status: endedWithoutStatus, message: "the Jump Client disconnected\(detail)")
        case "recording-failed":
            return Exit(status: endedWithoutStatus, message: "the session ended because its recording failed\(detail)")
        case "failed":
            return Exit(status: endedWithoutStatus, message: "the session failed\(detail)")
        default:
            return Exit(status: endedWithoutStatus, message: "the session ended (\(end.outcome))\(detail)")
        }
    }
}
