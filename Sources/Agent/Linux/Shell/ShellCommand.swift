/// What runs on the terminal: an absolute path and the argument vector (argv[0] first), never a
/// command string for a shell to parse.
public struct ShellCommand: Sendable, Hashable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// util-linux's runuser: like su, but for root only and without asking for a password.
    public static let runuserPath = "/usr/sbin/runuser"

    /// A login shell as `user` (`runuser --login`): the user's shell from the password database (or
    /// `shell`), their home directory, and the environment a login gives (HOME, SHELL, USER, LOGNAME,
    /// PATH), keeping TERM and LANG from the session. Only root may do this.
    public static func loginShell(user: String, shell: String? = nil) throws(ShellError) -> ShellCommand {
        guard !user.isEmpty, !user.hasPrefix("-"), !user.contains(where: { $0 == "/" || $0 == ":" || $0 == "\0" }),
            !user.contains(where: \.isWhitespace)
        else {
            throw ShellError(.invalidCommand, "\"\(user)\" is not a user name")
        }
        var arguments = [runuserPath, "--login", "--whitelist-environment=LANG"]
        if let shell {
            guard shell.hasPrefix("/"), !shell.contains("\0") else {
                throw ShellError(.invalidCommand, "the shell must be an absolute path, not \"\(shell)\"")
            }
            arguments.append("--shell=\(shell)")
        }
        arguments += ["--", user]
        return ShellCommand(executable: runuserPath, arguments: arguments)
    }

    /// coreutils' env: sets the login environment, then runs the shell, with no shell in between.
    public static let envPath = "/usr/bin/env"

    /// The shell when the password database names none (as login(1) does).
    public static let fallbackShell = "/bin/sh"

    /// The account's own login shell, started directly by the account itself: for a support agent
    /// run by an ordinary user, who cannot use runuser (root only) and is that user already. It
    /// gives what `runuser --login` gives: the passwd shell as a login shell (`-l`, which bash, zsh,
    /// dash, ksh, fish and tcsh all take), HOME, SHELL, USER and LOGNAME; the session sets TERM, LANG
    /// and PATH, and starts it in `home`.
    public static func ownLoginShell(user: String, home: String, shell: String) throws(ShellError) -> ShellCommand {
        guard !user.isEmpty, !user.contains(where: { $0 == "/" || $0 == ":" || $0 == "=" || $0 == "\0" }),
            !user.contains(where: \.isWhitespace)
        else {
            throw ShellError(.invalidCommand, "\"\(user)\" is not a user name")
        }
        let shell = shell.isEmpty ? fallbackShell : shell
        // env reads every argument with "=" as a variable until the program's: the shell may have none.
        guard shell.hasPrefix("/"), !shell.contains("\0"), !shell.contains("=") else {
            throw ShellError(.invalidCommand, "the shell must be an absolute path, not \"\(shell)\"")
        }
        guard home.hasPrefix("/"), !home.contains("\0") else {
            throw ShellError(.invalidCommand, "the home directory must be an absolute path, not \"\(home)\"")
        }
        return ShellCommand(
            executable: envPath,
            arguments: [
                "env", "HOME=\(home)", "SHELL=\(shell)", "USER=\(user)", "LOGNAME=\(user)", shell, "-l",
            ]
        )
    }
}

/// The terminal's size in character cells.
public struct TerminalSize: Sendable, Hashable {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }

    /// The size a VT100 had, and what a terminal is assumed to be until told otherwise.
    public static let standard = TerminalSize(rows: 24, columns: 80)
}

/// How a session's process ended.
public enum ShellExit: Sendable, Hashable {
    /// It called exit with this status.
    case exited(code: Int32)
    /// A signal ended it.
    case signaled(signal: Int32)
    /// Someone else collected the status (the process ignores SIGCHLD, or another waiter took it).
    case unknown
}
