import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import NIOCore
import Synchronization

/// When simulated agents send a thumbnail with their statistics.
enum ThumbnailMode: String, CaseIterable, Sendable {
    /// Never (the site may still select thumbnails: the report says there is no display).
    case none
    /// The first report of each connection; later ones say "unchanged", as an idle screen does.
    case once
    /// Every report carries a new picture, as a busy screen does.
    case every
}

/// Statistics as a small Linux box reports them, without reading this machine: the load generator
/// measures the appliance, not the collectors. A thumbnail, when asked for, is one real JPEG of
/// about ``SyntheticStats/thumbnailTarget`` bytes, shared by all agents (each connection still
/// sends its own copy).
final class SyntheticStats: StatsSource {
    /// The size of the thumbnail the issue asks for: 30 KB.
    static let thumbnailTarget = 30 * 1024

    let index: Int
    let mode: ThumbnailMode
    let picture: Thumbnail
    /// Raised by SIGUSR1 (through ``armAll``): the next report sends a new picture once.
    private let armed: Atomic<Bool>
    private let generation = Atomic<UInt64>(0)

    struct Thumbnail: Sendable {
        var jpeg: Data
        var width: UInt32
        var height: UInt32
    }

    init(index: Int, mode: ThumbnailMode, picture: Thumbnail) {
        self.index = index
        self.mode = mode
        self.picture = picture
        self.armed = Atomic(false)
    }

    /// The bytes of a steady statistics frame as these agents send one (every statistic the appliance
    /// selects by default, no facts, no new picture): the size of the messages other servers are
    /// sent to compare with (`jump-loadgen hold --publish-every`).
    static func steadyFrameBytes() async -> Int {
        let stats = SyntheticStats(index: 0, mode: .none, picture: Thumbnail(jpeg: Data(), width: 0, height: 0))
        let report = await stats.report(ReportRequest(selection: Set(WireStatistic.allCases), includeFacts: false))
        return ControlCodec.frame(id: 1, .statsReport(report)).readableBytes
    }

    /// The next report of this agent carries a new picture, whatever the mode.
    func arm() { armed.store(true, ordering: .relaxed) }

    func report(_ request: ReportRequest) async -> WireStatsReport {
        var report = WireStatsReport()
        report.takenAtMs = UInt64(Date().timeIntervalSince1970 * 1000)
        if request.selection.contains(.cpu) {
            report.cpuPermille = UInt32(40 + index % 200)
            report.cpuPermillePerCpu = [UInt32(30 + index % 100), UInt32(50 + index % 300)]
        }
        if request.selection.contains(.uptime) { report.uptimeSeconds = UInt64(86_400 + index) }
        if request.includeFacts {
            report.host.hostname = "loadgen-\(index)"
            report.host.osName = "Debian GNU/Linux 12 (bookworm)"
            report.host.kernel = "6.1.0"
            report.host.architecture = "x86_64"
            report.host.cpuCount = 2
            report.host.agentVersion = "loadgen"
        }
        if request.selection.contains(.thumbnail) {
            let armedNow = armed.exchange(false, ordering: .relaxed)
            if armedNow || mode == .every || (mode == .once && request.includeFacts) {
                // A new signature each time, so the agent's own change detection lets it through.
                let signature = generation.wrappingAdd(1, ordering: .relaxed).newValue &+ UInt64(index) << 32
                report.thumbnail.jpeg = picture.jpeg
                report.thumbnail.width = picture.width
                report.thumbnail.height = picture.height
                report.thumbnail.signature = signature
                report.thumbnailStatus = .captured
            } else if mode == .none && generation.load(ordering: .relaxed) == 0 {
                report.thumbnailStatus = .noDisplay
            } else {
                // The agent's ThumbnailGate turns a repeated signature into UNCHANGED; say it directly.
                report.thumbnailStatus = .unchanged
            }
        }
        return report
    }

    /// A JPEG of noise over a gradient whose size is close to `target` bytes: the encoder's quality
    /// is searched so that the picture is as big as the example, not smaller.
    static func makePicture(target: Int = thumbnailTarget) throws -> Thumbnail {
        let width = 320
        let height = 200
        var generator = SplitMix64(seed: 0x4A55_4D50)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let noise = UInt8(truncatingIfNeeded: generator.next() & 0x3F)
                let offset = (y * width + x) * 3
                pixels[offset] = UInt8(truncatingIfNeeded: x * 255 / width) &+ noise
                pixels[offset + 1] = UInt8(truncatingIfNeeded: y * 255 / height) &+ noise / 2
                pixels[offset + 2] = 128 &+ noise
            }
        }
        let picture = RGBPicture(pixels: pixels, width: width, height: height)
        var best: Data?
        for quality in stride(from: 95, through: 10, by: -1) {
            let jpeg = try JPEG.encode(picture, quality: quality)
            best = jpeg
            if jpeg.count <= target { break }
        }
        guard let best else { throw LoadGenError("cannot make a thumbnail") }
        return Thumbnail(jpeg: best, width: UInt32(width), height: UInt32(height))
    }
}

/// A small deterministic generator, so every run sends the same picture.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct LoadGenError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
