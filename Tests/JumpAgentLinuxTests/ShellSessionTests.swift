import Foundation
import JumpAgentCore
import Synchronization
import Testing

@testable import JumpAgentLinux

/// Real pseudo-terminals and real processes. Nothing sleeps to synchronise: every step waits for an
/// event from the session, with a timeout that only matters when something is broken.
@Suite(.serialized)
struct ShellSessionTests {
    static let timeout: Duration = .seconds(20)

    static func program(_ arguments: String...) -> ShellCommand {
        ShellCommand(executable: arguments[0], arguments: arguments)
    }

    static func shell(_ script: String) -> ShellCommand {
        ShellCommand(executable: "/bin/sh", arguments: ["sh", "-c", script])
    }

    /// Starts `command` with a transcript collecting its events.
    static func start(
        _ command: ShellCommand,
        size: TerminalSize = .standard,
        grace: Duration = ShellSession.defaultTerminationGrace
    ) throws -> (ShellSession, Transcript) {
        let transcript = Transcript()
        let session = try ShellSession(
            .init(command: command, size: size, terminationGrace: grace),
            handler: transcript.record
        )
        return (session, transcript)
    }

    @Test func printsTheInitialSizeAndExitsWithZero() async throws {
        let (_, transcript) = try Self.start(
            Self.shell("stty size; echo hello"), size: TerminalSize(rows: 30, columns: 100))
        let exit = try await transcript.exit(within: Self.timeout)
        #expect(exit == .exited(code: 0))
        // The line discipline turns "\n" into "\r\n" (ONLCR).
        #expect(transcript.text == "30 100\r\nhello\r\n")
    }

