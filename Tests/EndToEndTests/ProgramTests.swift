import Foundation
import JumpProtocol
import Testing

/// The built programs, run as a user would run them.
@Suite struct ProgramTests {
    /// The folder holding the built executables (next to the test bundle).
    static let binDirectory: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("jump-server").path) { return url }
        }
        return URL(fileURLWithPath: ".build/debug")
    }()

    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs a built program (or one given by absolute path) to completion.
    static func run(_ program: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = program.hasPrefix("/") ? URL(fileURLWithPath: program) : binDirectory.appendingPathComponent(program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes at once so neither fills up and blocks the program.
        nonisolated(unsafe) var error = Data()
        let errorDone = DispatchSemaphore(value: 0)
        let reader = Thread {
            error = err.fileHandleForReading.readDataToEndOfFile()
            errorDone.signal()
        }
        reader.start()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        errorDone.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            output: String(decoding: output, as: UTF8.self),
            error: String(decoding: error, as: UTF8.self)
        )
    }

    static let programs = ["jump-agent", "jump-server", "jumpctl"]

    /// Every endpoint runs the agent, so what it loads is every endpoint's memory: FoundationEssentials
    /// only. Foundation would bring ICU's data and FoundationInternationalization (about 8 MiB resident,
    /// docs/performance.md); one `import Foundation` in an agent module, or a dependency's trait that
    /// imports it, is enough to load them.
    @Test func theAgentLoadsNeitherFoundationNorICU() throws {
        let libraries = try Self.run("/usr/bin/ldd", [Self.binDirectory.appendingPathComponent("jump-agent").path])
        #expect(libraries.status == 0)
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
            #expect(!libraries.output.contains(library), "jump-agent loads \(library)")
        }
    }

    @Test(arguments: programs)
    func helpExplainsTheProgram(_ program: String) throws {
        let result = try Self.run(program, ["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("USAGE: \(program)"))
        #expect(result.output.contains("OVERVIEW:"))
    }

    @Test(arguments: programs)
    func versionIsTheRelease(_ program: String) throws {
        let result = try Self.run(program, ["--version"])
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == JumpBuild.version)
    }

    @Test(arguments: programs)
    func unknownOptionsAreAUsageError(_ program: String) throws {
        let result = try Self.run(program, ["--no-such-option"])
        #expect(result.status == 64, "EX_USAGE")
        #expect(result.error.contains("Unknown option"))
    }
}
