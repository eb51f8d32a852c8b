import Foundation
@testable import JumpProtocol
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The agent and appliance handlers talking over two in-memory channels, bytes shuttled between them.
@Suite struct EndToEndExchangeTests {
    final class ServerSide: ServerConnectionDelegate {
        enum Event: Equatable {
            case admit(String)
            case enroll(WireEnrollRequest)
            case message(ControlMessage)
            case data(UInt32, [UInt8])
            case closed(String?)
        }

        let events = Mutex<[Event]>([])
        let connection = Mutex<ServerConnection?>(nil)
        let admits: Bool

        init(admits: Bool = true) { self.admits = admits }

        func connection(_ connection: ServerConnection, admit clientID: String, certificateSerial: String?, hello: WireHello) {
            events.withLock { $0.append(.admit(clientID)) }
            self.connection.withLock { $0 = connection }
            if admits {
                connection.admit(config: Fixtures.siteConfig)
            } else {
                connection.refuse(WireGoodbye(.clientDeleted, "deleted by an administrator"))
            }
        }

        func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest) {
            events.withLock { $0.append(.enroll(request)) }
            var response = WireEnrollResponse()
            response.result = .ok
            response.clientID = "jc-new"
            response.certificate = Data([0x30, 0x00])
            connection.finishEnrollment(response)
        }

        func connection(_ connection: ServerConnection, client clientID: String, received message: ControlMessage, id: UInt64, encoded: ByteBuffer) {
            events.withLock { $0.append(.message(message)) }
        }

