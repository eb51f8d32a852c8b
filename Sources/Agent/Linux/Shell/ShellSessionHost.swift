import FoundationEssentials
public import JumpAgentCore

#if canImport(Glibc)
import Glibc
#endif

/// Session shells for ``SessionChannels``: a login shell on a pseudo-terminal, through
/// `runuser --login` when the agent runs as root, else the account's own shell when the session is
/// for the account the agent runs as.
public struct ShellSessionHost: TerminalHost {
    public var terminationGrace: Duration

    public init(terminationGrace: Duration = ShellSession.defaultTerminationGrace) {
        self.terminationGrace = terminationGrace
    }

    public func start(
        _ request: TerminalRequest,
        events: @escaping @Sendable (TerminalEvent) -> Void
    ) throws(TerminalError) -> any TerminalSession {
        let plan = try Self.plan(for: request.user, effectiveUID: geteuid(), account: Self.account)
        do throws(ShellError) {
            let session = try ShellSession(
                .init(
                    command: plan.command,
                    size: TerminalSize(rows: request.rows, columns: request.columns),
                    term: request.term,
                    workingDirectory: plan.workingDirectory,
                    terminationGrace: terminationGrace
                )
            ) { event in
                switch event {
                case .output(let bytes): events(.output(bytes))
                case .exit(.exited(let code)): events(.exited(.status(code)))
                case .exit(.signaled(let signal)): events(.exited(.signal(signal)))
                case .exit(.unknown): events(.exited(.unknown))
                }
            }
            return ShellTerminal(session: session, user: request.user)
        } catch {
            throw TerminalError(error)
        }
    }

    /// A password database entry, as far as starting a shell needs it.
    public struct Account: Sendable, Hashable {
        public var uid: UInt32
        public var home: String
        public var shell: String

        public init(uid: UInt32, home: String, shell: String) {
            self.uid = uid
            self.home = home
            self.shell = shell
        }
    }

    /// What to run for `user`. Root becomes anyone with runuser; anyone else can only be themselves,
    /// and starts their own login shell directly (the support agent run by an ordinary user).
    public static func plan(
        for user: String,
        effectiveUID: UInt32,
        account lookUp: (String) -> Account?
    ) throws(TerminalError) -> (command: ShellCommand, workingDirectory: String?) {
        guard let account = lookUp(user) else {
            if effectiveUID != 0 {
                throw TerminalError(.startFailed, "the Jump Client must run as root to start a shell as \(user)")
            }
            throw TerminalError(.invalidRequest, "there is no account \"\(user)\" on this computer")
        }
        guard effectiveUID == 0 || account.uid == effectiveUID else {
            throw TerminalError(.startFailed, "the Jump Client must run as root to start a shell as \(user)")
        }
        do throws(ShellError) {
            if effectiveUID == 0 {
                return (try ShellCommand.loginShell(user: user), nil)
            }
            let home = FileManager.default.fileExists(atPath: account.home) ? account.home : "/"
            return (try ShellCommand.ownLoginShell(user: user, home: account.home, shell: account.shell), home)
        } catch {
            throw TerminalError(error)
        }
    }

    /// The password database (files, LDAP, whatever NSS is set up for) entry of `user`.
    static func account(_ user: String) -> Account? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwnam_r(user, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return Account(uid: entry.pw_uid, home: String(cString: entry.pw_dir), shell: String(cString: entry.pw_shell))
    }
}

/// A ``ShellSession`` as a ``TerminalSession``.
final class ShellTerminal: TerminalSession {
    let session: ShellSession
    let summary: String

    init(session: ShellSession, user: String) {
        self.session = session
        self.summary = "shell as \(user) (pid \(session.processID))"
    }

    func write(_ bytes: [UInt8]) throws(TerminalError) {
        do throws(ShellError) { try session.write(bytes) } catch { throw TerminalError(error) }
    }

    func resize(columns: UInt16, rows: UInt16) throws(TerminalError) {
        do throws(ShellError) { try session.resize(rows: rows, columns: columns) } catch { throw TerminalError(error) }
    }

    func acknowledge(bytes: Int) { session.acknowledge(bytes: bytes) }

    func terminate() { session.terminate() }
}

extension TerminalError {
    init(_ error: ShellError) {
        let code: Code =
            switch error.code {
            case .inputQueueFull: .inputQueueFull
            case .sessionEnded: .sessionEnded
            case .invalidCommand: .invalidRequest
            case .terminalUnavailable, .spawnFailed: .startFailed
            default: .failed
            }
        self.init(code, error.message)
    }
}
