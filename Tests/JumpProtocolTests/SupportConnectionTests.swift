import Foundation
import JumpProtocol
import NIOCore
import Testing

/// The attended support connection: an unenrolled agent asks with a support code's key instead of enrolling,
/// and once accepted the connection carries commands and sessions for that support session only.
@Suite struct SupportConnectionTests {
    let t0 = Fixtures.t0

    var request: WireSupportRequest {
        var request = WireSupportRequest()
        request.key = Data(repeating: 7, count: SupportCode.keyLength)
        request.localUser = "alice"
        request.host.hostname = "laptop"
        return request
    }

    func response(_ result: WireSupportResult, id: String = "support-1") -> WireSupportResponse {
        var response = WireSupportResponse()
        response.result = result
        response.supportID = result == .ok ? id : ""
        response.representative = "rep"
        return response
    }

    // MARK: Appliance side

    func serverAwaitingAnswer() -> ServerConnectionStateMachine {
        var m = ServerConnectionStateMachine(configuration: .init(), peer: .anonymous, now: t0)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        #expect(m.received(Fixtures.control(2, .supportRequest(request)), now: t0) == .support(request))
        return m
    }

    @Test func theApplianceHandsTheRequestOverAndKeepsAnAcceptedConnection() {
        var m = serverAwaitingAnswer()
        #expect(m.received(Fixtures.control(3, .notice(WireNotice())), now: t0).isClose, "nothing before the answer")

        var accepted = serverAwaitingAnswer()
        #expect(accepted.supportAnswered(response(.ok), now: t0) == .send(.supportResponse(response(.ok))))
        #expect(accepted.isActive && accepted.isSupport && accepted.clientID == "support-1")
        var ack = WireAck()
        ack.ref = 4
        ack.result = .ok
        #expect(accepted.received(Fixtures.control(3, .ack(ack)), now: t0) == .deliver(id: 3, .ack(ack)))
    }

    @Test func aSupportConnectionMayNotActAsAJumpClient() {
        for message: ControlMessage in [
            .statsReport(Fixtures.statsReport), .renewRequest(WireRenewRequest()), .localUninstall(WireLocalUninstall()),
            .supportRequest(request), .enrollRequest(Fixtures.enrollRequest),
        ] {
            var m = serverAwaitingAnswer()
            _ = m.supportAnswered(response(.ok), now: t0)
            guard case .closeWith(let goodbye, _) = m.received(Fixtures.control(3, message), now: t0) else {
                Issue.record("\(message.name) was accepted on a support connection")
                continue
            }
            #expect(goodbye.reason == .unexpectedMessage)
            #expect(m.isClosed)
        }
    }