    @Test func environmentIsTermLangAndPathOnly() async throws {
        setenv("JUMP_AGENT_SECRET", "leaked", 1)
        defer { unsetenv("JUMP_AGENT_SECRET") }
        let transcript = Transcript()
        _ = try ShellSession(
            .init(command: Self.program("/usr/bin/env"), term: "vt100", lang: "en_US.UTF-8"),
            handler: transcript.record
        )
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 0))
        let lines = Set(transcript.text.split(separator: "\r\n").map(String.init))
        #expect(lines == ["TERM=vt100", "LANG=en_US.UTF-8", "PATH=\(ShellSession.defaultPath)"])
    }

    @Test func resizeReachesARunningInteractiveShell() async throws {
        let (session, transcript) = try Self.start(Self.program("/bin/sh", "-i"))
        try session.write(Array("stty size\n".utf8))
        try await transcript.output(containing: "24 80\r\n", within: Self.timeout)
        try session.resize(rows: 50, columns: 132)
        try session.write(Array("stty size\n".utf8))
        try await transcript.output(containing: "50 132\r\n", within: Self.timeout)
        try session.write(Array("exit\n".utf8))
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 0))
    }

    @Test func resizeSendsSIGWINCHToTheForegroundGroup() async throws {
        let script = "trap 'stty size; exit 3' WINCH; echo ready; while :; do sleep 0.05; done"
        let (session, transcript) = try Self.start(Self.shell(script))
        try await transcript.output(containing: "ready\r\n", within: Self.timeout)
        try session.resize(rows: 40, columns: 120)
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 3))
        #expect(transcript.text.hasSuffix("40 120\r\n"))
    }

    @Test func ctrlCInterruptsTheForegroundJobAndTheShellCarriesOn() async throws {
        let (session, transcript) = try Self.start(Self.program("/bin/sh", "-i"))
        // The job prints "started" itself, so by then it is the terminal's foreground process group.
        try session.write(Array("sh -c 'echo sta\"\"rted; exec sleep 100'\n".utf8))
        try await transcript.output(containing: "started\r\n", within: Self.timeout)
        try session.write([0x03])
        try session.write(Array("echo rc=$?; echo after-$((6 * 7))\n".utf8))
        try await transcript.output(containing: "after-42\r\n", within: Self.timeout)
        #expect(transcript.text.contains("rc=130\r\n"))  // 128 + SIGINT
        try session.write(Array("exit\n".utf8))
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 0))
    }

    @Test(arguments: [
        ("exit 7", ShellExit.exited(code: 7)),
        ("kill -TERM $$", .signaled(signal: SIGTERM)),
        ("kill -KILL $$", .signaled(signal: SIGKILL)),
        // SIGPIPE ignored by the agent (the Swift runtime does) must not reach the session.
        ("kill -PIPE $$", .signaled(signal: SIGPIPE)),
    ])
    func reportsTheExitStatus(script: String, expected: ShellExit) async throws {
        let (_, transcript) = try Self.start(Self.shell(script))
        #expect(try await transcript.exit(within: Self.timeout) == expected)
    }

    @Test func outputIsFlowControlledByTheWindow() async throws {
        let total = 5_000_000
        let consumer = SlowConsumer()
        let session = try ShellSession(
            .init(command: Self.shell("head -c \(total) /dev/zero | tr '\\0' a")),
            handler: consumer.record
        )
        let acknowledger = Task {
            // Slow on purpose: 4 KiB per millisecond at most, slower than a pty carries output.
            while !consumer.finished {
                consumer.acknowledge(upTo: 4 * 1024, session: session)
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let exit = try await consumer.exit.value(within: .seconds(120))
        acknowledger.cancel()
        #expect(exit == .exited(code: 0))
        let counts = consumer.counts
        #expect(counts.letters == total)
        #expect(counts.others == 0)
        #expect(counts.maximumOutstanding <= ShellSession.outputWindow)
        // The reader really stopped at the window rather than the consumer keeping up.
        #expect(counts.maximumOutstanding == ShellSession.outputWindow)
    }

    @Test func terminateHangsUpAShell() async throws {
        let (session, transcript) = try Self.start(Self.program("/bin/sh", "-i"))
        try session.write(Array("echo ready\n".utf8))
        try await transcript.output(containing: "ready\r\n", within: Self.timeout)
        session.terminate()
        #expect(try await transcript.exit(within: Self.timeout) == .signaled(signal: SIGHUP))
    }

    @Test func terminateKillsWhatIgnoresTheHangUpAfterTheGrace() async throws {
        let grace: Duration = .milliseconds(300)
        let (session, transcript) = try Self.start(Self.shell("trap '' HUP; echo ready; sleep 100"), grace: grace)
        try await transcript.output(containing: "ready\r\n", within: Self.timeout)
        let clock = ContinuousClock()
        let start = clock.now
        session.terminate()
        #expect(try await transcript.exit(within: Self.timeout) == .signaled(signal: SIGKILL))
        #expect(start.duration(to: clock.now) >= grace)
        #expect(throws: ShellError(.sessionEnded, "")) { try session.write([0x0a]) }
    }

    @Test func aBackgroundJobHoldingTheTerminalDoesNotHoldBackTheExit() async throws {
        // The job ignores SIGHUP and keeps the slave open, so the master never reports end of file.
        let (session, transcript) = try Self.start(Self.shell("trap '' HUP; sleep 100 & echo bye"))
        defer { kill(-session.processID, SIGKILL) }  // the job is still in the leader's process group
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 0))
        #expect(transcript.text == "bye\r\n")
    }

    @Test(.enabled(if: getuid() == 0, "runuser switches users, which only root may do"))
    func loginShellRunsAsTheUser() async throws {
        // nobody's own shell is nologin, hence the explicit one.
        let (session, transcript) = try Self.start(try .loginShell(user: "nobody", shell: "/bin/sh"))
        try session.write(Array("id -u; exit 4\n".utf8))
        #expect(try await transcript.exit(within: Self.timeout) == .exited(code: 4))
        #expect(transcript.text.contains("65534\r\n"))
    }

    @Test func loginShellCommandLine() throws {
        #expect(
            try ShellCommand.loginShell(user: "alice").arguments
                == ["/usr/sbin/runuser", "--login", "--whitelist-environment=LANG", "--", "alice"]
        )
        for user in ["", "-c", "a b", "../x", "a:b"] {
            #expect(throws: ShellError(.invalidCommand, "")) { try ShellCommand.loginShell(user: user) }
        }
        #expect(throws: ShellError(.invalidCommand, "")) { try ShellCommand.loginShell(user: "bob", shell: "sh") }
    }

    @Test func refusesWhatCannotRun() throws {
        let ignore: @Sendable (ShellSession.Event) -> Void = { _ in }
        #expect(throws: ShellError(.invalidCommand, "")) {
            try ShellSession(.init(command: ShellCommand(executable: "sh", arguments: ["sh"])), handler: ignore)
        }
        #expect(throws: ShellError(.spawnFailed, "")) {
            try ShellSession(.init(command: Self.program("/nonexistent/shell")), handler: ignore)
        }
        #expect(throws: ShellError(.invalidCommand, "")) {
            try ShellSession(
                .init(command: Self.program("/bin/sh"), size: TerminalSize(rows: 0, columns: 80)), handler: ignore)
        }
    }

    @Test func boundsTheInputQueue() async throws {
        // Nothing reads the slave, so input fills the line discipline, then the pty, then the queue.
        let (session, transcript) = try Self.start(Self.shell("echo ready; sleep 100"))
        try await transcript.output(containing: "ready\r\n", within: Self.timeout)
        var refused: ShellError?
        for _ in 0..<1000 {
            do { try session.write([UInt8](repeating: 0x61, count: 4096)) } catch {
                refused = error
                break
            }
        }
        #expect(refused?.code == .inputQueueFull)
        session.terminate()
        #expect(try await transcript.exit(within: Self.timeout) == .signaled(signal: SIGHUP))
    }

    @Test func closesEveryDescriptor() async throws {
        let before = Descriptors.current()
        for index in 0..<10 {
            let (session, transcript) = try Self.start(
                Self.shell("echo \(index); sleep 100"), grace: .milliseconds(100))
            try await transcript.output(containing: "\(index)\r\n", within: Self.timeout)
            if index % 2 == 0 {
                session.terminate()
            } else {
                try session.write(Array("x".utf8))
                session.terminate()
            }
            _ = try await transcript.exit(within: Self.timeout)
        }
        for _ in 0..<5 {
            let (_, transcript) = try Self.start(Self.shell("exit 0"))
            _ = try await transcript.exit(within: Self.timeout)
            _ = try? ShellSession(.init(command: Self.program("/nonexistent")), handler: { _ in })
        }
        let after = Descriptors.current()
        #expect(after.terminals == before.terminals)
        // Other suites run at the same time and open descriptors of their own (a few at any moment);
        // one leaked descriptor per session would show 15 more, one leaked pipe 30.
        #expect(after.count < before.count + 10, "\(before.count) descriptors before, \(after.count) after")
    }

    /// At the thread limit the process is already running when its threads cannot be made: the session
    /// must kill and reap it and close its terminal, not leave an unwatched shell. The limit is simulated
    /// (a thread starter that refuses the first or the second thread); the process and terminal are real.
    @Test(arguments: [1, 2])
    func aSessionWhoseThreadCannotStartIsUndone(refused: Int) async throws {
        // A copy of sleep under a name of its own, to find the child by its command name (kept by a zombie too).
        let name = "jump-nothread\(refused)"
        let program = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: program)
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: program)
        defer { try? FileManager.default.removeItem(atPath: program) }
        let comm = String(URL(fileURLWithPath: program).lastPathComponent.prefix(15))

        let before = Descriptors.current()
        let calls = Mutex(0)
        var configuration = ShellSession.Configuration(command: Self.program(program, "1000"))
        configuration.startThread = { body in
            guard calls.withLock({ $0 += 1; return $0 }) != refused else { return false }
            return DetachedThread.start(name: "jump-session", body)
        }
        let events = Mutex<[ShellSession.Event]>([])
        #expect(throws: ShellError(.spawnFailed, "")) {
            try ShellSession(configuration, handler: { event in events.withLock { $0.append(event) } })
        }
        #expect(calls.withLock { $0 } == refused)
        #expect(Descriptors.current().terminals == before.terminals)
        // Killed at once; reaped at once (first thread refused) or by the reaper thread (second).
        let deadline = ContinuousClock.now.advanced(by: Self.timeout)
        while !Self.children(named: comm).isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Self.children(named: comm).isEmpty, "the session's process was left running or unreaped")
        #expect(events.withLock { $0 }.isEmpty)
    }

    /// This process's children (a zombie included) whose command name is `comm`.
    static func children(named comm: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard stat[stat.index(after: open)..<close] == comm, fields.count > 1, pid_t(fields[1]) == getpid() else { return nil }
            return pid
        }
    }
}

