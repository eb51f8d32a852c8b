import Foundation
import Synchronization
import Testing

@testable import JumpAgentCore
import JumpProtocol

struct EssentialsTests {
    @Test func trimming() {
        #expect("  text with spaces \n\t".trimmed() == "text with spaces")
        #expect("\r\n".trimmed() == "")
        #expect("".trimmed() == "")
        #expect("\"quoted'".trimmed { $0 == "\"" || $0 == "'" } == "quoted")
        #expect("Raspberry Pi 4\u{0}".trimmed { $0 == "\u{0}" } == "Raspberry Pi 4")
    }

    @Test func oneDecimalPrintsAsPercentPointOneF() {
        for value in [0.0, 0.04, 0.06, 1.24, 14.0, 14.96, 29.999, -2.5, 1234.56] {
            #expect(oneDecimal(value) == String(format: "%.1f", value), "\(value)")
        }
        #expect(oneDecimal(.infinity) == "inf")
    }

    @Test func aDetachedThreadRunsItsWorkUnderItsName() async {
        let ranAs = Mutex<String?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let started = DetachedThread.start(name: "a-test-thread-with-a-long-name", stackSize: 64 * 1024) {
                let name = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
                ranAs.withLock { $0 = name?.trimmingCharacters(in: .newlines) }
                done.resume()
            }
            #expect(started)
        }
        // Linux keeps 15 bytes of a thread's name.
        #expect(ranAs.withLock { $0 } == "a-test-thread-w")
    }

    @Test func blockingWorkRunsInTheOrderGivenOnOneThread() async {
        let seen = Mutex<(order: [Int], threads: Set<pthread_t>)>(([], []))
        for number in 0..<200 {
            BlockingWork.submit { seen.withLock { $0.order.append(number); $0.threads.insert(pthread_self()) } }
        }
        await BlockingWork.drain()
        let (order, threads) = seen.withLock { ($0.order, $0.threads) }
        #expect(order == Array(0..<200))
        #expect(threads.count == 1)
        #expect(!threads.contains(pthread_self()))
        #expect(await BlockingWork.run { 6 * 7 } == 42)
    }

    @Test func anEventLoopSleepWaitsItsDuration() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await EventLoopSleep.sleep(for: .milliseconds(30))
        #expect(clock.now - start >= .milliseconds(30))
    }

    @Test func anEventLoopSleepEndsWithCancellationAtOnce() async {
        let clock = ContinuousClock()
        let start = clock.now
        let sleeper = Task { try await EventLoopSleep.sleep(for: .seconds(3600)) }
        sleeper.cancel()
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(clock.now - start < .seconds(60))
        // Cancelled before it starts: no timer at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await EventLoopSleep.sleep(for: .seconds(3600))
        }
        let earlyResult = await early.result
        #expect(throws: CancellationError.self) { try earlyResult.get() }
    }

    @Test func readingAFilePrefix() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("prefix-\(UUID().uuidString)")
        try Data("0123456789".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(readPrefix(ofFile: file.path, maximumBytes: 4) == Array("0123".utf8))
        #expect(readPrefix(ofFile: file.path, maximumBytes: 100) == Array("0123456789".utf8))
        #expect(readPrefix(ofFile: "/nonexistent/file", maximumBytes: 4) == nil)
    }

    @Test func fileErrorsInWords() {
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/agent.json"))
            Issue.record("reading a missing file succeeded")
        } catch {
            #expect(error.plainDescription == "/nonexistent/agent.json: No such file or directory")
        }
        #expect(POSIXError(.EACCES).plainDescription == "Permission denied")
    }

    @Test func readsAWholeFileOfUnknownSize() throws {
        // /proc files say 0 bytes; this one is read to its end across pieces.
        let status = try #require(readWhole("/proc/self/status"))
        #expect(String(decoding: status, as: UTF8.self).contains("VmRSS:"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("whole-\(getpid())").path
        defer { unlink(path) }
        let content = (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }
        try Data(content).write(to: URL(fileURLWithPath: path))
        #expect(readWhole(path) == content)
        #expect(readWhole(path, maximumBytes: 39_999) == nil)
        #expect(readWhole("/nonexistent/file") == nil)
        #expect(readWhole("/tmp") == nil)  // a directory: read fails with EISDIR
    }
}

/// The statistics' names in `var/state.json` are their Swift case names: files written before the
/// names came from a switch (by string interpolation) read the same.
@Test func statisticNamesAreTheCaseNamesBothWays() {
    let all: [WireStatistic] = [.unspecified, .cpu, .consoleUser, .disk, .thumbnail, .uptime, .UNRECOGNIZED(9)]
    for statistic in all {
        #expect(statistic.storedName == "\(statistic)")
    }
    for statistic in all.dropFirst().prefix(5) {
        #expect(WireStatistic.named(statistic.storedName) == statistic)
    }
    #expect(WireStatistic.named("unspecified") == nil)
    #expect(WireStatistic.named("UNRECOGNIZED(9)") == nil)
    #expect(WireStatistic.named("CPU") == nil)
}

/// An appliance address is HOST:PORT with a port a TCP connection can have; anything else is refused
/// by name, never handed to the socket layer (where a port past 65535 would stop the process).
@Test func applianceAddressesAreHostAndAPortThatExists() {
    #expect(AgentRuntime.split("10.0.0.5:7443")! == ("10.0.0.5", 7443))
    #expect(AgentRuntime.split("[::1]:7443")! == ("::1", 7443))
    #expect(AgentRuntime.split("jump.example.com:65535")! == ("jump.example.com", 65535))
    for bad in ["10.0.0.5:99999", "10.0.0.5:0", "10.0.0.5:-1", "10.0.0.5", "10.0.0.5:port"] {
        #expect(AgentRuntime.split(bad) == nil, "\(bad)")
    }
}
