/// Per-channel flow control, as in SSH and HTTP/2: each side grants the other a receive window in
/// bytes; DATA consumes it and WINDOW_UPDATE grows it. One busy session therefore has a bounded amount
/// of data in flight and cannot starve the control traffic that shares the connection.
public struct ChannelWindows: Hashable, Sendable {
    /// Bytes the peer may still send us before we grant more.
    public private(set) var receiveWindow: UInt32
    /// Bytes we may still send the peer.
    public private(set) var sendWindow: UInt32
    /// The receive window we grant in total; we top it up when half has been consumed.
    public let receiveWindowTarget: UInt32
    /// Bytes received and handed to the application but not yet granted back.
    private var unacknowledged: UInt32 = 0

    public init(receiveWindow: UInt32, sendWindow: UInt32) {
        self.receiveWindow = receiveWindow
        self.sendWindow = sendWindow
        self.receiveWindowTarget = receiveWindow
    }

    /// Counts `length` received bytes against the receive window.
    public mutating func received(_ length: Int) throws(ProtocolError) {
        guard length >= 0, UInt64(length) <= UInt64(receiveWindow) else {
            throw ProtocolError(.flowControl, "\(length) bytes of DATA with a window of \(receiveWindow)")
        }
        receiveWindow -= UInt32(length)
    }

    /// The application has consumed `length` bytes. Returns the increment to send in a WINDOW_UPDATE
    /// once at least half the target is owed, so updates stay rare.
    public mutating func consumed(_ length: Int) -> UInt32? {
        unacknowledged += UInt32(clamping: length)
        guard unacknowledged >= receiveWindowTarget / 2 else { return nil }
        let increment = unacknowledged
        unacknowledged = 0
        receiveWindow += increment
        return increment
    }

    /// The peer granted `increment` more bytes.
    public mutating func windowUpdate(_ increment: UInt32) throws(ProtocolError) {
        guard increment > 0 else { throw ProtocolError(.flowControl, "WINDOW_UPDATE of 0") }
        let grown = UInt64(sendWindow) + UInt64(increment)
        guard grown <= UInt64(ProtocolLimits.maximumWindowSize) else {
            throw ProtocolError(.flowControl, "window grown to \(grown), beyond \(ProtocolLimits.maximumWindowSize)")
        }
        sendWindow = UInt32(grown)
    }

    /// How many of `wanted` bytes may be sent now; they are taken from the send window.
    public mutating func reserveSend(_ wanted: Int) -> Int {
        let granted = min(wanted, Int(sendWindow))
        sendWindow -= UInt32(granted)
        return granted
    }
}

/// The channels of one connection. Channel ids are chosen by the appliance, increase, and are never
/// reused on a connection, so DATA that arrives for a channel closed a moment ago is recognised and
/// dropped while DATA for a channel never opened is a violation.
public struct ChannelTable: Hashable, Sendable {
    public private(set) var open: [UInt32: ChannelWindows] = [:]
    public private(set) var highestOpened: UInt32 = 0

    public init() {}

    /// Opens `id`. Fails for a reused id or too many open channels.
    public mutating func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
        guard id != 0, id > highestOpened else {
            throw ProtocolError(.flowControl, "channel \(id) is not above \(highestOpened)")
        }
        guard open.count < ProtocolLimits.maximumOpenChannels else {
            throw ProtocolError(.limitExceeded, "more than \(ProtocolLimits.maximumOpenChannels) open channels")
        }
        guard receiveWindow <= ProtocolLimits.maximumWindowSize, sendWindow <= ProtocolLimits.maximumWindowSize else {
            throw ProtocolError(.flowControl, "initial window beyond \(ProtocolLimits.maximumWindowSize)")
        }
        highestOpened = id
        open[id] = ChannelWindows(receiveWindow: receiveWindow, sendWindow: sendWindow)
    }

    public mutating func closeChannel(_ id: UInt32) {
        open[id] = nil
    }

    /// What to do with DATA of `length` bytes on `id`.
    public enum DataDisposition: Hashable, Sendable {
        case deliver
        /// The channel was closed already; the bytes were in flight.
        case drop
    }

    public mutating func received(_ length: Int, on id: UInt32) throws(ProtocolError) -> DataDisposition {
        guard var windows = open[id] else {
            if id <= highestOpened { return .drop }
            throw ProtocolError(.flowControl, "DATA on channel \(id), which was never opened")
        }
        try windows.received(length)
        open[id] = windows
        return .deliver
    }

    public mutating func windowUpdate(_ increment: UInt32, on id: UInt32) throws(ProtocolError) {
        guard var windows = open[id] else {
            if id <= highestOpened { return }
            throw ProtocolError(.flowControl, "WINDOW_UPDATE on channel \(id), which was never opened")
        }
        try windows.windowUpdate(increment)
        open[id] = windows
    }

    public mutating func consumed(_ length: Int, on id: UInt32) -> UInt32? {
        open[id]?.consumed(length)
    }

    public mutating func reserveSend(_ wanted: Int, on id: UInt32) -> Int {
        open[id]?.reserveSend(wanted) ?? 0
    }
}
