import Foundation
import JumpProtocol
import JumpServerCore
import JumpStore
import JumpTLS
import NIOCore
import Synchronization
import Testing

/// Support codes and the queue over real TLS on loopback: a code lets one end user in, once, until it expires; the
/// request is visible to the code's representative (and administrators) and held by support id until it leaves.
@Suite struct SupportQueueTests {
    final class Now: Sendable {
        let value = Mutex(Date(timeIntervalSince1970: 1_795_000_000))
        func advance(_ seconds: TimeInterval) { value.withLock { $0 += seconds } }
        var date: Date { value.withLock { $0 } }
    }

    static func request(_ code: SupportCode, host: String = "laptop") -> WireSupportRequest {
        var request = WireSupportRequest()
        request.key = Data(code.key)
        request.localUser = "root"
        request.host.hostname = host
        request.host.osName = "Debian GNU/Linux"
        return request
    }

    static func ask(_ harness: ApplianceHarness, _ request: WireSupportRequest) async throws -> (TestAgent, TestAgent.Result) {
        let agent = TestAgent()
        let result = try await agent.connect(port: harness.port, trusting: harness.ca.certificate, identity: nil, purpose: .support(request))
        return (agent, result)
    }

    static func refusal(_ result: TestAgent.Result) -> WireSupportResult? {
        if case .closed(.supportRefused(let response)) = result { return response.result }
        return nil
    }

