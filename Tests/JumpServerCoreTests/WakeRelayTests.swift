import Foundation
import JumpProtocol
import JumpStore
import Synchronization
@testable import JumpServerCore
import Testing

/// Waking a Jump Client through another on its network: who may relay, and the appliance asking
/// real (test) agents over TLS.
@Suite struct WakeRelayTests {
    /// Facts of a machine on 192.0.2.0/24 behind gateway 192.0.2.1 (MAC 02:00:00:00:00:01).
    static func facts(address: [UInt8], mac: UInt8, gatewayMAC: UInt8 = 1, prefix: UInt32 = 24) -> WireNetworkFacts {
        var facts = WireNetworkFacts()
        var interface = WireNetworkInterface()
        interface.name = "eth0"
        interface.mac = Data([0x52, 0x54, 0, 0, 0, mac])
        var ip = WireInterfaceAddress()
        ip.ip = Data(address)
        ip.prefixLength = prefix
        interface.addresses = [ip]
        facts.interfaces = [interface]
        facts.gatewayIpv4 = Data([192, 0, 2, 1])
        facts.gatewayIpv4Mac = Data([2, 0, 0, 0, 0, gatewayMAC])
        facts.gatewayIpv4Interface = "eth0"
        return facts
    }

    @Test func relaysShareTheGatewayItsMACAndTheSubnet() throws {
        let network = try #require(WakeRelay.network(of: Self.facts(address: [192, 0, 2, 10], mac: 10)))
        #expect(network.macs == [[0x52, 0x54, 0, 0, 0, 10]])
        #expect(WakeRelay.relayInterface(Self.facts(address: [192, 0, 2, 20], mac: 20), on: network) == "eth0")
        #expect(WakeRelay.relayInterface(Self.facts(address: [192, 0, 2, 20], mac: 20, gatewayMAC: 9), on: network) == nil, "another gateway with the same address")
        #expect(WakeRelay.relayInterface(Self.facts(address: [198, 51, 100, 20], mac: 20), on: network) == nil, "another subnet")
        var noGateway = Self.facts(address: [192, 0, 2, 10], mac: 10)
        noGateway.gatewayIpv4Mac = Data()
        #expect(WakeRelay.network(of: noGateway) == nil, "without the gateway's MAC nobody can be matched")
    }

    /// An agent connected to the harness that has reported `facts`.
    static func reporting(_ harness: ApplianceHarness, _ facts: WireNetworkFacts) async throws -> (TestAgent, String) {
        let (agent, id) = try await harness.connectedAgent()
        var report = WireStatsReport()
        report.network = facts
        let connection = try #require(agent.connection.withLock { $0 })
        connection.send(.statsReport(report))
        let deadline = ContinuousClock.now + .seconds(10)
        while harness.hub.clientView(id: id, groups: [:])?.addresses.isEmpty != false, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return (agent, id)
    }

    @Test func theApplianceAsksAnOnlineClientOnTheSameNetwork() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (target, targetID) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 10], mac: 10))
        let (elsewhere, _) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 30], mac: 30, gatewayMAC: 9))
        let (relay, relayID) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 20], mac: 20))
        target.connection.withLock { $0 }?.close(WireGoodbye(.shutdown, "powered off"))

        let outcome = try await harness.hub.wake(clientID: targetID, password: [1, 2, 3, 4], actor: "rep")
        #expect(outcome.relay == relayID)
        #expect(outcome.macs == ["52:54:00:00:00:0a"])
        let command = try #require(relay.commands.withLock { $0.first })
        #expect(command.agentID == relayID)
        guard case .wake(let wake) = command.action else { Issue.record("not a wake command"); return }
        #expect(wake.targetMacs == [Data([0x52, 0x54, 0, 0, 0, 10])])
        #expect(wake.secureOnPassword == Data([1, 2, 3, 4]))
        #expect(wake.interface == "eth0")
        #expect(elsewhere.commands.withLock { $0.isEmpty }, "a client behind another gateway is not asked")
        let audit = try await harness.auditRecords(action: "client.wake", atLeast: 1)
        #expect(audit.first?.detail.contains("relayed by \(relayID)") == true)

        // The action rests for 30 seconds after an attempt.
        await #expect(throws: WakeRelay.Refusal.self) { try await harness.hub.wake(clientID: targetID, password: [], actor: "rep") }
    }

    @Test func withoutARelayOrWithWakingOffTheAnswerSaysWhy() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (_, targetID) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 10], mac: 10))
        do {
            _ = try await harness.hub.wake(clientID: targetID, password: [], actor: "rep")
            Issue.record("woke without a relay")
        } catch {
            guard case .noRelay(let detail) = error else { Issue.record("\(error)"); return }
            #expect(detail.contains("gateway 192.0.2.1"))
        }
        _ = try await harness.hub.updateSettings([("allow-wake", "false")], actor: "admin")
        do {
            _ = try await harness.hub.wake(clientID: "jc-none", password: [], actor: "rep")
        } catch {
            #expect(error == .notFound("jc-none"))
        }
        let (_, otherID) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 11], mac: 11))
        do {
            _ = try await harness.hub.wake(clientID: otherID, password: [], actor: "rep")
        } catch {
            #expect(error == .disabled)
        }
    }

    @Test func aRelayThatFailsIsFollowedByTheNext() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (_, targetID) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 10], mac: 10))
        let (first, _) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 20], mac: 20))
        let (second, _) = try await Self.reporting(harness, Self.facts(address: [192, 0, 2, 21], mac: 21))
        first.commandAnswer.withLock { $0 = .failed }
        second.commandAnswer.withLock { $0 = .failed }
        do {
            _ = try await harness.hub.wake(clientID: targetID, password: [], actor: "rep")
            Issue.record("a failed wake-up reported success")
        } catch {
            guard case .relaysFailed(let detail) = error else { Issue.record("\(error)"); return }
            #expect(detail.contains("the interface is down"))
        }
        #expect(first.commands.withLock(\.count) == 1 && second.commands.withLock(\.count) == 1, "both asked, in turn")
    }
}
