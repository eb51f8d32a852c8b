@preconcurrency import Crypto
import Foundation
import JumpAgentCore
import JumpProtocol
import JumpServerCore
import JumpStore
import JumpTLS
import Logging
import NIOCore
import Synchronization
import Testing
import X509

/// Renewal over the authenticated connection: the appliance's side with a test agent, then the
/// agent's own runtime, both over real TLS against a real store.
@Suite(.timeLimit(.minutes(2))) struct CertificateRenewalTests {
    typealias ManualDate = LifecycleTests.ManualDate

    /// Sends a renewal request for `key` on the agent's connection and waits for the answer.
    static func renew(_ agent: TestAgent, key: P256.Signing.PrivateKey, csr: Data? = nil) async throws -> WireEnrollResponse {
        let before = agent.eventCount
        var request = WireRenewRequest()
        request.csr = try csr ?? Data(CertificationRequest.make(for: key, hostname: "kiosk-12"))
        _ = agent.connection.withLock { $0 }?.send(.renewRequest(request))
        await agent.waitForEvents(before + 1)
        return try #require(agent.renewals.withLock { $0.last })
    }

    static func connect(_ agent: TestAgent, _ harness: ApplianceHarness, _ identity: TLSIdentity, _ id: String) async throws -> TestAgent.Result {
        try await agent.connect(
            port: harness.port,
            trusting: harness.ca.certificate,
            identity: identity,
            purpose: .serve(CommandGate(agentID: id, lastSequence: 0))
        )
    }

    @Test func theNewCertificateWorksAndTheOldOneOnlyDuringTheGracePeriod() async throws {
        let clock = ManualDate(Date())
        let harness = try await ApplianceHarness.start(now: { clock.now })
        defer { Task { await harness.stop() } }
        let agent = TestAgent()
        let installer = try await harness.makeInstaller(expiresIn: 86_400)
        let enrolled = try await agent.enroll(harness, token: installer.token)
        let id = enrolled.clientID
        let old = try agent.identity(from: enrolled)
        #expect(try await Self.connect(agent, harness, old, id) == .ready(id))

        // The appliance renews whenever asked (the agent decides when); its clock moves only for the
        // grace period below, since TLS checks validity against the real time.
        let newKey = P256.Signing.PrivateKey()
        let response = try await Self.renew(agent, key: newKey)
        #expect(response.result == .ok, "\(response.detail)")
        #expect(response.clientID == id)
        let renewed = TLSIdentity(certificate: try Certificate(derBytes: Array(response.certificate)), privateKey: newKey)
        #expect(renewed.certificate.jumpClientID == id)
        #expect(renewed.certificate.notValidAfter > clock.now + 360 * 86_400)
        let record = try #require(try await harness.store.client(id: id))
        #expect(record.certificateSerial == renewed.certificate.serialHex)
        #expect(record.previousCertificateSerial == old.certificate.serialHex)
        #expect(try await harness.auditRecords(action: "client.certificate-renewed", atLeast: 1).count == 1)
        try await LifecycleTests.disconnect(agent, harness, id)

        // The new certificate connects; so does the old one, until the grace period ends.
        #expect(try await Self.connect(agent, harness, renewed, id) == .ready(id))
        try await LifecycleTests.disconnect(agent, harness, id)
        clock.advance(days: 6.9)
        #expect(try await Self.connect(agent, harness, old, id) == .ready(id))
        // Renewing again with the replaced key gets a certificate but never more time for that key.
        let deadline = try #require(try await harness.store.client(id: id)?.previousCertificateAcceptedUntil)
        let thirdKey = P256.Signing.PrivateKey()
        let again = try await Self.renew(agent, key: thirdKey)
        #expect(again.result == .ok, "\(again.detail)")
        let third = TLSIdentity(certificate: try Certificate(derBytes: Array(again.certificate)), privateKey: thirdKey)
        let after = try #require(try await harness.store.client(id: id))
        #expect(after.certificateSerial == third.certificate.serialHex)
        #expect(after.previousCertificateSerial == old.certificate.serialHex)
        #expect(after.previousCertificateAcceptedUntil == deadline, "the replaced key's grace is not extended")
        try await LifecycleTests.disconnect(agent, harness, id)
        clock.advance(days: 0.2)
        guard case .closed(.peerSaidGoodbye(let goodbye)) = try await Self.connect(agent, harness, old, id) else {
            Issue.record("the replaced certificate was accepted after the grace period")
            return
        }
        #expect(goodbye.reason == .certificateRevoked)
        // The second certificate is neither current nor the one replaced last: refused too. (The third
        // cannot connect here: the appliance's clock is days ahead, so TLS finds it not yet valid.)
        guard case .closed(.peerSaidGoodbye(let second)) = try await Self.connect(agent, harness, renewed, id) else {
            Issue.record("a certificate replaced twice was accepted")
            return
        }
        #expect(second.reason == .certificateRevoked)
        #expect(third.certificate.jumpClientID == id)
    }

    @Test func aCertificateTheApplianceNeverRecordedIsRefused() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, id) = try await harness.connectedAgent()
        // Issued by the right CA for the right client, but not the one the appliance gave out.
        let stray = P256.Signing.PrivateKey()
        let certificate = try harness.ca.issueClientCertificate(csrDER: CertificationRequest.make(for: stray, hostname: "x"), clientID: id)
        try await LifecycleTests.disconnect(agent, harness, id)
        guard case .closed(.peerSaidGoodbye(let goodbye)) = try await Self.connect(agent, harness, TLSIdentity(certificate: certificate, privateKey: stray), id) else {
            Issue.record("a stray certificate was accepted")
            return
        }
        #expect(goodbye.reason == .certificateRevoked)
    }

    @Test func aDamagedRequestIsRefusedAndChangesNothing() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (agent, id) = try await harness.connectedAgent()
        let before = try #require(try await harness.store.client(id: id))
        let response = try await Self.renew(agent, key: P256.Signing.PrivateKey(), csr: Data([0x30, 0x03, 0x02, 0x01, 0x00]))
        #expect(response.result == .csrInvalid)
        #expect(response.certificate.isEmpty)
        #expect(try await harness.store.client(id: id) == before)
    }

    /// The agent's runtime renews by itself when its certificate nears its end, keeps the new key and
    /// certificate, and connects with them from then on.
    @Test func theAgentRenewsWhenItsCertificateNearsItsEnd() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (id, old, files) = try await Self.enrolledAgentFiles(harness)
        defer { try? FileManager.default.removeItem(at: files.root) }

        // 340 days on: 25 days left, within CertificateRenewal.renewBefore.
        let shifted = try AgentRuntime(files: files, stats: NoReports(), logger: Logger(label: "agent"), leaseClock: ShiftedClock(days: 340))
        let running = Task { await shifted.run() }
        var record = try #require(try await harness.store.client(id: id))
        let deadline = ContinuousClock.now + .seconds(20)
        while record.certificateSerial == old.certificate.serialHex || shifted.certificate.serialHex == old.certificate.serialHex {
            guard ContinuousClock.now < deadline else { break }
            await Task.yield()
            record = try #require(try await harness.store.client(id: id))
        }
        running.cancel()
        _ = await running.value
        #expect(record.certificateSerial != old.certificate.serialHex)
        #expect(shifted.certificate.serialHex == record.certificateSerial)

        // On disk: the new pair, nothing pending; a new runtime connects with it.
        let saved = try files.readIdentity()
        #expect(saved.certificate.serialHex == record.certificateSerial)
        #expect(saved.privateKey.publicKey.rawRepresentation != old.privateKey.publicKey.rawRepresentation)
        #expect(!FileManager.default.fileExists(atPath: files.etc.appendingPathComponent("key.pem.new").path))
        let attributes = try FileManager.default.attributesOfItem(atPath: files.key.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let restarted = try AgentRuntime(files: files, stats: NoReports(), logger: Logger(label: "agent"))
        let again = Task { await restarted.run() }
        while harness.hub.clientView(id: id, groups: [:])?.status != "online" { await Task.yield() }
        again.cancel()
        #expect(await again.value == .cancelled)
    }

    /// A new agent enrolled in `harness`, its files written as jump-agent's: its id, identity and files
    /// (the caller removes them).
    static func enrolledAgentFiles(_ harness: ApplianceHarness) async throws -> (id: String, identity: TLSIdentity, files: AgentFiles) {
        let agent = TestAgent()
        let installer = try await harness.makeInstaller(expiresIn: 86_400)
        let enrolled = try await agent.enroll(harness, token: installer.token)
        let identity = try agent.identity(from: enrolled)
        return (enrolled.clientID, identity, try agentFiles(for: identity, id: enrolled.clientID, harness))
    }

    static func agentFiles(for identity: TLSIdentity, id: String, _ harness: ApplianceHarness) throws -> AgentFiles {
        let files = AgentFiles(root: FileManager.default.temporaryDirectory.appendingPathComponent("jump-renew-\(UUID().uuidString)").path)
        for directory in [files.bin, files.etc, files.variable] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        try writeAtomically(Data(identity.privateKeyPEM.utf8), to: files.key, mode: 0o600)
        try writeAtomically(Data(try identity.certificatePEM.utf8), to: files.certificate, mode: 0o644)
        try writeAtomically(Data(try harness.ca.certificatePEM.utf8), to: files.ca, mode: 0o644)
        let configuration = AgentConfiguration(
            clientID: id,
            servers: ["127.0.0.1:\(harness.port)"],
            caSHA256: try harness.ca.certificate.sha256Fingerprint,
            installerID: "test",
            name: "kiosk-12",
            enrolledAt: Date()
        )
        try writeAtomically(try JSONEncoder.agentFiles.encode(configuration), to: files.configuration, mode: 0o600)
        return files
    }
}

/// The wall clock `days` ahead; the boot clock as it is.
struct ShiftedClock: LeaseClock {
    var days: Double
    var bootID: String { "renewal-test" }
    var sinceBoot: Double { ProcessInfo.processInfo.systemUptime }
    var wall: Date { Date() + days * 86_400 }
}

/// Empty reports: the renewal does not depend on statistics.
struct NoReports: StatsSource {
    func report(_ request: ReportRequest) async -> WireStatsReport { WireStatsReport() }
}
