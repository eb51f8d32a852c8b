public import JumpProtocol
public import NIOCore

/// What ``SessionChannels`` needs of the connection: ``AgentConnection`` in the agent, a recording
/// twin in tests. Every call is made on the connection's serial context (its event loop), and
/// `execute`, `schedule` and the `written` callbacks run there.
public protocol SessionTransport: Sendable {
    /// Runs `body` on the connection's context after everything already queued there.
    func execute(_ body: @escaping @Sendable () -> Void)
    /// Runs `body` on the connection's context after `delay`.
    func schedule(after delay: TimeAmount, _ body: @escaping @Sendable () -> Void)
    /// Writes a control message now, ahead of any queued session bytes.
    func sendControl(_ message: ControlMessage)
    func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError)
    /// Closes the channel here; its queued bytes are dropped and their `written` callbacks say false.
    func closeChannel(_ id: UInt32)
    /// Queues session bytes within the channel's send window. `written(true)` once the last of them
    /// has been written to the transport, `written(false)` if the channel or connection closed first.
    func queueData(_ bytes: ByteBuffer, channel: UInt32, written: @escaping @Sendable (Bool) -> Void)
    /// The application took `length` received bytes; the receive window grows again.
    func consumed(_ length: Int, channel: UInt32)
}

extension AgentConnection: SessionTransport {
    public func execute(_ body: @escaping @Sendable () -> Void) {
        eventLoop.execute(body)
    }

    public func schedule(after delay: TimeAmount, _ body: @escaping @Sendable () -> Void) {
        eventLoop.scheduleTask(in: delay, body)
    }

    public func sendControl(_ message: ControlMessage) {
        send(message)
    }

    public func queueData(_ bytes: ByteBuffer, channel: UInt32, written: @escaping @Sendable (Bool) -> Void) {
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { result in
            if case .success = result { written(true) } else { written(false) }
        }
        sendData(bytes, channel: channel, written: promise)
    }
}
