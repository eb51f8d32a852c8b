import Crypto
import Foundation
import JumpTLS
import SwiftASN1
import Testing
import X509

/// The appliance reads a client's id and serial with a narrow DER walk instead of a whole
/// `Certificate`; both must agree on every certificate the CA issues, and bad bytes are an error.
@Suite struct ClientCertificateFieldsTests {
    @Test func agreesWithTheWholeCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        // Random serials: some have the high bit set, whose DER INTEGER carries a leading zero.
        for index in 0..<64 {
            let key = P256.Signing.PrivateKey()
            let certificate = try ca.issueClientCertificate(
                csrDER: CertificationRequest.make(for: key, hostname: "h"), clientID: "jc-\(index)")
            let fields = try ClientCertificateFields(derEncoded: certificate.derBytes)
            #expect(fields.clientID == certificate.jumpClientID)
            #expect(fields.clientID == "jc-\(index)")
            #expect(fields.serialNumber == certificate.serialNumber)
            #expect(fields.serialHex == certificate.serialHex)
        }
    }

    @Test func aCertificateWithoutACommonNameHasNoClientID() throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { OrganizationName("Jump Client") }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date(), notValidAfter: Date() + 60, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: .init(key))
        let fields = try ClientCertificateFields(derEncoded: certificate.derBytes)
        #expect(fields.clientID == nil)
        #expect(fields.serialNumber == certificate.serialNumber)
    }

    @Test func badBytesAreAMalformedCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "CA")
        let der = try ca.certificate.derBytes
        for bad in [[], [0x30, 0x01], Array(der.prefix(40)), [0x02, 0x01, 0x05], Array(der.dropLast())] as [[UInt8]] {
            #expect(throws: PKIError(.malformed, "")) { try ClientCertificateFields(derEncoded: bad) }
        }
        // A TBSCertificate that stops after its serial.
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { certificate in
            try certificate.appendConstructedNode(identifier: .sequence) { tbs in try tbs.serialize(5) }
        }
        #expect(throws: PKIError(.malformed, "")) { try ClientCertificateFields(derEncoded: serializer.serializedBytes) }
    }
}
