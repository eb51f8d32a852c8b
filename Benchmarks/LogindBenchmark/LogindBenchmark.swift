// What the report's question to logind costs (who is at the console: SDBusConsoleReader, one call of
// jump_logind_console): the caller's CPU and the bus daemon's per question, on a private system bus
// with python-dbusmock's logind template and one user session on seat0. The mock (Python) stands in
// for logind, so its own CPU is printed but is no measure of logind's.
//
//   jump-bench-logind [--calls N] [--runs N]

import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpTestSupport

@main
enum LogindBenchmark {
    static func main() throws {
        var calls = 300
        var runs = 3
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--calls": calls = Int(arguments.popFirst() ?? "") ?? calls
            case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
            case "--help", "-h":
                print("usage: jump-bench-logind [--calls N] [--runs N]")
                return
            default:
                FileHandle.standardError.write(Data("jump-bench-logind: unknown argument \(argument)\n".utf8))
                exit(64)
            }
        }
        guard PrivateSystemBus.available, calls > 0, runs > 0 else {
            FileHandle.standardError.write(Data("jump-bench-logind: needs dbus-daemon and python3-dbusmock (scripts/install-deps.sh test)\n".utf8))
            exit(69)
        }
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        let reader = SDBusConsoleReader(busAddress: bus.address)
        guard try reader.read().active?.user == "alice" else {
            FileHandle.standardError.write(Data("jump-bench-logind: the mocked session is not seen\n".utf8))
            exit(70)
        }
        print("logind question (SDBusConsoleReader.read): \(runs) runs of \(calls) calls, private system bus, python-dbusmock logind, one session")
        var own: [Double] = [], daemon: [Double] = [], mock: [Double] = []
        for run in 1...runs {
            let (own0, daemon0, mock0) = (ownCPU(), processCPU(bus.daemonProcessIdentifier), bus.mockProcessIdentifier.map(processCPU) ?? 0)
            for _ in 0..<calls { _ = try reader.read() }
            let (own1, daemon1, mock1) = (ownCPU(), processCPU(bus.daemonProcessIdentifier), bus.mockProcessIdentifier.map(processCPU) ?? 0)
            own.append((own1 - own0) * 1000 / Double(calls))
            daemon.append((daemon1 - daemon0) * 1000 / Double(calls))
            mock.append((mock1 - mock0) * 1000 / Double(calls))
            print(String(format: "  run %d: caller %.3f ms, dbus-daemon %.3f ms, mock %.3f ms of CPU a question", run, own.last!, daemon.last!, mock.last!))
        }
        print(String(format: "median: caller %.3f ms, dbus-daemon %.3f ms (mock %.3f ms) of CPU a question", median(own), median(daemon), median(mock)))
    }

    /// This process's CPU seconds (user + system, every thread).
    static func ownCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// A process's CPU seconds from its threads' scheduler counters (nanoseconds, unlike /proc/PID/stat's ticks).
    static func processCPU(_ pid: Int32) -> Double {
        let tasks = "/proc/\(pid)/task"
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
        return threads.reduce(0) { total, thread in
            let text = (try? String(contentsOfFile: "\(tasks)/\(thread)/schedstat", encoding: .utf8)) ?? ""
            return total + (Double(text.split(separator: " ").first ?? "") ?? 0) / 1e9
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}
