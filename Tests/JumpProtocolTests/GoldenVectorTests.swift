import Foundation
import JumpProtocol
import NIOCore
import Testing

/// The hex examples in docs/protocol.md decode to the messages the document names, and those
/// messages encode to the same bytes.
@Suite struct GoldenVectorTests {
    struct Example: Sendable, CustomTestStringConvertible {
        let marker: String  // "example" or "refused"
        let name: String
        let bytes: ByteBuffer
        var testDescription: String { "\(marker): \(name)" }
    }

    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md")

    /// Every `<!-- example: NAME -->` or `<!-- refused: NAME -->` marker and the ```hex block after it.
    static func examples() throws -> [Example] {
        let lines = try String(contentsOf: documentURL, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var examples: [Example] = []
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            index += 1
            guard line.hasPrefix("<!-- "), line.hasSuffix(" -->") else { continue }
            let parts = line.dropFirst(5).dropLast(4).split(separator: ":", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 2, parts[0] == "example" || parts[0] == "refused" else { continue }
            while index < lines.count, lines[index] != "```hex" { index += 1 }
            index += 1
            var hex = ""
            while index < lines.count, lines[index] != "```" {
                hex += lines[index]
                index += 1
            }
            examples.append(Example(marker: parts[0], name: parts[1], bytes: ByteBuffer(hex: hex)))
        }
        return examples
    }

    @Test func theDocumentShowsEveryExampleTheTestsKnow() throws {
        let documented = Set(try Self.examples().filter { $0.marker == "example" }.map(\.name))
        #expect(documented == Set(GoldenVectors.examples.keys))
    }

    @Test(arguments: try examples().filter { $0.marker == "example" })
    func exampleDecodesToItsMessage(_ example: Example) throws {
        let expected = try #require(GoldenVectors.examples[example.name])
        var bytes = example.bytes
        var parser = FrameParser()
        let frame = try #require(try parser.next(from: &bytes))
        #expect(bytes.readableBytes == 0, "one frame, nothing after it")
        #expect(frame == expected)
        if frame.kind == .control {
            #expect(try ControlCodec.decode(frame.payload) == ControlCodec.decode(expected.payload))
        }
        var encoded = ByteBuffer()
        encoded.writeFrame(expected)
        #expect(encoded == example.bytes, "encoding gives the documented bytes")
    }

    static let refusals: [String: ProtocolError.Code] = [
        "frame-too-large": .frameTooLarge,
        "unknown-frame-kind": .unknownFrameKind,
        "malformed-frame": .malformedFrame,
    ]

    @Test(arguments: try examples().filter { $0.marker == "refused" })
    func refusedHeaderIsRefusedFromTheHeaderAlone(_ example: Example) throws {
        let code = try #require(Self.refusals[example.name])
        var bytes = example.bytes
        #expect(bytes.readableBytes == ProtocolLimits.frameHeaderLength)
        var parser = FrameParser()
        #expect(throws: ProtocolError(code, "")) { try parser.next(from: &bytes) }
    }
}
