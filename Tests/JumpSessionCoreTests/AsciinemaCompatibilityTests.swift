import Foundation
import JumpSessionCore
import JumpTestSupport
import Testing

/// The real asciinema reads what the writer writes. Gated because asciinema is a Python (2.x) or Rust (3.x)
/// program that the Swift toolchain does not bring; `scripts/install-deps.sh test` installs Debian's package, so the test
/// runs there.
@Suite struct AsciinemaCompatibilityTests {
    @Test(.enabled(if: AsciinemaCat.available, "asciinema is not on PATH, or script(1) (Debian: bsdutils) is missing"))
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

        let played = try AsciinemaCat.cat(file.url)

        #expect(played.status == 0, "\(played.complaints)")
        #expect(played.printed == Data(expected.utf8))
        #expect(try AsciicastReplay(data: try file.contents()).output == expected)
    }
}
