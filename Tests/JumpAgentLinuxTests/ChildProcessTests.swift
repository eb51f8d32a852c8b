import Foundation
import Testing

@testable import JumpAgentLinux

/// Real programs started with posix_spawn. The deadline test uses a program that never ends by itself;
/// the deadline, not a sleep, ends the wait.
struct ChildProcessTests {
    @Test func collectsOutputAndTheExitStatus() throws {
        let outcome = try ChildProcess(program: "/bin/sh", arguments: ["-c", "printf 'one\\ntwo'; exit 3"]).run()
        #expect(String(decoding: outcome.output, as: UTF8.self) == "one\ntwo")
        #expect(outcome.status == 3)
        #expect(outcome.signal == 0)
        #expect(!outcome.succeeded)
    }

    @Test func standardErrorIsMergedOnlyWhenAsked() throws {
        let script = ["-c", "echo out; echo err >&2"]
        let merged = try ChildProcess(program: "/bin/sh", arguments: script, environment: nil, mergeStandardError: true).run()
        #expect(String(decoding: merged.output, as: UTF8.self) == "out\nerr\n")
        // Not merged, "err" goes to this test's own standard error.
        let apart = try ChildProcess(program: "/bin/sh", arguments: script).run()
        #expect(String(decoding: apart.output, as: UTF8.self) == "out\n")
        #expect(apart.succeeded)
    }

    @Test func theEnvironmentAndDirectoryAreExactlyTheGivenOnes() throws {
        let outcome = try ChildProcess(
            program: "/bin/sh", arguments: ["-c", "pwd; env | sort"], environment: ["ONLY": "this", "PATH": "/usr/bin:/bin"],
            directory: "/tmp"
        ).run()
        let lines = String(decoding: outcome.output, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("PWD=") && !$0.hasPrefix("SHLVL=") && !$0.hasPrefix("_=") }
        #expect(lines == ["/tmp", "ONLY=this", "PATH=/usr/bin:/bin"])
    }

    @Test func standardInputIsEmptyAndNoOtherDescriptorIsInherited() throws {
        let outcome = try ChildProcess(program: "/bin/sh", arguments: ["-c", "cat; ls /proc/self/fd | sort -n | tr '\\n' ' '"]).run()
        // 0, 1, 2 and the descriptor ls itself opens on /proc/self/fd.
        #expect(String(decoding: outcome.output, as: UTF8.self) == "0 1 2 3 ")
    }

    @Test func theDeadlineKillsTheProgram() throws {
        let started = ContinuousClock.now
        let outcome = try ChildProcess(program: "/bin/sh", arguments: ["-c", "echo started; exec tail -f /dev/null"], deadline: .milliseconds(300)).run()
        #expect(outcome.timedOut)
        #expect(outcome.signal == SIGKILL)
        #expect(String(decoding: outcome.output, as: UTF8.self) == "started\n")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func tooMuchOutputKillsTheProgram() throws {
        let outcome = try ChildProcess(program: "/bin/sh", arguments: ["-c", "exec yes"], maximumOutput: 100_000).run()
        #expect(outcome.overflowed)
        #expect(!outcome.succeeded)
        #expect(outcome.output.count > 100_000)
    }

    @Test func aMissingProgramIsAStartFailure() {
        #expect(throws: ChildProcess.StartFailure.self) {
            _ = try ChildProcess(program: "/nonexistent/program", arguments: []).run()
        }
    }
}
