import CPTY
import FoundationEssentials
import Glibc
import JumpAgentCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension ShellSession {
    /// The session's moving parts: one thread polls the master (reading within the output window,
    /// writing queued input) and a wake-up pipe; another waits for the process. All shared state sits
    /// behind one lock, and descriptors are only closed under it, so `resize` and `acknowledge` never
    /// touch a descriptor number that has been reused.
    final class Engine: Sendable {
        struct State {
            var master: Int32
            var wakeRead: Int32
            var wakeWrite: Int32
            var window = OutputWindow(size: ShellSession.outputWindow)
            var input = InputQueue()
            var exit: ShellExit?
            var outputEnded = false
            var terminating = false
            var killDeadline: ContinuousClock.Instant?
            var quietDeadline: ContinuousClock.Instant?
            var closed = false

            /// Closes the master and the wake-up pipe, once; only under the lock, so no one uses a
            /// descriptor number that has been reused.
            mutating func closeDescriptors() {
                guard !closed else { return }
                close(master)
                close(wakeRead)
                close(wakeWrite)
                closed = true
            }
        }

        let processID: pid_t
        let grace: Duration
        let handler: @Sendable (Event) -> Void
        let state: Mutex<State>
        let clock = ContinuousClock()

        init(
            processID: pid_t, master: Int32, wake: (Int32, Int32), grace: Duration,
            handler: @escaping @Sendable (Event) -> Void
        ) {
            self.processID = processID
            self.grace = grace
            self.handler = handler
            self.state = Mutex(State(master: master, wakeRead: wake.0, wakeWrite: wake.1))
        }

        /// Starts the thread that reaps the process and the one that moves its bytes. False when either
        /// cannot be made (the thread limit): the session is then undone, its processes killed and
        /// reaped, its descriptors closed, and no event is delivered.
        func start(_ startThread: @Sendable (@escaping @Sendable () -> Void) -> Bool) -> Bool {
            guard startThread({ [self] in reap() }) else {
                // Nothing waits for the process: kill and reap it here.
                killSession()
                var status: Int32 = 0
                while waitpid(processID, &status, 0) < 0 && errno == EINTR {}
                closeDescriptors()
                return false
            }
            guard startThread({ [self] in run() }) else {
                // The reaper waits for the process; killed under the lock, as `terminate` does, while
                // the state says it has not been reaped, so its id cannot name another process yet.
                state.withLock { state in
                    if state.exit == nil { killSession() }
                }
                closeDescriptors()
                return false
            }
            return true
        }

        private func closeDescriptors() {
            state.withLock { $0.closeDescriptors() }
        }

        // MARK: requests from the session's owner

        func enqueue(_ bytes: [UInt8]) throws(ShellError) {
            try state.withLock { (state: inout State) throws(ShellError) in
                guard !state.outputEnded, !state.closed else {
                    throw ShellError(.sessionEnded, "the terminal has closed; no more input is accepted")
                }
                guard state.input.count + bytes.count <= ShellSession.maximumPendingInput else {
                    throw ShellError(
                        .inputQueueFull,
                        "more than \(ShellSession.maximumPendingInput) bytes of input are waiting; send the rest later"
                    )
                }
                state.input.append(bytes)
                Self.wake(state)
            }
        }

        func resize(_ size: TerminalSize) throws(ShellError) {
            guard size.rows > 0, size.columns > 0 else {
                throw ShellError(.invalidCommand, "a terminal needs at least one row and one column")
            }
            try state.withLock { (state: inout State) throws(ShellError) in
                guard !state.closed else {
                    throw ShellError(.sessionEnded, "the terminal has closed")
                }
                let error = jump_pty_set_window_size(state.master, size.rows, size.columns)
                guard error == 0 else {
                    throw ShellError(.resizeFailed, "cannot set the terminal's size: \(ShellSession.describe(error))")
                }
            }
        }

        func acknowledge(_ count: Int) {
            state.withLock { state in
                let wasFull = state.window.isFull
                state.window.acknowledge(count)
                if wasFull && !state.window.isFull { Self.wake(state) }
            }
        }

        func terminate() {
            state.withLock { state in
                guard !state.terminating, !state.closed else { return }
                state.terminating = true
                if state.exit == nil {
                    // Not reaped yet, so the process id (and group and session ids) cannot have been reused.
                    hangUp(foregroundGroup: tcgetpgrp(state.master))
                    state.killDeadline = clock.now.advanced(by: grace)
                }
                Self.wake(state)
            }
        }

        // MARK: the process

        /// Waits for the exit without reaping (WNOWAIT), then reaps under the lock: while the state says
        /// the process is alive, its id still names it, so signals never reach a stranger.
        private func reap() {
            var info = siginfo_t()
            var result: Int32
            repeat {
                result = waitid(P_PID, id_t(processID), &info, WEXITED | WNOWAIT)
            } while result != 0 && errno == EINTR
            state.withLock { state in
                var status: Int32 = 0
                var reaped: pid_t
                repeat {
                    reaped = waitpid(processID, &status, 0)
                } while reaped < 0 && errno == EINTR
                state.exit = reaped == processID ? Self.decode(status) : .unknown
                state.quietDeadline = clock.now.advanced(by: ShellSession.quietPeriodAfterExit)
                Self.wake(state)
            }
        }

        static func decode(_ status: Int32) -> ShellExit {
            let signal = status & 0x7f
            return signal == 0 ? .exited(code: (status >> 8) & 0xff) : .signaled(signal: signal)
        }

        private func hangUp(foregroundGroup: pid_t) {
            for group in Set([processID, foregroundGroup]) where group > 0 {
                kill(-group, SIGHUP)
                kill(-group, SIGCONT)
            }
        }

        /// SIGKILL to the process group and to every process whose session is ours: an interactive
        /// shell puts each job in a group of its own.
        private func killSession() {
            kill(-processID, SIGKILL)
            for member in Self.sessionMembers(processID) {
                kill(member, SIGKILL)
            }
        }

        /// Processes whose session id (the sixth field of /proc/PID/stat) is `session`.
        static func sessionMembers(_ session: pid_t) -> [pid_t] {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
            return entries.compactMap { entry -> pid_t? in
                guard let pid = pid_t(entry),
                    let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                    let end = stat.lastIndex(of: ")")
                else { return nil }
                // After "pid (comm)": state ppid pgrp session ...
                let fields = stat[stat.index(after: end)...].split(separator: " ")
                guard fields.count > 3, pid_t(fields[3]) == session else { return nil }
                return pid
            }
        }

        // MARK: the I/O thread

        private enum Step {
            case poll(master: Int32, events: Int16, wake: Int32, timeout: Int32)
            case finish(ShellExit)
        }

        private func run() {
            var buffer = [UInt8](repeating: 0, count: ShellSession.readChunkSize)
            while true {
                switch nextStep() {
                case .finish(let exit):
                    handler(.exit(exit))
                    return
                case .poll(let master, let events, let wake, let timeout):
                    var revents: Int16 = 0
                    var wakeEvents: Int16 = 0
                    let ready = jump_poll_pair(events == 0 ? -1 : master, events, wake, Int16(POLLIN), timeout, &revents, &wakeEvents)
                    guard ready > 0 else { continue }  // timeout or EINTR: deadlines are checked next round
                    if wakeEvents != 0 { drain(wake) }
                    guard revents != 0 else { continue }
                    let hungUp = revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
                    if events & Int16(POLLIN) != 0, hungUp || revents & Int16(POLLIN) != 0 {
                        read(master, into: &buffer)
                    }
                    if events & Int16(POLLOUT) != 0, hungUp || revents & Int16(POLLOUT) != 0 {
                        writeInput(hungUp: hungUp)
                    }
                }
            }
        }

        /// Carries out what the deadlines ask, then says what to wait for, or that the session is over.
        private func nextStep() -> Step {
            state.withLock { state in
                let now = clock.now
                if let deadline = state.killDeadline, now >= deadline {
                    state.killDeadline = nil
                    if state.exit == nil { killSession() }
                }
                if state.exit != nil, !state.outputEnded {
                    if state.window.isFull, !state.terminating {
                        // A slow consumer is not a silent terminal.
                        state.quietDeadline = now.advanced(by: ShellSession.quietPeriodAfterExit)
                    }
                    if state.terminating || state.quietDeadline.map({ now >= $0 }) ?? false {
                        state.outputEnded = true
                    }
                }
                if state.outputEnded, let exit = state.exit {
                    state.closeDescriptors()
                    state.input = InputQueue()
                    // Whatever a terminated session left behind (jobs ignoring SIGHUP) goes too; the session
                    // id cannot be reused while any of them lives.
                    if state.terminating {
                        for member in Self.sessionMembers(processID) { kill(member, SIGKILL) }
                    }
                    return .finish(exit)
                }
                var events: Int16 = 0
                if !state.outputEnded, !state.window.isFull { events |= Int16(POLLIN) }
                if !state.input.isEmpty { events |= Int16(POLLOUT) }
                let deadlines = [state.killDeadline, state.exit == nil ? nil : state.quietDeadline].compactMap { $0 }
                let timeout = deadlines.min().map { Self.milliseconds(from: now, to: $0) } ?? -1
                return .poll(master: state.master, events: events, wake: state.wakeRead, timeout: timeout)
            }
        }

        private func read(_ master: Int32, into buffer: inout [UInt8]) {
            let allowance = state.withLock { min($0.window.allowance, ShellSession.readChunkSize) }
            guard allowance > 0 else { return }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, allowance) }
            if count > 0 {
                state.withLock { state in
                    state.window.delivered(count)
                    if state.exit != nil {
                        state.quietDeadline = clock.now.advanced(by: ShellSession.quietPeriodAfterExit)
                    }
                }
                handler(.output(Array(buffer[0..<count])))
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                // EIO: every slave descriptor is closed and everything written before has been read.
                state.withLock { state in
                    state.outputEnded = true
                    state.input = InputQueue()
                }
            }
        }

        private func writeInput(hungUp: Bool) {
            state.withLock { state in
                guard !state.input.isEmpty else { return }
                let written = state.input.withPending { Glibc.write(state.master, $0.baseAddress, $0.count) }
                if written > 0 {
                    state.input.removeFirst(written)
                } else if (written < 0 && errno != EAGAIN && errno != EINTR) || (hungUp && written <= 0) {
                    // The terminal can no longer take input; its output will end too.
                    state.input = InputQueue()
                }
            }
        }

        private func drain(_ wake: Int32) {
            var bytes = [UInt8](repeating: 0, count: 64)
            while bytes.withUnsafeMutableBytes({ Glibc.read(wake, $0.baseAddress, $0.count) }) > 0 {}
        }

        private static func wake(_ state: State) {
            guard !state.closed else { return }
            var byte: UInt8 = 1
            _ = Glibc.write(state.wakeWrite, &byte, 1)  // EAGAIN: a wake-up is already pending
        }

        static func milliseconds(from now: ContinuousClock.Instant, to deadline: ContinuousClock.Instant) -> Int32 {
            let remaining = now.duration(to: deadline)
            guard remaining > .zero else { return 0 }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return Int32(clamping: milliseconds)
        }
    }
}

/// Input waiting for the terminal, consumed from the front without moving the rest each time.
struct InputQueue {
    private var bytes: [UInt8] = []
    private var start = 0

    var count: Int { bytes.count - start }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ more: [UInt8]) {
        if start > 0 && start >= bytes.count / 2 {
            bytes.removeFirst(start)
            start = 0
        }
        bytes += more
    }

    mutating func removeFirst(_ count: Int) {
        start += min(count, self.count)
        if start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        }
    }

    func withPending<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }
}
