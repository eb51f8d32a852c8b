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

    private func selfSigned(_ subject: DistinguishedName, serial: Certificate.SerialNumber = .init()) throws -> Certificate {
        try HandMadeCertificate.make(subject: subject, serial: serial).certificate
    }

    /// `der` with the last occurrence of `text` (the subject's, after the issuer's) replaced by
    /// `bytes` of the same length: values that swift-certificates will not write (the signature no
    /// longer matches; nothing here checks it).
    private func patched(_ der: [UInt8], _ text: String, with bytes: [UInt8]) throws -> [UInt8] {
        let target = Array(text.utf8)
        let start = try #require((0...(der.count - target.count)).last { Array(der[$0..<$0 + target.count]) == target })
        var der = der
        der.replaceSubrange(start..<start + target.count, with: bytes)
        return der
    }

    @Test func aCertificateWithoutACommonNameHasNoClientID() throws {
        let certificate = try selfSigned(try DistinguishedName { OrganizationName("Jump Client") })
        let fields = try ClientCertificateFields(derEncoded: certificate.derBytes)
        #expect(fields.clientID == nil)
        #expect(fields.serialNumber == certificate.serialNumber)
    }

    /// The first common name in a string form swift-certificates reads is the id, as
    /// `Certificate.jumpClientID` says; one in another form (here a BMPString) is passed over.
    /// (Built in memory; the next test reads certificates swift-certificates could not have written.)
    @Test func theFirstReadableCommonNameIsTheClientID() throws {
        var bmp = DER.Serializer()
        try bmp.serialize(ASN1BMPString("jc-bmp"))
        let bmpName = RelativeDistinguishedName.Attribute(type: .RDNAttributeType.commonName, value: try ASN1Any(derEncoded: bmp.serializedBytes))
        let forms: [(RelativeDistinguishedName.Attribute, String?)] = [
            (.init(type: .RDNAttributeType.commonName, utf8String: "jc-ütf8"), "jc-ütf8"),
            (try .init(type: .RDNAttributeType.commonName, printableString: "jc-printable"), "jc-printable"),
            (try .init(type: .RDNAttributeType.commonName, ia5String: "jc-ia5"), "jc-ia5"),
            (bmpName, "jc-second"),
        ]
        for (first, expected) in forms {
            let subject = DistinguishedName([
                RelativeDistinguishedName([.init(type: .RDNAttributeType.organizationName, utf8String: "Jump Client")]),
                RelativeDistinguishedName([first]),
                RelativeDistinguishedName([.init(type: .RDNAttributeType.commonName, utf8String: "jc-second")]),
            ])
            let certificate = try selfSigned(subject)
            let fields = try ClientCertificateFields(derEncoded: certificate.derBytes)
            #expect(fields.clientID == expected)
            #expect(fields.clientID == certificate.jumpClientID)
        }
    }

    /// Read back from DER the way swift-certificates reads it: a UTF8String with an invalid sequence
    /// is taken with the sequence repaired; a PrintableString with a character outside its alphabet
    /// is not text, so the next common name is the id.
    @Test func commonNamesAreReadAsSwiftCertificatesReadsThem() throws {
        let second = RelativeDistinguishedName([.init(type: .RDNAttributeType.commonName, utf8String: "jc-second")])
        let utf8 = try selfSigned(DistinguishedName([
            RelativeDistinguishedName([.init(type: .RDNAttributeType.commonName, utf8String: "jc-XY")]), second,
        ]))
        let printable = try selfSigned(DistinguishedName([
            RelativeDistinguishedName([try .init(type: .RDNAttributeType.commonName, printableString: "jc-XY")]), second,
        ]))
        let cases: [([UInt8], String)] = [
            (try patched(utf8.derBytes, "jc-XY", with: Array("jc-".utf8) + [0xff, 0xfe]), "jc-\u{FFFD}\u{FFFD}"),
            (try patched(printable.derBytes, "jc-XY", with: Array("jc-_Y".utf8)), "jc-second"),
            (try patched(printable.derBytes, "jc-XY", with: Array("jc-:Y".utf8)), "jc-:Y"),
        ]
        for (der, expected) in cases {
            #expect(try ClientCertificateFields(derEncoded: der).clientID == expected)
            #expect(try Certificate(derEncoded: der).jumpClientID == expected)
        }
    }

    /// Serials of one byte, with a high bit (DER writes a leading zero before it) and of the longest
    /// length RFC 5280 allows read as swift-certificates reads them.
    @Test func serialsOfEveryShape() throws {
        for bytes: [UInt8] in [[0x01], [0x7f], [0x80], [0x01, 0x00], [0xff, 0x01], Array(repeating: 0xab, count: 20)] {
            let certificate = try selfSigned(try DistinguishedName { CommonName("jc") }, serial: .init(bytes: bytes))
            let fields = try ClientCertificateFields(derEncoded: certificate.derBytes)
            #expect(fields.serialNumber == certificate.serialNumber)
            #expect(fields.serialHex == certificate.serialHex)
        }
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
        // Bytes after the certificate.
        #expect(throws: PKIError(.malformed, "")) { try ClientCertificateFields(derEncoded: der + [0x05, 0x00]) }
    }

    /// A negative serial (not DER for a certificate's, RFC 5280 4.1.2.2) and a non-minimal INTEGER
    /// are malformed, as is an attribute with bytes after its value.
    @Test func malformedSerialsAndNamesAreRefused() throws {
        func certificate(serial: [UInt8], valueFollowedByMore: Bool = false) throws -> [UInt8] {
            var serializer = DER.Serializer()
            try serializer.appendConstructedNode(identifier: .sequence) { certificate in
                try certificate.appendConstructedNode(identifier: .sequence) { tbs in
                    tbs.appendPrimitiveNode(identifier: .integer) { $0.append(contentsOf: serial) }
                    for _ in 0..<3 { try tbs.serialize(ASN1Null()) }  // signature, issuer, validity
                    try tbs.appendConstructedNode(identifier: .sequence) { name in
                        try name.appendConstructedNode(identifier: .set) { rdn in
                            try rdn.appendConstructedNode(identifier: .sequence) { attribute in
                                try attribute.serialize(ASN1ObjectIdentifier.RDNAttributeType.commonName)
                                try attribute.serialize(ASN1UTF8String("jc"))
                                if valueFollowedByMore { try attribute.serialize(ASN1Null()) }
                            }
                        }
                    }
                }
                try certificate.serialize(ASN1Null())
                try certificate.serialize(ASN1Null())
            }
            return serializer.serializedBytes
        }
        // The hand-made shape itself is read; DER's leading zero before a high bit is not part of the number.
        let fields = try ClientCertificateFields(derEncoded: try certificate(serial: [0x05]))
        #expect(fields.clientID == "jc")
        #expect(fields.serialHex == "05")
        #expect(try ClientCertificateFields(derEncoded: try certificate(serial: [0x00, 0x85])).serialHex == "85")
        for bad in [try certificate(serial: [0x85]), try certificate(serial: [0x00, 0x05]), try certificate(serial: []),
                    try certificate(serial: [0x05], valueFollowedByMore: true)] {
            #expect(throws: PKIError(.malformed, "")) { try ClientCertificateFields(derEncoded: bad) }
        }
    }
}
