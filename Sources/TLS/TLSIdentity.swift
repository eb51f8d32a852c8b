public import Crypto
import FoundationEssentials
public import X509
import SwiftASN1

/// A certificate and its P-256 key: the appliance's server identity or a Jump Client's identity.
public struct TLSIdentity: @unchecked Sendable {
    // P256.Signing.PrivateKey is an immutable value; swift-crypto does not mark it Sendable on Linux.
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Reads an identity from PEM text.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        do {
            self.certificate = try Certificate(pemEncoded: certificatePEM)
            self.privateKey = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw PKIError(.malformed, "the certificate or key is not valid PEM: \(error)")
        }
        guard P256.Signing.PublicKey(certificate.publicKey)?.rawRepresentation == privateKey.publicKey.rawRepresentation
        else {
            throw PKIError(.malformed, "the certificate does not belong to the key")
        }
    }

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString } }
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

/// Certification requests, made by an agent for its own key.
public enum CertificationRequest {
    /// A DER PKCS #10 request for `key`. The subject is informative only: the appliance names the
    /// client in the certificate it issues.
    public static func make(for key: P256.Signing.PrivateKey, hostname: String) throws -> [UInt8] {
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(hostname.isEmpty ? "jump-agent" : hostname) },
            privateKey: .init(key),
            attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }
}

extension Certificate {
    /// Reads a PEM certificate.
    public init(pemText: String) throws {
        do {
            try self.init(pemEncoded: pemText)
        } catch {
            throw PKIError(.malformed, "not a PEM certificate")
        }
    }

    /// The PEM text.
    public var pemText: String {
        get throws { try serializeAsPEM().pemString }
    }

    /// Reads a DER certificate.
    public init(derBytes: [UInt8]) throws {
        do {
            try self.init(derEncoded: derBytes)
        } catch {
            throw PKIError(.malformed, "not a DER certificate")
        }
    }

    /// The DER bytes.
    public var derBytes: [UInt8] {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self)
            return serializer.serializedBytes
        }
    }

    /// The Jump Client id a client certificate names (its subject's common name).
    public var jumpClientID: String? {
        for rdn in subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let text = String(attribute.value) { return text }
            }
        }
        return nil
    }

    /// The serial number as lowercase hex, the form the store keeps.
    public var serialHex: String {
        Hex.lowercase(serialNumber.bytes)
    }

    /// SHA-256 of the DER bytes as lowercase hex: how installers pin the appliance CA.
    public var sha256Fingerprint: String {
        get throws { Hex.lowercase(SHA256.hash(data: try derBytes)) }
    }
}
