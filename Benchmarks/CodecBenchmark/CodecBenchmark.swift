import Foundation
import JumpProtocol
import NIOCore
import SwiftProtobuf

/// Frame and control-message codec throughput, and the statistics report's size on the wire, beside
/// the same report as JSON (what an HTTP+JSON agent would send) measured in the same run.
///
///     swift run -c release jump-bench-codec [--iterations N] [--runs R]
@main
enum CodecBenchmark {
    static func main() throws {
        var iterations = 200_000
        var runs = 5
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--iterations": iterations = Int(arguments.popFirst() ?? "") ?? iterations
            case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
            case "--help", "-h":
                print("usage: jump-bench-codec [--iterations N] [--runs R]")
                return
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument); see --help\n".utf8))
                exit(64)
            }
        }

        let report = sampleReport()
        let frame = ControlCodec.frame(id: 12345, .statsReport(report))
        var envelope = WireEnvelope()
        envelope.id = 12345
        envelope.body = .statsReport(report)
        let json = try envelope.jsonUTF8Bytes() as [UInt8]

        print("statistics report on the wire (frame header + protobuf): \(frame.readableBytes) bytes")
        print("same report as JSON:                                      \(json.count) bytes")
        print(String(format: "size ratio JSON / frame:                                  %.2f", Double(json.count) / Double(frame.readableBytes)))

        let decode = median(runs) { measure(iterations) { try! decodeFrame(frame) } }
        let encode = median(runs) { measure(iterations) { _ = ControlCodec.frame(id: 1, .statsReport(report)) } }
        let jsonDecode = median(runs) { measure(iterations) { _ = try! WireEnvelope(jsonUTF8Bytes: json) } }
        let jsonEncode = median(runs) { measure(iterations) { _ = try! envelope.jsonUTF8Bytes() as [UInt8] } }

        print("")
        print("median of \(runs) runs of \(iterations) reports each:")
        print(String(format: "  parse + decode + validate a frame: %9.0f reports/s", decode))
        print(String(format: "  encode a frame:                    %9.0f reports/s", encode))
        print(String(format: "  JSON decode:                       %9.0f reports/s (frame is %.1fx)", jsonDecode, decode / jsonDecode))
        print(String(format: "  JSON encode:                       %9.0f reports/s (frame is %.1fx)", jsonEncode, encode / jsonEncode))
    }

    static func decodeFrame(_ bytes: ByteBuffer) throws {
        var buffer = bytes
        var parser = FrameParser()
        guard let frame = try parser.next(from: &buffer) else { fatalError("incomplete frame") }
        _ = try InboundEvent(frame)
    }

    /// Operations per second.
    static func measure(_ iterations: Int, _ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<iterations { body() }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(iterations) / seconds
    }

    static func median(_ runs: Int, _ body: () -> Double) -> Double {
        let values = (0..<max(runs, 1)).map { _ in body() }.sorted()
        return values[values.count / 2]
    }

    /// A typical report from a desktop: two CPUs, two disks, a console user, presence.
    static func sampleReport() -> WireStatsReport {
        var report = WireStatsReport()
        report.takenAtMs = 1_795_000_060_000
        report.cpuPermille = 125
        report.cpuPermillePerCpu = [100, 150]
        report.uptimeSeconds = 86_400
        report.console.user = "alice"
        report.console.sessionType = .x11
        report.console.sessionClass = .user
        report.console.screenSaver = .inactive
        report.presence.present = true
        report.presence.screenStateUsed = true
        report.memory.totalBytes = 8_000_000_000
        report.memory.availableBytes = 5_000_000_000
        report.load.one = 25
        report.load.five = 18
        report.load.fifteen = 12
        for (mount, total, used) in [("/", 31_000_000_000, 9_000_000_000), ("/boot/firmware", 535_000_000, 60_000_000)] as [(String, UInt64, UInt64)] {
            var disk = WireDisk()
            disk.mountPoint = mount
            disk.filesystem = mount == "/" ? "ext4" : "vfat"
            disk.totalBytes = total
            disk.usedBytes = used
            disk.availableBytes = total - used
            report.disks.append(disk)
        }
        report.thumbnailStatus = .unchanged
        return report
    }
}