    @Test func aRefusalIsSentThenTheConnectionCloses() {
        var m = serverAwaitingAnswer()
        let refused = response(.codeExpired)
        #expect(
            m.supportAnswered(refused, now: t0)
                == .closeWith(WireGoodbye(.normal, "support request refused"), preceding: .supportResponse(refused))
        )
        #expect(m.isClosed && !m.isSupport && m.clientID == nil)
    }

    @Test func anUnansweredRequestTimesOutLikeAnEnrollment() {
        var m = serverAwaitingAnswer()
        guard case .closeWith(let goodbye, _) = m.tick(now: t0.advanced(by: .seconds(31))) else {
            Issue.record("no timeout")
            return
        }
        #expect(goodbye.reason == .enrollTimeout)
    }

    @Test func aClientCertificateCannotAskForSupport() {
        var m = ServerConnectionStateMachine(configuration: .init(), peer: .client("jc-1"), now: t0)
        _ = m.received(Fixtures.control(.hello(Fixtures.hello())), now: t0)
        _ = m.admitted(config: Fixtures.siteConfig, now: t0)
        #expect(m.received(Fixtures.control(2, .supportRequest(request)), now: t0).isClose)
    }

    // MARK: Agent side

    func agentAwaitingAnswer() -> AgentConnectionStateMachine {
        var m = AgentConnectionStateMachine(configuration: .init(purpose: .support(request), hello: Fixtures.hello()))
        _ = m.channelActive(now: t0)
        var welcome = WireWelcome()
        welcome.version = 1
        welcome.heartbeatSeconds = 20
        #expect(m.received(Fixtures.control(.welcome(welcome)), now: t0) == .send(.supportRequest(request)))
        return m
    }

    @Test func theAgentWaitsInTheQueueWithHeartbeatsAndTakesCommandsForItsSupportID() {
        var m = agentAwaitingAnswer()
        #expect(m.received(Fixtures.control(2, .supportResponse(response(.ok))), now: t0) == .supportQueued(response(.ok)))
        #expect(m.isActive)
        #expect(m.tick(now: t0.advanced(by: .seconds(20))) == .sendPing(1), "the Welcome's heartbeat applies")
        let ours = Fixtures.command(agent: "support-1", sequence: 1, Fixtures.wake)
        #expect(m.received(Fixtures.control(3, .command(ours)), now: t0) == .command(id: 3, ours))
        let other = Fixtures.command(agent: "jc-1", sequence: 2, Fixtures.wake)
        guard case .send(.ack(let ack)) = m.received(Fixtures.control(4, .command(other)), now: t0) else {
            Issue.record("a command for another agent was not refused")
            return
        }
        #expect(ack.result == .wrongAgent)
    }

    @Test func aRefusedRequestEndsTheConnectionWithTheAnswer() {
        var m = agentAwaitingAnswer()
        #expect(m.received(Fixtures.control(2, .supportResponse(response(.codeUsed))), now: t0) == .supportRefused(response(.codeUsed)))
        #expect(m.isClosed)
    }

    @Test func anythingButTheAnswerIsAProtocolError() {
        var m = agentAwaitingAnswer()
        #expect(m.received(Fixtures.control(2, .siteConfig(Fixtures.siteConfig)), now: t0).isClose)
        var timedOut = agentAwaitingAnswer()
        #expect(timedOut.tick(now: t0.advanced(by: .seconds(29))) == .none)
        #expect(timedOut.tick(now: t0.advanced(by: .seconds(30))).isClose)
    }

    // MARK: The code

    @Test func aCodeReadsBackAsTypedAndNamesItsCA() throws {
        let fingerprint = (0..<32).map { UInt8($0 * 7 % 256) }
        let code = SupportCode.random(caFingerprint: fingerprint)
        let text = code.description
        #expect(text.count == 39 && text.split(separator: "-").allSatisfy { $0.count == 4 })
        #expect(SupportCode(text) == code)
        #expect(SupportCode(text.lowercased().replacingOccurrences(of: "-", with: " ")) == code)
        let typo = text.replacingOccurrences(of: "0", with: "O").replacingOccurrences(of: "1", with: "l")
        #expect(SupportCode(typo) == code, "O for 0 and l for 1 read as meant")
        #expect(code.names(caFingerprint: fingerprint))
        var other = fingerprint
        other[10] ^= 1
        #expect(!code.names(caFingerprint: other))
        #expect(!code.names(caFingerprint: Array(fingerprint.prefix(5))))
    }

    @Test func malformedCodesAreRefused() {
        let good = SupportCode.random(caFingerprint: Array(repeating: 1, count: 32)).description
        #expect(SupportCode(String(good.dropLast())) == nil, "too short")
        #expect(SupportCode(good + "A") == nil, "too long")
        #expect(SupportCode(good.replacingOccurrences(of: "-", with: "U")) == nil, "U is not in the alphabet")
        #expect(SupportCode("") == nil)
        #expect(SupportCode("ÄÄÄÄ") == nil)
    }

    @Test func boundsOfTheNewMessages() {
        var shortKey = request
        shortKey.key = Data([1, 2, 3])
        #expect(throws: ProtocolError.self) { try Fixtures.envelope(.supportRequest(shortKey)).validate() }
        var pin = WireCommand()
        pin.agentID = "support-1"
        var action = WirePin()
        action.installer = Data(count: ProtocolLimits.maximumInstallerLength + 1)
        pin.action = .pin(action)
        #expect(throws: ProtocolError.self) { try Fixtures.envelope(.command(pin)).validate() }
        #expect(throws: Never.self) { try Fixtures.envelope(.supportRequest(request)).validate() }
    }
}

extension ServerConnectionStateMachine.Action {
    var isClose: Bool { if case .closeWith = self { true } else { false } }
}

extension AgentConnectionStateMachine.Action {
    var isClose: Bool { if case .closeWith = self { true } else { false } }
}
