import Foundation
import Testing

/// `jumpctl jump` and `jumpctl session …` as a user runs them, without an appliance: arguments, help, exit
/// statuses, and replaying a saved recording.
@Suite struct JumpctlSessionCommandTests {
    /// A config directory with no session in it, so a command that got past its argument checks says "not logged in".
    static func loggedOut() throws -> [String: String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "jumpctl-session-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return ["XDG_CONFIG_HOME": directory.path]
    }

    static func castFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("jumpctl-\(UUID().uuidString).cast")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Output with UTF-8 (written raw and as \u escapes, a surrogate pair included), control characters, an
    /// escaped quote and backslash; input, resize and marker events that must not be played.
    static let recording = #"""
        {"version":2,"width":80,"height":24,"timestamp":1735689600,"env":{"TERM":"xterm-256color","SHELL":"/bin/bash"}}
        [0.05,"o","$ "]
        [0.5,"i","ls\r"]
        [0.6,"o","ls\r\n"]
        [0.7,"r","100x30"]
        [0.8,"o","caf\u00e9 \u2713 \ud83d\ude80 日本 \"q\" \\ \u001b[1mbold\u001b[0m\r\n"]
        [0.9,"m",""]
        [1.0,"o","$ "]

        """#

    static let recordingOutput = "$ ls\r\ncafé ✓ 🚀 日本 \"q\" \\ \u{1b}[1mbold\u{1b}[0m\r\n$ "

    @Test func jumpHelpExplainsInputAndExitStatus() throws {
        let result = try ProgramTests.run("jumpctl", ["jump", "--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("USAGE: jumpctl jump <client>"))
        #expect(result.output.contains("--override-schedule"))
        #expect(result.output.contains("EOT byte"))
        #expect(result.output.contains("Exit status"))
        #expect(result.output.contains("128+N"))
        #expect(result.output.contains("255"))
        #expect(result.output.contains("77 not logged in"))
    }

    @Test(arguments: [["session", "--help"], ["session", "replay", "--help"]])
    func sessionHelpListsExitStatus(_ arguments: [String]) throws {
        let result = try ProgramTests.run("jumpctl", arguments)
        #expect(result.status == 0)
        #expect(result.output.contains("Exit status"))
        #expect(result.output.contains("66 no such session"))
    }

    @Test func sessionHelpListsItsCommands() throws {
        let result = try ProgramTests.run("jumpctl", ["session", "--help"])
        for command in ["list", "show", "replay", "invite", "end"] {
            #expect(result.output.contains("  \(command) "), "\(command)")
        }
    }

    @Test func jumpWithoutAClientIsAUsageError() throws {
        let result = try ProgramTests.run("jumpctl", ["jump"], environment: try Self.loggedOut())
        #expect(result.status == 64)
        #expect(result.error.contains("Missing expected argument '<client>'"))
    }

    @Test(arguments: ["12ab56", "123", "123456789", "１２３４５６"])
    func aMalformedOTPIsAUsageErrorBeforeLoggingIn(_ otp: String) throws {
        let result = try ProgramTests.run("jumpctl", ["jump", "jc-1", "--otp", otp], environment: try Self.loggedOut())
        #expect(result.status == 64, "\(result.error)")
        #expect(result.error.contains("--otp must be the 6 to 8 digits"))
    }

    @Test(arguments: [
        ["jump", "jc-1"], ["jump", "jc-1", "--otp", "123456", "--ticket", "T-1", "--override-schedule"],
        ["session", "list", "--active", "--client", "jc-1"], ["session", "show", "s-1"],
        ["session", "invite", "s-1", "bob"],
        ["session", "end", "s-1"], ["session", "replay", "s-1"],
    ])
    func commandsNeedALogin(_ arguments: [String]) throws {
        let result = try ProgramTests.run("jumpctl", arguments, environment: try Self.loggedOut())
        #expect(result.status == 77, "\(arguments): \(result.error)")
        #expect(result.error.contains("not logged in"))
    }

    @Test func inviteNeedsAUser() throws {
        let result = try ProgramTests.run("jumpctl", ["session", "invite", "s-1"], environment: try Self.loggedOut())
        #expect(result.status == 64)
        #expect(result.error.contains("Missing expected argument '<user>'"))
    }

    @Test func replayPlaysOnlyTheOutputOfALocalRecording() throws {
        let file = try Self.castFile(Self.recording)
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", file, "--no-timing"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == Self.recordingOutput)
    }

    @Test func replayWithTimingPlaysTheSameOutput() throws {
        let file = try Self.castFile(Self.recording)
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", file, "--speed", "20"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == Self.recordingOutput)
    }

    @Test func theIdleLimitShortensLongPauses() throws {
        let file = try Self.castFile(
            """
            {"version": 2, "width": 80, "height": 24}
            [0.0, "o", "a"]
            [3600.0, "o", "b"]
            [7200.5, "o", "c"]
            """
        )
        let started = ContinuousClock.now
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", file, "--idle-limit", "0.1"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == "abc")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func aRecordingCutShortIsRefusedWithItsLine() throws {
        let file = try Self.castFile(
            """
            {"version":2,"width":80,"height":24}
            [0.1,"o","first"]
            [0.2,"o","sec
            """
        )
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", file, "--no-timing"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 65)
        #expect(result.error.contains("cut short"))
        #expect(result.error.contains("(3)"))
        #expect(result.output.isEmpty, "nothing is played from a damaged recording")
    }

    @Test(arguments: [
        ("{\"version\":1,\"width\":80,\"height\":24}\n[0.1,\"o\",\"x\"]\n", "only version 2"),
        ("[0.1,\"o\",\"x\"]\n", "line 1 is not an asciicast header"),
        (
            "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"x\"]\nnot json\n[0.3,\"o\",\"y\"]\n",
            "line 3 is not an asciicast event"
        ),
        ("{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\"]\n", "line 2 is not an asciicast event"),
        ("{\"version\":2,\"width\":80,\"height\":24}\n[\"0.1\",\"o\",\"x\"]\n", "line 2 is not an asciicast event"),
        ("", "the file is empty"),
    ])
    func aDamagedRecordingIsRefused(_ text: String, _ message: String) throws {
        let file = try Self.castFile(text)
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", file, "--no-timing"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 65, "\(result.error)")
        #expect(result.error.contains(message), "\(result.error)")
        #expect(result.output.isEmpty)
    }

    @Test func aMissingRecordingIsNotFound() throws {
        let result = try ProgramTests.run(
            "jumpctl",
            ["session", "replay", "--file", "/nonexistent/s-1.cast"],
            environment: try Self.loggedOut()
        )
        #expect(result.status == 66)
        #expect(result.error.contains("/nonexistent/s-1.cast"))
    }

    @Test(arguments: [
        (["session", "replay"], "give the session's id, or --file"),
        (["session", "replay", "s-1", "--file", "x.cast"], "not both"),
        (["session", "replay", "--file", "x.cast", "--output", "y.cast"], "--output saves"),
        (["session", "replay", "s-1", "--speed", "0"], "--speed must be"),
        (["session", "replay", "s-1", "--speed=-2"], "--speed must be"),
        (["session", "replay", "s-1", "--idle-limit", "0"], "--idle-limit must be"),
        (["session", "replay", "s-1", "--idle-limit", "nan"], "--idle-limit must be"),
    ])
    func replayArgumentErrors(_ arguments: [String], _ message: String) throws {
        let result = try ProgramTests.run("jumpctl", arguments, environment: try Self.loggedOut())
        #expect(result.status == 64, "\(arguments): \(result.error)")
        #expect(result.error.contains(message), "\(result.error)")
    }
}
