// See AgentTLSServerContext.swift for how `CNIOBoringSSL` is reached.
import CNIOBoringSSL
import Synchronization
public import X509

/// An enrolled agent's TLS settings for its connections to the appliance, with the session the
/// appliance's last ticket lets it resume. Made from the agent's certificate and key; a renewed
/// certificate makes a new context (and so a full handshake, which presents it).
/// - TLS 1.3 only, ALPN `jump/1`, no server name sent;
/// - the hybrid key exchange X25519MLKEM768 only (``TLSContextParts/agentKeyExchanges``), on every
///   connection, resumed or not;
/// - the appliance's certificate must chain to the appliance CA, be within its validity and allow
///   server authentication (`ssl_server` purpose); its name is not checked, as before: the CA is the
///   appliance's own and signs nothing else that could serve;
/// - the agent's certificate and key as its client identity;
/// - resumption: the latest ticket's session is kept for each appliance address the agent connects
///   to (in memory only: a restarted agent makes a full handshake) and offered by the next connection
///   to the same address: one appliance cannot open another's tickets, so an agent failing over
///   between two offers each its own. BoringSSL offers a session only within the lifetime the
///   appliance gave it, and resumes only with a fresh (EC)DHE key exchange, so every connection has
///   its own keys. No early data.
///
/// BoringSSL runs in its certificate-buffer mode, as on the appliance.
public final class AgentTLSClientContext: @unchecked Sendable {
    let context: OpaquePointer
    /// The appliance CA, the only trust root for the appliance's certificate.
    private let trustStore: OpaquePointer
    /// The session to offer next to each appliance address (one reference held for each).
    private let sessions = Mutex(KeptSessions())

    /// How many appliance addresses' sessions are kept. An agent lists a few; past this the one
    /// given a ticket longest ago is forgotten (its next connection is a full handshake).
    static let keptSessionsLimit = 8

    private struct KeptSessions {
        /// The session last kept for an address comes last.
        var entries: [(appliance: String, session: KeptSession)] = []
    }

    /// An `SSL_SESSION` is immutable once BoringSSL hands it out, and reference-counted atomically.
    private struct KeptSession: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// The appliance address (HOST:PORT, as the agent's configuration names it) a connection goes to,
    /// for the callback that keeps the session of its ticket. The connection's handler holds it and
    /// outlives its `SSL`, which points to it.
    final class Destination: Sendable {
        let appliance: String
        init(_ appliance: String) { self.appliance = appliance }
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
        try TLSContextParts.offer(TLSContextParts.agentKeyExchanges, in: context)
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
            let verified = TLSContextParts.verifyPeer(ssl, against: this.trustStore, purpose: "ssl_server", alert: alert)
            return verified == nil ? ssl_verify_invalid : ssl_verify_ok
        }
        if resumption {
            // Sessions come to the callback below, not to a cache of BoringSSL's.
            SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL)
            SSL_CTX_sess_set_new_cb(context) { ssl, session in
                guard let ssl, let session,
                      let raw = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), AgentTLSClientContext.contextIndex),
                      let destination = SSL_get_ex_data(ssl, AgentTLSClientContext.destinationIndex)
                else { return 0 }
                let appliance = Unmanaged<Destination>.fromOpaque(destination).takeUnretainedValue().appliance
                Unmanaged<AgentTLSClientContext>.fromOpaque(raw).takeUnretainedValue().keep(session, for: appliance)
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
        sessions.withLock { for entry in $0.entries { SSL_SESSION_free(entry.session.pointer) } }
        X509_STORE_free(trustStore)
        SSL_CTX_free(context)
    }

    /// Whether a session is kept for the next connection to `appliance` to offer.
    func hasSession(for appliance: String) -> Bool {
        guard let session = resumableSession(for: appliance) else { return false }
        SSL_SESSION_free(session)
        return true
    }

    /// The lifetime in seconds of the session kept for `appliance`, as its ticket gave it.
    func keptSessionLifetime(for appliance: String) -> UInt32? {
        guard let session = resumableSession(for: appliance) else { return nil }
        defer { SSL_SESSION_free(session) }
        return SSL_SESSION_get_timeout(session)
    }

    /// The session to offer `appliance`, with a reference for the caller, if one is kept.
    func resumableSession(for appliance: String) -> OpaquePointer? {
        sessions.withLock { kept -> KeptSession? in
            // The reference is taken under the lock: once it is released, another connection's
            // ticket may replace the session and free the context's reference.
            guard let session = kept.entries.last(where: { $0.appliance == appliance })?.session else { return nil }
            SSL_SESSION_up_ref(session.pointer)
            return session
        }?.pointer
    }

    /// Keeps `new` (whose reference it takes) for `appliance`, in place of the session kept for it
    /// before, and forgets the oldest address's beyond ``keptSessionsLimit``.
    private func keep(_ new: OpaquePointer, for appliance: String) {
        let released = sessions.withLock { kept in
            var released: [KeptSession] = []
            if let index = kept.entries.firstIndex(where: { $0.appliance == appliance }) {
                released.append(kept.entries.remove(at: index).session)
            }
            kept.entries.append((appliance, KeptSession(pointer: new)))
            if kept.entries.count > Self.keptSessionsLimit {
                released.append(kept.entries.removeFirst().session)
            }
            return released
        }
        for session in released { SSL_SESSION_free(session.pointer) }
    }

    /// Where a context finds itself from its `SSL_CTX` in BoringSSL's callbacks. Every handler holds
    /// its context, so the pointer outlives every connection made from it.
    private static let contextIndex: Int32 = SSL_CTX_get_ex_new_index(0, nil, nil, nil, nil)
    /// Where the new-session callback finds the connection's ``Destination`` from its `SSL`.
    static let destinationIndex: Int32 = SSL_get_ex_new_index(0, nil, nil, nil, nil)
}
