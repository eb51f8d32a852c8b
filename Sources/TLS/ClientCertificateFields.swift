import SwiftASN1
public import X509

/// The two fields the appliance reads from a client certificate after the TLS handshake has verified
/// it: the subject's common name (the Jump Client id) and the serial number.
///
/// Every agent connection needs them, so they are read straight from the DER: the TBSCertificate's
/// serial and subject, nothing else. A whole `Certificate` would also decode the validity, the
/// extensions and the public key, and building a P-256 key validates its point; that was about an
/// eighth of the appliance's CPU per handshake (docs/performance.md). BoringSSL has already checked
/// the signature, the chain and the dates, so nothing is lost.
public struct ClientCertificateFields: Equatable, Sendable {
    /// The subject's first common name; nil when the subject has none.
    public let clientID: String?
    /// The serial number's bytes in big-endian order, in the form `Certificate.SerialNumber` keeps.
    public let serialNumber: Certificate.SerialNumber

    /// The serial number as lowercase hex, the form the store keeps.
    public var serialHex: String { Hex.lowercase(serialNumber.bytes) }

    public init(derEncoded bytes: [UInt8]) throws(PKIError) {
        do {
            (clientID, serialNumber) = try DER.sequence(try DER.parse(bytes), identifier: .sequence) { certificate in
                guard let tbs = certificate.next() else { throw ASN1Error.invalidASN1Object(reason: "no TBSCertificate") }
                // The signature algorithm and value: skipped, BoringSSL has verified them.
                while certificate.next() != nil {}
                return try DER.sequence(tbs, identifier: .sequence) { fields in
                    // [0] EXPLICIT Version DEFAULT v1, then the serial.
                    var node = fields.next()
                    if node?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { node = fields.next() }
                    guard let serialNode = node else { throw ASN1Error.invalidASN1Object(reason: "no serial number") }
                    let serial = try ArraySlice<UInt8>(derEncoded: serialNode)
                    // signature, issuer, validity: skipped.
                    for _ in 0..<3 { guard fields.next() != nil else { throw ASN1Error.invalidASN1Object(reason: "short TBSCertificate") } }
                    guard let subjectNode = fields.next() else { throw ASN1Error.invalidASN1Object(reason: "no subject") }
                    let subject = try DistinguishedName(derEncoded: subjectNode)
                    // The public key, unique ids and extensions: not needed here.
                    while fields.next() != nil {}
                    return (Self.commonName(in: subject), Certificate.SerialNumber(bytes: serial))
                }
            }
        } catch {
            throw PKIError(.malformed, "the client certificate is not valid DER: \(error)")
        }
    }

    static func commonName(in subject: DistinguishedName) -> String? {
        for rdn in subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let text = String(attribute.value) { return text }
            }
        }
        return nil
    }
}
