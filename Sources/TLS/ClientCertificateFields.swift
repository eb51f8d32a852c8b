import CNIOBoringSSL
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
    /// The subject's first common name written as a UTF8String, PrintableString or IA5String (the
    /// forms `String(RelativeDistinguishedName.Attribute.Value)` reads); nil when the subject has none.
    public let clientID: String?
    /// The serial number's bytes in big-endian order, in the form `Certificate.SerialNumber` keeps.
    public let serialNumber: Certificate.SerialNumber

    /// The serial number as lowercase hex, the form the store keeps.
    public var serialHex: String { Hex.lowercase(serialNumber.bytes) }

    public init(derEncoded bytes: [UInt8]) throws(PKIError) {
        try self.init(bytes.withUnsafeBufferPointer(Self.read))
    }

    /// The appliance's TLS handler reads BoringSSL's copy of the certificate in place.
    init(der: UnsafeBufferPointer<UInt8>) throws(PKIError) {
        try self.init(Self.read(der))
    }

    private init(_ fields: (String?, Certificate.SerialNumber)?) throws(PKIError) {
        guard let fields else { throw PKIError(.malformed, "the client certificate is not valid DER") }
        (clientID, serialNumber) = fields
    }

    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]  // 2.5.4.3

    /// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    /// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
    ///                               subject, ... }
    private static func read(_ der: UnsafeBufferPointer<UInt8>) -> (String?, Certificate.SerialNumber)? {
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
              // signature, issuer, validity: skipped.
              CBS_get_any_asn1(&tbs, nil, nil) == 1, CBS_get_any_asn1(&tbs, nil, nil) == 1,
              CBS_get_any_asn1(&tbs, nil, nil) == 1,
              CBS_get_asn1(&tbs, &subject, CBS_ASN1_SEQUENCE) == 1,
              let serialNumber = serialNumber(serial)
        else { return nil }
        // Name ::= SEQUENCE OF SET OF SEQUENCE { type OBJECT IDENTIFIER, value ANY }
        var clientID: String?
        while CBS_len(&subject) > 0 {
            var set = CBS()
            guard CBS_get_asn1(&subject, &set, CBS_ASN1_SET) == 1, CBS_len(&set) > 0 else { return nil }
            while CBS_len(&set) > 0 {
                var attribute = CBS(), type = CBS(), value = CBS()
                var tag: CBS_ASN1_TAG = 0
                guard CBS_get_asn1(&set, &attribute, CBS_ASN1_SEQUENCE) == 1,
                      CBS_get_asn1(&attribute, &type, CBS_ASN1_OBJECT) == 1,
                      CBS_get_any_asn1(&attribute, &value, &tag) == 1, CBS_len(&attribute) == 0
                else { return nil }
                guard clientID == nil, CBS_mem_equal(&type, commonNameOID, commonNameOID.count) == 1 else { continue }
                clientID = text(value, tag: tag)
            }
        }
        return (clientID, serialNumber)
    }

    /// A positive INTEGER's magnitude; the leading zero DER puts before a high bit is not part of it.
    private static func serialNumber(_ integer: CBS) -> Certificate.SerialNumber? {
        var integer = integer
        var negative: Int32 = 0
        guard CBS_is_valid_asn1_integer(&integer, &negative) == 1, negative == 0 else { return nil }
        var bytes = ArraySlice(UnsafeBufferPointer(start: CBS_data(&integer), count: CBS_len(&integer)))
        if bytes.count > 1, bytes.first == 0 { bytes = bytes.dropFirst() }
        return Certificate.SerialNumber(bytes: bytes)
    }

    /// A UTF8String, or a PrintableString or IA5String (ASCII); nil for the other string types.
    private static func text(_ value: CBS, tag: CBS_ASN1_TAG) -> String? {
        var value = value
        let bytes = UnsafeBufferPointer(start: CBS_data(&value), count: CBS_len(&value))
        switch tag {
        case CBS_ASN1_UTF8STRING: return String(validating: bytes, as: UTF8.self)
        case CBS_ASN1_PRINTABLESTRING, CBS_ASN1_IA5STRING: return String(validating: bytes, as: Unicode.ASCII.self)
        default: return nil
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
