public import JumpAgentCore

#if canImport(Glibc)
import Glibc
#endif

/// Session shells for ``SessionChannels``: a login shell (`runuser --login`) on a pseudo-terminal.
public struct ShellSessionHost: TerminalHost {
    public var terminationGrace: Duration

    public init(terminationGrace: Duration = ShellSession.defaultTerminationGrace) {
        self.terminationGrace = terminationGrace
    }

    public func start(
        _ request: TerminalRequest,
        events: @escaping @Sendable (TerminalEvent) -> Void
    ) throws(TerminalError) -> any TerminalSession {
        guard geteuid() == 0 else {
            throw TerminalError(.startFailed, "the Jump Client must run as root to start a shell as \(request.user)")
        }
        guard Self.accountExists(request.user) else {
            throw TerminalError(.invalidRequest, "there is no account \"\(request.user)\" on this computer")
        }
        do throws(ShellError) {
            let session = try ShellSession(
                .init(
                    command: try ShellCommand.loginShell(user: request.user),
                    size: TerminalSize(rows: request.rows, columns: request.columns),
                    term: request.term,
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

    /// Whether the password database (files, LDAP, whatever NSS is set up for) knows `user`.
    static func accountExists(_ user: String) -> Bool {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let error = getpwnam_r(user, &entry, &buffer, buffer.count, &found)
        return error == 0 && found != nil
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
