// Measures the screen thumbnail: time and memory to capture + downscale + encode a screen, the
// thumbnail's bytes, the whole helper round trip the agent makes per report, and a report's size on
// the wire with and without the picture. Starts its own Xvfb with a desktop-like picture on it.
//
//   jump-bench-capture [--runs N] [--width W] [--height H] [--agent PATH]

import CX11TestSupport
import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import JumpTestSupport
import NIOCore

@main
enum CaptureBenchmark {
    static func main() throws {
        var runs = 50
        var width = 1920
        var height = 1080
        var agent = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("jump-agent").path
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
            case "--width": width = Int(arguments.popFirst() ?? "") ?? width
            case "--height": height = Int(arguments.popFirst() ?? "") ?? height
            case "--agent": agent = arguments.popFirst() ?? agent
            case "--help", "-h":
                print("usage: jump-bench-capture [--runs N] [--width W] [--height H] [--agent PATH]")
                return
            default:
                FileHandle.standardError.write(Data("jump-bench-capture: unknown argument \(argument)\n".utf8))
                exit(64)
            }
        }

        let server = try XvfbServer(width: width, height: height)
        defer { withExtendedLifetime(server) {} }
        var error = [CChar](repeating: 0, count: 256)
        guard jump_x11_test_fill_desktop(server.display, 1, &error, error.count) == 0 else {
            throw BenchError("cannot draw: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }

        print("screen \(width)x\(height), desktop-like picture, \(runs) runs, thumbnail at most \(ThumbnailLimits.largestSide) px and \(ThumbnailLimits.byteBudget) bytes")
        let display = try X11Display(server.display)
        let before = maxRSS()
        var captures: [Double] = []
        var encodes: [Double] = []
        var totals: [Double] = []
        var picture: ScreenProbe.Picture?
        let clock = ContinuousClock()
        for _ in 0..<runs {
            let started = clock.now
            let made = try Thumbnailer.make(display)
            totals.append(milliseconds(clock.now - started))
            captures.append(Double(made.captureMicroseconds) / 1000)
            encodes.append(Double(made.encodeMicroseconds) / 1000)
            picture = made
        }
        let after = maxRSS()
        guard let picture else { return }
        let shm = try display.capture(largestSide: ThumbnailLimits.largestSide).usedSharedMemory
        print(String(format: "capture + downscale  median %.2f ms  p90 %.2f ms  (%@)", median(captures), percentile(captures, 0.9), shm ? "MIT-SHM" : "XGetImage"))
        print(String(format: "JPEG encode          median %.2f ms  p90 %.2f ms  (quality %d)", median(encodes), percentile(encodes, 0.9), picture.quality))
        print(String(format: "capture-to-JPEG      median %.2f ms  p90 %.2f ms  (goal: under 30 ms)", median(totals), percentile(totals, 0.9)))
        print("thumbnail            \(picture.width)x\(picture.height), \(picture.jpeg.count) bytes (goal: under 8192)")
        print("memory               peak RSS grew \((after - before) / 1024) KiB over the runs (\(before / 1024) -> \(after / 1024) MiB)")

        // The helper round trip, as the agent makes it for every report: a process, a connection to
        // the X server, the capture, the JSON answer.
        if FileManager.default.isExecutableFile(atPath: agent) {
            let reader = HelperScreenReader(program: agent)
            let console = ConsoleDisplay(user: "root", uid: getuid(), gid: getgid(), home: "/root", display: server.display, xauthority: server.xauthority)
            var rounds: [Double] = []
            for _ in 0..<min(runs, 20) {
                let started = clock.now
                let probe = reader.probe(console, thumbnail: true)
                rounds.append(milliseconds(clock.now - started))
                guard probe.thumbnail != nil else { throw BenchError("the helper gave no picture: \(probe.captureError ?? "")") }
            }
            var usage = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &usage)
            print(String(format: "helper round trip    median %.2f ms  p90 %.2f ms  (helper peak RSS %d KiB)", median(rounds), percentile(rounds, 0.9), usage.ru_maxrss))
        } else {
            print("helper round trip    skipped: no jump-agent at \(agent) (give --agent PATH)")
        }

        var report = sampleReport()
        let without = ControlCodec.frame(id: 1, .statsReport(report)).readableBytes
        report.thumbnailStatus = .captured
        report.thumbnail.jpeg = picture.jpeg
        report.thumbnail.width = picture.width
        report.thumbnail.height = picture.height
        report.thumbnail.signature = picture.signature
        let with = ControlCodec.frame(id: 1, .statsReport(report)).readableBytes
        print("report on the wire   \(without) bytes without a thumbnail (goal: under 220), \(with) bytes with it")
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ share: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(Int(Double(sorted.count) * share), sorted.count - 1)]
    }

    /// Peak resident memory of this process, in KiB.
    static func maxRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    /// A typical desktop report (as jump-bench-codec uses): two CPUs, two disks, a console user.
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

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
