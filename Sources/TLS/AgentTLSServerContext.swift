// BoringSSL as swift-nio-ssl builds and links it. `CNIOBoringSSL` is a target of the swift-nio-ssl
// package, not one of its products: it is importable because the `NIOSSL` product depends on it, and
// the project pins swift-nio-ssl's version. See AgentTLSHandler.swift for why the appliance
// drives BoringSSL itself on its agent listener.
import CNIOBoringSSL
import Crypto
import JumpProtocol
public import X509

/// The appliance's TLS settings for its agent listener, made once and shared by every connection and
/// event loop (BoringSSL's `SSL_CTX` is safe to share once configured):
/// - TLS 1.3 only, ALPN `jump/1` (a client offering other protocols fails the handshake; one that
///   offers none is closed by the ``AgentTLSHandler`` once the handshake finishes);
/// - key exchange X25519MLKEM768, which agents offer, or X25519 for a client without ML-KEM
///   (``TLSContextParts/applianceKeyExchanges``); a resumption makes the same key exchange as a
///   full handshake;
/// - the chain presented is the appliance's certificate and the appliance CA: an enrolled agent
///   ignores the extra certificate, and a support agent, which has no CA file, finds the CA its
///   support code pins in it (``SupportServerTrust``);
/// - a client certificate is asked for (the CA's name is sent) but not required; when presented it
///   must chain to the appliance CA and be valid for client authentication, or the handshake fails;
/// - resumption by session tickets (TLS 1.3's PSK with a fresh (EC)DHE key exchange, so forward
///   secrecy holds; no early data), one ticket per connection, so that an agent reconnecting after a
///   network failure skips the certificates and their signatures. A resumed session carries the
///   client certificate the full handshake verified, so the appliance checks its serial at Hello as
///   for any connection; the session cannot outlive ``resumptionLifetime`` since that full
///   handshake, nor the certificate's own end (``verify(_:alert:)`` bounds it). The ticket keys come
///   from ``SessionTicketKeys`` when given (the appliance's, which survive a restart), else they are
///   BoringSSL's, in memory, rotated every two days;
/// - a client's Certificate message of at most 16 KiB.
///
/// It runs BoringSSL in its certificate-buffer mode: a connection keeps the client's certificate as
/// its DER bytes (about 0.5 KiB) instead of a parsed `X509` with its names and extensions (about
/// 2 KiB). The certificate is parsed only while it is verified, in ``verify(_:alert:)``.
public final class AgentTLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    /// The appliance CA, the only trust root for client certificates.
    private let trustStore: OpaquePointer

    /// The longest a session may be resumed after the full handshake that verified the client's
    /// certificate chain; after it the agent makes a full handshake again.
    public static let resumptionLifetime: UInt32 = 24 * 60 * 60

    /// Opens and seals tickets, if given; BoringSSL's own in-memory keys otherwise.
    private let ticketKeys: SessionTicketKeys?

    public init(identity: TLSIdentity, clientCA: Certificate, ticketKeys: SessionTicketKeys? = nil) throws {
        let (context, trustStore) = try TLSContextParts.makeContext()
        self.context = context
        self.trustStore = trustStore
        self.ticketKeys = ticketKeys

        let caDER = try clientCA.derBytes
        let ca = try TLSContextParts.decode(caDER, with: d2i_X509, orThrow: "the CA certificate could not be parsed")
        defer { X509_free(ca) }
        try TLSContextParts.trust(ca, in: trustStore)
        try TLSContextParts.onlyTLS13(context)
        try TLSContextParts.offer(TLSContextParts.applianceKeyExchanges, in: context)
        try TLSContextParts.install(identity, presenting: [try identity.certificate.derBytes, caDER], in: context, owner: "the appliance's")

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
            guard let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), AgentTLSServerContext.contextIndex) else {
                return ssl_verify_invalid
            }
            return Unmanaged<AgentTLSServerContext>.fromOpaque(raw).takeUnretainedValue().verify(ssl, alert: alert)
        }
        SSL_CTX_set_alpn_select_cb(context, { _, selected, selectedLength, offered, offeredLength, _ in
            AgentTLSServerContext.selectJumpProtocol(selected, selectedLength, offered, offeredLength)
        }, nil)
        // Stateless tickets only (TLS 1.3 resumes no other way here): no server-side session cache.
        // BoringSSL sends the ticket with the appliance's first write, the Welcome. A session is
        // bound to the CA that verified its client: after the CA is replaced, a ticket sealed
        // before (the ticket keys stay) gives a full handshake, which checks against the new one.
        let caDigest = Array(SHA256.hash(data: caDER))
        guard SSL_CTX_set_session_id_context(context, caDigest, caDigest.count) == 1 else {
            throw AgentTLSError.configuration("the session context could not be set")
        }
        SSL_CTX_set_num_tickets(context, 1)
        SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF)
        SSL_CTX_set_session_psk_dhe_timeout(context, Self.resumptionLifetime)
        if ticketKeys != nil {
            SSL_CTX_set_tlsext_ticket_key_cb(context) { ssl, name, iv, cipher, mac, encrypt in
                guard let ssl, let name, let iv, let cipher, let mac,
                      let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), AgentTLSServerContext.contextIndex),
                      let keys = Unmanaged<AgentTLSServerContext>.fromOpaque(raw).takeUnretainedValue().ticketKeys
                else { return -1 }
                return encrypt == 1
                    ? keys.seal(name: name, iv: iv, cipher: cipher, mac: mac)
                    : keys.open(name: name, iv: iv, cipher: cipher, mac: mac)
            }
        }
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
    /// (`ssl_client` purpose). Then the session the handshake makes, which a ticket may resume, is
    /// bounded by ``resumptionLifetime`` and by the certificate's end: a resumption skips this check,
    /// so it must not outlive what the check found.
    private func verify(_ ssl: OpaquePointer, alert: UnsafeMutablePointer<UInt8>) -> ssl_verify_result_t {
        guard let notAfter = TLSContextParts.verifyPeer(ssl, against: trustStore, purpose: "ssl_client", alert: alert) else {
            return ssl_verify_invalid
        }
        // During the handshake, the session it is making.
        guard let session = SSL_get_session(ssl) else { return ssl_verify_invalid }
        let left = max(0, notAfter - Int64(time(nil)))
        SSL_SESSION_set_timeout(session, UInt32(min(Int64(Self.resumptionLifetime), left)))
        return ssl_verify_ok
    }

    /// ALPN: `jump/1` when the client offers it, chosen by BoringSSL's own list matching
    /// (`SSL_select_next_proto`, which points into the client's list); a client offering only other
    /// protocols fails the handshake with the `no_application_protocol` alert (RFC 7301). A client
    /// that offers none finishes it, and the ``AgentTLSHandler`` closes the connection.
    private static func selectJumpProtocol(
        _ selected: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
        _ selectedLength: UnsafeMutablePointer<UInt8>?,
        _ offered: UnsafePointer<UInt8>?,
        _ offeredLength: UInt32
    ) -> Int32 {
        var chosen: UnsafeMutablePointer<UInt8>?
        var length: UInt8 = 0
        let outcome = TLSContextParts.jumpProtocolList.withUnsafeBufferPointer {
            SSL_select_next_proto(&chosen, &length, offered, offeredLength, $0.baseAddress, UInt32($0.count))
        }
        guard outcome == OPENSSL_NPN_NEGOTIATED, let chosen else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        selected?.pointee = UnsafePointer(chosen)
        selectedLength?.pointee = length
        return SSL_TLSEXT_ERR_OK
    }
}
