/// When to try the appliance again: capped exponential backoff with full jitter (a uniformly random
/// wait between zero and the current ceiling), so a fleet that lost the appliance at the same moment
/// comes back spread out instead of in waves. A retry-after from the appliance is a lower bound.
///
/// The appliance may announce a spread (``spread``): then the ceiling stops growing there instead of at
/// ``cap``. It is half the time the appliance needs to admit all its clients at its connection rate, so
/// during an outage the fleet keeps trying about twice as fast as the appliance will admit, and once it
/// is back its queue of new connections does not run dry until every client is in. Without it, waits
/// that grew to 16 or 32 s during a short outage kept the last clients away long after the appliance
/// could have taken them. The runtime applies the spread for ``spreadPeriod`` after contact is lost:
/// a restart or an upgrade is over by then, and through a long outage an agent goes back to waits of
/// up to ``cap`` rather than trying every second or two for hours.
public struct ReconnectBackoff: Sendable {
    /// The first ceiling.
    public static let base = Duration.seconds(1)
    /// The ceiling never grows past this.
    public static let cap = Duration.seconds(300)
    /// How long after losing contact the appliance's spread holds the ceiling down.
    public static let spreadPeriod = Duration.seconds(600)
    /// A connection that stayed up this long resets the backoff.
    public static let stableConnection = Duration.seconds(60)

    private(set) var attempt = 0
    /// The appliance's reconnect spread, when it gave one: the ceiling grows no further (but is at
    /// least ``base`` and at most ``cap``).
    public var spread: Duration?

    public init(spread: Duration? = nil) {
        self.spread = spread
    }

    /// The ceiling for the next wait.
    public var ceiling: Duration {
        let doublings = min(attempt, 20)
        let scaled = Self.base * (1 << doublings)
        let limit = spread.map { min(max($0, Self.base), Self.cap) } ?? Self.cap
        return min(scaled, limit)
    }

    /// The wait before the next attempt, and one more step up.
    public mutating func next(retryAfter: Duration? = nil, using generator: inout some RandomNumberGenerator) -> Duration {
        let limit = ceiling
        attempt += 1
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        let wait = Duration.nanoseconds(Int64.random(in: 0...max(nanoseconds, 0), using: &generator))
        if let retryAfter, retryAfter > wait { return retryAfter }
        return wait
    }

    /// A connection worked: start again from the base.
    public mutating func reset() {
        attempt = 0
    }
}
