import Crypto
import Foundation
import JumpTLS
import X509

/// Client certificates the CA would not issue (another subject, another serial), built by hand.
enum HandMadeCertificate {
    /// A client certificate for a fresh P-256 key, signed by `ca` (as the CA would, but for the
    /// subject and serial) or, without one, by its own key.
    static func make(
        subject: DistinguishedName,
        serial: Certificate.SerialNumber = .init(),
        signedBy ca: CertificateAuthority? = nil
    ) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3, serialNumber: serial, publicKey: .init(key.publicKey),
            notValidBefore: Date() - 60, notValidAfter: Date() + 3600,
            issuer: ca?.certificate.subject ?? subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: try ca.map { try Certificate.PrivateKey(pemEncoded: $0.privateKeyPEM) } ?? .init(key))
        return TLSIdentity(certificate: certificate, privateKey: key)
    }
}
