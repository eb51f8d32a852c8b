/// Plays a recording's output with its timing, like `asciinema play`: pauses longer than the idle limit are
/// shortened to it, then everything is divided by the speed. The schedule is a pure function; playing sleeps
/// on an injected clock until each frame's deadline, so that slow writes do not add up to drift.
struct AsciicastPlayer {
    struct Frame: Equatable, Sendable {
        /// When to write, counted from the start of playing.
        var at: Duration
        var text: String
    }

    /// How fast to play: 2 is twice as fast.
    var speed: Double
    /// The longest pause played, in recorded seconds.
    var idleLimit: Double

    /// The output events of `recording` with the moment each is written.
    func schedule(_ recording: AsciicastRecording) -> [Frame] {
        var frames: [Frame] = []
        var elapsed = 0.0
        var previous = 0.0
        for event in recording.events where event.kind == "o" {
            elapsed += min(max(0, event.time - previous), idleLimit) / speed
            previous = max(previous, event.time)
            if let last = frames.last, last.at == .seconds(elapsed) {
                frames[frames.count - 1].text += event.data
            } else {
                frames.append(Frame(at: .seconds(elapsed), text: event.data))
            }
        }
        return frames
    }

    /// Writes each frame at its moment on `clock`.
    func play<C: Clock>(_ frames: [Frame], clock: C, write: (String) async throws -> Void) async throws
    where C.Duration == Duration {
        let start = clock.now
        for frame in frames {
            try await clock.sleep(until: start.advanced(by: frame.at), tolerance: nil)
            try await write(frame.text)
        }
    }
}
