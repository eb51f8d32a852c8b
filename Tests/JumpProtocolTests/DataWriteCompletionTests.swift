import JumpProtocol
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The write-completion of session DATA: `sendData` says when the bytes have left the connection's
/// queue for the transport, or that they never will; and the appliance opens its send window when the
/// agent's Ack arrives (`peerOpenedChannel`).
@Suite struct DataWriteCompletionTests {
    /// What the futures said, in order.
    final class Outcomes: Sendable {
        private let list = Mutex<[String]>([])
        var all: [String] { list.withLock { $0 } }
        func record(_ outcome: String) { list.withLock { $0.append(outcome) } }
    }

    static func pair() throws -> EndToEndExchangeTests.Pair { try EndToEndExchangeTests().makePair() }

    /// Payload bytes of the DATA frames `channel` has written so far.
    static func dataWritten(by channel: EmbeddedChannel) throws -> Int {
        var parser = FrameParser()
        var all = ByteBuffer()
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&bytes) }
        var total = 0
        while let frame = try parser.next(from: &all) {
            if frame.kind == .data { total += frame.payload.readableBytes }
        }
        return total
    }

    @Test func theFutureWaitsForTheWindowThatTheAgentsAckOpens() throws {
        let pair = try Self.pair()
        let server = try #require(pair.serverSide.connection.withLock { $0 })
        // The appliance registers the channel before OpenSession, with nothing to send yet.
        try server.openChannel(1, receiveWindow: 1000, sendWindow: 0)
        let written = server.sendData(ByteBuffer(repeating: 0x61, count: 3000), channel: 1)
        let outcomes = Outcomes()
        written.whenSuccess { outcomes.record("written") }
        #expect(try Self.dataWritten(by: pair.server) == 0)
        #expect(outcomes.all.isEmpty)

        server.peerOpenedChannel(1, window: 2000)
        #expect(try Self.dataWritten(by: pair.server) == 2000)
        #expect(outcomes.all.isEmpty)
        server.peerOpenedChannel(1, window: 0)  // nothing to grant: nothing happens
        server.peerOpenedChannel(1, window: 1000)
        #expect(try Self.dataWritten(by: pair.server) == 1000)
        #expect(outcomes.all == ["written"])
    }

    @Test func theAgentsFutureSucceedsOnceWritten() throws {
        let pair = try Self.pair()
        let agent = try #require(pair.agentSide.connection.withLock { $0 })
        try agent.openChannel(1, receiveWindow: 1000, sendWindow: 100)
        let first = agent.sendData(ByteBuffer(repeating: 0x62, count: 60), channel: 1)
        let second = agent.sendData(ByteBuffer(repeating: 0x63, count: 60), channel: 1)
        let outcomes = Outcomes()
        first.whenSuccess { outcomes.record("first") }
        second.whenSuccess { outcomes.record("second") }
        #expect(try Self.dataWritten(by: pair.agent) == 100)
        #expect(outcomes.all == ["first"])
        // The fire-and-forget form still works for callers that do not care.
        agent.sendData(ByteBuffer(repeating: 0x64, count: 1), channel: 1, written: nil)
    }

    @Test func closingTheChannelOrTheConnectionFailsWhatIsQueued() throws {
        let pair = try Self.pair()
        let agent = try #require(pair.agentSide.connection.withLock { $0 })
        try agent.openChannel(1, receiveWindow: 1000, sendWindow: 0)
        try agent.openChannel(2, receiveWindow: 1000, sendWindow: 0)
        let failures = Outcomes()
        agent.sendData(ByteBuffer(string: "one"), channel: 1).whenFailure { _ in failures.record("1") }
        agent.sendData(ByteBuffer(string: "two"), channel: 2).whenFailure { _ in failures.record("2") }
        agent.sendData(ByteBuffer(string: "never opened"), channel: 3).whenFailure { _ in failures.record("3") }
        #expect(failures.all == ["3"])
        agent.closeChannel(1)
        #expect(failures.all == ["3", "1"])
        try pair.agent.close().wait()
        #expect(failures.all == ["3", "1", "2"])
        // After the close nothing is queued: the future fails at once.
        agent.sendData(ByteBuffer(string: "late"), channel: 2).whenFailure { _ in failures.record("4") }
        #expect(failures.all == ["3", "1", "2", "4"])
    }

    @Test func aWindowBeyondTheBoundClosesWithFlowControl() throws {
        let pair = try Self.pair()
        let server = try #require(pair.serverSide.connection.withLock { $0 })
        try server.openChannel(1, receiveWindow: 1000, sendWindow: 0)
        server.peerOpenedChannel(1, window: ProtocolLimits.maximumWindowSize + 1)
        #expect(try EndToEndExchangeTests.goodbye(from: pair.server)?.reason == .flowControl)
        #expect(!pair.server.isActive)
    }
}
