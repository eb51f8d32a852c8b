import Foundation
import JumpSessionCore
import Testing

@Suite struct AsciicastEncoderTests {
    static func encoded(_ string: String) -> String {
        var bytes: [UInt8] = []
        AsciicastEncoder.appendString(string, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: Array(UInt8(0x00)...UInt8(0x1F)) + [0x7F])
    func everyControlByteIsEscapedAsUnicode(byte: UInt8) throws {
        let string = "a" + String(UnicodeScalar(byte)) + "b"
        let expected = "\"a\\u00" + String(byte, radix: 16).leftPadded(to: 2) + "b\""
        #expect(Self.encoded(string) == expected)
        // And JSON reads it back as the same character.
        let decoded = try JSONDecoder().decode(String.self, from: Data(Self.encoded(string).utf8))
        #expect(decoded == string)
    }

    @Test(arguments: [
        ("\"", #""\"""#),
        ("\\", #""\\""#),
        ("/", #""/""#),
        ("é€𝄞", "\"é€𝄞\""),
        ("\u{1B}[1;31mred\u{1B}[0m\r\n", #""\u001b[1;31mred\u001b[0m\u000d\u000a""#),
        ("\u{80}\u{9F}\u{2028}", "\"\u{80}\u{9F}\u{2028}\""),  // valid JSON as is: only C0 and DEL are escaped
    ])
    func escaping(string: String, expected: String) throws {
        #expect(Self.encoded(string) == expected)
        #expect(try JSONDecoder().decode(String.self, from: Data(expected.utf8)) == string)
    }

    @Test(arguments: [
        (Duration.zero, "0.000000"),
        (.microseconds(1), "0.000001"),
        (.milliseconds(1500), "1.500000"),
        (.seconds(3600) + .microseconds(300), "3600.000300"),
        (.nanoseconds(999), "0.000000"),  // truncated to the microsecond
        (.seconds(-1), "0.000000"),
    ])
    func seconds(duration: Duration, expected: String) {
        var bytes: [UInt8] = []
        AsciicastEncoder.appendSeconds(duration, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test func eventLine() {
        let line = AsciicastEncoder.eventLine(AsciicastEvent(time: .milliseconds(250), kind: .output, data: "hi\n"))
        #expect(String(decoding: line, as: UTF8.self) == "[0.250000,\"o\",\"hi\\u000a\"]\n")
        let resize = AsciicastEncoder.eventLine(.resize(at: .seconds(2), columns: 120, rows: 40))
        #expect(String(decoding: resize, as: UTF8.self) == "[2.000000,\"r\",\"120x40\"]\n")
    }

    @Test func headerLine() {
        let header = AsciicastHeader(
            width: 80,
            height: 24,
            timestamp: Date(timeIntervalSince1970: 1_773_172_800.7),
            title: "alice on \"db-1\"",
            env: ["TERM": "xterm-256color", "SHELL": "/bin/bash"],
            jump: .init(who: "alice", client: "db-1", ticket: "INC-1042", policies: ["night_shift"])
        )
        let line = String(decoding: AsciicastEncoder.headerLine(header), as: UTF8.self)
        #expect(
            line
                == #"{"version":2,"width":80,"height":24,"timestamp":1773172800,"title":"alice on \"db-1\"","#
                + #""env":{"SHELL":"/bin/bash","TERM":"xterm-256color"},"#
                + #""jump":{"who":"alice","client":"db-1","ticket":"INC-1042","policies":["night_shift"]}}"# + "\n"
        )
        let minimal = String(decoding: AsciicastEncoder.headerLine(AsciicastHeader(width: 1, height: 2)), as: UTF8.self)
        #expect(minimal == #"{"version":2,"width":1,"height":2}"# + "\n")
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
