import Foundation
import JumpProtocol
import JumpStore
import SwiftProtobuf
import Testing

@testable import JumpServerCore

/// `ClientHub.Latest` keeps the facts and the picture's size apart from the last report instead of
/// merging them into each one; what it serves and stores must be what the merge gave.
struct LatestStatsTests {
    /// The merge `ingest` made before (a reference model): the facts and an unchanged picture's size
    /// carried from the previous merged report into the new one. (That code also carried absent ones,
    /// as empty messages; here, as now, absent stays absent.)
    static func merged(_ report: WireStatsReport, after previous: (WireStatsReport, ClientStats.Thumbnail)?) -> (WireStatsReport, ClientStats.Thumbnail) {
        var merged = report
        if !report.hasHost, let previous, previous.0.hasHost { merged.host = previous.0.host }
        if !report.hasNetwork, let previous, previous.0.hasNetwork { merged.network = previous.0.network }
        let thumbnail: ClientStats.Thumbnail
        switch report.thumbnailStatus {
        case .captured:
            thumbnail = .jpeg(report.thumbnail.jpeg)
            merged.thumbnail.jpeg = Data()
        case .unchanged:
            thumbnail = previous?.1 ?? .none
            if let previous, previous.0.hasThumbnail { merged.thumbnail = previous.0.thumbnail }
        default:
            thumbnail = .none
        }
        return (merged, thumbnail)
    }

    static func report(_ random: inout SystemRandomNumberGenerator, step: Int) -> WireStatsReport {
        var report = WireStatsReport()
        report.cpuPermille = UInt32(step)
        if Bool.random(using: &random) {
            report.host.hostname = "host-\(step)"
            report.host.osName = "Debian \(step)"
        }
        if Bool.random(using: &random) {
            var interface = WireNetworkInterface()
            interface.name = "eth\(step % 3)"
            report.network.interfaces = [interface, interface]  // repeated: a merge of two would double them
            report.network.gatewayIpv4 = Data([10, 0, 0, UInt8(step % 250)])
        }
        report.thumbnailStatus = [.unspecified, .captured, .unchanged, .noDisplay].randomElement(using: &random)!
        if report.thumbnailStatus == .captured {
            report.thumbnail.jpeg = Data([0xFF, 0xD8, UInt8(step % 256), 0xFF, 0xD9])
            report.thumbnail.width = UInt32(100 + step)
            report.thumbnail.signature = UInt64(step)
        }
        return report
    }

    @Test func servesAndStoresWhatTheMergeGave() throws {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var model: (WireStatsReport, ClientStats.Thumbnail)?
            var latest: ClientHub.Latest?
            for step in 0..<12 {
                let report = Self.report(&random, step: step)
                model = Self.merged(report, after: model)
                let isNew = latest == nil
                if isNew { latest = ClientHub.Latest(stored: WireStatsReport(), thumbnail: .none, updatedAt: Date()) }
                let becameDirty = latest!.take(report, at: Date())
                #expect(becameDirty == isNew, "a new entry becomes dirty; a dirty one is listed once")
                let (expected, thumbnail) = model!
                #expect(latest!.report == expected, "step \(step)")
                #expect(latest!.thumbnail == thumbnail, "step \(step)")
                #expect(latest!.host == expected.host)
                #expect(latest!.network == expected.network)
                #expect(latest!.hasNetwork == expected.hasNetwork)
                let stored = try WireStatsReport(serializedBytes: latest!.serializedBytes())
                #expect(stored == expected, "step \(step): the stored bytes decode as the merged report")
                // Loaded from the store, it serves and stores the same.
                let loaded = ClientHub.Latest(stored: stored, thumbnail: thumbnail, updatedAt: Date())
                #expect(loaded.report == expected)
                #expect(try WireStatsReport(serializedBytes: loaded.serializedBytes()) == expected)
            }
        }
    }

    @Test func aContactTimeIsDueOnceAMinuteUnlessAConnectionStartedOrEnded() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var latest = ClientHub.Latest(stored: WireStatsReport(), thumbnail: .none, updatedAt: t0)
        #expect(latest.contactToWrite(connection: nil) == t0, "the first report's time")
        latest.updatedAt = t0 + 59
        #expect(latest.contactToWrite(connection: nil) == nil, "within the minute")
        #expect(latest.contactToWrite(connection: t0 + 59.5) == t0 + 59.5, "a connection's start or end, always")
        latest.updatedAt = t0 + 119
        #expect(latest.contactToWrite(connection: nil) == nil, "a minute from the connection's time, not the report's")
        latest.updatedAt = t0 + 120
        #expect(latest.contactToWrite(connection: nil) == t0 + 120)
        latest.updatedAt = t0 + 30
        #expect(latest.contactToWrite(connection: nil) == t0 + 30, "the clock stepped back 90 s")
    }
}