extension ShellSessionTests {
    /// Records a session's events and lets a test wait for what it expects.
    final class Transcript: Sendable {
        struct Timeout: Error, CustomStringConvertible {
            let description: String
        }

        private struct Waiter {
            let ready: @Sendable ([UInt8], ShellExit?) -> Bool
            let continuation: CheckedContinuation<Void, any Error>
        }

        private struct State {
            var output: [UInt8] = []
            var exit: ShellExit?
            var waiters: [Int: Waiter] = [:]
            var nextWaiter = 0
        }

        private let state = Mutex(State())

        @Sendable func record(_ event: ShellSession.Event) {
            let ready: [Waiter] = state.withLock { state in
                switch event {
                case .output(let bytes): state.output += bytes
                case .exit(let exit):
                    precondition(state.exit == nil, "a second exit event")
                    state.exit = exit
                }
                let ready = state.waiters.filter { $0.value.ready(state.output, state.exit) }
                for key in ready.keys { state.waiters[key] = nil }
                return Array(ready.values)
            }
            for waiter in ready { waiter.continuation.resume() }
        }

        var text: String { state.withLock { String(decoding: $0.output, as: UTF8.self) } }

        func output(containing expected: String, within timeout: Duration) async throws {
            try await wait(for: "output containing \(expected.debugDescription)", within: timeout) { output, _ in
                String(decoding: output, as: UTF8.self).contains(expected)
            }
        }

