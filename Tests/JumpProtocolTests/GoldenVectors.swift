import Foundation
import JumpProtocol
import NIOCore

/// The examples `docs/protocol.md` shows, by the name each carries there.
enum GoldenVectors {
    /// Each named example and the frame it must decode to.
    static var examples: [String: Frame] {
        var examples: [String: Frame] = [:]
        func control(_ name: String, id: UInt64, _ message: ControlMessage) {
            var envelope = WireEnvelope()
            envelope.id = id
            envelope.body = message
            examples[name] = Frame(kind: .control, payload: ControlCodec.encode(envelope))
        }

        var hello = WireHello()
        hello.minVersion = 1
        hello.maxVersion = 1
        hello.softwareVersion = "0.1.0"
        hello.platform.os = "linux"
        hello.platform.architecture = "aarch64"
        hello.lastCommandSequence = 41
        control("hello", id: 1, .hello(hello))

        var welcome = WireWelcome()
        welcome.version = 1
        welcome.softwareVersion = "0.1.0"
        welcome.clientID = "jc-7"
        welcome.heartbeatSeconds = 30
        welcome.serverTimeMs = 1_795_000_000_000
        welcome.config.revision = 3
        welcome.config.statistics = [.cpu, .consoleUser, .disk, .thumbnail, .uptime]
        welcome.config.statisticsIntervalSeconds = 60
        welcome.config.deleteAfterDays = 30
        welcome.config.screenStatePresence = true
        welcome.config.heartbeatSeconds = 30
        control("welcome", id: 1, .welcome(welcome))

        var report = WireStatsReport()
        report.takenAtMs = 1_795_000_060_000
        report.cpuPermille = 125
        report.uptimeSeconds = 86_400
        report.console.user = "alice"
        report.console.sessionType = .x11
        report.console.sessionClass = .user
        report.console.screenSaver = .inactive
        report.presence.present = true
        report.presence.screenStateUsed = true
        var disk = WireDisk()
        disk.mountPoint = "/"
        disk.filesystem = "ext4"
        disk.totalBytes = 31_000_000_000
        disk.usedBytes = 9_000_000_000
        disk.availableBytes = 20_400_000_000
        report.disks = [disk]
        control("stats_report", id: 2, .statsReport(report))

        var command = WireCommand()
        command.agentID = "jc-7"
        command.sequence = 42
        command.expiresAtMs = 1_795_000_120_000
        var wake = WireWake()
        wake.targetMacs = [Data([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])]
        wake.interface = "eth0"
        command.action = .wake(wake)
        control("command_wake", id: 5, .command(command))

        control("ack", id: 3, .ack(WireAck(ref: 5, .ok)))
        control("goodbye", id: 6, .goodbye(WireGoodbye(.clientDeleted, "deleted")))

        examples["ping"] = Frame(kind: .ping, payload: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 1]))
        examples["data"] = Frame(kind: .data, channel: 1, payload: ByteBuffer(string: "ls\n"))
        examples["window_update"] = Frame(kind: .windowUpdate, channel: 1, payload: ByteBuffer(bytes: [0, 1, 0, 0]))
        examples["extension"] = Frame(kind: FrameKind(rawValue: 0x80), payload: ByteBuffer(bytes: [0xCA, 0xFE]))
        return examples
    }
}
