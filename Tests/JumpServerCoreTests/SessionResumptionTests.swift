import Foundation
import JumpAgentCore
import JumpProtocol
@testable import JumpServerCore
import JumpTLS
import Logging
import Testing

/// The agent's runtime against a real appliance on loopback: a reconnecting agent resumes its TLS
/// session, and the appliance admits it by the certificate the resumed session carries.
@Suite struct SessionResumptionTests {
    @Test(.timeLimit(.minutes(1)))
    func aReconnectingAgentResumesItsSessionAndIsAdmittedByItsCertificate() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        let (id, _, files) = try await CertificateRenewalTests.enrolledAgentFiles(harness)
        defer { try? FileManager.default.removeItem(at: files.root) }

        let (welcomes, arrived) = AsyncStream.makeStream(of: Bool.self)
        let runtime = try AgentRuntime(
            files: files, stats: NoReports(), logger: Logger(label: "agent"),
            pause: { _ in },  // reconnect at once
            observer: { event in if case .ready(let resumed) = event { arrived.yield(resumed) } }
        )
        let running = Task { await runtime.run() }
        defer { running.cancel() }
        var resumed = welcomes.makeAsyncIterator()

        #expect(await resumed.next() == false, "the first connection is a full handshake")
        // The appliance ends the connection as when it stops; the agent comes back at once.
        try #require(harness.hub.connection(of: id)).close(WireGoodbye(.shutdown, "test"))
        // Admission needs the serial of the client's current certificate: the resumed session
        // carries the certificate the full handshake verified, and the Hello is checked against it.
        #expect(await resumed.next() == true, "the next one resumes the session")
        #expect(harness.hub.isConnected(id))
        try #require(harness.hub.connection(of: id)).close(WireGoodbye(.shutdown, "test"))
        #expect(await resumed.next() == true, "and the one after, with the ticket the last one gave")
    }
}
