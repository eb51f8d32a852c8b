public import Foundation

/// The real asciinema's `cat` reading a recording, as a person checks one by hand. asciinema 2.x's cat opens
/// /dev/tty, which a run without a controlling terminal (CI started by a service, not a login) does not have:
/// script(1) gives it a terminal of its own, and what it prints goes to a file, not through that terminal.
public enum AsciinemaCat {
    /// asciinema on PATH (Debian's package puts it in /usr/bin; `pip install asciinema` elsewhere).
    public static let program: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("asciinema") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    static let script = "/usr/bin/script"

    /// Whether both asciinema and script(1) (Debian: bsdutils) are here.
    public static var available: Bool { program != nil && FileManager.default.isExecutableFile(atPath: script) }

    public struct Output: Sendable {
        /// script(1)'s exit status, which `-e` makes asciinema's.
        public let status: Int32
        /// What asciinema printed.
        public let printed: Data
        /// What script(1) or asciinema said on the terminal (errors).
        public let complaints: String
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "asciinema is not on PATH, or script(1) (Debian: bsdutils) is missing" }
    }

    /// Runs `asciinema cat recording` and returns what it printed.
    public static func cat(_ recording: URL) throws -> Output {
        guard let program, available else { throw Unavailable() }
        let printedFile = recording.path + ".printed"
        defer { try? FileManager.default.removeItem(atPath: printedFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["-q", "-e", "-c", "\(quoted(program.path)) cat \(quoted(recording.path)) > \(quoted(printedFile))", "/dev/null"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONIOENCODING"] = "utf-8"
        process.environment = environment
        let terminal = Pipe()
        process.standardOutput = terminal
        process.standardError = terminal
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let complaints = terminal.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            printed: (try? Data(contentsOf: URL(fileURLWithPath: printedFile))) ?? Data(),
            complaints: String(decoding: complaints, as: UTF8.self)
        )
    }

    /// A word for sh -c: in single quotes, each single quote written as '\''.
    static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
