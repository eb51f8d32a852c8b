import JumpProtocol
import NIOCore
import Testing

@Suite struct ServerConnectionStateMachineTests {
    typealias Machine = ServerConnectionStateMachine
    let t0 = Fixtures.t0
    let configuration = Machine.Configuration()

    func machine(_ peer: Machine.Peer) -> Machine {
        Machine(configuration: configuration, peer: peer, now: t0)
    }

    func welcome(clientID: String = "", config: WireSiteConfig? = nil, at now: Timestamp? = nil) -> ControlMessage {
        var welcome = WireWelcome()
        welcome.version = 1
        welcome.softwareVersion = JumpBuild.version
        welcome.clientID = clientID
        welcome.heartbeatSeconds = 30
        welcome.serverTimeMs = (now ?? t0).unixMilliseconds
        if let config { welcome.config = config }
        return .welcome(welcome)
    }

    /// A machine for client "jc-1" that has been admitted at t0.
    func active() -> Machine {
        var m = machine(.client("jc-1"))
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        _ = m.admitted(config: Fixtures.siteConfig, now: t0)
        return m
    }

    // MARK: Enrollment connection

    @Test func anonymousHelloIsWelcomedWithoutAClient() {
        var m = machine(.anonymous)
        #expect(m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0) == .send(welcome()))
        #expect(m.clientID == nil)
        #expect(m.nextDeadline == t0.monotonic + .seconds(30))
    }

