import Foundation
import JumpSessionCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct AsciicastWriterTests {
    @Test func roundTrip() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: clock
        )
        clock.advance(by: .milliseconds(250))
        try writer.output(Array("$ ".utf8))
        clock.advance(by: .seconds(1))
        try writer.input(Array("ls\r".utf8))
        try writer.output(Array("ls\r\n\u{1B}[0mfile \"a\\b\"\r\n".utf8))
        clock.advance(by: .microseconds(1_500_001))
        try writer.resize(columns: 120, rows: 40)
        try writer.output(Array("日本語 ✓\u{0}\u{7}".utf8))
        try writer.close()

        let replay = try AsciicastReplay(data: try file.contents())
        #expect(replay.header == RecordingFixtures.header)
        #expect(
            replay.events == [
                AsciicastEvent(time: .milliseconds(250), kind: .output, data: "$ "),
                AsciicastEvent(time: .milliseconds(1250), kind: .input, data: "ls\r"),
                AsciicastEvent(time: .milliseconds(1250), kind: .output, data: "ls\r\n\u{1B}[0mfile \"a\\b\"\r\n"),
                .resize(at: .microseconds(2_750_001), columns: 120, rows: 40),
                AsciicastEvent(time: .microseconds(2_750_001), kind: .output, data: "日本語 ✓\u{0}\u{7}"),
            ]
        )
        #expect(replay.output == "$ ls\r\n\u{1B}[0mfile \"a\\b\"\r\n日本語 ✓\u{0}\u{7}")
        #expect(replay.events[3].size! == (120, 40))
        #expect(replay.duration == .microseconds(2_750_001))
    }

    @Test func aCharacterSplitAcrossReadsIsRecordedWhole() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: clock
        )
        let bytes = Array("€𝄞".utf8)
        try writer.output(bytes[0..<2])  // half of €: nothing to record yet
        clock.advance(by: .milliseconds(10))
        try writer.output(bytes[2..<5])  // the rest of € and the start of 𝄞
        try writer.input([0xC3])  // input has a decoder of its own
        try writer.output(bytes[5...])
        try writer.input([0xA9])
        try writer.output([0xE2, 0x82])  // cut off by the end of the session
        try writer.close()

        let replay = try AsciicastReplay(data: try file.contents())
        #expect(
            replay.events == [
                AsciicastEvent(time: .milliseconds(10), kind: .output, data: "€"),
                AsciicastEvent(time: .milliseconds(10), kind: .output, data: "𝄞"),
                AsciicastEvent(time: .milliseconds(10), kind: .input, data: "é"),
                AsciicastEvent(time: .milliseconds(10), kind: .output, data: "\u{FFFD}"),
            ]
        )
        // Every line is valid UTF-8 JSON.
        for line in try file.lines() {
            #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        }
    }

    @Test func invalidBytesAreRecordedAsReplacementCharacters() throws {
        let file = TemporaryRecording()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: ManualClock()
        )
        try writer.output([0x61, 0xFF, 0xC0, 0x62])
        try writer.close()
        #expect(try AsciicastReplay(data: try file.contents()).output == "a\u{FFFD}\u{FFFD}b")
    }

    @Test func theHeaderIsWrittenAtOnceAndEventsAreBuffered() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: clock
        )
        #expect(try file.lines().count == 1)
        try writer.output(Array("small".utf8))
        #expect(try file.lines().count == 1)
        try writer.flush()
        #expect(try file.lines().count == 2)
        try writer.close()
    }

    @Test func theBufferIsWrittenWhenFull() throws {
        let file = TemporaryRecording()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: ManualClock()
        )
        let headerSize = try file.contents().count
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var recorded = 0
        while try file.contents().count == headerSize {
            try writer.output(chunk)
            recorded += chunk.count
            #expect(recorded <= Asciicast.maximumBufferedBytes + chunk.count)
        }
        #expect(recorded >= Asciicast.maximumBufferedBytes - chunk.count)
        try writer.close()
    }

    @Test func aQuietSessionIsWrittenAfterTheFlushInterval() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: clock
        )
        try writer.output(Array("a".utf8))
        clock.advance(by: Asciicast.flushInterval / 2)
        try writer.output(Array("b".utf8))
        #expect(try file.lines().count == 1)
        clock.advance(by: Asciicast.flushInterval / 2)
        try writer.output(Array("c".utf8))
        #expect(try file.lines().count == 4)
        try writer.close()
    }

    @Test func afterCloseNothingMoreIsRecorded() throws {
        let file = TemporaryRecording()
        let writer = try AsciicastWriter(
            fileDescriptor: try file.open(),
            header: RecordingFixtures.header,
            clock: ManualClock()
        )
        try writer.close()
        try writer.close()
        #expect { try writer.output([0x61]) } throws: { ($0 as? AsciicastError)?.code == .closed }
    }

    @Test func aFileHandleStaysTheCallers() throws {
        let file = TemporaryRecording()
        let descriptor = try file.open()
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        let writer = try AsciicastWriter(fileHandle: handle, header: RecordingFixtures.header, clock: ManualClock())
        try writer.output(Array("x".utf8))
        try writer.close()
        #expect(fcntl(descriptor, F_GETFD) >= 0)
        try handle.close()
        #expect(try AsciicastReplay(data: try file.contents()).output == "x")
    }

    @Test(.enabled(if: RecordingFixtures.hasDevFull, "/dev/full is Linux's always-full device"))
    func aFullDiskStopsTheSessionBeforeItStarts() throws {
        let descriptor = systemOpen("/dev/full", O_WRONLY | O_CLOEXEC, 0)
        try #require(descriptor >= 0)
        let error = try #require(throws: AsciicastError.self) {
            _ = try AsciicastWriter(fileDescriptor: descriptor, header: RecordingFixtures.header, clock: ManualClock())
        }
        #expect(error.code == .diskFull)
        #expect(error.errno == ENOSPC)
        #expect(error.message.contains("the disk holding it is full"))
    }

    @Test(.enabled(if: RecordingFixtures.hasDevFull, "/dev/full is Linux's always-full device"))
    func aDiskThatFillsDuringTheSessionFailsEveryLaterCall() throws {
        let file = TemporaryRecording()
        let clock = ManualClock()
        let descriptor = try file.open()
        let writer = try AsciicastWriter(fileDescriptor: descriptor, header: RecordingFixtures.header, clock: clock)
        // The disk fills up: the writer's descriptor now refers to /dev/full.
        let full = systemOpen("/dev/full", O_WRONLY | O_CLOEXEC, 0)
        try #require(full >= 0)
        try #require(dup2(full, descriptor) == descriptor)
        close(full)

        try writer.output(Array("buffered".utf8))
        clock.advance(by: Asciicast.flushInterval)
        #expect { try writer.output(Array("more".utf8)) } throws: { ($0 as? AsciicastError)?.code == .diskFull }
        #expect { try writer.input(Array("x".utf8)) } throws: { ($0 as? AsciicastError)?.code == .diskFull }
        #expect { try writer.flush() } throws: { ($0 as? AsciicastError)?.code == .diskFull }
        #expect { try writer.close() } throws: { ($0 as? AsciicastError)?.code == .diskFull }
    }
}
