// See AgentTLSServerContext.swift for how `CNIOBoringSSL` is reached.
import CNIOBoringSSL
import Crypto
import JumpProtocol

/// What the two ends' BoringSSL settings share: ``AgentTLSServerContext`` and
/// ``AgentTLSClientContext``.
enum TLSContextParts {
    /// `jump/1` in ALPN's wire format: a length byte, then the name.
    static let jumpProtocolList = [UInt8(ProtocolVersion.alpn.utf8.count)] + Array(ProtocolVersion.alpn.utf8)

    /// A new `SSL_CTX` in BoringSSL's certificate-buffer mode, and an empty trust store: the caller
    /// frees both.
    static func makeContext() throws -> (context: OpaquePointer, trustStore: OpaquePointer) {
        guard let context = SSL_CTX_new(TLS_with_buffers_method()) else {
            throw AgentTLSError.configuration("BoringSSL could not make a TLS context")
        }
        guard let trustStore = X509_STORE_new() else {
            SSL_CTX_free(context)
            throw AgentTLSError.configuration("BoringSSL could not make a trust store")
        }
        return (context, trustStore)
    }

    /// The key exchanges (TLS 1.3 groups) an enrolled agent offers: the hybrid of X25519 and
    /// ML-KEM-768 alone, so that none of its connections, full or resumed, has only a classical
    /// key exchange that a future quantum computer could open from a recording. An appliance that
    /// offers no hybrid fails the handshake. Named here rather than left to BoringSSL's default
    /// list, which also has X25519 alone and the NIST curves, and could change with the library.
    static let agentKeyExchanges = [UInt16(SSL_GROUP_X25519_MLKEM768)]

    /// The key exchanges the appliance's agent listener accepts, in order: the hybrid, which every
    /// agent offers (enrolling ones with swift-nio-ssl's defaults, which list it first), then X25519
    /// alone, so that a diagnostic client without ML-KEM (`openssl s_client` on Debian 12) still
    /// reaches the certificate and ALPN checks. The client's order decides between the two (BoringSSL
    /// servers follow it): one that lists the hybrid first, as BoringSSL's default list does, gets it.
    static let applianceKeyExchanges = [UInt16(SSL_GROUP_X25519_MLKEM768), UInt16(SSL_GROUP_X25519)]

    static func offer(_ keyExchanges: [UInt16], in context: OpaquePointer) throws {
        let set = keyExchanges.withUnsafeBufferPointer { SSL_CTX_set1_group_ids(context, $0.baseAddress, $0.count) }
        guard set == 1 else { throw AgentTLSError.configuration("the key exchanges could not be set: \(AgentTLSError.drainQueue())") }
    }

    static func onlyTLS13(_ context: OpaquePointer) throws {
        guard SSL_CTX_set_min_proto_version(context, UInt16(TLS1_3_VERSION)) == 1,
              SSL_CTX_set_max_proto_version(context, UInt16(TLS1_3_VERSION)) == 1
        else { throw AgentTLSError.configuration("TLS 1.3 could not be selected") }
    }

    /// Makes `ca` the trust store's root.
    static func trust(_ ca: OpaquePointer, in store: OpaquePointer) throws {
        guard X509_STORE_add_cert(store, ca) == 1 else {
            throw AgentTLSError.configuration("the CA certificate could not be trusted: \(AgentTLSError.drainQueue())")
        }
    }

    /// Presents `chain` (the identity's certificate first, as DER) with the identity's key.
    static func install(_ identity: TLSIdentity, presenting chain: [[UInt8]], in context: OpaquePointer, owner: String) throws {
        let buffers = chain.map { bytes in bytes.withUnsafeBufferPointer { CRYPTO_BUFFER_new($0.baseAddress, $0.count, nil) } }
        defer { buffers.forEach { CRYPTO_BUFFER_free($0) } }
        guard !buffers.contains(nil) else { throw AgentTLSError.configuration("BoringSSL could not hold the certificates") }
        let key = try decode(
            Array(identity.privateKey.derRepresentation),
            with: d2i_AutoPrivateKey,
            orThrow: "\(owner) private key could not be read"
        )
        defer { EVP_PKEY_free(key) }
        let installed = buffers.withUnsafeBufferPointer { buffers in
            SSL_CTX_set_chain_and_key(context, buffers.baseAddress, buffers.count, key, nil)
        }
        guard installed == 1 else {
            throw AgentTLSError.configuration("\(owner) certificate and key do not match: \(AgentTLSError.drainQueue())")
        }
    }

    /// The peer's leaf (as BoringSSL received it, DER in certificate-buffer mode) must chain to the
    /// trust store's CA, be within its validity and allow `purpose` (`ssl_client` or `ssl_server`),
    /// as BoringSSL's own verification would check it. The parsed copy lives only for this call.
    /// Returns the leaf's end in seconds since 1970, or `nil` when the check fails, with `alert` set
    /// to the alert to send.
    static func verifyPeer(
        _ ssl: OpaquePointer,
        against trustStore: OpaquePointer,
        purpose: String,
        alert: UnsafeMutablePointer<UInt8>
    ) -> Int64? {
        alert.pointee = UInt8(SSL_AD_BAD_CERTIFICATE)
        guard let certificates = SSL_get0_peer_certificates(ssl),
              sk_CRYPTO_BUFFER_num(certificates) > 0,
              let leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certificates, 0))
        else { return nil }
        defer { X509_free(leaf) }
        guard let verification = X509_STORE_CTX_new() else { return nil }
        defer { X509_STORE_CTX_free(verification) }
        guard X509_STORE_CTX_init(verification, trustStore, leaf, nil) == 1,
              X509_STORE_CTX_set_default(verification, purpose) == 1
        else { return nil }
        guard X509_verify_cert(verification) == 1 else {
            switch X509_STORE_CTX_get_error(verification) {
            case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
                alert.pointee = UInt8(SSL_AD_CERTIFICATE_EXPIRED)
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
                 X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
                alert.pointee = UInt8(SSL_AD_UNKNOWN_CA)
            default:
                break
            }
            ERR_clear_error()
            return nil
        }
        var notAfter: Int64 = 0
        guard ASN1_TIME_to_posix(X509_get0_notAfter(leaf), &notAfter) == 1 else {
            ERR_clear_error()
            return nil
        }
        return notAfter
    }

    /// Decodes DER with one of BoringSSL's `d2i_` functions.
    static func decode(
        _ der: [UInt8],
        with d2i: (UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, Int) -> OpaquePointer?,
        orThrow failure: String
    ) throws -> OpaquePointer {
        let decoded = der.withUnsafeBufferPointer { bytes -> OpaquePointer? in
            var cursor = bytes.baseAddress
            return d2i(nil, &cursor, bytes.count)
        }
        guard let decoded else { throw AgentTLSError.configuration(failure) }
        return decoded
    }
}
