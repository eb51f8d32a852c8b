public import NIOCore

/// The global connection rate as a token bucket: `rate` new connections a second, with a burst of a
/// tenth of a second's worth so the rate holds over any window longer than that.
public struct AdmissionRate: Sendable {
    public private(set) var rate: Int
    private var tokens: Double
    private var last: NIODeadline

    public init(rate: Int, now: NIODeadline) {
        self.rate = max(rate, 1)
        self.tokens = 1
        self.last = now
    }

    private var capacity: Double { max(1, Double(rate) / 10) }

    public mutating func setRate(_ rate: Int) {
        self.rate = max(rate, 1)
        tokens = min(tokens, capacity)
    }

    /// Takes a token: nil when one was available, otherwise how long until one will be.
    public mutating func take(now: NIODeadline) -> TimeAmount? {
        let elapsed = Double((now - last).nanoseconds) / 1e9
        last = now
        tokens = min(capacity, tokens + max(0, elapsed) * Double(rate))
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let missing = 1 - tokens
        return .nanoseconds(Int64((missing / Double(rate) * 1e9).rounded(.up)))
    }
}

/// Admission control before TLS: sits on the listening channel (which must have `autoRead` off and
/// `maxMessagesPerRead` 1) and accepts one connection per token. Connections beyond the rate are
/// "not accepted yet": they wait in the kernel's listen queue, costing the appliance no file
/// descriptor, no memory and no handshake, and are taken in arrival order as tokens come. An agent
/// that finds the queue full has its SYN retried by its own kernel, and gives up only at its connect
/// timeout, after which it backs off with jitter like after any failed connection.
public final class AdmissionControlHandler: ChannelDuplexHandler {
    public typealias InboundIn = any Channel
    public typealias InboundOut = any Channel
    public typealias OutboundIn = Never

    private var admission: AdmissionRate?
    private let initialRate: Int
    private var waiting: Scheduled<Void>?
    private var readPending = false
    private var context: ChannelHandlerContext?

    public init(rate: Int) {
        self.initialRate = rate
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        admission = AdmissionRate(rate: initialRate, now: context.eventLoop.now)
        if context.channel.isActive { acceptNext(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        waiting?.cancel()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        acceptNext(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readPending = false
        context.fireChannelRead(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        acceptNext(context: context)
    }

    /// An accept failed (e.g. the process is out of file descriptors): try again shortly rather than
    /// stall, and let the error travel on to be logged.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        readPending = false
        waiting?.cancel()
        waiting = context.eventLoop.scheduleTask(in: Self.acceptRetryDelay, retry(context))
        context.fireErrorCaught(error)
    }

    /// How long to wait after a failed accept.
    public static let acceptRetryDelay = TimeAmount.milliseconds(100)

    /// Changes the rate; takes effect with the next token. Call on the listener's event loop.
    public func setRate(_ rate: Int) {
        admission?.setRate(rate)
    }

    /// A handle for changing the rate from any thread.
    public func handle(eventLoop: any EventLoop) -> Handle {
        Handle(handler: NIOLoopBound(self, eventLoop: eventLoop))
    }

    public struct Handle: Sendable {
        let handler: NIOLoopBound<AdmissionControlHandler>

        public func setRate(_ rate: Int) {
            let handler = self.handler
            handler.eventLoop.execute { handler.value.setRate(rate) }
        }
    }

    /// A timer body that tries to accept again, bound to this handler's event loop.
    private func retry(_ context: ChannelHandlerContext) -> @Sendable () -> Void {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        return {
            handler.value.waiting = nil
            if let context = handler.value.context { handler.value.acceptNext(context: context) }
        }
    }

    private func acceptNext(context: ChannelHandlerContext) {
        guard !readPending, waiting == nil, context.channel.isActive else { return }
        if let wait = admission!.take(now: context.eventLoop.now) {
            waiting = context.eventLoop.scheduleTask(in: wait, retry(context))
            return
        }
        readPending = true
        context.read()
    }
}
