/// A connection state machine whose active state carries the connection's ``ChannelTable``; the
/// session-channel operations are the same on both ends and are written once, here.
public protocol ChannelCarrying {
    /// Runs `body` on the channel table while the connection is active; nil when it is not.
    mutating func withActiveChannels<R>(_ body: (inout ChannelTable) -> R) -> R?
}

extension ChannelCarrying {
    /// Opens a session channel (numbered by the appliance, above every earlier one).
    public mutating func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {
        let opened: Result<Void, ProtocolError>? = withActiveChannels { table in
            do throws(ProtocolError) {
                try table.openChannel(id, receiveWindow: receiveWindow, sendWindow: sendWindow)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        switch opened {
        case .success: return
        case .failure(let error): throw error
        case nil: throw ProtocolError(.unexpectedFrame, "channel \(id) opened on a connection that is not active")
        }
    }

    public mutating func closeChannel(_ id: UInt32) {
        _ = withActiveChannels { $0.closeChannel(id) }
    }

    /// The application consumed `length` bytes of `channel`: the increment to grant, if one is due.
    public mutating func consumed(_ length: Int, on channel: UInt32) -> UInt32? {
        withActiveChannels { $0.consumed(length, on: channel) } ?? nil
    }

    /// How many of `wanted` bytes may go out on `channel` now (taken from its send window).
    public mutating func reserveSend(_ wanted: Int, on channel: UInt32) -> Int {
        withActiveChannels { $0.reserveSend(wanted, on: channel) } ?? 0
    }
}
