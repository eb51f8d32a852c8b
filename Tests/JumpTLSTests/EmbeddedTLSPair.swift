import NIOCore
import NIOEmbedded

extension EmbeddedChannel {
    /// Carries bytes both ways between this channel and `peer` until neither has anything more to
    /// send (a closed side gets nothing more). Errors either side raises are thrown.
    func exchange(with peer: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try readOutbound(as: ByteBuffer.self) {
                if peer.isActive { try peer.writeInbound(bytes) }
                moved = true
            }
            while let bytes = try peer.readOutbound(as: ByteBuffer.self) {
                if isActive { try writeInbound(bytes) }
                moved = true
            }
        }
    }
}
