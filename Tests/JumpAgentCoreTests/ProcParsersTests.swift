import Foundation
import JumpAgentCore
import JumpProtocol
import Testing

/// The parsers against files captured from a real x86_64 machine and a Raspberry Pi layout.
@Suite struct ProcParsersTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ machine: String, _ path: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(machine).appendingPathComponent(path), encoding: .utf8)
    }

    @Test func cpuLinesAggregateFirstThenEachCPU() throws {
        let times = ProcParsers.cpuTimes(try Self.fixture("raspberrypi", "proc/stat"))
        #expect(times.count == 5)
        #expect(times[0].values.prefix(4) == [193282, 1120, 61923, 8463025])
        #expect(times[0].idle == 8463025 + 5361)
    }

    @Test(arguments: [
        // (earlier, later, expected): busy share of the time between the samples.
        ([100, 0, 100, 800, 0], [150, 0, 150, 900, 0], UInt32?(500)),
        ([100, 0, 100, 800, 0], [100, 0, 100, 1800, 0], 0),
        ([100, 0, 100, 800, 0], [600, 0, 600, 800, 0], 1000),
        ([100, 0, 100, 800, 0], [100, 0, 100, 800, 0], nil),  // no time passed
        ([100, 0, 100, 800, 50], [150, 0, 150, 850, 100], 500),  // iowait counts as idle
    ] as [([UInt64], [UInt64], UInt32?)])
    func busyShareBetweenSamples(_ earlier: [UInt64], _ later: [UInt64], _ expected: UInt32?) {
        #expect(
            ProcParsers.CPUTimes.busyPermille(from: .init(values: earlier), to: .init(values: later)) == expected
        )
    }

    @Test func uptimeMemoryLoad() throws {
        #expect(ProcParsers.uptime(try Self.fixture("raspberrypi", "proc/uptime")) == 21893)
        let memory = try #require(ProcParsers.memory(try Self.fixture("raspberrypi", "proc/meminfo")))
        #expect(memory.total == 3_881_112 * 1024)
        #expect(memory.available == 3_351_728 * 1024)
        let load = try #require(ProcParsers.load(try Self.fixture("raspberrypi", "proc/loadavg")))
        #expect(load == (8, 11, 9))
        #expect(ProcParsers.memory("nothing here") == nil)
        #expect(ProcParsers.load("garbage") == nil)
    }

    @Test func realMountsLeavePseudoFilesystemsAndDuplicatesOut() throws {
        let pi = ProcParsers.realMounts(ProcParsers.mounts(try Self.fixture("raspberrypi", "proc/self/mountinfo")))
        #expect(pi.map(\.mountPoint) == ["/", "/boot/firmware", "/media/pi/USB Stick", "/mnt/nas"])
        #expect(pi.map(\.filesystem) == ["ext4", "vfat", "exfat", "nfs4"])
        let x86 = ProcParsers.realMounts(ProcParsers.mounts(try Self.fixture("x86_64", "proc/self/mountinfo")))
        #expect(x86.map(\.mountPoint) == ["/"])
    }

    @Test func defaultGatewaysAndTheGatewayMAC() throws {
        let route = try Self.fixture("raspberrypi", "proc/net/route")
        let gateway = try #require(ProcParsers.defaultGatewayIPv4(route))
        #expect(gateway.address == [192, 168, 0, 1], "the lower metric wins")
        #expect(gateway.interface == "eth0")
        #expect(ProcParsers.arpEntry(try Self.fixture("raspberrypi", "proc/net/arp"), for: gateway.address) == [0xB8, 0x27, 0xEB, 0x00, 0x11, 0x22])
        #expect(ProcParsers.arpEntry(try Self.fixture("raspberrypi", "proc/net/arp"), for: [192, 168, 0, 40]) == nil, "incomplete entry")

        let x86 = try #require(ProcParsers.defaultGatewayIPv4(try Self.fixture("x86_64", "proc/net/route")))
        #expect(x86.address == [192, 0, 2, 1], "010200C0 is little-endian for 192.0.2.1")

        let v6 = try #require(ProcParsers.defaultGatewayIPv6(try Self.fixture("x86_64", "proc/net/ipv6_route")))
        #expect(v6.address == [0xFD] + Array(repeating: 0, count: 14) + [1])
        #expect(v6.interface == "eth0")
        #expect(ProcParsers.defaultGatewayIPv6(try Self.fixture("raspberrypi", "proc/net/ipv6_route"))?.interface == "eth0")
    }

    @Test(arguments: [
        ("dc:a6:32:44:55:66", [UInt8]?([0xDC, 0xA6, 0x32, 0x44, 0x55, 0x66])),
        ("00:00:00:00:00:00", nil),
        ("dc:a6:32:44:55", nil),
        ("zz:a6:32:44:55:66", nil),
    ])
    func macAddresses(_ text: String, _ expected: [UInt8]?) {
        #expect(ProcParsers.mac(text) == expected)
    }

    @Test func osRelease() throws {
        let release = ProcParsers.osRelease(try Self.fixture("raspberrypi", "etc/os-release"))
        #expect(release.name == "Debian GNU/Linux 12 (bookworm)")
        #expect(release.version == "12")
    }
}

