import Foundation
import JumpSessionCore
import Testing

@Suite struct AsciicastReplayTests {
    static let header = #"{"version":2,"width":80,"height":24}"#

    static func replay(_ text: String, allowingTruncatedEnd: Bool = false) throws -> AsciicastReplay {
        try AsciicastReplay(data: Data(text.utf8), allowingTruncatedEnd: allowingTruncatedEnd)
    }

    @Test func readsAsciinemasOwnExample() throws {
        // The example from the asciicast v2 documentation, with a marker and keys this reader does not know.
        let replay = try Self.replay(
            #"""
            {"version": 2, "width": 80, "height": 24, "timestamp": 1504467315, "title": "Demo", "env": {"TERM": "xterm-256color", "SHELL": "/bin/zsh"}, "theme": {"fg": "#d0d0d0"}, "idle_time_limit": 2}
            [0.248848, "o", "\u001b[1;31mHello \u001b[32mWorld!\u001b[0m\n"]
            [1.001376, "o", "That was ok\rThis is better."]
            [1.500000, "m", ""]
            [2.143733, "o", "Now... "]
            [4.050000, "r", "80x24"]
            [6.541828, "o", "Bye!"]

            """#
        )
        #expect(replay.header.title == "Demo")
        #expect(replay.header.env == ["TERM": "xterm-256color", "SHELL": "/bin/zsh"])
        #expect(replay.header.timestamp == Date(timeIntervalSince1970: 1_504_467_315))
        #expect(replay.events.count == 6)
        #expect(replay.events[2].kind == .marker)
        #expect(replay.events[0].time == .microseconds(248_848))
        #expect(replay.output == "\u{1B}[1;31mHello \u{1B}[32mWorld!\u{1B}[0m\nThat was ok\rThis is better.Now... Bye!")
        #expect(
            replay.output(through: .seconds(2))
                == "\u{1B}[1;31mHello \u{1B}[32mWorld!\u{1B}[0m\nThat was ok\rThis is better."
        )
    }

    struct BadRecording: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var code: AsciicastError.Code
        var line: Int

        var testDescription: String { name }
    }

    @Test(arguments: [
        BadRecording(name: "empty", text: "", code: .invalidHeader, line: 1),
        BadRecording(name: "not JSON", text: "hello\n", code: .invalidHeader, line: 1),
        BadRecording(name: "no width", text: #"{"version":2,"height":24}"# + "\n", code: .invalidHeader, line: 1),
        BadRecording(
            name: "zero size",
            text: #"{"version":2,"width":0,"height":24}"# + "\n",
            code: .invalidHeader,
            line: 1
        ),
        BadRecording(
            name: "version 1",
            text: #"{"version":1,"width":80,"height":24,"stdout":[]}"# + "\n",
            code: .unsupportedVersion,
            line: 1
        ),
        BadRecording(
            name: "version 3",
            text: #"{"version":3,"width":80,"height":24}"# + "\n",
            code: .unsupportedVersion,
            line: 1
        ),
        BadRecording(name: "an object", text: header + "\n" + #"{"t":1}"# + "\n", code: .invalidEvent, line: 2),
        BadRecording(name: "two elements", text: header + "\n[1.0,\"o\"]\n", code: .invalidEvent, line: 2),
        BadRecording(name: "four elements", text: header + "\n[1.0,\"o\",\"a\",\"b\"]\n", code: .invalidEvent, line: 2),
        BadRecording(name: "time as string", text: header + "\n[\"1.0\",\"o\",\"a\"]\n", code: .invalidEvent, line: 2),
        BadRecording(name: "negative time", text: header + "\n[-1.0,\"o\",\"a\"]\n", code: .invalidEvent, line: 2),
        BadRecording(name: "empty code", text: header + "\n[1.0,\"\",\"a\"]\n", code: .invalidEvent, line: 2),
        BadRecording(
            name: "bad resize",
            text: header + "\n[0.5,\"o\",\"a\"]\n[1.0,\"r\",\"80by24\"]\n",
            code: .invalidEvent,
            line: 3
        ),
        BadRecording(name: "cut off", text: header + "\n[0.5,\"o\",\"a\"]\n[1.0,\"o\",\"b", code: .truncated, line: 3),
    ])
    func badRecordingsSayWhatAndWhere(_ bad: BadRecording) throws {
        let error = try #require(throws: AsciicastError.self) { try Self.replay(bad.text) }
        #expect(error.code == bad.code)
        #expect(error.line == bad.line)
    }

    @Test func aCutOffEndCanBeDropped() throws {
        let replay = try Self.replay(Self.header + "\n[0.5,\"o\",\"a\"]\n[1.0,\"o\",\"b", allowingTruncatedEnd: true)
        #expect(replay.output == "a")
    }

    @Test func aLastLineWithoutNewlineIsReadWhenComplete() throws {
        #expect(try Self.replay(Self.header + "\n[0.5,\"o\",\"a\"]").output == "a")
    }

    @Test func aBadLineInTheMiddleIsNotTakenForACutOffEnd() throws {
        let error = try #require(throws: AsciicastError.self) {
            try Self.replay(Self.header + "\n[0.5,\"o\",\"a\n[1.0,\"o\",\"b\"]", allowingTruncatedEnd: true)
        }
        #expect(error.code == .invalidEvent)
        #expect(error.line == 2)
    }
}
