import Foundation
import JumpProtocol
import JumpServerCore
import JumpStore
import JumpTLS
import NIOCore
import Synchronization
import Testing

/// Online, offline, lost, deleted, uninstalled: with the appliance's clock in the test's hand.
@Suite(.timeLimit(.minutes(2))) struct LifecycleTests {
    final class ManualDate: Sendable {
        let value: Mutex<Date>
        init(_ date: Date) { value = Mutex(date) }
        var now: Date { value.withLock { $0 } }
        func advance(days: Double) { value.withLock { $0 += days * 86_400 } }
        func advance(seconds: Double) { value.withLock { $0 += seconds } }
    }

    static func disconnect(_ agent: TestAgent, _ harness: ApplianceHarness, _ id: String) async throws {
        let before = agent.eventCount
        try await agent.connection.withLock { $0 }?.channel.close()
        await agent.waitForEvents(before + 1)
        // The appliance notices the close on its own event loop.
        while harness.hub.clientView(id: id, groups: [:])?.status == "online" { await Task.yield() }
    }

    @Test func offlineThenLostThenDeletedAfterTheSettingsPeriods() async throws {
        let clock = ManualDate(Date())
        let harness = try await ApplianceHarness.start(now: { clock.now })
        defer { Task { await harness.stop() } }
        _ = try await harness.hub.updateSettings([("lost-days", "20"), ("delete-days", "40")], actor: "admin")
        let (agent, id) = try await harness.connectedAgent()
        #expect(harness.hub.clientView(id: id, groups: [:])?.status == "online")

        try await Self.disconnect(agent, harness, id)
        #expect(harness.hub.clientView(id: id, groups: [:])?.status == "offline")
        #expect(harness.hub.clientView(id: id, groups: [:])?.lastContact == clock.now)

        clock.advance(days: 19.9)
        #expect(harness.hub.clientView(id: id, groups: [:])?.status == "offline")
        clock.advance(days: 0.1)
        #expect(harness.hub.clientView(id: id, groups: [:])?.status == "lost")

        clock.advance(days: 19.9)
        #expect(await harness.hub.sweep().isEmpty)
        clock.advance(days: 0.1)
        #expect(await harness.hub.sweep() == [id])
        #expect(harness.hub.clientView(id: id, groups: [:]) == nil)
        #expect(try await harness.store.client(id: id)?.state == .deleted)
        let last = try await harness.store.auditRecords(afterID: 0, limit: 100).last
        #expect(last?.action == "client.delete-expired")
        #expect(last?.detail == "no contact for 40 days")
    }

    @Test func aConnectedClientIsNeverSwept() async throws {
        let clock = ManualDate(Date())
        let harness = try await ApplianceHarness.start(now: { clock.now })
        defer { Task { await harness.stop() } }
        let (_, id) = try await harness.connectedAgent()
        clock.advance(days: 400)
        #expect(await harness.hub.sweep().isEmpty)
        #expect(harness.hub.clientView(id: id, groups: [:])?.status == "online")
    }

    @Test func aConnectedClientsContactTimeIsWrittenOnceAMinuteAndAtItsDisconnection() async throws {
        // Whole seconds, so the stored time (seconds since 1970 as a double) compares equal.
        let clock = ManualDate(Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded()))
        let harness = try await ApplianceHarness.start(now: { clock.now })
        defer { Task { await harness.stop() } }
        let (agent, id) = try await harness.connectedAgent()
        let connection = try #require(agent.connection.withLock { $0 })
        func reportAndFlush() async throws {
            let before = agent.eventCount
            _ = try await connection.send(.statsReport(WireStatsReport())).get()
            await agent.waitForEvents(before + 1)
            #expect(await harness.hub.flushStats() == 1)
        }
        let first = clock.now
        try await reportAndFlush()
        #expect(try await harness.store.client(id: id)?.lastContact == first, "the connection's and first report's time is written")
        clock.advance(seconds: 59)
        try await reportAndFlush()
        #expect(try await harness.store.client(id: id)?.lastContact == first, "within the minute the stored time stays")
        #expect(harness.hub.clientView(id: id, groups: [:])?.lastContact == clock.now, "the appliance's own view is current")
        clock.advance(seconds: 1)
        try await reportAndFlush()
        #expect(try await harness.store.client(id: id)?.lastContact == first + 60)
        clock.advance(seconds: 10)
        try await Self.disconnect(agent, harness, id)
        _ = await harness.hub.flushStats()
        #expect(try await harness.store.client(id: id)?.lastContact == first + 70, "a disconnection writes its exact time")
    }

    @Test(arguments: ["keep", "remove"])
    func localUninstallFollowsTheUninstalledBehaviour(_ behaviour: String) async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        _ = try await harness.hub.updateSettings([("uninstalled-behavior", behaviour)], actor: "admin")
        let (agent, id) = try await harness.connectedAgent()
        var message = WireLocalUninstall()
        message.kind = .uninstall
        message.localUser = "bob"
        let before = agent.eventCount
        _ = try await #require(agent.connection.withLock { $0 }).send(.localUninstall(message)).get()
        await agent.waitForEvents(before + 1)
        let view = harness.hub.clientView(id: id, groups: [:])
        if behaviour == "keep" {
            #expect(view?.status == "uninstalled")
        } else {
            #expect(view == nil)
        }
        let record = try await harness.store.auditRecords(afterID: 0, limit: 100).last
        #expect(record?.action == "client.local-uninstall")
        #expect(record?.detail.contains("by local user 'bob'") == true)
    }
}
