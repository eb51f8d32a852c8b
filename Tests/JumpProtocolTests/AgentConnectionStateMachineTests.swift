import JumpProtocol
import NIOCore
import Testing

@Suite struct AgentConnectionStateMachineTests {
    typealias Machine = AgentConnectionStateMachine
    let t0 = Fixtures.t0

    func machine(_ purpose: Machine.Purpose = .serve(CommandGate(agentID: "jc-1", lastSequence: 4))) -> Machine {
        Machine(configuration: Machine.Configuration(purpose: purpose, hello: Fixtures.hello()))
    }

    func welcome(clientID: String = "jc-1", version: UInt32 = 1, heartbeat: UInt32 = 30) -> WireWelcome {
        var welcome = WireWelcome()
        welcome.version = version
        welcome.clientID = clientID
        welcome.heartbeatSeconds = heartbeat
        return welcome
    }

    func active(heartbeat: UInt32 = 30) -> Machine {
        var m = machine()
        _ = m.channelActive(now: t0)
        _ = m.received(Fixtures.control(.welcome(welcome(heartbeat: heartbeat))), now: t0)
        return m
    }

    // MARK: Set-up

    @Test func saysHelloWithItsVersionsAndLastSequence() {
        var m = machine()
        #expect(m.channelActive(now: t0) == .send(.hello(Fixtures.hello(lastSequence: 4))))
        #expect(m.channelActive(now: t0) == .none, "Hello is said once")
        #expect(m.nextDeadline == t0.monotonic + .seconds(10))
    }

    @Test func welcomeMakesTheConnectionReady() {
        var m = machine()
        _ = m.channelActive(now: t0)
        #expect(m.received(Fixtures.control(.welcome(welcome())), now: t0) == .ready(welcome()))
        #expect(m.isActive)
    }

    @Test func enrollmentSendsTheRequestAfterWelcome() {
        var m = machine(.enroll(Fixtures.enrollRequest))
        _ = m.channelActive(now: t0)
        #expect(m.received(Fixtures.control(.welcome(welcome(clientID: ""))), now: t0) == .send(.enrollRequest(Fixtures.enrollRequest)))
        var response = WireEnrollResponse()
        response.result = .ok
        #expect(m.received(Fixtures.control(2, .enrollResponse(response)), now: t0) == .enrolled(response))
        #expect(m.isClosed)
    }

    @Test func enrollmentTimesOut() {
        var m = machine(.enroll(Fixtures.enrollRequest))
        _ = m.channelActive(now: t0)
        _ = m.received(Fixtures.control(.welcome(welcome(clientID: ""))), now: t0)
        #expect(m.tick(now: t0.advanced(by: .seconds(29))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(30))).goodbyeReason == .enrollTimeout)
    }

    @Test func welcomeTimesOut() {
        var m = machine()
        _ = m.channelActive(now: t0)
        #expect(m.tick(now: t0.advanced(by: .seconds(10))).goodbyeReason == .helloTimeout)
    }

    @Test func theWaitInTheAppliancesListenQueueIsNotCountedAgainstHello() {
        var m = machine()
        m.transportConnected(now: t0)
        #expect(m.nextDeadline == t0.monotonic + .seconds(120), "bounded by the admission time-out")
        #expect(m.tick(now: t0.advanced(by: .seconds(60))) == .none, "a minute in the queue is no hello time-out")
        let admitted = t0.advanced(by: .seconds(90))
        #expect(m.channelActive(now: admitted) == .send(.hello(Fixtures.hello(lastSequence: 4))))
        #expect(m.nextDeadline == admitted.monotonic + .seconds(10), "the hello time-out starts at the handshake")
        #expect(m.tick(now: admitted.advanced(by: .seconds(9))) == .none)
        #expect(m.tick(now: admitted.advanced(by: .seconds(10))).goodbyeReason == .helloTimeout)
    }

    @Test func aConnectionTheApplianceNeverTakesIsGivenUp() {
        var m = machine()
        m.transportConnected(now: t0)
        #expect(m.tick(now: t0.advanced(by: .seconds(119))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(120))).goodbyeReason == .helloTimeout)
        #expect(m.isClosed)
        #expect(m.channelActive(now: t0.advanced(by: .seconds(121))) == .none, "a handshake after that is too late")
    }

