import Foundation
import JumpProtocolFuzzing
import Testing

/// Every input that ever crashed the fuzz target (Tests/JumpProtocolTests/FuzzCrashes/) and the
/// fuzzer's seed corpus (Fuzz/corpus/) run through the same harness; its preconditions are the
/// assertions, so a regression stops the test process.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func inputs(in folder: String) throws -> [URL] {
        let url = root.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.path < $1.path }
    }

    @Test func crashesAndCorpusRunClean() throws {
        let files = try Self.inputs(in: "Tests/JumpProtocolTests/FuzzCrashes") + Self.inputs(in: "Fuzz/corpus")
        #expect(files.count >= 50, "the seed corpus is missing")
        for file in files {
            let bytes = try Data(contentsOf: file)
            bytes.withUnsafeBytes { ProtocolFuzzHarness.run($0) }
        }
    }
}
