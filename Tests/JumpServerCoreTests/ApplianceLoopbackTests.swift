import Foundation
import JumpProtocol
import JumpServerCore
import JumpStore
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf
import Synchronization
import Testing
import X509

/// The appliance's agent side over real TLS on loopback: enrollment, mutual TLS, statistics, deletion,
/// and the bad input the issue lists.
@Suite(.timeLimit(.minutes(2))) struct ApplianceLoopbackTests {
    @Test func enrollConnectReportDeleteAndBeRefused() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (installerID, token) = try await harness.makeInstaller()
        let agent = TestAgent()

        let response = try await agent.enroll(harness, token: token)
        #expect(response.result == .ok)
        #expect(response.clientID.hasPrefix("jc-"))
        #expect(try await harness.store.installer(id: installerID)?.uses == 1)
        let identity = try agent.identity(from: response)

        let ready = try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: identity,
            purpose: .serve(CommandGate(agentID: response.clientID, lastSequence: 0))
        )
        #expect(ready == .ready(response.clientID))

        // A report, acknowledged; then the client is online with its statistics.
        var report = WireStatsReport()
        report.cpuPermille = 420
        report.uptimeSeconds = 3600
        report.console.user = "alice"
        report.presence.present = true
        report.host.hostname = "kiosk-12"
        var disk = WireDisk()
        disk.mountPoint = "/"
        disk.totalBytes = 1000
        disk.usedBytes = 250
        report.disks = [disk]
        let events = agent.eventCount
        _ = try await #require(agent.connection.withLock { $0 }).send(.statsReport(report)).get()
        await agent.waitForEvents(events + 1)
        #expect(agent.acks.withLock { $0.last?.result } == .ok)

        let view = try #require(harness.hub.clientView(id: response.clientID, groups: [:]))
        #expect(view.status == "online")
        #expect(view.cpuPercent == 42)
        #expect(view.consoleUser == "alice")
        #expect(view.uptimeSeconds == 3600)
        #expect(view.presence == true)
        #expect(view.disks?.first?.usedBytes == 250)

        // The statistics reach the store at the next flush.
        #expect(await harness.hub.flushStats() == 1)
        let stored = try #require(try await harness.store.stats(clientID: response.clientID))
        // The stored bytes are the report's encoding (`aReportIsStoredAsTheAgentSentIt` tells the
        // bytes as sent from the report encoded again).
        #expect(stored.report == Data(try report.serializedBytes() as [UInt8]))
        #expect(try ControlCodec.decodeStatsReport(Array(stored.report)) == report)

        // Deleted while online: told to uninstall at once.
        let closing = agent.eventCount
        #expect(try await harness.hub.deleteClient(id: response.clientID, actor: "admin"))
        await agent.waitForEvents(closing + 1)
        guard case .closed(.peerSaidGoodbye(let goodbye)) = agent.results.withLock({ $0.last }) else {
            Issue.record("expected a goodbye")
            return
        }
        #expect(goodbye.reason == .clientDeleted)

        // Its next connection is refused with the reason that tells it to uninstall.
        let again = try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: identity,
            purpose: .serve(CommandGate(agentID: response.clientID, lastSequence: 0))
        )
        guard case .closed(.peerSaidGoodbye(let refusal)) = again else {
            Issue.record("expected a refusal, got \(again)")
            return
        }
        #expect(refusal.reason == .clientDeleted)
        let actions = try await harness.store.auditRecords(afterID: 0, limit: 100).map(\.action)
        #expect(actions.contains("client.enroll"))
        #expect(actions.contains("client.delete"))
        #expect(try await harness.store.verifyAudit().intact)
    }

    @Test func installerTokensThatMustNotWork() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let agent = TestAgent()

        let expired = try await harness.makeInstaller(expiresIn: 1, now: Date() - 10)
        #expect(try await agent.enroll(harness, token: expired.token).result == .tokenExpired)

        let deleted = try await harness.makeInstaller()
        #expect(try await harness.store.deleteInstaller(id: deleted.id, audit: AuditEvent(actor: "t", action: "installer.delete", target: deleted.id)))
        #expect(try await agent.enroll(harness, token: deleted.token).result == .tokenUnknown)

        let once = try await harness.makeInstaller(maxUses: 1)
        #expect(try await agent.enroll(harness, token: once.token).result == .ok)
        let second = try await agent.enroll(harness, token: once.token)
        #expect(second.result == .tokenExhausted)
        #expect(second.detail.contains("limit"))

        #expect(try await agent.enroll(harness, token: Data(repeating: 0xAB, count: 32)).result == .tokenUnknown)

        // A token shorter than the protocol's minimum never reaches the store.
        let malformed = try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: nil,
            purpose: .enroll(try agent.enrollRequest(token: Data(repeating: 1, count: 8)))
        )
        guard case .closed(.peerSaidGoodbye(let goodbye)) = malformed else {
            Issue.record("expected a goodbye, got \(malformed)")
            return
        }
        #expect(goodbye.reason == .limitExceeded)
    }

    @Test func overridesTheInstallerDoesNotAllowAreRefused() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let agent = TestAgent()
        let installer = try await harness.makeInstaller(overrides: [.name])
        var overrides = WireInstallOverrides()
        overrides.name = "front-desk"
        overrides.tag = "lobby"
        let refused = try await agent.enroll(harness, token: installer.token, overrides: overrides)
        #expect(refused.result == .overrideNotAllowed)
        #expect(refused.detail == "the installer does not allow overriding tag")

        overrides.clearTag()
        let accepted = try await agent.enroll(harness, token: installer.token, overrides: overrides)
        #expect(accepted.result == .ok)
        #expect(try await harness.store.client(id: accepted.clientID)?.name == "front-desk")
    }

    @Test func certificatesThatMustNotWork() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let agent = TestAgent()
        let installer = try await harness.makeInstaller()
        let response = try await agent.enroll(harness, token: installer.token)
        let identity = try agent.identity(from: response)
        let gate = CommandGate(agentID: response.clientID, lastSequence: 0)

        // An agent that pins another CA refuses the appliance.
        let stranger = try CertificateAuthority.create(commonName: "Not this appliance")
        #expect(
            try await agent.connect(port: harness.port, trusting: stranger.certificate, identity: identity, purpose: .serve(gate))
                == .closed(.transportClosed)
        )

        // A client certificate from another CA fails the handshake.
        let forged = try stranger.issueClientCertificate(
            csrDER: CertificationRequest.make(for: agent.key, hostname: "x"),
            clientID: response.clientID
        )
        #expect(
            try await agent.connect(
                port: harness.port,
                trusting: harness.ca.certificate,
                identity: TLSIdentity(certificate: forged, privateKey: agent.key),
                purpose: .serve(gate)
            ) == .closed(.transportClosed)
        )

        // A certificate from the right CA but not the one on record (replaced or revoked) is refused.
        let stale = try harness.ca.issueClientCertificate(
            csrDER: CertificationRequest.make(for: agent.key, hostname: "x"),
            clientID: response.clientID
        )
        let refused = try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: TLSIdentity(certificate: stale, privateKey: agent.key),
            purpose: .serve(gate)
        )
        #expect(refused == .closed(.peerSaidGoodbye(WireGoodbye(.certificateRevoked, "this certificate was replaced or revoked"))))

        // A certificate naming a client the appliance never had is refused too.
        let unknown = try harness.ca.issueClientCertificate(
            csrDER: CertificationRequest.make(for: agent.key, hostname: "x"),
            clientID: "jc-0000000000000000"
        )
        let unknownResult = try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: TLSIdentity(certificate: unknown, privateKey: agent.key),
            purpose: .serve(CommandGate(agentID: "jc-0000000000000000", lastSequence: 0))
        )
        guard case .closed(.peerSaidGoodbye(let goodbye)) = unknownResult else {
            Issue.record("expected a refusal, got \(unknownResult)")
            return
        }
        #expect(goodbye.reason == .certificateRevoked)
        let refusals = try await harness.auditRecords(action: "client.refused", atLeast: 2)
        #expect(refusals.count == 2, "each refused client is audited")
    }

    @Test func anAgentReconnectingInATightLoopIsRefusedEachTimeAndAuditedOnce() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let agent = TestAgent()
        let installer = try await harness.makeInstaller()
        let response = try await agent.enroll(harness, token: installer.token)
        let identity = try agent.identity(from: response)
        #expect(try await harness.hub.deleteClient(id: response.clientID, actor: "admin"))
        for _ in 0..<30 {
            let result = try await agent.connect(
                port: harness.port,
                trusting: harness.ca.certificate,
                identity: identity,
                purpose: .serve(CommandGate(agentID: response.clientID, lastSequence: 0))
            )
            guard case .closed(.peerSaidGoodbye(let goodbye)) = result else {
                Issue.record("expected a refusal, got \(result)")
                return
            }
            #expect(goodbye.reason == .clientDeleted)
        }
        let refusals = try await harness.auditRecords(action: "client.refused", atLeast: 2)
        #expect(refusals.count == 1, "one audit record per client per hour, not one per attempt")
        #expect(harness.hub.connectedCount == 0)
    }

    /// The statistics writer stores a report's bytes as the agent sent them rather than the report
    /// encoded again: a field this version does not know (from a newer agent) is in the stored bytes,
    /// and dropped when they are read back. A captured picture is stored apart, never in the report.
    @Test func aReportIsStoredAsTheAgentSentIt() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, clientID) = try await harness.connectedAgent()
        let connection = try #require(agent.connection.withLock { $0 })
        var known = WireStatsReport()
        known.cpuPermille = 420
        known.uptimeSeconds = 3600
        // Field 99, a varint: unknown here, kept by a decoder that does not drop unknown fields.
        let sent: [UInt8] = try known.serializedBytes() + [0x98, 0x06, 0x01]
        let report = try WireStatsReport(serializedBytes: sent)
        #expect(report != known, "the report carries the unknown field")
        var before = agent.eventCount
        _ = try await connection.send(.statsReport(report)).get()
        await agent.waitForEvents(before + 1)
        #expect(harness.hub.clientView(id: clientID, groups: [:])?.cpuPercent == 42)
        #expect(await harness.hub.flushStats() == 1)
        var stored = try #require(try await harness.store.stats(clientID: clientID))
        #expect(Array(stored.report) == sent)
        #expect(try ControlCodec.decodeStatsReport(sent) == known)

        // A large report is encoded again: what fields unknown here add to the store stays small.
        let padding = [UInt8](repeating: 0x61, count: 5000)
        let large = try WireStatsReport(serializedBytes: try known.serializedBytes() + [0x9A, 0x06, 0x88, 0x27] + padding)
        before = agent.eventCount
        _ = try await connection.send(.statsReport(large)).get()
        await agent.waitForEvents(before + 1)
        #expect(await harness.hub.flushStats() == 1)
        stored = try #require(try await harness.store.stats(clientID: clientID))
        #expect(stored.report == Data(try known.serializedBytes() as [UInt8]))

        var captured = known
        captured.thumbnailStatus = .captured
        captured.thumbnail.jpeg = Data([0xFF, 0xD8, 0xFF, 0xD9])
        before = agent.eventCount
        _ = try await connection.send(.statsReport(captured)).get()
        await agent.waitForEvents(before + 1)
        #expect(await harness.hub.flushStats() == 1)
        stored = try #require(try await harness.store.stats(clientID: clientID))
        #expect(stored.thumbnail == .jpeg(Data([0xFF, 0xD8, 0xFF, 0xD9])))
        #expect(try ControlCodec.decodeStatsReport(Array(stored.report)).thumbnail.jpeg.isEmpty, "the picture is not in the report's bytes")
    }

    @Test func thumbnailsAreKeptUntilTheScreenChangesOrGoesAway() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, clientID) = try await harness.connectedAgent()
        let connection = try #require(agent.connection.withLock { $0 })
        func send(_ status: WireThumbnailStatus, jpeg: [UInt8] = []) async throws {
            var report = WireStatsReport()
            report.thumbnailStatus = status
            report.thumbnail.jpeg = Data(jpeg)
            let before = agent.eventCount
            _ = try await connection.send(.statsReport(report)).get()
            await agent.waitForEvents(before + 1)
        }
        let picture = Data([0xFF, 0xD8, 0xFF, 0xD9])
        try await send(.captured, jpeg: Array(picture))
        #expect(try await harness.hub.thumbnail(id: clientID) == picture, "served from memory before it is written")
        try await send(.unchanged)
        #expect(try await harness.hub.thumbnail(id: clientID) == picture, "unchanged keeps the last picture")
        #expect(harness.hub.clientView(id: clientID, groups: [:])?.thumbnail == true)
        #expect(await harness.hub.flushStats() == 1)
        #expect(try await harness.store.stats(clientID: clientID)?.thumbnail == .jpeg(picture))
        let report = try ControlCodec.decodeStatsReport(Array(try #require(try await harness.store.stats(clientID: clientID)).report))
        #expect(report.thumbnailStatus == .unchanged && report.thumbnail.jpeg.isEmpty, "the picture is stored apart, not in the report")
        #expect(harness.hub.memoryThumbnailCount == 0, "a written picture leaves memory")
        #expect(try await harness.hub.thumbnail(id: clientID) == picture, "and is read from the store")
        try await send(.unchanged)
        #expect(await harness.hub.flushStats() == 1)
        #expect(try await harness.store.stats(clientID: clientID)?.thumbnail == .jpeg(picture), "unchanged keeps the stored picture")
        #expect(try await harness.hub.thumbnail(id: clientID) == picture)
        try await send(.noDisplay)
        #expect(try await harness.hub.thumbnail(id: clientID) == nil, "no display: no stale picture")
        #expect(await harness.hub.flushStats() == 1)
        #expect(try await harness.store.stats(clientID: clientID)?.thumbnail == ClientStats.Thumbnail.none)
    }

    @Test func aSecondConnectionReplacesTheFirst() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let first = TestAgent()
        let installer = try await harness.makeInstaller()
        let response = try await first.enroll(harness, token: installer.token)
        let identity = try first.identity(from: response)
        let gate = CommandGate(agentID: response.clientID, lastSequence: 0)
        #expect(try await first.connect(port: harness.port, trusting: harness.ca.certificate, identity: identity, purpose: .serve(gate)) == .ready(response.clientID))

        let before = first.eventCount
        let second = TestAgent()
        #expect(try await second.connect(port: harness.port, trusting: harness.ca.certificate, identity: identity, purpose: .serve(gate)) == .ready(response.clientID))
        await first.waitForEvents(before + 1)
        guard case .closed(.peerSaidGoodbye(let goodbye)) = first.results.withLock({ $0.last }) else {
            Issue.record("the first connection should have been told it was replaced")
            return
        }
        #expect(goodbye.reason == .replaced)
        #expect(harness.hub.connectedCount == 1)
    }

    @Test func settingsChangesReachConnectedAgents() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, _) = try await harness.connectedAgent()
        let before = agent.eventCount
        _ = try await harness.hub.updateSettings([("statistics-interval", "30"), ("delete-days", "60")], actor: "admin")
        await agent.waitForEvents(before + 1)
        let config = try #require(agent.configs.withLock { $0.last })
        #expect(config.statisticsIntervalSeconds == 30)
        #expect(config.deleteAfterDays == 60)
        #expect(SiteSettings(stored: try await harness.store.settings()).deleteDays == 60, "settings persist")
    }

    @Test func framesBeforeHelloAndSlowHandshakesAreClosed() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }

        // A TLS client that sends a PING before Hello is told why and closed.
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: harness.ca.certificate, identity: nil))
        let received = RawCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(received)
                }
            }
            .connect(host: "127.0.0.1", port: harness.port)
            .get()
        var ping = ByteBuffer()
        ping.writeFrameHeader(kind: .ping, channel: 0, payloadLength: 8)
        ping.writeInteger(UInt64(1))
        try await channel.writeAndFlush(ping)
        try await channel.closeFuture.get()
        var bytes = received.bytes
        var parser = FrameParser()
        let frame = try #require(try parser.next(from: &bytes))
        guard case .goodbye(let goodbye) = try ControlCodec.decode(frame.payload).body else {
            Issue.record("expected a goodbye")
            return
        }
        #expect(goodbye.reason == .unexpectedMessage)
    }

    @Test func aClientThatNeverFinishesItsHandshakeIsDropped() async throws {
        let harness = try await ApplianceHarness.start(handshakeTimeout: .milliseconds(500))
        defer { Task { await harness.stop() } }
        // A plain TCP connection that says nothing: the appliance closes it at the handshake timeout.
        // Both instants are taken on the connection's event loop, as the events happen: this task may resume much
        // later when other tests hold the cooperative threads (end-to-end tests wait for their programs there). The
        // appliance's timer starts at its accept, which may come a little before this side sees the connect complete.
        let (channel, connectedAt) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: harness.port)
            .map { ($0, ContinuousClock.now) }
            .get()
        let closedAt = try await channel.closeFuture.map { ContinuousClock.now }.get()
        let elapsed = closedAt - connectedAt
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(5), "closed after \(elapsed)")
    }

    @Test func anAcceptedAgentConnectionHasNoDelayWithoutASystemCallOfItsOwn() async throws {
        // The listener sets TCP_NODELAY on its listening socket only; Linux copies it to every
        // accepted socket. Checked on the appliance's end of a real connection, found among this
        // process's descriptors by its local port and a connected peer.
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, clientID) = try await harness.connectedAgent()
        #expect(!clientID.isEmpty)
        let accepted = withExtendedLifetime(agent) { Self.acceptedSockets(localPort: harness.port) }
        #expect(!accepted.isEmpty, "no accepted socket on port \(harness.port)")
        for descriptor in accepted {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0)
            #expect(value == 1, "descriptor \(descriptor)")
        }
    }

    /// This process's TCP sockets bound to `localPort` on 127.0.0.1 that have a peer (accepted or
    /// connected from that port, so the appliance's ends; the agent's ends have other local ports).
    static func acceptedSockets(localPort: Int) -> [Int32] {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return descriptors.compactMap(Int32.init).filter { descriptor in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            guard named == 0, address.sin_family == sa_family_t(AF_INET), Int(UInt16(bigEndian: address.sin_port)) == localPort else {
                return false
            }
            var peer = sockaddr_in()
            var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            return withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &peerLength) }
            } == 0
        }
    }
}

/// Keeps whatever a raw connection receives.
final class RawCollector: ChannelInboundHandler, @unchecked Sendable {
    // Touched only on the channel's event loop; read after the channel closed.
    typealias InboundIn = ByteBuffer
    var bytes = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        bytes.writeBuffer(&buffer)
    }
}
