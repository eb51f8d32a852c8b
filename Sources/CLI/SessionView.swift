import Foundation

/// A Jump session as the appliance's API shows it. Only `id` is required: every other field is optional so that
/// an appliance that leaves one out, or adds new ones, still works; the JSON output (--json) is the
/// appliance's own text, whatever this struct knows.
struct SessionView: Decodable, Sendable {
    var id: String
    var client: String?
    var clientName: String?
    var owner: String?
    var participants: [String]?
    var invited: [String]?
    var ticket: String?
    /// active or ended.
    var state: String?
    var startedAt: Date?
    var endedAt: Date?
    /// exited, signaled, force-ended, ended, failed, agent-disconnected or recording-failed, once ended.
    var outcome: String?
    var exitStatus: Int?
    var signal: Int?
    var detail: String?
    var jumpPolicy: String?
    var sessionPolicies: [String]?
    var customerPresent: Bool?
    var scheduleOverridden: Bool?
    var forceEndAt: Date?
    var recordingBytes: UInt64?
    /// An attended support session (the client is then a support id).
    var attended: Bool?
    var pinnedClient: String?

    /// The Jump Client as people know it: its name, with the id when they differ.
    var clientLabel: String {
        switch (clientName, client) {
        case (let name?, let id?) where !name.isEmpty && name != id: "\(name) (\(id))"
        case (let name?, _) where !name.isEmpty: name
        default: client ?? ""
        }
    }

    /// The outcome with its exit status or signal, e.g. "exited 0", "signaled 9"; "" while active.
    var outcomeLabel: String {
        guard let outcome else { return "" }
        if let exitStatus, outcome == "exited" { return "exited \(exitStatus)" }
        if let signal, outcome == "signaled" { return "signaled \(signal)" }
        return outcome
    }

    /// How long the session ran (or has run, while active), e.g. "1h 02m", "3m 05s".
    func durationLabel(now: Date) -> String {
        guard let startedAt else { return "" }
        let seconds = max(0, Int((endedAt ?? now).timeIntervalSince(startedAt)))
        if seconds >= 3600 { return String(format: "%dh %02dm", seconds / 3600, seconds % 3600 / 60) }
        return String(format: "%dm %02ds", seconds / 60, seconds % 60)
    }
}

extension JSONDecoder {
    /// Decodes the API's ISO 8601 dates with or without fractional seconds.
    static func sessionDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: .iso8601) { return date }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 date")
        }
        return decoder
    }
}
