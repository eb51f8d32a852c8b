import CPTY
import FoundationEssentials
import Glibc
import JumpAgentCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A process on a pseudo-terminal: the endpoint side of a Jump session's shell.
///
/// The process leads a new session whose controlling terminal is the pty's slave, so the terminal does
/// what a terminal does: Ctrl-C (byte 0x03) becomes SIGINT for the foreground process group, a resize
/// becomes SIGWINCH, a hang-up becomes SIGHUP. It is started with posix_spawn, never fork(), because
/// forking a multithreaded Swift process is unsafe, and it inherits nothing of the agent's environment,
/// signal dispositions or descriptors.
///
/// Events arrive on the session's own thread, in order: output chunks, then, once the output has
/// ended (the master reports end of file or EIO after the last slave descriptor is closed), the exit
/// status, exactly once. By the time the exit status is delivered every descriptor the session opened
/// is closed. The process runs until it exits or `terminate()` ends it; dropping the session does not
/// stop it.
public final class ShellSession: Sendable {
    /// Bytes of output the consumer may hold without acknowledging them. 256 KiB keeps a fast `cat` of
    /// a large file moving over a long round trip without letting one session buffer without bound.
    public static let outputWindow = 256 * 1024

    /// The largest single read from the master, and so the largest output chunk.
    public static let readChunkSize = 16 * 1024

    /// Input accepted but not yet taken by the terminal. Typing and pasting fit; a representative who
    /// pastes more waits for `write` to stop failing with `inputQueueFull`.
    public static let maximumPendingInput = 64 * 1024

    /// How long `terminate()` waits after SIGHUP before SIGKILL: long enough for a shell to save its
    /// history, short enough that a representative ending a session sees it end.
    public static let defaultTerminationGrace: Duration = .seconds(5)

    /// After the process exits, how long the master may stay silent without reporting end of file before
    /// the output is declared over: a background job that keeps the slave open (`sleep 1000 &`) must
    /// not hold the exit status back for ever. Closing the master then hangs that job up.
    public static let quietPeriodAfterExit: Duration = .seconds(1)

    /// The PATH of a program started directly (a login shell sets its own). Fixed, so that nothing of
    /// the agent's environment reaches the session.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public struct Configuration: Sendable {
        public var command: ShellCommand
        public var size: TerminalSize
        /// The terminal type the representative's terminal emulates.
        public var term: String
        public var lang: String
        /// Where a directly started program begins; nil keeps the agent's (a login shell goes home).
        public var workingDirectory: String?
        public var terminationGrace: Duration
        /// Starts one of the session's two threads; false when none could be made. The tests replace it
        /// to see a session undone when the thread limit is reached.
        var startThread: @Sendable (@escaping @Sendable () -> Void) -> Bool = { DetachedThread.start(name: "jump-session", $0) }