@Suite struct PresenceRuleTests {
    static func console(user: String, locked: Bool = false, saver: WireScreenSaverState = .inactive) -> WireConsoleState {
        var console = WireConsoleState()
        console.user = user
        console.locked = locked
        console.screenSaver = saver
        return console
    }

    /// The guide's rule, every combination: (logged in, locked, screen saver, use screen state) -> present.
    @Test(arguments: [
        (false, false, WireScreenSaverState.inactive, true, false),
        (false, false, .inactive, false, false),
        (true, false, .inactive, true, true),
        (true, true, .inactive, true, false),
        (true, false, .active, true, false),
        (true, true, .active, true, false),
        (true, false, .unknown, true, true),
        (true, true, .inactive, false, true),
        (true, false, .active, false, true),
        (true, true, .active, false, true),
    ])
    func presence(_ loggedIn: Bool, _ locked: Bool, _ saver: WireScreenSaverState, _ useScreenState: Bool, _ present: Bool) {
        let console = Self.console(user: loggedIn ? "alice" : "", locked: locked, saver: saver)
        #expect(PresenceRule.isPresent(console, useScreenState: useScreenState) == present)
        #expect(PresenceRule.presence(console, useScreenState: useScreenState).screenStateUsed == useScreenState)
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func ceilingDoublesToTheCap() {
        var backoff = ReconnectBackoff()
        var generator = SystemRandomNumberGenerator()
        var ceilings: [Duration] = []
        for _ in 0..<12 {
            ceilings.append(backoff.ceiling)
            _ = backoff.next(using: &generator)
        }
        #expect(ceilings.prefix(5) == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16)])
        #expect(ceilings.last == ReconnectBackoff.cap)
        backoff.reset()
        #expect(backoff.ceiling == ReconnectBackoff.base)
    }

    @Test func fullJitterSpreadsWaitsOverTheWholeRange() {
        var generator = SystemRandomNumberGenerator()
        var waits: [Duration] = []
        for _ in 0..<2000 {
            var backoff = ReconnectBackoff()
            for _ in 0..<6 { _ = backoff.next(using: &generator) }  // ceiling 64 s
            waits.append(backoff.next(using: &generator))
        }
        #expect(waits.allSatisfy { $0 >= .zero && $0 <= .seconds(64) })
        let below = waits.filter { $0 < .seconds(32) }.count
        #expect((800...1200).contains(below), "about half below the middle: \(below)")
    }

    @Test func theAppliancesSpreadStopsTheCeiling() {
        var generator = SystemRandomNumberGenerator()
        var backoff = ReconnectBackoff(spread: .milliseconds(3334))
        var ceilings: [Duration] = []
        var waits: [Duration] = []
        for _ in 0..<10 {
            ceilings.append(backoff.ceiling)
            waits.append(backoff.next(using: &generator))
        }
        #expect(ceilings.prefix(3) == [.seconds(1), .seconds(2), .milliseconds(3334)])
        #expect(ceilings.dropFirst(2).allSatisfy { $0 == .milliseconds(3334) })
        #expect(waits.allSatisfy { $0 <= .milliseconds(3334) })
        backoff.spread = .milliseconds(10)
        #expect(backoff.ceiling == ReconnectBackoff.base, "never below a second")
        backoff.spread = .seconds(100_000)
        #expect(backoff.ceiling == ReconnectBackoff.cap, "never above the cap")
    }

    @Test func retryAfterIsALowerBound() {
        var generator = SystemRandomNumberGenerator()
        var backoff = ReconnectBackoff()
        #expect(backoff.next(retryAfter: .seconds(30), using: &generator) == .seconds(30))
    }
}
