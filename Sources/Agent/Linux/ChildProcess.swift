import CPTY
import FoundationEssentials
import Glibc

/// A program run to its end with its output collected: posix_spawn with fixed arguments (no fork, never a
/// shell), standard input /dev/null, no descriptor of the agent's but the output pipe, every signal at
/// its default. The output is capped and a deadline kills the program (SIGKILL).
struct ChildProcess {
    /// How a run ended.
    struct Outcome {
        /// The exit status, or -1 when a signal ended the program.
        var status: Int32
        /// The signal that ended it, or 0.
        var signal: Int32
        /// Its standard output (and standard error, when merged); longer than `maximumOutput` only
        /// when `overflowed`, by at most one read.
        var output: [UInt8]
        /// The deadline passed and the program was killed.
        var timedOut: Bool
        /// It wrote more than `maximumOutput` bytes and was killed.
        var overflowed: Bool

        var succeeded: Bool { status == 0 && !timedOut && !overflowed }
    }

    /// The program could not be started (errno's text).
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    var program: String
    var arguments: [String]
    /// The whole environment; nil passes the agent's own.
    var environment: [String: String]?
    /// The working directory; nil keeps the agent's.
    var directory: String?
    /// Standard error goes into the same pipe as standard output; otherwise it is the agent's.
    var mergeStandardError = false
    var maximumOutput = 1 << 20
    var deadline: Duration?

    func run(clock: ContinuousClock = ContinuousClock()) throws(StartFailure) -> Outcome {
        let argv = [program] + arguments
        let environment = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        var output: Int32 = -1
        let error = ShellSession.withCStrings(argv) { argv in
            ShellSession.withCStrings(environment) { envp in
                if let directory {
                    directory.withCString { jump_spawn_piped(&pid, &output, program, argv, envp, $0, mergeStandardError ? 1 : 0) }
                } else {
                    jump_spawn_piped(&pid, &output, program, argv, envp, nil, mergeStandardError ? 1 : 0)
                }
            }
        }
        guard error == 0 else { throw StartFailure(description: String(cString: strerror(error))) }
        let end = deadline.map { clock.now + $0 }
        var outcome = Outcome(status: -1, signal: 0, output: [], timedOut: false, overflowed: false)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        reading: while true {
            var timeout: Int32 = -1
            if let end {
                let left = clock.now.duration(to: end)
                guard left > .zero else {
                    outcome.timedOut = true
                    break reading
                }
                let (seconds, attoseconds) = left.components
                timeout = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, Int64(Int32.max)))
            }
            var readable: Int16 = 0
            var unused: Int16 = 0
            let ready = jump_poll_pair(output, Int16(POLLIN), -1, 0, timeout, &readable, &unused)
            if ready < 0 && errno != EINTR { break reading }
            guard ready > 0 else { continue }  // the deadline is checked at the top
            let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count > 0 {
                outcome.output += chunk[0..<count]
                if outcome.output.count > maximumOutput {
                    outcome.overflowed = true
                    break reading
                }
            } else if count == 0 || errno != EINTR {
                break reading
            }
        }
        close(output)
        if outcome.timedOut || outcome.overflowed { kill(pid, SIGKILL) }
        var status: Int32 = -1
        var signal: Int32 = 0
        if jump_wait_child(pid, &status, &signal) == 0 {
            outcome.status = status
            outcome.signal = signal
        }
        return outcome
    }
}
