import Foundation
import JumpSessionCore
import Testing

/// The real asciinema reads what the writer writes. Gated because asciinema is a Python (2.x) or Rust (3.x)
/// program that the Swift toolchain does not bring; CI installs it (`python3 -m pip install asciinema`) so the test
/// runs there.
@Suite struct AsciinemaCompatibilityTests {
    static let asciinema: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("asciinema") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    @Test(.enabled(if: asciinema != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "asciinema is not on PATH, or script(1) (Debian: bsdutils) is missing"))
    func asciinemaCatPrintsTheRecordedOutput() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: clock
        )
        // Every byte value, cut so that characters straddle reads, then text with every control character.
        var bytes = Array("prompt$ é€𝄞 日本語\r\n".utf8) + (0...255).map(UInt8.init)
        bytes += Array("\"quoted\" \\back\\slash\u{7F}\r\n".utf8)
        var expected = String(decoding: bytes, as: UTF8.self)
        for (index, chunk) in stride(from: 0, to: bytes.count, by: 7).map({ bytes[$0..<min($0 + 7, bytes.count)] })
            .enumerated()
        {
            clock.advance(by: .milliseconds(index))
            try writer.output(chunk)
            if index == 3 { try writer.resize(columns: 132, rows: 43) }
            if index == 5 { try writer.input(Array("ls\r".utf8)) }
        }
        try writer.output([0xF0, 0x9F])  // cut off by the end: U+FFFD
        expected += "\u{FFFD}"
        try writer.close()

        // asciinema 2.x's cat opens /dev/tty, which a run without a controlling terminal (CI started by a
        // service, not a login) does not have: script(1) gives it a terminal of its own, and what it prints
        // goes to a file, not through that terminal. The paths are temporary files without quotes.
        let asciinema = try #require(Self.asciinema).path
        let printedFile = file.url.path + ".printed"
        defer { try? FileManager.default.removeItem(atPath: printedFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-q", "-e", "-c", "'\(asciinema)' cat '\(file.url.path)' > '\(printedFile)'", "/dev/null"]
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
        let printed = try Data(contentsOf: URL(fileURLWithPath: printedFile))

        #expect(process.terminationStatus == 0, "\(String(decoding: complaints, as: UTF8.self))")
        #expect(printed == Data(expected.utf8))
        #expect(try AsciicastReplay(data: try file.contents()).output == expected)
    }
}