    @Test func enrollmentIsHandedToTheApplicationAndEndsTheConnection() {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.received(Fixtures.control(2, .enrollRequest(Fixtures.enrollRequest)), now: t0) == .enroll(Fixtures.enrollRequest))
        var response = WireEnrollResponse()
        response.result = .ok
        response.clientID = "jc-9"
        #expect(
            m.enrollmentFinished(response)
                == .closeWith(WireGoodbye(.enrolled, "reconnect with the new certificate"), preceding: .enrollResponse(response))
        )
        #expect(m.isClosed)
    }

    @Test func refusedEnrollmentSaysSoAndCloses() {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        _ = m.received(Fixtures.control(2, .enrollRequest(Fixtures.enrollRequest)), now: t0)
        var response = WireEnrollResponse()
        response.result = .tokenExpired
        guard case .closeWith(let goodbye, .enrollResponse(response)) = m.enrollmentFinished(response) else {
            Issue.record("expected the response then a goodbye")
            return
        }
        #expect(goodbye.reason == .normal)
    }

    @Test(arguments: [
        ControlMessage.statsReport(Fixtures.statsReport),
        .hello(Fixtures.hello()),
        .ack(WireAck(ref: 1, .ok)),
        .localUninstall(WireLocalUninstall()),
    ])
    func onlyEnrollRequestFollowsAnAnonymousHello(_ message: ControlMessage) {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.received(Fixtures.control(2, message), now: t0).goodbyeReason == .unexpectedMessage)
        #expect(m.isClosed)
    }

    @Test func nothingIsAcceptedWhileEnrolling() {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        _ = m.received(Fixtures.control(2, .enrollRequest(Fixtures.enrollRequest)), now: t0)
        #expect(m.received(Fixtures.control(3, .enrollRequest(Fixtures.enrollRequest)), now: t0).goodbyeReason == .unexpectedMessage)
        #expect(m.enrollmentFinished(WireEnrollResponse()) == .none, "a closed connection takes no answer")
    }

    @Test func enrollmentTimesOut() {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.tick(now: t0.advanced(by: .seconds(29))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(30))).goodbyeReason == .enrollTimeout)
    }

    @Test func enrollmentTimesOutWhileTheApplicationThinks() {
        var m = machine(.anonymous)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        _ = m.received(Fixtures.control(2, .enrollRequest(Fixtures.enrollRequest)), now: t0)
        #expect(m.tick(now: t0.advanced(by: .seconds(30))).goodbyeReason == .enrollTimeout)
    }

    // MARK: Before Hello (the pre-authentication allow-list)

    @Test(arguments: [
        InboundEvent.control(Fixtures.envelope(1, .statsReport(Fixtures.statsReport))),
        .control(Fixtures.envelope(1, .enrollRequest(Fixtures.enrollRequest))),
        .control(Fixtures.envelope(1, .goodbye(WireGoodbye(.normal)))),
        .control(Fixtures.envelope(1, nil)),
        .ping(1),
        .pong(1),
        .data(channel: 1, length: 10),
        .windowUpdate(channel: 1, increment: 10),
        .unknownExtension(FrameKind(rawValue: 0x80)),
    ])
    func onlyHelloIsAcceptedFirst(_ event: InboundEvent) {
        for peer in [Machine.Peer.anonymous, .client("jc-1")] {
            var m = machine(peer)
            #expect(m.received(event, now: t0).goodbyeReason == .unexpectedMessage)
            #expect(m.isClosed)
            #expect(m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0) == .none, "closed stays closed")
        }
    }

    @Test func helloTimesOut() {
        var m = machine(.client("jc-1"))
        #expect(m.nextDeadline == t0.monotonic + .seconds(10))
        #expect(m.tick(now: t0.advanced(by: .milliseconds(9_999))) == .none)
        #expect(m.tick(now: t0.advanced(by: .seconds(10))).goodbyeReason == .helloTimeout)
        #expect(m.nextDeadline == nil)
    }

    @Test(arguments: [(UInt32(2), UInt32(3)), (0, 0), (3, 1)])
    func versionsWithoutOverlapAreRefused(min: UInt32, max: UInt32) {
        var m = machine(.client("jc-1"))
        #expect(m.received(Fixtures.control(.hello(Fixtures.hello(min: min, max: max))), now: t0).goodbyeReason == .versionUnsupported)
    }

    @Test func newerAgentsAreServedTheHighestCommonVersion() {
        var m = machine(.anonymous)
        #expect(m.received(Fixtures.control(.hello(Fixtures.hello(min: 1, max: 5))), now: t0) == .send(welcome()))
    }

    // MARK: Authenticated connection

    @Test func clientHelloAsksTheApplication() {
        var m = machine(.client("jc-1"))
        #expect(m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0) == .admit(clientID: "jc-1", hello: Fixtures.hello()))
        #expect(!m.isActive)
        let later = t0.advanced(by: .seconds(1))
        #expect(m.admitted(config: Fixtures.siteConfig, now: later) == .send(welcome(clientID: "jc-1", config: Fixtures.siteConfig, at: later)))
        #expect(m.clientID == "jc-1")
    }

    @Test func clientCanBeRefused() {
        var m = machine(.client("jc-1"))
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.refused(WireGoodbye(.clientDeleted, "deleted")) == .closeWith(WireGoodbye(.clientDeleted, "deleted")))
        #expect(m.admitted(config: Fixtures.siteConfig, now: t0) == .none)
    }

    @Test func clientThatSendsBeforeWelcomeIsClosed() {
        var m = machine(.client("jc-1"))
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.received(Fixtures.control(2, .statsReport(Fixtures.statsReport)), now: t0).goodbyeReason == .unexpectedMessage)
    }

    @Test func admissionTimesOut() {
        var m = machine(.client("jc-1"))
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0.advanced(by: .seconds(5)))
        #expect(m.tick(now: t0.advanced(by: .seconds(15))).goodbyeReason == .helloTimeout)
    }

    @Test(arguments: [
        ControlMessage.statsReport(Fixtures.statsReport),
        .ack(WireAck(ref: 4, .ok)),
        .renewRequest(WireRenewRequest()),
        .sessionEvent(WireSessionEvent()),
        .localUninstall(WireLocalUninstall()),
        .notice(WireNotice()),
    ])
    func agentMessagesAreDelivered(_ message: ControlMessage) {
        var m = active()
        #expect(m.received(Fixtures.control(7, message), now: t0) == .deliver(id: 7, message))
        #expect(m.isActive)
    }

    @Test(arguments: [
        ControlMessage.hello(Fixtures.hello()),
        .welcome(WireWelcome()),
        .enrollRequest(Fixtures.enrollRequest),
        .enrollResponse(WireEnrollResponse()),
        .siteConfig(Fixtures.siteConfig),
        .command(Fixtures.command(sequence: 1, Fixtures.wake)),
        .retryAfter(WireRetryAfter()),
    ])
    func applianceMessagesFromAnAgentCloseTheConnection(_ message: ControlMessage) {
        var m = active()
        #expect(m.received(Fixtures.control(7, message), now: t0).goodbyeReason == .unexpectedMessage)
        #expect(m.isClosed)
    }

    @Test func unknownMessagesAreAnsweredUnsupported() {
        var m = active()
        #expect(m.received(Fixtures.control(8, nil), now: t0) == .send(.ack(WireAck(ref: 8, .unsupported, "unknown message"))))
        #expect(m.isActive)
    }

    @Test func goodbyeFromTheAgentCloses() {
        var m = active()
        #expect(m.received(Fixtures.control(8, .goodbye(WireGoodbye(.shutdown))), now: t0) == .close)
        #expect(m.isClosed)
    }

    @Test func pingsArePongedAndExtensionsSkipped() {
        var m = active()
        #expect(m.received(.ping(77), now: t0) == .sendPong(77))
        #expect(m.received(.pong(1), now: t0) == .none)
        #expect(m.received(.unknownExtension(FrameKind(rawValue: 0xC0)), now: t0) == .none)
        #expect(m.isActive)
    }

    @Test func idleTimeoutFollowsTheLastFrame() {
        var m = active()
        #expect(m.nextDeadline == t0.monotonic + .seconds(90))
        _ = m.received(.ping(1), now: t0.advanced(by: .seconds(60)))
        #expect(m.tick(now: t0.advanced(by: .seconds(90))) == .none)
        #expect(m.nextDeadline == t0.monotonic + .seconds(150))
        #expect(m.tick(now: t0.advanced(by: .seconds(150))).goodbyeReason == .idleTimeout)
    }

    @Test func theIdleTimeOutIsRoundedUpToAWholeSecond() {
        var m = active()
        _ = m.received(.ping(1), now: t0.advanced(by: .milliseconds(60_300)))
        #expect(m.nextDeadline == t0.monotonic + .seconds(151))
        #expect(m.tick(now: t0.advanced(by: .milliseconds(150_300))) == .none, "not before the whole second")
        #expect(m.tick(now: t0.advanced(by: .seconds(151))).goodbyeReason == .idleTimeout)
    }

    @Test func applicationCanClose() {
        var m = active()
        #expect(m.close(WireGoodbye(.replaced)) == .closeWith(WireGoodbye(.replaced)))
        #expect(m.close(WireGoodbye(.replaced)) == .none)
    }

    @Test func decoderErrorsCloseWithTheirReason() {
        var m = active()
        #expect(m.failed(ProtocolError(.frameTooLarge, "big")) == .closeWith(WireGoodbye(.frameTooLarge, "big")))
        #expect(m.failed(ProtocolError(.frameTooLarge, "big")) == .none)
    }

    // MARK: Channels

    @Test func dataFlowsWithinTheWindow() throws {
        var m = active()
        try m.openChannel(1, receiveWindow: 100, sendWindow: 50)
        #expect(m.received(.data(channel: 1, length: 60), now: t0) == .deliverData(channel: 1))
        #expect(m.received(.data(channel: 1, length: 41), now: t0).goodbyeReason == .flowControl)
    }

    @Test func dataForAChannelNeverOpenedIsAViolationButLateDataIsDropped() throws {
        var m = active()
        #expect(m.received(.data(channel: 3, length: 1), now: t0).goodbyeReason == .flowControl)
        var n = active()
        try n.openChannel(3, receiveWindow: 100, sendWindow: 100)
        n.closeChannel(3)
        #expect(n.received(.data(channel: 3, length: 1), now: t0) == .none)
        #expect(n.isActive)
    }

    @Test func windowUpdatesGrowTheSendWindow() throws {
        var m = active()
        try m.openChannel(1, receiveWindow: 100, sendWindow: 10)
        #expect(m.reserveSend(25, on: 1) == 10)
        #expect(m.reserveSend(25, on: 1) == 0)
        #expect(m.received(.windowUpdate(channel: 1, increment: 20), now: t0) == .none)
        #expect(m.reserveSend(25, on: 1) == 20)
        #expect(m.received(.windowUpdate(channel: 1, increment: ProtocolLimits.maximumWindowSize + 1), now: t0).goodbyeReason == .flowControl)
    }

    @Test func channelsCannotOpenBeforeAdmission() {
        var m = machine(.client("jc-1"))
        #expect(throws: ProtocolError(.unexpectedFrame, "")) { try m.openChannel(1, receiveWindow: 1, sendWindow: 1) }
    }
}

extension ServerConnectionStateMachine.Action {
    /// The reason of a closing action, nil for every other action.
    var goodbyeReason: WireGoodbyeReason? {
        if case .closeWith(let goodbye, _) = self { return goodbye.reason }
        return nil
    }
}
