import Foundation

/// The JSON text messages of a session's terminal WebSocket (binary messages are the terminal's bytes).
/// Plain values: decoding and encoding only, no socket.
enum TerminalServerMessage: Equatable, Sendable {
    /// Something the user should know, e.g. that the Jump Policy's schedule ends the session soon.
    case notice(level: String, text: String, secondsRemaining: Int)
    /// Someone invited joined or left the session.
    case participant(user: String, joined: Bool)
    /// The session is over; the appliance closes the WebSocket after this message.
    case end(TerminalSessionOutcome)
    /// A message type this jumpctl does not know (a newer appliance); it is ignored.
    case unknown(type: String)

    struct Malformed: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// Decodes one text message. Missing optional fields take defaults, so that small differences in a newer
    /// appliance do not break the session; a message that is not a JSON object with a `type` is malformed.
    static func decode(_ bytes: some Collection<UInt8>) throws(Malformed) -> TerminalServerMessage {
        let wire: WireMessage
        do {
            wire = try JSONDecoder().decode(WireMessage.self, from: Data(bytes))
        } catch {
            throw Malformed(description: "a terminal message that is not a JSON object with a type: \(error)")
        }
        switch wire.type {
        case "notice":
            return .notice(
                level: wire.level ?? "info",
                text: wire.text ?? "",
                secondsRemaining: wire.secondsRemaining ?? 0
            )
        case "participant":
            return .participant(user: wire.user ?? "someone", joined: wire.joined ?? true)
        case "end":
            return .end(
                TerminalSessionOutcome(
                    outcome: wire.outcome ?? "ended",
                    exitStatus: wire.exitStatus,
                    signal: wire.signal,
                    detail: wire.detail ?? ""
                )
            )
        default:
            return .unknown(type: wire.type)
        }
    }
}

/// How a session ended, as the appliance's `end` message says.
struct TerminalSessionOutcome: Equatable, Sendable {
    /// exited, signaled, force-ended, ended, failed, agent-disconnected or recording-failed.
    var outcome: String
    var exitStatus: Int?
    var signal: Int?
    var detail: String
}

/// Messages jumpctl sends as text.
enum TerminalClientMessage: Equatable, Sendable {
    case resize(WindowSize)

    var json: String {
        switch self {
        case .resize(let size): "{\"type\":\"resize\",\"columns\":\(size.columns),\"rows\":\(size.rows)}"
        }
    }
}

/// A terminal's size in character cells.
struct WindowSize: Equatable, Sendable {
    /// What a terminal that cannot say its size (a pipe, a file) is taken to be.
    static let fallback = WindowSize(columns: 80, rows: 24)

    var columns: Int
    var rows: Int
}

/// Every field any server message may have.
private struct WireMessage: Decodable {
    var type: String
    var level: String?
    var text: String?
    var secondsRemaining: Int?
    var user: String?
    var joined: Bool?
    var outcome: String?
    var exitStatus: Int?
    var signal: Int?
    var detail: String?
}
