public import JumpProtocol
public import NIOCore
import Synchronization

/// Where what an agent sends on a session channel goes: the appliance's connection delegate hands each DATA
/// frame, `SessionEvent` and lost connection to the handler registered for that connection and channel. Handlers
/// run on the connection's event loop, in order, and must only hand the event on (an `AsyncStream` yield).
public final class SessionChannelRouter: Sendable {
    public enum Event: Sendable {
        case data(ByteBuffer)
        case ended(WireSessionEvent)
        /// The agent's connection closed; nothing more arrives on the channel.
        case connectionClosed
    }

    public typealias Handler = @Sendable (Event) -> Void

    struct Key: Hashable {
        var connection: ServerConnection
        var channel: UInt32
    }

    private let routes = Mutex<[Key: Handler]>([:])

    public init() {}

    public func register(_ connection: ServerConnection, channel: UInt32, handler: @escaping Handler) {
        routes.withLock { $0[Key(connection: connection, channel: channel)] = handler }
    }

    public func unregister(_ connection: ServerConnection, channel: UInt32) {
        _ = routes.withLock { $0.removeValue(forKey: Key(connection: connection, channel: channel)) }
    }

    /// False when no session listens on the channel any more.
    @discardableResult
    public func deliver(_ event: Event, connection: ServerConnection, channel: UInt32) -> Bool {
        guard let handler = routes.withLock({ $0[Key(connection: connection, channel: channel)] }) else { return false }
        handler(event)
        return true
    }

    /// Tells every session on `connection` that it is gone, and forgets them.
    public func closed(_ connection: ServerConnection) {
        let handlers = routes.withLock { routes in
            let keys = routes.keys.filter { $0.connection == connection }
            return keys.compactMap { routes.removeValue(forKey: $0) }
        }
        for handler in handlers { handler(.connectionClosed) }
    }
}