        func exit(within timeout: Duration) async throws -> ShellExit {
            try await wait(for: "the exit status", within: timeout) { $1 != nil }
            return try #require(state.withLock { $0.exit })
        }

        private func wait(
            for what: String,
            within timeout: Duration,
            until ready: @escaping @Sendable ([UInt8], ShellExit?) -> Bool
        ) async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let key: Int? = state.withLock { state in
                    if ready(state.output, state.exit) { return nil }
                    let key = state.nextWaiter
                    state.nextWaiter += 1
                    state.waiters[key] = Waiter(ready: ready, continuation: continuation)
                    return key
                }
                guard let key else { return continuation.resume() }
                Task {
                    try? await Task.sleep(for: timeout)
                    let expired = self.state.withLock { state -> (Waiter, String)? in
                        state.waiters.removeValue(forKey: key).map {
                            ($0, String(decoding: state.output.suffix(500), as: UTF8.self))
                        }
                    }
                    if let (waiter, tail) = expired {
                        waiter.continuation.resume(
                            throwing: Timeout(
                                description: "no \(what) within \(timeout); output ends \(tail.debugDescription)"))
                    }
                }
            }
        }
    }

    /// A consumer that counts rather than keeps 5 MB, and acknowledges slowly.
    final class SlowConsumer: Sendable {
        struct Counts {
            var letters = 0
            var others = 0
            var acknowledged = 0
            var maximumOutstanding = 0
            var received: Int { letters + others }
        }

        private let state = Mutex(Counts())
        let exit = OneShot<ShellExit>()

        @Sendable func record(_ event: ShellSession.Event) {
            switch event {
            case .output(let bytes):
                state.withLock { counts in
                    let letters = bytes.count { $0 == UInt8(ascii: "a") }
                    counts.letters += letters
                    counts.others += bytes.count - letters
                    counts.maximumOutstanding = max(counts.maximumOutstanding, counts.received - counts.acknowledged)
                }
            case .exit(let status):
                exit.fulfil(status)
            }
        }

        var finished: Bool { exit.isFulfilled }
        var counts: Counts { state.withLock { $0 } }

        /// Acknowledges under the same lock as the counting, so the outstanding figure is the session's own.
        func acknowledge(upTo limit: Int, session: ShellSession) {
            state.withLock { counts in
                let count = min(limit, counts.received - counts.acknowledged)
                guard count > 0 else { return }
                session.acknowledge(bytes: count)
                counts.acknowledged += count
            }
        }
    }

    /// A value delivered once, awaited with a timeout.
    final class OneShot<Value: Sendable>: Sendable {
        private struct State {
            var value: Value?
            var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
            var nextWaiter = 0
        }

        private let state = Mutex(State())

        var isFulfilled: Bool { state.withLock { $0.value != nil } }

        func fulfil(_ value: Value) {
            let waiting = state.withLock { state in
                state.value = value
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            for continuation in waiting { continuation.resume(returning: value) }
        }

        func value(within timeout: Duration) async throws -> Value {
            try await withCheckedThrowingContinuation { continuation in
                let key: Int? = state.withLock { state in
                    if state.value != nil { return nil }
                    let key = state.nextWaiter
                    state.nextWaiter += 1
                    state.waiters[key] = continuation
                    return key
                }
                guard let key else {
                    return continuation.resume(
                        with: state.withLock { state in
                            state.value.map { .success($0) }
                                ?? .failure(ShellSessionTests.Transcript.Timeout(description: "no value"))
                        })
                }
                Task {
                    try? await Task.sleep(for: timeout)
                    if let waiter = self.state.withLock({ $0.waiters.removeValue(forKey: key) }) {
                        waiter.resume(
                            throwing: ShellSessionTests.Transcript.Timeout(description: "no value within \(timeout)"))
                    }
                }
            }
        }
    }

    /// This process's open descriptors, and how many of them are terminals.
    struct Descriptors {
        var count: Int
        var terminals: Int

        static func current() -> Descriptors {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            let targets = entries.compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
            }
            return Descriptors(
                count: entries.count,
                terminals: targets.count { $0 == "/dev/ptmx" || $0.hasPrefix("/dev/pts/") }
            )
        }
    }
}