    static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("a condition did not come true") }
            await Task.yield()
        }
    }

    @Test func aCodeLetsOneEndUserInOnceUntilItExpires() async throws {
        let now = Now()
        let harness = try await ApplianceHarness.start(now: { now.date })
        defer { Task { await harness.stop() } }
        let support = harness.hub.support

        let issued = try await support.issue(by: "alice", lifetime: 600)
        #expect(issued.expiresAt == now.date + 600)
        #expect(SupportCode(issued.code.description) == issued.code)

        let (agent, result) = try await Self.ask(harness, Self.request(issued.code))
        guard case .supportQueued(let id) = result else {
            Issue.record("not queued: \(result)")
            return
        }
        #expect(id.hasPrefix(SupportQueue.idPrefix))
        let waiting = try #require(support.request(id))
        #expect(waiting.representative == "alice" && waiting.hostname == "laptop" && waiting.localUser == "root")
        #expect(waiting.os == "Debian GNU/Linux")
        #expect(support.requests(visibleTo: "alice", administrator: false).map(\.id) == [id])
        #expect(support.requests(visibleTo: "bob", administrator: false).isEmpty)
        #expect(support.requests(visibleTo: "admin", administrator: true).map(\.id) == [id])
        #expect(harness.hub.isConnected(id), "commands and sessions reach it by its support id")
        #expect(harness.hub.connectedCount == 0, "a support connection is not a connected Jump Client")

        // The same code again: used.
        #expect(Self.refusal(try await Self.ask(harness, Self.request(issued.code)).1) == .codeUsed)
        // A code past its lifetime: expired; a key nobody issued: unknown.
        let late = try await support.issue(by: "alice", lifetime: 60)
        now.advance(61)
        #expect(Self.refusal(try await Self.ask(harness, Self.request(late.code)).1) == .codeExpired)
        let stranger = SupportCode(key: Array(repeating: 9, count: SupportCode.keyLength), caFingerprint: issued.code.caPin)
        #expect(Self.refusal(try await Self.ask(harness, Self.request(stranger)).1) == .codeUnknown)

        // The end user leaves: the request and its connection go.
        agent.connection.withLock { $0 }?.close(WireGoodbye(.normal, "done"))
        try await Self.eventually { support.request(id) == nil && !harness.hub.isConnected(id) }
        let audit = try await harness.auditRecords(action: "support.left", atLeast: 1)
        #expect(audit.count == 1)
        #expect(try await harness.auditRecords(action: "support.request", atLeast: 1).first?.target == "alice")
    }

    @Test func aDeclinedEndUserIsToldAndDisconnected() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let issued = try await harness.hub.support.issue(by: "alice")
        let (agent, result) = try await Self.ask(harness, Self.request(issued.code))
        guard case .supportQueued(let id) = result else {
            Issue.record("not queued: \(result)")
            return
        }
        #expect(harness.hub.support.decline(id, by: "alice"))
        await agent.waitForEvents(2)
        #expect(agent.notices.withLock { $0 } == ["alice declined the support session."])
        guard case .closed(.peerSaidGoodbye(let goodbye)) = agent.results.withLock({ $0.last! }) else {
            Issue.record("the connection did not end with a goodbye")
            return
        }
        #expect(goodbye.detail == "declined by alice")
        try await Self.eventually { harness.hub.support.request(id) == nil }
    }

    @Test func whatTheComputerSaysAboutItselfCannotDriveATerminal() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let issued = try await harness.hub.support.issue(by: "alice")
        var request = Self.request(issued.code, host: "evil\u{1B}[2J\rhost\u{202E}")
        request.localUser = "bob\u{07}"
        let (_, result) = try await Self.ask(harness, request)
        guard case .supportQueued(let id) = result else {
            Issue.record("not queued: \(result)")
            return
        }
        let waiting = try #require(harness.hub.support.request(id))
        #expect(waiting.hostname == "evil\u{FFFD}[2J\u{FFFD}host\u{FFFD}")
        #expect(waiting.localUser == "bob\u{FFFD}")
        #expect(SupportQueue.printable("plain-host.example") == "plain-host.example")
    }

    @Test func oneRepresentativeCannotUseUpTheCodes() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        for _ in 0..<SupportQueue.maximumOutstandingCodesPerRepresentative { _ = try await harness.hub.support.issue(by: "alice") }
        await #expect(throws: SupportQueue.IssueError.tooManyForRepresentative) { try await harness.hub.support.issue(by: "alice") }
        _ = try await harness.hub.support.issue(by: "bob")
        #expect(try await harness.auditRecords(action: "support.code", atLeast: 21).count == 21, "the refused one is not audited")
    }

    @Test func aRequestInASessionIsNotDeclinedAndPinsAreOneAtATime() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let issued = try await harness.hub.support.issue(by: "alice")
        let (_, result) = try await Self.ask(harness, Self.request(issued.code))
        guard case .supportQueued(let id) = result else {
            Issue.record("not queued: \(result)")
            return
        }
        let support = harness.hub.support
        #expect(support.claim(id, session: "s-1"))
        #expect(!support.decline(id, by: "alice"), "a session serves it")
        #expect(support.request(id) != nil)
        #expect(support.beginPin(id))
        #expect(!support.beginPin(id), "one pin at a time")
        support.endPin(id)
        support.pinned(id, as: "jc-1")
        #expect(!support.beginPin(id), "pinned once")
        support.release(id, session: "s-1")
        #expect(support.decline(id, by: "alice"))
        #expect(support.request(id) == nil)
    }

    @Test func claimsAreExclusive() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let issued = try await harness.hub.support.issue(by: "alice")
        let (_, result) = try await Self.ask(harness, Self.request(issued.code))
        guard case .supportQueued(let id) = result else {
            Issue.record("not queued: \(result)")
            return
        }
        let support = harness.hub.support
        #expect(support.claim(id, session: "s-1"))
        #expect(!support.claim(id, session: "s-2"), "one session per request")
        support.release(id, session: "s-2")
        #expect(support.request(id)?.session == "s-1", "only the claim's own session releases it")
        support.replaceClaim(id, from: "s-1", to: "s-5")
        #expect(support.request(id)?.session == "s-5")
        support.release(id, session: "s-5")
        #expect(support.claim(id, session: "s-3"))
        #expect(!support.claim("support-nobody", session: "s-4"))
    }
}
