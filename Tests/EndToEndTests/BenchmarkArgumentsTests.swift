import Foundation
import Testing

/// The benchmark scripts read their options with `parse_options` (Benchmarks/lib/arguments.sh), run
/// here with bash as a user runs them. Each script reads its options before it installs or builds
/// anything, so these runs are quick.
@Suite struct BenchmarkArgumentsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let scripts = ["cpu-profile.sh", "footprint.sh", "handshake.sh", "heap.sh", "scale.sh", "steady.sh", "storm.sh"]

    /// Runs `body` in bash with arguments.sh sourced and `arguments` as its `$@`.
    static func bash(_ body: String, _ arguments: [String]) throws -> ProgramTests.Result {
        let script = "set -euo pipefail; cd \(repository.path); . Benchmarks/lib/arguments.sh; \(body)"
        return try ProgramTests.run("/bin/bash", ["-c", script, "test"] + arguments)
    }

    @Test func valuesFlagsAndListsAreReadLeftToRight() throws {
        let body = """
            count=1; mode=plain; size=0; names=(); parse_options \
              --count=count "--full:count=19000" "--full:mode=all of it" --size=size "--name=names[]" -- "$@"
            echo "$count|$mode|$size|${#names[@]}|${names[*]}"
            """
        let result = try Self.bash(body, ["--full", "--count", "7", "--name", "a b", "--name", "--c"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == "7|all of it|0|2|a b --c\n")

        let later = try Self.bash(body, ["--count", "7", "--full"])
        #expect(later.output.hasPrefix("19000|all of it|"))
    }

    @Test func aMissingValueIsAUsageError() throws {
        let result = try Self.bash("count=1; parse_options --count=count -- \"$@\"; echo \"$count\"", ["--count"])
        #expect(result.status == 64)
        #expect(result.error.contains("--count needs a value"))
        #expect(result.output.isEmpty)
    }

    @Test(arguments: scripts)
    func eachScriptExplainsItselfAndRefusesBadArguments(_ script: String) throws {
        let path = Self.repository.appendingPathComponent("Benchmarks/\(script)").path
        let help = try ProgramTests.run(path, ["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("Benchmarks/\(script)"))

        let unknown = try ProgramTests.run(path, ["--no-such-option"])
        #expect(unknown.status == 64)
        #expect(unknown.error.contains("unknown argument --no-such-option"))

        let missing = try ProgramTests.run(path, ["--output"])
        #expect(missing.status == 64)
        #expect(missing.error.contains("--output needs a value"))
    }
}