        public init(
            command: ShellCommand,
            size: TerminalSize = .standard,
            term: String = "xterm-256color",
            lang: String = "C.UTF-8",
            workingDirectory: String? = nil,
            terminationGrace: Duration = ShellSession.defaultTerminationGrace
        ) {
            self.command = command
            self.size = size
            self.term = term
            self.lang = lang
            self.workingDirectory = workingDirectory
            self.terminationGrace = terminationGrace
        }
    }

    public enum Event: Sendable, Hashable {
        /// Bytes from the terminal; acknowledge them with `acknowledge(bytes:)` to keep them coming.
        case output([UInt8])
        /// The last event: the output has ended and the process has been reaped.
        case exit(ShellExit)
    }

    /// The session leader's process id (also its process group and session id).
    public let processID: Int32
    private let engine: Engine

    /// Starts `configuration.command` on a new pseudo-terminal. `handler` receives every event on the
    /// session's thread; it must not block for long, and may call back into the session.
    public init(
        _ configuration: Configuration,
        handler: @escaping @Sendable (Event) -> Void
    ) throws(ShellError) {
        let command = configuration.command
        guard command.executable.hasPrefix("/"), !command.arguments.isEmpty else {
            throw ShellError(.invalidCommand, "a command needs an absolute path and at least argv[0]")
        }
        let environment = ["TERM=\(configuration.term)", "LANG=\(configuration.lang)", "PATH=\(Self.defaultPath)"]
        let strings = [command.executable] + command.arguments + environment + [configuration.workingDirectory ?? ""]
        guard !strings.contains(where: { $0.utf8.contains(0) }) else {
            throw ShellError(.invalidCommand, "the command, environment or directory contains a NUL byte")
        }
        guard configuration.size.rows > 0, configuration.size.columns > 0 else {
            throw ShellError(.invalidCommand, "a terminal needs at least one row and one column")
        }

        var master: Int32 = -1
        var slavePath = [CChar](repeating: 0, count: 128)
        var error = jump_pty_open(&master, &slavePath, slavePath.count)
        guard error == 0 else {
            throw ShellError(.terminalUnavailable, "cannot open a pseudo-terminal: \(Self.describe(error))")
        }
        var wake: [Int32] = [-1, -1]
        var slave: Int32 = -1
        var pid: pid_t = 0
        defer { if slave >= 0 { close(slave) } }
        do throws(ShellError) {
            error = jump_pty_set_window_size(master, configuration.size.rows, configuration.size.columns)
            guard error == 0 else {
                throw ShellError(.terminalUnavailable, "cannot set the terminal's size: \(Self.describe(error))")
            }
            // Held open until the child has its own, so the master never sees a hang-up in between.
            error = jump_pty_open_slave(slavePath, &slave)
            guard error == 0 else {
                throw ShellError(.terminalUnavailable, "cannot open the terminal's slave: \(Self.describe(error))")
            }
            error = jump_pty_wake_pipe(&wake)
            guard error == 0 else {
                throw ShellError(
                    .terminalUnavailable, "cannot create the session's wake-up pipe: \(Self.describe(error))")
            }
            error = Self.withCStrings(command.arguments) { argv in
                Self.withCStrings(environment) { envp in
                    if let directory = configuration.workingDirectory {
                        jump_pty_spawn(&pid, command.executable, argv, envp, slavePath, master, directory)
                    } else {
                        jump_pty_spawn(&pid, command.executable, argv, envp, slavePath, master, nil)
                    }
                }
            }
            guard error == 0 else {
                throw ShellError(.spawnFailed, "cannot start \(command.executable): \(Self.describe(error))")
            }
        } catch {
            close(master)
            for descriptor in wake where descriptor >= 0 { close(descriptor) }
            throw error
        }

        processID = pid
        engine = Engine(
            processID: pid,
            master: master,
            wake: (wake[0], wake[1]),
            grace: configuration.terminationGrace,
            handler: handler
        )
        guard engine.start(configuration.startThread) else {
            throw ShellError(.spawnFailed, "cannot start the session's threads: \(Self.describe(EAGAIN))")
        }
    }

    /// Queues bytes for the terminal. Control characters are just bytes: 0x03 is Ctrl-C, which the line
    /// discipline turns into SIGINT for the foreground process group.
    public func write(_ bytes: some Collection<UInt8>) throws(ShellError) {
        try engine.enqueue(Array(bytes))
    }

    /// Sets the window size; the terminal's foreground process group gets SIGWINCH.
    public func resize(rows: UInt16, columns: UInt16) throws(ShellError) {
        try engine.resize(TerminalSize(rows: rows, columns: columns))
    }

    /// The consumer has dealt with `bytes` more bytes of output; reading resumes if it had stopped.
    public func acknowledge(bytes: Int) {
        engine.acknowledge(bytes)
    }

    /// Ends the session: SIGHUP (and SIGCONT) to the process group and the terminal's foreground group,
    /// as a hang-up would, then SIGKILL to every process of the session after the grace period. The
    /// exit status still arrives through the handler.
    public func terminate() {
        engine.terminate()
    }

    static func describe(_ error: Int32) -> String {
        String(cString: strerror(error))
    }

    /// A NULL-terminated array of C strings alive for the duration of `body`; ENOMEM if one could not
    /// be copied.
    static func withCStrings(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Int32) -> Int32 {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { for pointer in pointers { free(pointer) } }
        guard !pointers.contains(nil) else { return ENOMEM }
        pointers.append(nil)
        return body(pointers)
    }
}