    @Test func aVersionTheAgentDoesNotSpeakIsRefused() {
        var m = machine()
        _ = m.channelActive(now: t0)
        #expect(m.received(Fixtures.control(.welcome(welcome(version: 2))), now: t0).goodbyeReason == .versionUnsupported)
    }

    @Test func goodbyeOrRetryAfterInsteadOfWelcome() {
        var m = machine()
        _ = m.channelActive(now: t0)
        #expect(m.received(Fixtures.control(.goodbye(WireGoodbye(.clientDeleted))), now: t0) == .peerSaidGoodbye(WireGoodbye(.clientDeleted)))
        var n = machine()
        _ = n.channelActive(now: t0)
        var retry = WireRetryAfter()
        retry.delayMs = 2000
        #expect(n.received(Fixtures.control(.retryAfter(retry)), now: t0) == .retryAfter(retry))
        #expect(n.isClosed)
    }

    @Test(arguments: [
        InboundEvent.control(Fixtures.envelope(1, .siteConfig(Fixtures.siteConfig))),
        .control(Fixtures.envelope(1, .command(Fixtures.command(sequence: 5, Fixtures.wake)))),
        .control(Fixtures.envelope(1, nil)),
        .ping(1),
        .data(channel: 1, length: 1),
    ])
    func onlyWelcomeGoodbyeOrRetryAfterComeFirst(_ event: InboundEvent) {
        var m = machine()
        _ = m.channelActive(now: t0)
        let action = m.received(event, now: t0)
        #expect(action.goodbyeReason == .unexpectedMessage)
    }

    @Test func framesBeforeHelloAreRefused() {
        var m = machine()
        #expect(m.received(.ping(1), now: t0).goodbyeReason == .unexpectedMessage)
    }

    // MARK: Serving

    @Test func commandsPassTheGate() {
        var m = active()
        let command = Fixtures.command(sequence: 5, Fixtures.wake)
        #expect(m.received(Fixtures.control(9, .command(command)), now: t0) == .command(id: 9, command))
        #expect(m.commandGate?.lastSequence == 5)
    }

    @Test(arguments: [
        (Fixtures.command(sequence: 4, Fixtures.wake), WireAckResult.replayed),
        (Fixtures.command(sequence: 2, Fixtures.wake), .replayed),
        (Fixtures.command(agent: "jc-2", sequence: 9, Fixtures.wake), .wrongAgent),
        (Fixtures.command(sequence: 9, expiresAt: Fixtures.t0.unixMilliseconds, Fixtures.wake), .expired),
    ])
    func refusedCommandsAreAcknowledgedWithTheReason(_ command: WireCommand, _ result: WireAckResult) {
        var m = active()
        guard case .send(.ack(let ack)) = m.received(Fixtures.control(9, .command(command)), now: t0) else {
            Issue.record("expected an Ack")
            return
        }
        #expect(ack.ref == 9)
        #expect(ack.result == result)
        #expect(m.commandGate?.lastSequence == 4)
    }

    @Test(arguments: [
        ControlMessage.siteConfig(Fixtures.siteConfig),
        .notice(WireNotice()),
        .ack(WireAck(ref: 3, .ok)),
        .enrollResponse(WireEnrollResponse()),
    ])
    func applianceMessagesAreDelivered(_ message: ControlMessage) {
        var m = active()
        #expect(m.received(Fixtures.control(2, message), now: t0) == .deliver(id: 2, message))
    }

    @Test(arguments: [
        ControlMessage.hello(Fixtures.hello()),
        .welcome(WireWelcome()),
        .statsReport(Fixtures.statsReport),
        .enrollRequest(Fixtures.enrollRequest),
        .renewRequest(WireRenewRequest()),
        .sessionEvent(WireSessionEvent()),
        .localUninstall(WireLocalUninstall()),
    ])
    func agentMessagesFromTheApplianceAreRefused(_ message: ControlMessage) {
        var m = active()
        #expect(m.received(Fixtures.control(2, message), now: t0).goodbyeReason == .unexpectedMessage)
    }

