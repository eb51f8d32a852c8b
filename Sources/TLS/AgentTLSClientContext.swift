// See AgentTLSServerContext.swift for how `CNIOBoringSSL` is reached.
import CNIOBoringSSL
import Synchronization
public import X509

/// An enrolled agent's TLS settings for its connections to the appliance, with the session the
/// appliance's last ticket lets it resume. Made from the agent's certificate and key; a renewed
/// certificate makes a new context (and so a full handshake, which presents it).
/// - TLS 1.3 only, ALPN `jump/1`, no server name sent;
/// - the appliance's certificate must chain to the appliance CA, be within its validity and allow
///   server authentication (`ssl_server` purpose); its name is not checked, as before: the CA is the
///   appliance's own and signs nothing else that could serve;
/// - the agent's certificate and key as its client identity;
/// - resumption: the latest ticket's session is kept (in memory only: a restarted agent makes a
///   full handshake) and offered by the next connection. BoringSSL offers it only within the
///   lifetime the appliance gave it, and resumes only with a fresh (EC)DHE key exchange, so every
///   connection has its own keys. No early data.
///
/// BoringSSL runs in its certificate-buffer mode, as on the appliance.
public final class AgentTLSClientContext: @unchecked Sendable {
    let context: OpaquePointer
    /// The appliance CA, the only trust root for the appliance's certificate.
    private let trustStore: OpaquePointer
    /// The session to offer next (one reference held), if any.
    private let session = Mutex(KeptSession())

    /// An `SSL_SESSION` is immutable once BoringSSL hands it out, and reference-counted atomically.
    private struct KeptSession: @unchecked Sendable {
        var pointer: OpaquePointer?
    }

    /// `resumption: false` makes every connection a full handshake (the load generator's way to
    /// measure one): the session of the appliance's ticket is not kept.
    public init(identity: TLSIdentity, trusting ca: Certificate, resumption: Bool = true) throws {
        let (context, trustStore) = try TLSContextParts.makeContext()
        self.context = context
        self.trustStore = trustStore

        let ca = try TLSContextParts.decode(try ca.derBytes, with: d2i_X509, orThrow: "the CA certificate could not be parsed")
        defer { X509_free(ca) }
        try TLSContextParts.trust(ca, in: trustStore)
        try TLSContextParts.onlyTLS13(context)
        try TLSContextParts.install(identity, presenting: [try identity.certificate.derBytes], in: context, owner: "the agent's")
        let offered = TLSContextParts.jumpProtocolList.withUnsafeBufferPointer {
            SSL_CTX_set_alpn_protos(context, $0.baseAddress, $0.count)
        }
        guard offered == 0 else { throw AgentTLSError.configuration("ALPN could not be set") }

        SSL_CTX_set_custom_verify(context, SSL_VERIFY_PEER) { ssl, alert in
            guard let ssl, let alert,
                  let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), AgentTLSClientContext.contextIndex)
            else { return ssl_verify_invalid }
            let this = Unmanaged<AgentTLSClientContext>.fromOpaque(raw).takeUnretainedValue()
            var notAfter: Int64 = 0
            return TLSContextParts.verifyPeer(ssl, against: this.trustStore, purpose: "ssl_server", alert: alert, notAfter: &notAfter)
        }
        if resumption {
            // Sessions come to the callback below, not to a cache of BoringSSL's.
            SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL)
            SSL_CTX_sess_set_new_cb(context) { ssl, session in
                guard let ssl, let session,
                      let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), AgentTLSClientContext.contextIndex)
                else { return 0 }
                Unmanaged<AgentTLSClientContext>.fromOpaque(raw).takeUnretainedValue().replaceSession(with: session)
                return 1  // the reference is the context's now
            }
        } else {
            // Nothing kept, nothing offered. (A TLS 1.3 client of BoringSSL's asks for tickets
            // whatever its options, so the appliance still issues one, as to any agent.)
            SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF)
        }
        guard SSL_CTX_set_ex_data(context, Self.contextIndex, Unmanaged.passUnretained(self).toOpaque()) == 1 else {
            throw AgentTLSError.configuration("BoringSSL could not hold the context")
        }
    }

    deinit {
        session.withLock { if let session = $0.pointer { SSL_SESSION_free(session) } }
        X509_STORE_free(trustStore)
        SSL_CTX_free(context)
    }

    /// Whether a session is kept for the next connection to offer.
    public var hasSession: Bool { session.withLock { $0.pointer != nil } }

    /// The kept session's lifetime in seconds, as the appliance's ticket gave it.
    var keptSessionLifetime: UInt32? {
        guard let session = resumableSession() else { return nil }
        defer { SSL_SESSION_free(session) }
        return SSL_SESSION_get_timeout(session)
    }

    /// The session to offer, with a reference for the caller, if one is kept.
    func resumableSession() -> OpaquePointer? {
        let kept = session.withLock { kept in
            if let pointer = kept.pointer { SSL_SESSION_up_ref(pointer) }
            return kept
        }
        return kept.pointer
    }

    /// Keeps `new` (whose reference it takes) in place of the session kept before.
    private func replaceSession(with new: OpaquePointer) {
        let old = session.withLock { kept in
            defer { kept = KeptSession(pointer: new) }
            return kept
        }
        if let pointer = old.pointer { SSL_SESSION_free(pointer) }
    }

    /// Where a context finds itself from its `SSL_CTX` in BoringSSL's callbacks. Every handler holds
    /// its context, so the pointer outlives every connection made from it.
    private static let contextIndex: Int32 = SSL_CTX_get_ex_new_index(0, nil, nil, nil, nil)
}
