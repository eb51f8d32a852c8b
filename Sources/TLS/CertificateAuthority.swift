public import Crypto
public import FoundationEssentials
public import X509
import SwiftASN1

/// The appliance CA: a P-256 key and a self-signed certificate that sign the appliance's server
/// certificate and every Jump Client's certificate. Agents trust this CA alone for their connection.
public struct CertificateAuthority: Sendable {
    /// How long the CA is valid; agents carry it for their whole life.
    public static let caValidity: TimeInterval = 20 * 365 * 24 * 3600
    /// How long the appliance's server certificate is valid.
    public static let serverValidity: TimeInterval = 2 * 365 * 24 * 3600
    /// How long a Jump Client certificate is valid; the agent renews it before it ends.
    public static let clientValidity: TimeInterval = 365 * 24 * 3600
    /// Certificates are valid from a little before their issue, for clocks slightly behind.
    public static let backdating: TimeInterval = 3600

    public let certificate: Certificate
    private let privateKey: Certificate.PrivateKey

    public init(certificate: Certificate, privateKey: Certificate.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Makes a new CA.
    public static func create(commonName: String, now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Jump Client")
            CommonName(commonName)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now - backdating,
            notValidAfter: now + caValidity,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key)
        )
        return CertificateAuthority(certificate: certificate, privateKey: .init(key))
    }

    /// Reads a CA from its PEM files.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        do {
            self.certificate = try Certificate(pemEncoded: certificatePEM)
            self.privateKey = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw PKIError(.malformed, "the CA certificate or key is not valid PEM: \(error)")
        }
    }

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString } }
    public var privateKeyPEM: String { get throws { try privateKey.serializeAsPEM().pemString } }

    /// The appliance's TLS server certificate, for `key`, naming the given host names and addresses.
    public func issueServerCertificate(
        for key: P256.Signing.PublicKey,
        hostnames: [String],
        ipAddresses: [[UInt8]],
        now: Date = Date()
    ) throws -> Certificate {
        var names: [GeneralName] = hostnames.map { .dnsName($0) }
        names += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key),
            notValidBefore: now - Self.backdating,
            notValidAfter: now + Self.serverValidity,
            issuer: certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("Jump Client")
                CommonName(hostnames.first ?? "jump-server")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier)
            },
            issuerPrivateKey: privateKey
        )
    }

    /// A Jump Client's certificate from its certification request. The subject's common name is the
    /// client id; the extended key usage is client authentication only, so a client certificate can
    /// never pose as the appliance.
    public func issueClientCertificate(
        csrDER: [UInt8],
        clientID: String,
        now: Date = Date(),
        validity: TimeInterval = clientValidity
    ) throws -> Certificate {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(derEncoded: csrDER)
        } catch {
            throw PKIError(.malformed, "the certification request is not valid DER")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw PKIError(.badSignature, "the certification request's signature does not match its key")
        }
        guard P256.Signing.PublicKey(request.publicKey) != nil else {
            throw PKIError(.unsupportedKey, "the certification request's key is not P-256")
        }
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: request.publicKey,
            notValidBefore: now - Self.backdating,
            notValidAfter: now + validity,
            issuer: certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("Jump Client")
                CommonName(clientID)
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier)
            },
            issuerPrivateKey: privateKey
        )
    }

    private var authorityKeyIdentifier: ArraySlice<UInt8>? {
        try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier
    }
}
