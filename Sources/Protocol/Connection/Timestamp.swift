public import NIOCore

/// A reading of both clocks a connection needs: the monotonic one for timeouts and the wall clock
/// for message fields in Unix time (command expiry, server time). State machines never read a clock;
/// their callers pass one of these in, so tests choose every instant.
public struct Timestamp: Hashable, Sendable {
    public var monotonic: NIODeadline
    public var unixMilliseconds: UInt64

    public init(monotonic: NIODeadline, unixMilliseconds: UInt64) {
        self.monotonic = monotonic
        self.unixMilliseconds = unixMilliseconds
    }

    /// The same instant `amount` later on both clocks.
    public func advanced(by amount: TimeAmount) -> Timestamp {
        Timestamp(
            monotonic: monotonic + amount,
            unixMilliseconds: UInt64(Int64(unixMilliseconds) + amount.nanoseconds / 1_000_000)
        )
    }
}

/// Where a connection handler reads the time. The live clock uses the event loop's clock (which
/// `EmbeddedEventLoop` lets tests move) and the system's wall clock.
public struct ConnectionClock: Sendable {
    private let wall: @Sendable () -> UInt64

    public init(unixMilliseconds: @escaping @Sendable () -> UInt64) {
        self.wall = unixMilliseconds
    }

    public func now(on eventLoop: any EventLoop) -> Timestamp {
        Timestamp(monotonic: eventLoop.now, unixMilliseconds: wall())
    }
}
