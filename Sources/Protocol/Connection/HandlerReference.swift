import NIOCore

/// A connection handler reachable from any thread: calls hop to its event loop. Handles compare by
/// channel. Both ``ServerConnection`` and ``AgentConnection`` are built on it.
struct HandlerReference<Handler: AnyObject>: Sendable, Hashable {
    let handler: NIOLoopBound<Handler>
    let channel: any Channel

    init(_ handler: Handler, channel: any Channel) {
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.channel = channel
    }

    /// The handler, for callers already on its event loop.
    var onLoop: Handler { handler.value }

    /// Runs `body` on the handler's event loop: at once when already there.
    func run(_ body: @escaping @Sendable (Handler) -> Void) {
        if channel.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            let handler = self.handler
            channel.eventLoop.execute { body(handler.value) }
        }
    }

    static func == (lhs: HandlerReference, rhs: HandlerReference) -> Bool {
        ObjectIdentifier(lhs.channel) == ObjectIdentifier(rhs.channel)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(channel))
    }
}
