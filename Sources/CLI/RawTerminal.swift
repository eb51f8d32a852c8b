import CPTY
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local terminal in raw mode for a session, as ssh puts it: every key, Ctrl-C and Ctrl-Z included, goes
/// to the remote shell as typed, nothing is echoed locally, and output is not post-processed. ``restore()``
/// puts back the settings found at the start; it is safe to call more than once and from a signal handler's
/// queue.
final class RawTerminal: Sendable {
    let descriptor: CInt
    /// The settings to restore; nil once restored.
    private let original: Mutex<termios?>

    /// Puts the terminal on `descriptor` in raw mode, or throws when it is not a terminal or refuses.
    init(descriptor: CInt) throws {
        self.descriptor = descriptor
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else {
            throw CLIError.failure("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
        var raw = settings
        cfmakeraw(&raw)
        guard tcsetattr(descriptor, TCSADRAIN, &raw) == 0 else {
            throw CLIError.failure("cannot put the terminal in raw mode: \(String(cString: strerror(errno)))")
        }
        original = Mutex(settings)
    }

    deinit {
        restore()
    }

    /// Whether raw mode is still on.
    var isRaw: Bool { original.withLock { $0 != nil } }

    func restore() {
        original.withLock { saved in
            guard var settings = saved else { return }
            while tcsetattr(descriptor, TCSADRAIN, &settings) != 0, errno == EINTR {}
            saved = nil
        }
    }

    /// The size of the terminal on standard output, else standard input; nil when neither is a terminal that
    /// knows its size.
    static func windowSize() -> WindowSize? {
        for descriptor in [STDOUT_FILENO, STDIN_FILENO] where isatty(descriptor) == 1 {
            var rows: UInt16 = 0
            var columns: UInt16 = 0
            if jump_pty_get_window_size(descriptor, &rows, &columns) == 0, rows > 0, columns > 0 {
                return WindowSize(columns: Int(columns), rows: Int(rows))
            }
        }
        return nil
    }

    /// The terminal type to ask for on the remote side.
    static func terminalType(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        guard let term = environment["TERM"], !term.isEmpty else { return "xterm-256color" }
        return term
    }
}
