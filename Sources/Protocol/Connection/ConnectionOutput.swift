import NIOCore

/// What both connection handlers share: numbering and writing control messages, the per-channel
/// queues of session bytes that wait for window or for the socket, and the one timer that drives a
/// state machine's deadlines. Lives inside a handler and is used only on its event loop.
///
/// A class, not a struct: writing and closing can re-enter the handler (a write that fails closes the
/// channel, whose close reaches back here), and a mutating method on a struct held in a stored
/// property would be an overlapping access.
final class ConnectionOutput {
    /// Session bytes waiting, and whom to tell once the last of them has been written to the transport.
    struct PendingData {
        var bytes: ByteBuffer
        var written: EventLoopPromise<Void>?
    }

    /// How long a closing connection waits for its last frames to be written before it closes anyway.
    static let closeLinger = TimeAmount.seconds(2)

    private var nextEnvelopeID: UInt64 = 1
    private var pendingData: [UInt32: CircularBuffer<PendingData>] = [:]
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private(set) var closing = false

    /// The largest write a control frame is handed to TLS in. The TLS handler makes one record of
    /// each write (up to 16 KiB), and the receiver decrypts a whole record into its read buffer at
    /// once, whose pages then stay resident for the rest of the connection: after a 30 KB thumbnail
    /// each, the appliance held 8 KiB less per client with 4 KiB records than with 16 KiB ones
    /// (docs/performance.md). The 22 bytes a record adds are nothing beside it.
    static let controlRecordSize = 4096

    /// Writes one control message; returns its envelope id.
    @discardableResult
    func send(_ message: ControlMessage, context: ChannelHandlerContext, flush: Bool = true) -> UInt64 {
        let id = nextEnvelopeID
        nextEnvelopeID += 1
        var frame = ControlCodec.frame(id: id, message)
        while frame.readableBytes > Self.controlRecordSize {
            context.write(NIOAny(frame.readSlice(length: Self.controlRecordSize)!), promise: nil)
        }
        if flush {
            context.writeAndFlush(NIOAny(frame), promise: nil)
        } else {
            context.write(NIOAny(frame), promise: nil)
        }
        return id
    }

    func sendPingOrPong(_ kind: FrameKind, _ value: UInt64, context: ChannelHandlerContext) {
        var frame = context.channel.allocator.buffer(capacity: ProtocolLimits.frameHeaderLength + 8)
        frame.writeFrameHeader(kind: kind, channel: 0, payloadLength: ProtocolLimits.pingPayloadLength)
        frame.writeInteger(value)
        context.writeAndFlush(NIOAny(frame), promise: nil)
    }

    func sendWindowUpdate(_ increment: UInt32, channel: UInt32, context: ChannelHandlerContext) {
        var frame = context.channel.allocator.buffer(capacity: ProtocolLimits.frameHeaderLength + 4)
        frame.writeFrameHeader(kind: .windowUpdate, channel: channel, payloadLength: 4)
        frame.writeInteger(increment)
        context.writeAndFlush(NIOAny(frame), promise: nil)
    }

    /// Sends the optional message and the goodbye, then closes once they are written (or after
    /// ``closeLinger`` if the peer does not read).
    func close(with goodbye: WireGoodbye, preceding: ControlMessage?, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        cancelTimer()
        failPendingData()
        if let preceding { send(preceding, context: context, flush: false) }
        let id = nextEnvelopeID
        nextEnvelopeID += 1
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(ControlCodec.frame(id: id, .goodbye(goodbye))), promise: written)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let linger = context.eventLoop.scheduleTask(in: Self.closeLinger) {
            loopBoundContext.value.close(promise: nil)
        }
        written.futureResult.whenComplete { _ in
            linger.cancel()
            loopBoundContext.value.close(promise: nil)
        }
    }

    func closeNow(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        cancelTimer()
        failPendingData()
        context.close(promise: nil)
    }

    // MARK: Session data

    /// Queues `bytes` for `channel` and writes what the window and the socket allow. `written` succeeds
    /// once the last of the bytes has been written to the transport, and fails if the channel or the
    /// connection closes first.
    func enqueueData(
        _ bytes: ByteBuffer,
        channel: UInt32,
        written: EventLoopPromise<Void>?,
        context: ChannelHandlerContext,
        reserve: (UInt32, Int) -> Int
    ) {
        guard !closing else {
            written?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard bytes.readableBytes > 0 else {
            written?.succeed()
            return
        }
        pendingData[channel, default: CircularBuffer()].append(PendingData(bytes: bytes, written: written))
        drainData(context: context, reserve: reserve)
    }

    /// Writes queued session bytes while the channel is writable, in frames of at most
    /// ``ProtocolLimits/maximumDataPayloadLength``, taking turns between channels, within each
    /// channel's send window. Control frames never wait in this queue.
    func drainData(context: ChannelHandlerContext, reserve: (UInt32, Int) -> Int) {
        var wrote = false
        var progress = true
        while progress, context.channel.isWritable, !pendingData.isEmpty {
            progress = false
            for channel in pendingData.keys.sorted() {
                guard var queue = pendingData[channel], var head = queue.first else { continue }
                let wanted = min(head.bytes.readableBytes, ProtocolLimits.maximumDataPayloadLength)
                let granted = reserve(channel, wanted)
                guard granted > 0 else { continue }
                let slice = head.bytes.readSlice(length: granted)!
                // The queue is updated before the write: a failing write can re-enter and fail what is
                // still queued, and must not find the promise this write carries.
                let finished = head.bytes.readableBytes == 0
                if finished {
                    queue.removeFirst()
                } else {
                    queue[queue.startIndex] = head
                }
                pendingData[channel] = queue.isEmpty ? nil : queue
                var frame = context.channel.allocator.buffer(capacity: ProtocolLimits.frameHeaderLength + granted)
                frame.writeFrame(kind: .data, channel: channel, payload: slice)
                context.write(NIOAny(frame), promise: finished ? head.written : nil)
                wrote = true
                progress = true
                guard !closing else { return }
            }
        }
        if wrote { context.flush() }
    }

    /// Bytes of `channel` still waiting.
    func queuedBytes(on channel: UInt32) -> Int {
        pendingData[channel]?.reduce(0) { $0 + $1.bytes.readableBytes } ?? 0
    }

    func dropData(on channel: UInt32) {
        guard let dropped = pendingData.removeValue(forKey: channel) else { return }
        for pending in dropped { pending.written?.fail(ChannelError.ioOnClosedChannel) }
    }

    /// Forgets every queued byte and fails their promises (the connection is closing or gone).
    func failPendingData() {
        let dropped = pendingData
        pendingData.removeAll()
        for queue in dropped.values {
            for pending in queue { pending.written?.fail(ChannelError.ioOnClosedChannel) }
        }
    }

    // MARK: Timer

    /// Makes sure a tick runs at `deadline`. A later deadline keeps the earlier timer: when it fires,
    /// the state machine finds nothing due and the timer is set again for its new deadline.
    func schedule(at deadline: NIODeadline?, context: ChannelHandlerContext, tick: @escaping () -> Void) {
        guard !closing, let deadline else {
            cancelTimer()
            return
        }
        if let timerDeadline, timerDeadline <= deadline, timer != nil { return }
        cancelTimer()
        timerDeadline = deadline
        let loopBoundTick = NIOLoopBound(tick, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) { loopBoundTick.value() }
    }

    /// The timer fired; a new one may be scheduled.
    func timerFired() {
        timer = nil
        timerDeadline = nil
    }

    func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }
}