    @Test func unknownMessagesAreAnsweredUnsupported() {
        var m = active()
        #expect(m.received(Fixtures.control(6, nil), now: t0) == .send(.ack(WireAck(ref: 6, .unsupported, "unknown message"))))
    }

    @Test func goodbyeAndRetryAfterEndTheConnection() {
        var m = active()
        #expect(m.received(Fixtures.control(2, .goodbye(WireGoodbye(.shutdown))), now: t0) == .peerSaidGoodbye(WireGoodbye(.shutdown)))
        #expect(m.isClosed)
        var n = active()
        #expect(n.received(Fixtures.control(2, .retryAfter(WireRetryAfter())), now: t0) == .retryAfter(WireRetryAfter()))
        #expect(n.isClosed)
    }

    // MARK: Heartbeat and idle

    @Test func pingsAfterAHeartbeatOfSilenceAndGivesUpAfterThree() {
        var m = active(heartbeat: 30)
        #expect(m.nextDeadline == t0.monotonic + .seconds(30))
        #expect(m.tick(now: t0.advanced(by: .seconds(29))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(30))) == .sendPing(1))
        m.sent(now: t0.advanced(by: .seconds(30)))
        #expect(m.tick(now: t0.advanced(by: .seconds(59))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(60))) == .sendPing(2))
        m.sent(now: t0.advanced(by: .seconds(60)))
        #expect(m.tick(now: t0.advanced(by: .seconds(90))).goodbyeReason == .idleTimeout)
    }

    @Test func trafficBothWaysNeedsNoPing() {
        var m = active(heartbeat: 30)
        for second in stride(from: 20, through: 300, by: 20) {
            let now = t0.advanced(by: .seconds(Int64(second)))
            m.sent(now: now)
            _ = m.received(Fixtures.control(UInt64(second), .ack(WireAck(ref: 1, .ok))), now: now)
            #expect(m.tick(now: now.advanced(by: .seconds(19))) == .none)
        }
    }

    @Test func silenceFromTheApplianceIsNoticedEvenWhileSending() {
        var m = active(heartbeat: 30)
        m.sent(now: t0.advanced(by: .seconds(25)))
        #expect(m.tick(now: t0.advanced(by: .seconds(30))) == .sendPing(1), "a ping asks the appliance for a pong")
        m.sent(now: t0.advanced(by: .seconds(55)))
        #expect(m.tick(now: t0.advanced(by: .seconds(59))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(60))) == .sendPing(2))
    }

    @Test(arguments: [(UInt32(1), Int64(5)), (0, 30), (99_999, 3600)])
    func heartbeatIsClamped(requested: UInt32, seconds: Int64) {
        let m = active(heartbeat: requested)
        #expect(m.nextDeadline == t0.monotonic + .seconds(seconds))
    }

    @Test func pingIsPonged() {
        var m = active()
        #expect(m.received(.ping(5), now: t0) == .sendPong(5))
    }

    @Test func applicationCloseAndDecoderErrors() {
        var m = active()
        #expect(m.close(WireGoodbye(.shutdown)) == .closeWith(WireGoodbye(.shutdown)))
        #expect(m.close(WireGoodbye(.shutdown)) == .none)
        var n = active()
        #expect(n.failed(ProtocolError(.unknownFrameKind, "0x07")).goodbyeReason == .unknownFrameKind)
    }

    @Test func channelsFollowTheWindow() throws {
        var m = active()
        try m.openChannel(2, receiveWindow: 10, sendWindow: 10)
        #expect(m.received(.data(channel: 2, length: 10), now: t0) == .deliverData(channel: 2))
        #expect(m.received(.data(channel: 2, length: 1), now: t0).goodbyeReason == .flowControl)
    }
}

extension AgentConnectionStateMachine.Action {
    var goodbyeReason: WireGoodbyeReason? {
        if case .closeWith(let goodbye, _) = self { return goodbye.reason }
        return nil
    }
}
