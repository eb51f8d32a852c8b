/// Flow control for the terminal's output: how many bytes have been delivered and not yet acknowledged
/// by the consumer. The reader asks for at most `allowance` bytes, so the outstanding count never
/// exceeds the window; when it reaches it the reader stops reading and the pty's own buffer (and then
/// the writing process) waits, until the session protocol carries a window update back.
struct OutputWindow: Sendable, Hashable {
    let size: Int
    private(set) var outstanding = 0

    init(size: Int) {
        precondition(size > 0, "a flow-control window must be positive")
        self.size = size
    }

    /// How many bytes the reader may read now.
    var allowance: Int { size - outstanding }

    var isFull: Bool { outstanding >= size }

    mutating func delivered(_ count: Int) {
        precondition(count <= allowance, "read more than the window allows")
        outstanding += count
    }

    /// Acknowledges up to what is outstanding; a consumer that acknowledges more than it was sent
    /// cannot open the window beyond its size.
    mutating func acknowledge(_ count: Int) {
        outstanding -= min(max(count, 0), outstanding)
    }
}
