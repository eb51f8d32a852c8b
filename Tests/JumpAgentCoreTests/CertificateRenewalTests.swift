@preconcurrency import Crypto
import Foundation
import JumpAgentCore
import JumpTLS
import Testing
import X509

@Suite struct CertificateRenewalTests {
    static let ca = try! CertificateAuthority.create(commonName: "Renewal Test CA")
    static let clientID = "jc-renewal"

    static func identity(issuedAt: Date = Date(), validity: TimeInterval = CertificateAuthority.clientValidity) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let certificate = try ca.issueClientCertificate(
            csrDER: CertificationRequest.make(for: key, hostname: "h"),
            clientID: clientID,
            now: issuedAt,
            validity: validity
        )
        return TLSIdentity(certificate: certificate, privateKey: key)
    }

    @Test(arguments: [(300.0, false), (334.0, false), (336.0, true), (364.0, true), (400.0, true)])
    func dueInTheLastThirtyDaysOfAYear(daysAfterIssue: Double, due: Bool) throws {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let certificate = try Self.identity(issuedAt: issued).certificate
        #expect(CertificateRenewal.due(certificate, now: issued + daysAfterIssue * 86_400) == due)
    }

    @Test func aShortCertificateIsRenewedInItsLastThird() throws {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let certificate = try Self.identity(issuedAt: issued, validity: 30 * 86_400).certificate
        #expect(!CertificateRenewal.due(certificate, now: issued + 19 * 86_400))
        #expect(CertificateRenewal.due(certificate, now: issued + 21 * 86_400))
    }

    @Test func oneRequestAtATimeAndAnHourBetweenAttempts() throws {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let certificate = try Self.identity(issuedAt: issued).certificate
        let now = issued + 350 * 86_400
        var renewal = CertificateRenewal()
        let notYet = renewal.begin(for: certificate, now: issued)
        #expect(notYet == nil, "not due yet")
        let begun = renewal.begin(for: certificate, now: now)
        let key = try #require(begun)
        let second = renewal.begin(for: certificate, now: now + 7200)
        #expect(second == nil, "one is on its way")
        let finished = renewal.finish()
        #expect(finished?.rawRepresentation == key.rawRepresentation)
        let again = renewal.finish()
        #expect(again == nil)
        let early = renewal.begin(for: certificate, now: now + CertificateRenewal.retryInterval - 1)
        #expect(early == nil)
        let later = renewal.begin(for: certificate, now: now + CertificateRenewal.retryInterval)
        #expect(later != nil)
    }

    @Test func anIssuedCertificateIsCheckedBeforeItIsKept() throws {
        let key = P256.Signing.PrivateKey()
        let csr = try CertificationRequest.make(for: key, hostname: "h")
        let good = try Self.ca.issueClientCertificate(csrDER: csr, clientID: Self.clientID)
        let accepted = try CertificateRenewal.accept(try good.derBytes, key: key, clientID: Self.clientID, ca: Self.ca.certificate)
        #expect(accepted.certificate == good)

        func refusal(_ der: [UInt8], key: P256.Signing.PrivateKey = key, clientID: String = Self.clientID) -> String? {
            do {
                _ = try CertificateRenewal.accept(der, key: key, clientID: clientID, ca: Self.ca.certificate)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal([0x30, 0x00])?.contains("cannot be read") == true)
        #expect(refusal(try good.derBytes, key: P256.Signing.PrivateKey())?.contains("not for the key") == true)
        #expect(refusal(try good.derBytes, clientID: "jc-other")?.contains("another Jump Client") == true)
        let stranger = try CertificateAuthority.create(commonName: "Renewal Test CA")
        let foreign = try stranger.issueClientCertificate(csrDER: csr, clientID: Self.clientID)
        #expect(refusal(try foreign.derBytes)?.contains("not issued by the appliance") == true)
    }

    /// A crash can stop `replaceIdentity` after any of its steps; each leaves a pair that belongs
    /// together, and the newest whole one wins.
    @Test(arguments: ["nothing written", "key written", "both written", "key renamed", "done"])
    func aReplacementInterruptedAnywhereLeavesAMatchingPair(_ stop: String) throws {
        let files = AgentFiles(root: FileManager.default.temporaryDirectory.appendingPathComponent("jump-identity-\(UUID().uuidString)").path)
        try FileManager.default.createDirectory(at: files.etc, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: files.root) }
        let old = try Self.identity()
        let new = try Self.identity()
        try writeAtomically(Data(old.privateKeyPEM.utf8), to: files.key, mode: 0o600)
        try writeAtomically(Data(try old.certificatePEM.utf8), to: files.certificate, mode: 0o644)
        let pendingKey = files.etc.appendingPathComponent("key.pem.new")
        let pendingCertificate = files.etc.appendingPathComponent("cert.pem.new")

        switch stop {
        case "nothing written":
            break
        case "key written":
            try writeAtomically(Data(new.privateKeyPEM.utf8), to: pendingKey, mode: 0o600)
        case "both written":
            try writeAtomically(Data(new.privateKeyPEM.utf8), to: pendingKey, mode: 0o600)
            try writeAtomically(Data(try new.certificatePEM.utf8), to: pendingCertificate, mode: 0o644)
        case "key renamed":
            try writeAtomically(Data(new.privateKeyPEM.utf8), to: files.key, mode: 0o600)
            try writeAtomically(Data(try new.certificatePEM.utf8), to: pendingCertificate, mode: 0o644)
        default:
            try files.replaceIdentity(new)
        }
        let read = try files.readIdentity()
        let expected = ["nothing written", "key written"].contains(stop) ? old : new
        #expect(read.certificate == expected.certificate)
        #expect(read.privateKey.rawRepresentation == expected.privateKey.rawRepresentation)
        #expect(!FileManager.default.fileExists(atPath: pendingKey.path))
        #expect(!FileManager.default.fileExists(atPath: pendingCertificate.path))
        // Reading again finds the same pair.
        #expect(try files.readIdentity().certificate == expected.certificate)
    }
}
