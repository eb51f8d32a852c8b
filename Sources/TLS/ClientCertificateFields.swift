import CNIOBoringSSL
import SwiftASN1
public import X509

/// The two fields the appliance reads from a client certificate after the TLS handshake has verified
/// it: the subject's common name (the Jump Client id) and the serial number.
///
/// Every agent connection needs them, resumed ones too, so they are read straight from the DER with
/// BoringSSL's bounds-checked `CBS` reader: the TBSCertificate's serial and subject, nothing else. A
/// whole `Certificate` would also decode the validity, the extensions and the public key (about an
/// eighth of the appliance's CPU per handshake), and even swift-asn1's `DER.parse` builds a node for
/// every element of the certificate first (docs/performance.md). BoringSSL has already checked the
/// signature, the chain and the dates, so nothing is lost.
public struct ClientCertificateFields: Equatable, Sendable {
    /// The subject's first common name that swift-certificates reads as text (a UTF8String, a
    /// PrintableString or an IA5String), read as it reads it, so that this agrees with
    /// `Certificate.jumpClientID`; nil when the subject has none.
    public let clientID: String?
    /// The serial number's bytes in big-endian order, in the form `Certificate.SerialNumber` keeps.
    public let serialNumber: Certificate.SerialNumber

    /// The serial number as lowercase hex, the form the store keeps.
    public var serialHex: String { Hex.lowercase(serialNumber.bytes) }

    public init(derEncoded bytes: [UInt8]) throws(PKIError) {
        guard let fields = bytes.withUnsafeBufferPointer(Self.read) else { throw Self.malformed }
        self = fields
    }

    /// The appliance's TLS handler reads BoringSSL's copy of the certificate in place.
    init(der: UnsafeBufferPointer<UInt8>) throws(PKIError) {
        guard let fields = Self.read(der) else { throw Self.malformed }
        self = fields
    }

    private init(clientID: String?, serialNumber: Certificate.SerialNumber) {
        self.clientID = clientID
        self.serialNumber = serialNumber
    }

    private static let malformed = PKIError(.malformed, "the client certificate is not valid DER")
    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]  // 2.5.4.3

    /// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    /// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
    ///                               subject, ... }
    private static func read(_ der: UnsafeBufferPointer<UInt8>) -> Self? {
        var input = CBS()
        CBS_init(&input, der.baseAddress, der.count)
        var certificate = CBS(), tbs = CBS(), serial = CBS(), subject = CBS()
        guard CBS_get_asn1(&input, &certificate, CBS_ASN1_SEQUENCE) == 1, CBS_len(&input) == 0,
              CBS_get_asn1(&certificate, &tbs, CBS_ASN1_SEQUENCE) == 1,
              // The signature algorithm and value: BoringSSL has verified them; only their presence is checked.
              CBS_get_any_asn1(&certificate, nil, nil) == 1, CBS_get_any_asn1(&certificate, nil, nil) == 1,
              CBS_len(&certificate) == 0,
              CBS_get_optional_asn1(&tbs, nil, nil, CBS_ASN1_CONSTRUCTED | CBS_ASN1_CONTEXT_SPECIFIC | 0) == 1,
              CBS_get_asn1(&tbs, &serial, CBS_ASN1_INTEGER) == 1,
              // A positive INTEGER (RFC 5280 4.1.2.2); `SerialNumber` drops DER's leading zero itself.
              CBS_is_unsigned_asn1_integer(&serial) == 1,
              // signature, issuer, validity: skipped.
              CBS_get_any_asn1(&tbs, nil, nil) == 1, CBS_get_any_asn1(&tbs, nil, nil) == 1,
              CBS_get_any_asn1(&tbs, nil, nil) == 1,
              CBS_get_asn1(&tbs, &subject, CBS_ASN1_SEQUENCE) == 1
        else { return nil }
        // Name ::= SEQUENCE OF SET OF SEQUENCE { type OBJECT IDENTIFIER, value ANY }
        var clientID: String?
        while CBS_len(&subject) > 0 {
            var set = CBS()
            guard CBS_get_asn1(&subject, &set, CBS_ASN1_SET) == 1, CBS_len(&set) > 0 else { return nil }
            while CBS_len(&set) > 0 {
                var attribute = CBS(), type = CBS(), value = CBS()
                guard CBS_get_asn1(&set, &attribute, CBS_ASN1_SEQUENCE) == 1,
                      CBS_get_asn1(&attribute, &type, CBS_ASN1_OBJECT) == 1,
                      CBS_get_any_asn1_element(&attribute, &value, nil, nil) == 1, CBS_len(&attribute) == 0
                else { return nil }
                guard clientID == nil, CBS_mem_equal(&type, commonNameOID, commonNameOID.count) == 1 else { continue }
                clientID = text(bytes(value))
            }
        }
        return Self(clientID: clientID, serialNumber: Certificate.SerialNumber(bytes: bytes(serial)))
    }

    private static func bytes(_ cbs: CBS) -> UnsafeBufferPointer<UInt8> {
        var cbs = cbs
        return UnsafeBufferPointer(start: CBS_data(&cbs), count: CBS_len(&cbs))
    }

    /// The attribute's value (the whole DER element) as swift-certificates reads it as text: its own
    /// reading, so that a common name here is the one `Certificate.jumpClientID` gives.
    private static func text(_ element: UnsafeBufferPointer<UInt8>) -> String? {
        guard let value = try? ASN1Any(derEncoded: ArraySlice(element)) else { return nil }
        return String(RelativeDistinguishedName.Attribute.Value(asn1Any: value))
    }
}
