import Foundation
import JumpProtocol
import NIOCore

/// Instants and messages the protocol tests share.
enum Fixtures {
    static let t0 = Timestamp(monotonic: .uptimeNanoseconds(1_000_000_000_000), unixMilliseconds: 1_795_000_000_000)

    static func envelope(_ body: ControlMessage?) -> WireEnvelope { envelope(1, body) }

    static func control(_ body: ControlMessage?) -> InboundEvent { control(1, body) }

    static func envelope(_ id: UInt64, _ body: ControlMessage?) -> WireEnvelope {
        var envelope = WireEnvelope()
        envelope.id = id
        envelope.body = body
        return envelope
    }

    static func control(_ id: UInt64, _ body: ControlMessage?) -> InboundEvent {
        .control(envelope(id, body))
    }

    static func hello(min: UInt32 = 1, max: UInt32 = 1, lastSequence: UInt64 = 0) -> WireHello {
        var hello = WireHello()
        hello.minVersion = min
        hello.maxVersion = max
        hello.softwareVersion = "0.1.0"
        hello.platform.os = "linux"
        hello.platform.architecture = "x86_64"
        hello.lastCommandSequence = lastSequence
        return hello
    }

    static let token = Data((0..<16).map { UInt8($0) })

    static var enrollRequest: WireEnrollRequest {
        var request = WireEnrollRequest()
        request.token = token
        request.csr = Data([0x30, 0x03, 0x02, 0x01, 0x00])
        request.overrides.name = "kiosk-12"
        request.host.hostname = "kiosk-12"
        return request
    }

    static var siteConfig: WireSiteConfig {
        var config = WireSiteConfig()
        config.revision = 7
        config.statistics = [.cpu, .consoleUser, .disk, .uptime]
        config.statisticsIntervalSeconds = 60
        config.deleteAfterDays = 30
        config.heartbeatSeconds = 30
        return config
    }

    static var statsReport: WireStatsReport {
        var report = WireStatsReport()
        report.takenAtMs = 1_795_000_000_000
        report.cpuPermille = 125
        report.cpuPermillePerCpu = [100, 150]
        report.uptimeSeconds = 86_400
        report.console.user = "alice"
        report.console.sessionType = .x11
        report.console.sessionClass = .user
        report.presence.present = true
        report.presence.screenStateUsed = true
        var disk = WireDisk()
        disk.mountPoint = "/"
        disk.filesystem = "ext4"
        disk.totalBytes = 64_000_000_000
        disk.usedBytes = 16_000_000_000
        disk.availableBytes = 44_800_000_000
        report.disks = [disk]
        return report
    }

    static func command(
        agent: String = "jc-1",
        sequence: UInt64,
        expiresAt: UInt64 = t0.unixMilliseconds + 60_000,
        _ action: WireCommand.OneOf_Action
    ) -> WireCommand {
        var command = WireCommand()
        command.agentID = agent
        command.sequence = sequence
        command.expiresAtMs = expiresAt
        command.action = action
        return command
    }

    static var wake: WireCommand.OneOf_Action {
        var wake = WireWake()
        wake.targetMacs = [Data([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])]
        return .wake(wake)
    }

    static func goodbye(_ reason: WireGoodbyeReason) -> WireGoodbye {
        WireGoodbye(reason)
    }
}

extension ByteBuffer {
    init(hex: String) {
        let digits = hex.filter(\.isHexDigit)
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            bytes.append(UInt8(digits[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes: bytes)
    }

    var hex: String {
        readableBytesView.map { String(format: "%02x", $0) }.joined()
    }
}
