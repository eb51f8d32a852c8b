import Foundation
import JumpAgentCore
import Testing

@testable import JumpAgentLinux

/// The shell of a support session run by an ordinary user: that user's own login shell, started
/// directly, since runuser is for root only.
@Suite struct OwnLoginShellTests {
    static let alice = ShellSessionHost.Account(uid: 1000, home: "/home/alice", shell: "/bin/bash")

    @Test func theCommandLineGivesALoginEnvironment() throws {
        let command = try ShellCommand.ownLoginShell(user: "alice", home: "/home/alice", shell: "/bin/bash")
        #expect(command.executable == "/usr/bin/env")
        #expect(
            command.arguments == [
                "env", "HOME=/home/alice", "SHELL=/bin/bash", "USER=alice", "LOGNAME=alice", "/bin/bash", "-l",
            ]
        )
        let fallback = try ShellCommand.ownLoginShell(user: "alice", home: "/home/alice", shell: "")
        #expect(fallback.arguments.suffix(2) == ["/bin/sh", "-l"], "no shell in passwd: /bin/sh, as login does")
    }

    @Test func whatCannotBeStartedIsRefused() {
        for (user, home, shell) in [
            ("", "/home/a", "/bin/sh"), ("a b", "/home/a", "/bin/sh"), ("a=b", "/home/a", "/bin/sh"),
            ("alice", "/home/a", "bash"), ("alice", "/home/a", "/opt/x=y/sh"), ("alice", "home", "/bin/sh"),
        ] {
            #expect(throws: ShellError(.invalidCommand, "")) {
                try ShellCommand.ownLoginShell(user: user, home: home, shell: shell)
            }
        }
    }

    @Test func anOrdinaryUserGetsTheirOwnShellAndNoOneElses() throws {
        let accounts: (String) -> ShellSessionHost.Account? = { user in
            switch user {
            case "alice": Self.alice
            case "bob": ShellSessionHost.Account(uid: 1001, home: "/home/bob", shell: "/bin/zsh")
            default: nil
            }
        }
        let own = try ShellSessionHost.plan(for: "alice", effectiveUID: 1000, account: accounts)
        #expect(own.command == (try ShellCommand.ownLoginShell(user: "alice", home: "/home/alice", shell: "/bin/bash")))
        #expect(throws: TerminalError(.startFailed, "")) {
            try ShellSessionHost.plan(for: "bob", effectiveUID: 1000, account: accounts)
        }
        #expect(throws: TerminalError(.startFailed, "")) {
            try ShellSessionHost.plan(for: "nobody-here", effectiveUID: 1000, account: accounts)
        }
        let root = try ShellSessionHost.plan(for: "bob", effectiveUID: 0, account: accounts)
        #expect(root.command == (try ShellCommand.loginShell(user: "bob")), "root uses runuser for anyone")
        #expect(throws: TerminalError(.invalidRequest, "")) {
            try ShellSessionHost.plan(for: "nobody-here", effectiveUID: 0, account: accounts)
        }
    }

    /// Started for real (as whoever runs the tests, as their own account).
    @Test func theOwnShellRunsWithTheLoginEnvironment() async throws {
        let account = try #require(DisplayLocator.systemAccount(geteuid()))
        let transcript = ShellSessionTests.Transcript()
        let session = try ShellSession(
            .init(
                command: try ShellCommand.ownLoginShell(user: account.name, home: account.home, shell: "/bin/sh"),
                workingDirectory: "/"
            ),
            handler: transcript.record
        )
        try session.write(Array("echo \"[$HOME|$USER|$LOGNAME|$SHELL]\"; exit 5\n".utf8))
        #expect(try await transcript.exit(within: .seconds(20)) == .exited(code: 5))
        #expect(transcript.text.contains("[\(account.home)|\(account.name)|\(account.name)|/bin/sh]"))
    }
}
