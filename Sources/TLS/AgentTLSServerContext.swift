// BoringSSL as swift-nio-ssl builds and links it. `CNIOBoringSSL` is a target of the swift-nio-ssl
// package, not one of its products: it is importable because the `NIOSSL` product depends on it, and
// the project pins swift-nio-ssl's version. See AgentTLSServerHandler.swift for why the appliance
// drives BoringSSL itself on its agent listener.
import CNIOBoringSSL
import Crypto
import JumpProtocol
public import X509

/// The appliance's TLS settings for its agent listener, made once and shared by every connection and
/// event loop (BoringSSL's `SSL_CTX` is safe to share once configured):
/// - TLS 1.3 only, ALPN `jump/1` (a client offering other protocols fails the handshake; one that
///   offers none is closed by the ``TLSPeerAuthenticator``);
/// - the chain presented is the appliance's certificate and the appliance CA: an enrolled agent
///   ignores the extra certificate, and a support agent, which has no CA file, finds the CA its
///   support code pins in it (``SupportServerTrust``);
/// - a client certificate is asked for (the CA's name is sent) but not required; when presented it
///   must chain to the appliance CA and be valid for client authentication, or the handshake fails;
/// - no session tickets and no session cache: agents keep one connection for hours and nothing could
///   resume a session anyway;
/// - a client's Certificate message of at most 16 KiB.
///
/// It runs BoringSSL in its certificate-buffer mode: a connection keeps the client's certificate as
/// its DER bytes (about 0.5 KiB) instead of a parsed `X509` with its names and extensions (about
/// 2 KiB). The certificate is parsed only while it is verified, in ``verify(_:alert:)``.
public final class AgentTLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    /// The appliance CA, the only trust root for client certificates.
    private let trustStore: OpaquePointer

    public init(identity: TLSIdentity, clientCA: Certificate) throws {
        guard let context = SSL_CTX_new(TLS_with_buffers_method()) else {
            throw AgentTLSError.configuration("BoringSSL could not make a TLS context")
        }
        guard let trustStore = X509_STORE_new() else {
            SSL_CTX_free(context)
            throw AgentTLSError.configuration("BoringSSL could not make a trust store")
        }
        self.context = context
        self.trustStore = trustStore

        let leafDER = try identity.certificate.derBytes
        let caDER = try clientCA.derBytes
        let ca = try Self.decode(caDER, with: d2i_X509, orThrow: "the CA certificate could not be parsed")
        defer { X509_free(ca) }
        guard X509_STORE_add_cert(trustStore, ca) == 1 else {
            throw AgentTLSError.configuration("the CA certificate could not be trusted: \(AgentTLSError.drainQueue())")
        }

        guard SSL_CTX_set_min_proto_version(context, UInt16(TLS1_3_VERSION)) == 1,
              SSL_CTX_set_max_proto_version(context, UInt16(TLS1_3_VERSION)) == 1
        else { throw AgentTLSError.configuration("TLS 1.3 could not be selected") }

        let chain = [Self.buffer(leafDER), Self.buffer(caDER)]
        defer { chain.forEach { CRYPTO_BUFFER_free($0) } }
        guard !chain.contains(nil) else { throw AgentTLSError.configuration("BoringSSL could not hold the certificates") }
        let key = try Self.decode(
            Array(identity.privateKey.derRepresentation),
            with: d2i_AutoPrivateKey,
            orThrow: "the appliance's private key could not be read"
        )
        defer { EVP_PKEY_free(key) }
        let installed = chain.withUnsafeBufferPointer { chain in
            SSL_CTX_set_chain_and_key(context, chain.baseAddress, chain.count, key, nil)
        }
        guard installed == 1 else {
            throw AgentTLSError.configuration("the appliance's certificate and key do not match: \(AgentTLSError.drainQueue())")
        }

        // The CA's name in the CertificateRequest, so that a client with several certificates knows
        // which to present (swift-nio-ssl's `sendCANameList`).
        var nameDER: UnsafeMutablePointer<UInt8>?
        let nameLength = i2d_X509_NAME(X509_get_subject_name(ca), &nameDER)
        defer { OPENSSL_free(nameDER) }
        guard nameLength > 0, let nameDER, let name = CRYPTO_BUFFER_new(nameDER, Int(nameLength), nil) else {
            throw AgentTLSError.configuration("the CA's name could not be encoded")
        }
        guard let names = sk_CRYPTO_BUFFER_new_null(), sk_CRYPTO_BUFFER_push(names, name) != 0 else {
            CRYPTO_BUFFER_free(name)
            throw AgentTLSError.configuration("BoringSSL could not hold the CA's name")
        }
        SSL_CTX_set0_client_CAs(context, names)

        SSL_CTX_set_custom_verify(context, SSL_VERIFY_PEER) { ssl, alert in
            guard let ssl, let alert else { return ssl_verify_invalid }
            return AgentTLSServerContext.verify(ssl, alert: alert)
        }
        SSL_CTX_set_alpn_select_cb(context, { _, selected, selectedLength, offered, offeredLength, _ in
            AgentTLSServerContext.selectJumpProtocol(selected, selectedLength, offered, offeredLength)
        }, nil)
        // No resumption, by construction: a resumed session would not pass through `verify`.
        SSL_CTX_set_num_tickets(context, 0)
        _ = SSL_CTX_set_options(context, UInt32(SSL_OP_NO_TICKET))
        SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF)
        // A client sends one certificate of about 0.5 KiB; BoringSSL buffers the whole Certificate
        // message before `verify` sees it, up to 100 KiB by default, and keeps every certificate in
        // the session. Bounded here, before any check.
        SSL_CTX_set_max_cert_list(context, Self.maximumCertificateMessage)
        guard SSL_CTX_set_ex_data(context, Self.contextIndex, Unmanaged.passUnretained(self).toOpaque()) == 1 else {
            throw AgentTLSError.configuration("BoringSSL could not hold the context")
        }
    }

    deinit {
        X509_STORE_free(trustStore)
        SSL_CTX_free(context)
    }

    /// The largest Certificate message a client may send: BoringSSL's floor for any handshake
    /// message (16 KiB; a smaller setting has no effect), against its default of 100 KiB.
    static let maximumCertificateMessage = 16 * 1024

    /// Where a context finds itself from its `SSL_CTX` in BoringSSL's callbacks. Every handler holds
    /// its context, so the pointer outlives every connection made from it.
    private static let contextIndex: Int32 = SSL_CTX_get_ex_new_index(0, nil, nil, nil, nil)

    /// The custom verification: the client's leaf must chain to the appliance CA, be within its
    /// validity and allow client authentication, as BoringSSL's own verification would check it
    /// (`ssl_client` purpose). The parsed copy lives only for this call.
    private static func verify(_ ssl: OpaquePointer, alert: UnsafeMutablePointer<UInt8>) -> ssl_verify_result_t {
        alert.pointee = UInt8(SSL_AD_BAD_CERTIFICATE)
        guard let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), contextIndex),
              let certificates = SSL_get0_peer_certificates(ssl),
              sk_CRYPTO_BUFFER_num(certificates) > 0,
              let leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certificates, 0))
        else { return ssl_verify_invalid }
        defer { X509_free(leaf) }
        let this = Unmanaged<AgentTLSServerContext>.fromOpaque(raw).takeUnretainedValue()
        guard let verification = X509_STORE_CTX_new() else { return ssl_verify_invalid }
        defer { X509_STORE_CTX_free(verification) }
        guard X509_STORE_CTX_init(verification, this.trustStore, leaf, nil) == 1,
              X509_STORE_CTX_set_default(verification, "ssl_client") == 1
        else { return ssl_verify_invalid }
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
            return ssl_verify_invalid
        }
        return ssl_verify_ok
    }

    /// ALPN: `jump/1` when the client offers it, chosen by BoringSSL's own list matching
    /// (`SSL_select_next_proto`, which points into the client's list); a client offering only other
    /// protocols fails the handshake with the `no_application_protocol` alert (RFC 7301). A client
    /// that offers none finishes it, and the ``TLSPeerAuthenticator`` closes the connection.
    private static func selectJumpProtocol(
        _ selected: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
        _ selectedLength: UnsafeMutablePointer<UInt8>?,
        _ offered: UnsafePointer<UInt8>?,
        _ offeredLength: UInt32
    ) -> Int32 {
        var chosen: UnsafeMutablePointer<UInt8>?
        var length: UInt8 = 0
        let outcome = jumpProtocolList.withUnsafeBufferPointer {
            SSL_select_next_proto(&chosen, &length, offered, offeredLength, $0.baseAddress, UInt32($0.count))
        }
        guard outcome == OPENSSL_NPN_NEGOTIATED, let chosen else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        selected?.pointee = UnsafePointer(chosen)
        selectedLength?.pointee = length
        return SSL_TLSEXT_ERR_OK
    }

    /// `jump/1` in ALPN's wire format: a length byte, then the name.
    private static let jumpProtocolList = [UInt8(ProtocolVersion.alpn.utf8.count)] + Array(ProtocolVersion.alpn.utf8)

    private static func buffer(_ bytes: [UInt8]) -> OpaquePointer? {
        bytes.withUnsafeBufferPointer { CRYPTO_BUFFER_new($0.baseAddress, $0.count, nil) }
    }

    /// Decodes DER with one of BoringSSL's `d2i_` functions.
    private static func decode(
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