@Suite struct OutputWindowTests {
    @Test func allowanceShrinksAsOutputIsDeliveredAndGrowsWithAcknowledgements() {
        var window = OutputWindow(size: 100)
        #expect(window.allowance == 100)
        window.delivered(60)
        #expect(window.allowance == 40)
        window.delivered(40)
        #expect(window.isFull)
        window.acknowledge(30)
        #expect(window.allowance == 30 && !window.isFull)
    }

    @Test(arguments: [500, Int.max, -5])
    func acknowledgingTooMuchOrNegativeNeverOpensItBeyondItsSize(count: Int) {
        var window = OutputWindow(size: 100)
        window.delivered(50)
        window.acknowledge(count)
        #expect(window.allowance == (count < 0 ? 50 : 100))
    }
}

@Suite struct InputQueueTests {
    @Test func consumesFromTheFrontAcrossAppends() {
        var queue = InputQueue()
        queue.append(Array("hello".utf8))
        queue.removeFirst(3)
        queue.append(Array(" world".utf8))
        #expect(queue.count == 8)
        #expect(queue.withPending { Array($0) } == Array("lo world".utf8))
        queue.removeFirst(100)
        #expect(queue.isEmpty)
    }

    @Test func exitStatusDecoding() {
        #expect(ShellSession.Engine.decode(7 << 8) == .exited(code: 7))
        #expect(ShellSession.Engine.decode(9) == .signaled(signal: 9))
        #expect(ShellSession.Engine.decode(0x80 | 11) == .signaled(signal: 11))  // core dumped
    }
}