        func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32) {
            events.withLock { $0.append(.data(channel, Array(data.readableBytesView))) }
        }

        func connectionClosed(_ connection: ServerConnection, clientID: String?) {
            events.withLock { $0.append(.closed(clientID)) }
        }
    }

    final class AgentSide: AgentConnectionDelegate {
        enum Event: Equatable {
            case ready(String)
            case command(UInt64, WireCommand)
            case message(ControlMessage)
            case data(UInt32, Int)
            case closed(AgentConnectionOutcome)
        }

        let events = Mutex<[Event]>([])
        let connection = Mutex<AgentConnection?>(nil)
        /// Acknowledge commands as they arrive.
        let acknowledges: Bool

        init(acknowledges: Bool = true) { self.acknowledges = acknowledges }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
            self.connection.withLock { $0 = connection }
            events.withLock { $0.append(.ready(welcome.clientID)) }
        }

        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
            events.withLock { $0.append(.command(id, command)) }
            if acknowledges { connection.send(.ack(WireAck(ref: id, .ok))) }
        }

        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {
            events.withLock { $0.append(.message(message)) }
        }

        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {
            events.withLock { $0.append(.data(channel, data.readableBytes)) }
        }

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            events.withLock { $0.append(.closed(outcome)) }
        }
    }

    struct Pair {
        let agent: EmbeddedChannel
        let server: EmbeddedChannel
        let agentSide: AgentSide
        let serverSide: ServerSide

        /// Moves bytes both ways until neither side has anything more to say.
        func shuttle() throws {
            var moved = true
            while moved {
                moved = false
                while let bytes = try agent.readOutbound(as: ByteBuffer.self) {
                    if server.isActive { try server.writeInbound(bytes) }
                    moved = true
                }
                while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                    if agent.isActive { try agent.writeInbound(bytes) }
                    moved = true
                }
            }
        }
    }

    static let clock = ConnectionClock(unixMilliseconds: { Fixtures.t0.unixMilliseconds })

    func makePair(
        peer: ServerConnectionStateMachine.Peer = .client("jc-1"),
        purpose: AgentConnectionStateMachine.Purpose = .serve(CommandGate(agentID: "jc-1", lastSequence: 0)),
        serverSide: ServerSide = ServerSide(),
        agentSide: AgentSide = AgentSide(),
        readSizing: ServerConnectionHandler.ReadSizing? = nil,
        promptnessChanged: (@Sendable (Bool) -> Void)? = nil,
        serverLoop: EmbeddedEventLoop? = nil
    ) throws -> Pair {
        let server = serverLoop.map { EmbeddedChannel(loop: $0) } ?? EmbeddedChannel()
        try server.pipeline.syncOperations.addJumpFraming(
            ServerConnectionHandler(
                configuration: .init(),
                clock: Self.clock,
                delegate: serverSide,
                readSizing: readSizing,
                promptnessChanged: promptnessChanged
            )
        )
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        server.pipeline.fireUserInboundEventTriggered(PeerAuthenticated(peer))

        let agent = EmbeddedChannel()
        try agent.pipeline.syncOperations.addJumpFraming(
            AgentConnectionHandler(
                configuration: .init(purpose: purpose, hello: Fixtures.hello()),
                clock: Self.clock,
                delegate: agentSide
            )
        )
        try agent.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        let pair = Pair(agent: agent, server: server, agentSide: agentSide, serverSide: serverSide)
        try pair.shuttle()
        return pair
    }

    @Test func enrolledAgentConnectsReportsAndTakesACommand() throws {
        let pair = try makePair()
        #expect(pair.serverSide.events.withLock { $0 } == [.admit("jc-1")])
        #expect(pair.agentSide.events.withLock { $0 } == [.ready("jc-1")])

        let agentConnection = try #require(pair.agentSide.connection.withLock { $0 })
        agentConnection.send(.statsReport(Fixtures.statsReport))
        try pair.shuttle()
        #expect(pair.serverSide.events.withLock { $0.last } == .message(.statsReport(Fixtures.statsReport)))

        let serverConnection = try #require(pair.serverSide.connection.withLock { $0 })
        let command = Fixtures.command(sequence: 1, Fixtures.wake)
        let commandID = try serverConnection.send(.command(command)).wait()
        try pair.shuttle()
        #expect(pair.agentSide.events.withLock { $0.last } == .command(commandID, command))
        #expect(pair.serverSide.events.withLock { $0.last } == .message(.ack(WireAck(ref: commandID, .ok))))

        // The same command again is a replay: the agent refuses it without the application seeing it.
        let replayID = try serverConnection.send(.command(command)).wait()
        try pair.shuttle()
        #expect(pair.serverSide.events.withLock { $0.last } == .message(.ack(WireAck(ref: replayID, .replayed, "command 1 refused"))))

        serverConnection.close(WireGoodbye(.replaced, "a newer connection"))
        try pair.shuttle()
        #expect(pair.agentSide.events.withLock { $0.last } == .closed(.peerSaidGoodbye(WireGoodbye(.replaced, "a newer connection"))))
        #expect(!pair.agent.isActive)
        #expect(!pair.server.isActive)
        #expect(pair.serverSide.events.withLock { $0.last } == .closed("jc-1"))
    }

    @Test func aLargeReportLeavesInWritesOfAtMostFourKiB() throws {
        // Each write becomes one TLS record, and a record is decrypted whole into the appliance's read
        // buffer: a 30 KB thumbnail goes out in 4 KiB pieces (ConnectionOutput.controlRecordSize).
        let pair = try makePair()
        let agentConnection = try #require(pair.agentSide.connection.withLock { $0 })
        var report = Fixtures.statsReport
        report.thumbnailStatus = .captured
        report.thumbnail.jpeg = Data(repeating: 0xD8, count: 30_000)
        agentConnection.send(.statsReport(report))
        var writes: [Int] = []
        while let bytes = try pair.agent.readOutbound(as: ByteBuffer.self) {
            writes.append(bytes.readableBytes)
            try pair.server.writeInbound(bytes)
        }
        #expect(writes.count == 8, "writes of \(writes)")
        #expect(writes.allSatisfy { $0 <= 4096 }, "writes of \(writes)")
        #expect(pair.serverSide.events.withLock { $0.last } == .message(.statsReport(report)))
    }

    @Test func enrollmentRoundTrip() throws {
        let pair = try makePair(peer: .anonymous, purpose: .enroll(Fixtures.enrollRequest))
        #expect(pair.serverSide.events.withLock { $0.first } == .enroll(Fixtures.enrollRequest))
        guard case .closed(.enrolled(let response)) = pair.agentSide.events.withLock({ $0.last }) else {
            Issue.record("expected the enrollment answer")
            return
        }
        #expect(response.clientID == "jc-new")
        #expect(!pair.agent.isActive)
        #expect(!pair.server.isActive)
    }

    @Test func refusedClientLearnsWhy() throws {
        let pair = try makePair(serverSide: ServerSide(admits: false))
        #expect(
            pair.agentSide.events.withLock { $0 }
                == [.closed(.peerSaidGoodbye(WireGoodbye(.clientDeleted, "deleted by an administrator")))]
        )
    }

    @Test func readsGrowWhileASessionChannelIsOpenAndShrinkAfterAndPromptnessIsSaid() throws {
        let sizing = ServerConnectionHandler.ReadSizing(
            control: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 4096),
            controlReadsPerWakeUp: 2,
            sessions: AdaptiveRecvByteBufferAllocator(),
            sessionReadsPerWakeUp: 4
        )
        let changes = Mutex<[Bool]>([])
        let pair = try makePair(readSizing: sizing, promptnessChanged: { prompt in changes.withLock { $0.append(prompt) } })
        let serverConnection = try #require(pair.serverSide.connection.withLock { $0 })
        #expect(changes.withLock { $0 } == [true, false], "prompt while it was set up, until Welcome")
        func reads() throws -> UInt { try pair.server.getOption(.maxMessagesPerRead).wait() }
        func largestRead() throws -> Int? {
            (try pair.server.getOption(.recvAllocator).wait() as? AdaptiveRecvByteBufferAllocator)?.maximum
        }
        #expect(try reads() == 2, "the handler starts the channel with the control sizing")
        #expect(try largestRead() == 4096)
        try serverConnection.openChannel(1, receiveWindow: 65536, sendWindow: 65536)
        #expect(try reads() == 4)
        #expect(try largestRead() == 65536)
        try serverConnection.openChannel(2, receiveWindow: 65536, sendWindow: 65536)
        serverConnection.closeChannel(1)
        #expect(try reads() == 4, "one session channel is still open")
        #expect(changes.withLock { $0 } == [true, false, true], "prompt again from the first session channel on")
        serverConnection.closeChannel(2)
        #expect(try reads() == 2)
        #expect(try largestRead() == 4096)
        #expect(changes.withLock { $0 } == [true, false, true, false])

        // A connection that ends with a session channel open says so too (the wake-up coalescing of
        // its event loop counts the connections that need prompt I/O).
        try serverConnection.openChannel(3, receiveWindow: 65536, sendWindow: 65536)
        _ = try pair.server.finish()
        #expect(changes.withLock { $0 } == [true, false, true, false, true, false])
    }

    @Test func sessionDataFollowsTheWindowAndControlIsNotStarved() throws {
        let pair = try makePair()
        let serverConnection = try #require(pair.serverSide.connection.withLock { $0 })
        let agentConnection = try #require(pair.agentSide.connection.withLock { $0 })
        let window: UInt32 = 64 * 1024
        try serverConnection.openChannel(1, receiveWindow: window, sendWindow: window)
        try agentConnection.openChannel(1, receiveWindow: window, sendWindow: window)

        // A megabyte queued for the agent: only one window's worth may leave.
        serverConnection.sendData(ByteBuffer(repeating: 0x61, count: 1024 * 1024), channel: 1)
        var sent = 0
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) {
            sent += bytes.readableBytes
            try pair.agent.writeInbound(bytes)
        }
        let frameOverhead = ProtocolLimits.frameHeaderLength * Int(window) / ProtocolLimits.maximumDataPayloadLength
        #expect(sent == Int(window) + frameOverhead)

        // The session is stalled on its window, yet a control message goes out at once.
        var notice = WireNotice()
        notice.text = "session ends in 15 minutes"
        serverConnection.send(.notice(notice))
        let next = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        var parser = FrameParser()
        var copy = next
        #expect(try parser.next(from: &copy)?.kind == .control)
        try pair.agent.writeInbound(next)
        #expect(pair.agentSide.events.withLock { $0.last } == .message(.notice(notice)))

        // Without a promise for its envelope id (how the appliance acknowledges statistics) it goes out too.
        notice.text = "session ends in 5 minutes"
        serverConnection.send(.notice(notice), promise: nil)
        let unasked = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        try pair.agent.writeInbound(unasked)
        #expect(pair.agentSide.events.withLock { $0.last } == .message(.notice(notice)))

        // The agent consumes what it got; its window update lets the rest flow.
        var received = pair.agentSide.events.withLock { $0.reduce(0) { if case .data(_, let n) = $1 { $0 + n } else { $0 } } }
        #expect(received == Int(window))
        while received < 1024 * 1024 {
            agentConnection.consumed(Int(window), channel: 1)
            try pair.shuttle()
            received = pair.agentSide.events.withLock { $0.reduce(0) { if case .data(_, let n) = $1 { $0 + n } else { $0 } } }
        }
        #expect(received == 1024 * 1024)
    }

    @Test func silentAgentIsClosedAtTheHelloTimeout() throws {
        let serverSide = ServerSide()
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addJumpFraming(
            ServerConnectionHandler(configuration: .init(), clock: Self.clock, delegate: serverSide)
        )
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        server.pipeline.fireUserInboundEventTriggered(PeerAuthenticated(.anonymous))
        server.embeddedEventLoop.advanceTime(by: .milliseconds(9_999))
        #expect(server.isActive)
        server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(try Self.goodbye(from: server)?.reason == .helloTimeout)
        #expect(!server.isActive)
        #expect(serverSide.events.withLock { $0 } == [.closed(nil)])
    }

    @Test func silentConnectionsFallingDueInTheSameSecondCloseTogether() throws {
        // Two connections on one appliance event loop, active from 0.2 s and 0.7 s, then silent: their
        // idle time-outs (90 s) fall due at 90.2 s and 90.7 s, and both are closed at 91 s, together
        // (on a real loop, in one wake-up; the embedded loop runs what is due without sleeping).
        let loop = EmbeddedEventLoop()
        loop.advanceTime(to: .uptimeNanoseconds(200_000_000))
        let first = try makePair(serverLoop: loop)
        loop.advanceTime(to: .uptimeNanoseconds(700_000_000))
        let second = try makePair(serverLoop: loop)
        #expect(first.server.isActive && second.server.isActive)

        loop.advanceTime(to: .uptimeNanoseconds(90_999_000_000))
        #expect(first.server.isActive)
        #expect(second.server.isActive)
        loop.advanceTime(to: .uptimeNanoseconds(91_000_000_000))
        #expect(try Self.goodbye(from: first.server)?.reason == .idleTimeout)
        #expect(try Self.goodbye(from: second.server)?.reason == .idleTimeout)
        #expect(!first.server.isActive && !second.server.isActive)
    }

    @Test func deadlinesRoundUpToTheirGranularity() {
        let second = TimeAmount.seconds(1)
        #expect(NIODeadline.uptimeNanoseconds(90_200_000_000).roundedUp(to: second) == .uptimeNanoseconds(91_000_000_000))
        #expect(NIODeadline.uptimeNanoseconds(91_000_000_000).roundedUp(to: second) == .uptimeNanoseconds(91_000_000_000))
        #expect(NIODeadline.uptimeNanoseconds(1).roundedUp(to: second) == .uptimeNanoseconds(1_000_000_000))
        #expect(NIODeadline.uptimeNanoseconds(0).roundedUp(to: second) == .uptimeNanoseconds(0))
        // Past Int64.max, where NIODeadline clamps to its distant future.
        #expect(NIODeadline.distantFuture.roundedUp(to: second) == .distantFuture)
        #expect(NIODeadline.uptimeNanoseconds(123).roundedUp(to: .nanoseconds(0)) == .uptimeNanoseconds(123))
        #expect(NIODeadline.uptimeNanoseconds(123).roundedUp(to: .seconds(-1)) == .uptimeNanoseconds(123))
    }

    @Test func idleAgentConnectionPingsThenGivesUp() throws {
        let pair = try makePair()
        // The appliance stops answering: the agent pings at 30 s and 60 s, and closes at 90 s.
        pair.agent.embeddedEventLoop.advanceTime(by: .seconds(30))
        var parser = FrameParser()
        var bytes = try #require(try pair.agent.readOutbound(as: ByteBuffer.self))
        #expect(try parser.next(from: &bytes)?.kind == .ping)
        pair.agent.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(!pair.agent.isActive)
        guard case .closed(.closedLocally(let goodbye)) = pair.agentSide.events.withLock({ $0.last }) else {
            Issue.record("expected a local close")
            return
        }
        #expect(goodbye.reason == .idleTimeout)
    }

    @Test(arguments: [
        ("", WireGoodbyeReason.frameTooLarge),  // built below
        ("00000000 07 00000000", .unknownFrameKind),
        ("00000002 01 00000000 12ff", .protocolError),  // not an Envelope: a length cut short
        ("00000008 04 00000000 0102030405060708", .unexpectedMessage),  // PING before Hello
    ])
    func badInputBeforeHelloGetsAReasonAndAClose(_ hex: String, _ reason: WireGoodbyeReason) throws {
        let serverSide = ServerSide()
        let server = EmbeddedChannel()
        try server.pipeline.syncOperations.addJumpFraming(
            ServerConnectionHandler(configuration: .init(), clock: Self.clock, delegate: serverSide)
        )
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        server.pipeline.fireUserInboundEventTriggered(PeerAuthenticated(.anonymous))
        var input = ByteBuffer(hex: hex)
        if reason == .frameTooLarge {
            // A header claiming one byte more than the bound, and no payload at all.
            input = ByteBuffer()
            input.writeMultipleIntegers(UInt32(ProtocolLimits.maximumControlPayloadLength + 1), UInt8(1), UInt32(0))
        }
        do { try server.writeInbound(input) } catch {}
        #expect(try Self.goodbye(from: server)?.reason == reason)
        #expect(!server.isActive)
    }

    /// The goodbye among the frames a channel wrote.
    static func goodbye(from channel: EmbeddedChannel) throws -> WireGoodbye? {
        var parser = FrameParser()
        var all = ByteBuffer()
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&bytes) }
        while let frame = try parser.next(from: &all) {
            if frame.kind == .control, case .goodbye(let goodbye) = try ControlCodec.decode(frame.payload).body {
                return goodbye
            }
        }
        return nil
    }
}
