import Foundation
import Testing

@testable import jumpctl

/// The parts of `jumpctl jump` and `jumpctl session replay` that decide things, tested without any I/O.
@Suite struct AsciicastRecordingTests {
    static func parse(_ text: String) throws(AsciicastParseError) -> AsciicastRecording {
        try AsciicastRecording(parsing: Data(text.utf8))
    }

    @Test func parsesTheHeaderAndEveryKindOfEvent() throws {
        let recording = try Self.parse(
            """
            {"version": 2, "width": 120, "height": 40, "idle_time_limit": 1.5, "title": "s-1 on web1", "env": {"TERM": "xterm"}}
            [0, "o", "a"]
            [1.25, "i", "b"]
            [2, "r", "100x30"]
            [3e0, "m", "mark"]

            """
        )
        #expect(recording.header == .init(width: 120, height: 40, idleTimeLimit: 1.5, title: "s-1 on web1"))
        #expect(recording.events.map(\.kind) == ["o", "i", "r", "m"])
        #expect(recording.events.map(\.time) == [0, 1.25, 2, 3])
        #expect(recording.output == "a")
    }

    @Test(arguments: [
        (#"[0.1, "o", "caf\u00e9"]"#, "café"),
        (#"[0.1, "o", "\ud83d\ude80"]"#, "🚀"),
        (#"[0.1, "o", "日本語"]"#, "日本語"),
        (#"[0.1, "o", "\u001b[31mred\u001b[0m"]"#, "\u{1b}[31mred\u{1b}[0m"),
        (#"[0.1, "o", "tab\there \"quoted\" back\\slash \/"]"#, "tab\there \"quoted\" back\\slash /"),
        (#"[0.1, "o", "line\r\n"]"#, "line\r\n"),
        (#"[0.1, "o", ""]"#, ""),
    ])
    func decodesStringsExactly(_ line: String, _ text: String) throws {
        let recording = try Self.parse("{\"version\":2,\"width\":80,\"height\":24}\n\(line)\n")
        #expect(recording.output == text)
    }

    @Test func acceptsCRLFLinesAndNoFinalNewline() throws {
        let recording = try Self.parse(
            "{\"version\":2,\"width\":80,\"height\":24}\r\n[0.1,\"o\",\"a\"]\r\n[0.2,\"o\",\"b\"]"
        )
        #expect(recording.output == "ab")
    }

    @Test(arguments: [
        ("", 1, AsciicastParseError.Reason.notAHeader),
        ("\n\n", 1, .notAHeader),
        ("[0.1,\"o\",\"x\"]\n", 1, .notAHeader),
        ("{\"width\":80}\n", 1, .notAHeader),
        ("{\"version\":3,\"width\":80,\"height\":24}\n", 1, .unsupportedVersion),
        ("{\"version\":2}\n[0.1,\"o\",\"x\"]\n{\"a\":1}\n", 3, .notAnEvent),
        ("{\"version\":2}\n[0.1,\"o\",\"x\",\"extra\"]\n", 2, .notAnEvent),
        ("{\"version\":2}\n[-1,\"o\",\"x\"]\n", 2, .notAnEvent),
        ("{\"version\":2}\n[0.1,\"o\",42]\n", 2, .notAnEvent),
        ("{\"version\":2}\n[0.1,\"o\",\"\\ud83d\"]\n[0.2,\"o\",\"x\"]\n", 2, .notAnEvent),
        ("{\"version\":2}\n[0.1,\"o\",\"a\"]\n[0.2,\"o\",\"b", 3, .truncated),
        ("{\"version\":2}\n[0.1,\"o\",\"a\"]\n[0.2", 3, .truncated),
        ("{\"version\":2,\"wid", 1, .truncated),
    ])
    func refusesDamagedRecordingsNamingTheLine(_ text: String, _ line: Int, _ reason: AsciicastParseError.Reason) {
        #expect(throws: AsciicastParseError(line: line, reason: reason, detail: "")) { try Self.parse(text) }
    }

    @Test func refusesInvalidUTF8() {
        var data = Data("{\"version\":2}\n[0.1,\"o\",\"".utf8)
        data.append(contentsOf: [0xC3, 0x28])
        data.append(contentsOf: Data("\"]\n".utf8))
        #expect(throws: AsciicastParseError(line: 2, reason: .notAnEvent, detail: "")) {
            try AsciicastRecording(parsing: data)
        }
    }
}

@Suite struct AsciicastPlayerTests {
    static func recording(_ events: [(Double, String, String)]) -> AsciicastRecording {
        AsciicastRecording(
            header: .init(width: 80, height: 24),
            events: events.map { AsciicastRecording.Event(time: $0.0, kind: $0.1, data: $0.2) }
        )
    }

    @Test func keepsShortPausesAndShortensLongOnes() {
        let player = AsciicastPlayer(speed: 1, idleLimit: 2)
        let frames = player.schedule(
            Self.recording([(0.5, "o", "a"), (1.5, "o", "b"), (100, "o", "c"), (100.25, "o", "d")])
        )
        #expect(
            frames == [
                .init(at: .seconds(0.5), text: "a"), .init(at: .seconds(1.5), text: "b"),
                .init(at: .seconds(3.5), text: "c"), .init(at: .seconds(3.75), text: "d"),
            ]
        )
    }

    @Test func speedDividesEveryPause() {
        let player = AsciicastPlayer(speed: 2, idleLimit: 10)
        let frames = player.schedule(Self.recording([(1, "o", "a"), (3, "o", "b")]))
        #expect(frames.map(\.at) == [.seconds(0.5), .seconds(1.5)])
    }

    @Test func skipsEverythingButOutputAndJoinsSimultaneousOutput() {
        let player = AsciicastPlayer(speed: 1, idleLimit: 2)
        let frames = player.schedule(
            Self.recording([(1, "i", "x"), (1, "o", "a"), (1, "o", "b"), (1.5, "r", "90x20"), (2, "o", "c")])
        )
        #expect(frames == [.init(at: .seconds(1), text: "ab"), .init(at: .seconds(2), text: "c")])
    }

    @Test func timeGoingBackwardsIsNoPause() {
        let player = AsciicastPlayer(speed: 1, idleLimit: 2)
        let frames = player.schedule(Self.recording([(2, "o", "a"), (1, "o", "b"), (2.5, "o", "c")]))
        #expect(frames == [.init(at: .seconds(2), text: "ab"), .init(at: .seconds(2.5), text: "c")])
    }
}

@Suite struct TerminalServerMessageTests {
    static func decode(_ json: String) throws -> TerminalServerMessage {
        try TerminalServerMessage.decode(Array(json.utf8))
    }

    @Test func decodesEveryMessage() throws {
        #expect(
            try Self.decode(#"{"type":"notice","level":"warning","text":"ends in 5 minutes","secondsRemaining":300}"#)
                == .notice(level: "warning", text: "ends in 5 minutes", secondsRemaining: 300)
        )
        #expect(
            try Self.decode(#"{"type":"participant","user":"bob","joined":false}"#)
                == .participant(user: "bob", joined: false)
        )
        #expect(
            try Self.decode(#"{"type":"end","outcome":"signaled","signal":9,"detail":"killed"}"#)
                == .end(.init(outcome: "signaled", exitStatus: nil, signal: 9, detail: "killed"))
        )
        #expect(
            try Self.decode(#"{"type":"end","outcome":"exited","exitStatus":0}"#)
                == .end(.init(outcome: "exited", exitStatus: 0, signal: nil, detail: ""))
        )
    }

    @Test func toleratesNewTypesAndMissingFields() throws {
        #expect(try Self.decode(#"{"type":"typing","user":"bob","extra":[1,2]}"#) == .unknown(type: "typing"))
        #expect(
            try Self.decode(#"{"type":"notice","text":"hello"}"#)
                == .notice(level: "info", text: "hello", secondsRemaining: 0)
        )
    }

    @Test(arguments: ["", "[]", "{}", "{\"type\":1}", "not json"])
    func refusesWhatIsNotAMessage(_ json: String) {
        #expect(throws: TerminalServerMessage.Malformed.self) { try Self.decode(json) }
    }

    @Test func resizeIsTheContractsJSON() throws {
        let json = TerminalClientMessage.resize(WindowSize(columns: 120, rows: 40)).json
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["type"] as? String == "resize")
        #expect(object?["columns"] as? Int == 120)
        #expect(object?["rows"] as? Int == 40)
    }
}

@Suite struct JumpSessionStateTests {
    static func end(
        _ outcome: String,
        exitStatus: Int? = nil,
        signal: Int? = nil,
        detail: String = ""
    ) -> TerminalServerMessage {
        .end(TerminalSessionOutcome(outcome: outcome, exitStatus: exitStatus, signal: signal, detail: detail))
    }

    @Test(arguments: [
        (end("exited", exitStatus: 0), JumpSessionState.Exit(status: 0, message: nil)),
        (end("exited", exitStatus: 3), .init(status: 3, message: nil)),
        (end("exited", exitStatus: 256 + 7), .init(status: 7, message: nil)),
        (end("exited"), .init(status: 255, message: "the shell exited without an exit status")),
        (end("signaled", signal: 9), .init(status: 137, message: "the shell was killed by signal 9")),
        (
            end("signaled", signal: 1, detail: "hang-up"),
            .init(status: 129, message: "the shell was killed by signal 1: hang-up")
        ),
        (
            end("force-ended", detail: "the Jump Policy's schedule ended at 18:00"),
            .init(status: 255, message: "the session was force-ended: the Jump Policy's schedule ended at 18:00")
        ),
        (end("ended", detail: "ended by alice"), .init(status: 255, message: "the session was ended: ended by alice")),
        (end("agent-disconnected"), .init(status: 255, message: "the Jump Client disconnected")),
        (
            end("recording-failed", detail: "disk full"),
            .init(status: 255, message: "the session ended because its recording failed: disk full")
        ),
        (end("failed", detail: "no /bin/bash"), .init(status: 255, message: "the session failed: no /bin/bash")),
        (end("teleported"), .init(status: 255, message: "the session ended (teleported)")),
    ])
    func anEndDecidesTheExitStatus(_ message: TerminalServerMessage, _ exit: JumpSessionState.Exit) {
        var state = JumpSessionState(inputIsTerminal: true)
        #expect(state.received(message) == .finish(exit))
        #expect(state.connectionEnded(reason: "closed") == exit, "the end message wins over the close after it")
    }

    @Test func noticesAndParticipantsAreShown() {
        var state = JumpSessionState(inputIsTerminal: true)
        #expect(
            state.received(.notice(level: "warning", text: "5 minutes left", secondsRemaining: 300))
                == .show("warning: 5 minutes left")
        )
        #expect(state.received(.notice(level: "info", text: "recording", secondsRemaining: 0)) == .show("recording"))
        #expect(state.received(.participant(user: "bob", joined: true)) == .show("bob joined the session"))
        #expect(state.received(.participant(user: "bob", joined: false)) == .show("bob left the session"))
        #expect(state.received(.unknown(type: "typing")) == .none)
    }

    @Test func aLostConnectionEndsWith255() {
        var state = JumpSessionState(inputIsTerminal: true)
        let exit = state.connectionEnded(reason: "it closed the WebSocket (going away)")
        #expect(exit.status == 255)
        #expect(
            exit.message
                == "the connection to the appliance was lost before the session ended: it closed the WebSocket (going away)"
        )
        #expect(state.received(Self.end("exited", exitStatus: 0)) == .none)
    }

    @Test func pipedInputEndsWithOneEOT() {
        var piped = JumpSessionState(inputIsTerminal: false)
        #expect(piped.inputEnded() == .sendEndOfTransmission)
        #expect(piped.inputEnded() == .none)
        var terminal = JumpSessionState(inputIsTerminal: true)
        #expect(terminal.inputEnded() == .none)
    }
}

@Suite struct SessionViewTests {
    @Test func decodesTheFullView() throws {
        let json = """
            {"id":"s-1","client":"jc-1","clientName":"web1","owner":"alice","participants":["alice","bob"],"invited":["bob"],
             "ticket":"T-1","state":"ended","startedAt":"2025-01-01T00:00:00Z","endedAt":"2025-01-01T01:02:03.250Z",
             "outcome":"exited","exitStatus":0,"detail":"","jumpPolicy":"Office hours","sessionPolicies":["Shell only"],
             "customerPresent":false,"scheduleOverridden":true,"forceEndAt":"2025-01-01T18:00:00Z","recordingBytes":12345}
            """
        let view = try JSONDecoder.sessionDecoder().decode(SessionView.self, from: Data(json.utf8))
        #expect(view.clientLabel == "web1 (jc-1)")
        #expect(view.outcomeLabel == "exited 0")
        #expect(view.durationLabel(now: Date()) == "1h 02m")
        #expect(view.recordingBytes == 12345)
        #expect(view.scheduleOverridden == true)
    }

    @Test func onlyTheIdIsRequired() throws {
        let view = try JSONDecoder.sessionDecoder().decode(
            SessionView.self,
            from: Data(#"{"id":"s-2","somethingNew":[1]}"#.utf8)
        )
        #expect(view.id == "s-2")
        #expect(view.clientLabel == "")
        #expect(view.outcomeLabel == "")
        #expect(throws: (any Error).self) {
            try JSONDecoder.sessionDecoder().decode(SessionView.self, from: Data(#"{"client":"jc-1"}"#.utf8))
        }
    }
}
