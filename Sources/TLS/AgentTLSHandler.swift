// See AgentTLSServerContext.swift for how `CNIOBoringSSL` is reached.
import CNIOBoringSSL
import JumpProtocol
public import NIOCore
import NIOTLS

/// TLS on both ends of an agent connection: BoringSSL driven directly, in place of swift-nio-ssl's
/// `NIOSSLServerHandler`, so that an idle connection holds no buffer, and of `NIOSSLClientHandler`,
/// so that an agent can resume its TLS session (swift-nio-ssl has no client session API).
///
/// An appliance holds tens of thousands of agent connections that are idle nearly all the time. What
/// one of them costs is what its TLS layer keeps between reads. `NIOSSLServerHandler` (2.37) keeps a
/// 32 KiB plaintext buffer and an outbound buffer of up to 16 KiB for the connection's life, with a
/// queue sized for 96 actions: about 12 KiB resident per idle connection, 40% of what the appliance
/// spends on one (docs/performance.md). This handler keeps none:
/// - **reading**, BoringSSL decrypts a record in its own read buffer, which it frees once the record
///   is consumed; the handler asks how many bytes the record holds (`SSL_peek` and `SSL_pending`) and
///   reads them into a buffer of exactly that size, which it passes on;
/// - **writing**, each write is sealed straight into a buffer sized for it, which goes to the channel
///   with the write's promise;
/// - between reads and writes the handler holds the `SSL` (with the session and the peer's
///   certificate as DER bytes) and nothing else: the BIO reads from and writes to the two optional
///   buffers below, which are empty then.
///
/// It does what agent connections need of TLS and no more: TLS 1.3 only (no renegotiation, no early
/// data), the appliance's side with settings from an ``AgentTLSServerContext``, an enrolled agent's
/// side with an ``AgentTLSClientContext``, which starts the handshake once the channel is active
/// and offers the session the appliance's last ticket resumes. Writes made before the handshake
/// finishes wait for it, and those made while its end is announced queue behind them. BoringSSL
/// holds a record that has partly arrived (up to about 16 KiB) until the rest comes; the
/// connection's handshake and idle timeouts bound how long. Closing sends close_notify, reads (and discards) until the peer's own
/// close_notify or `shutdownTimeout`, then closes the socket, as `NIOSSLHandler` does, so that a
/// peer still sending does not get a reset that would lose the last words; when the peer's
/// close_notify has already arrived (a Goodbye followed by it in one read), the socket closes at once.
///
/// On the appliance's side it also says who the peer is: a connection whose handshake does not finish
/// within `handshakeTimeout` is closed; when it finishes, ALPN must have chosen `jump/1` and a client
/// certificate (verified against the CA by the handshake, or held by the resumed session) must name
/// a Jump Client, or the connection is closed.
///
/// Events: `TLSUserEvent.handshakeCompleted` when the handshake finishes, followed on the appliance's
/// side by a ``PeerAuthenticated`` (what the ``ServerConnectionHandler`` starts on); a failed handshake
/// or a record that fails to open is an ``AgentTLSError`` through `errorCaught`, after which the
/// connection is closed.
public final class AgentTLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// How long a closing connection waits for the peer's close_notify before closing the socket.
    public static let defaultShutdownTimeout = TimeAmount.seconds(5)
    /// How long a new connection to the appliance may take to finish its TLS handshake.
    public static let defaultHandshakeTimeout = TimeAmount.seconds(10)

    private enum State {
        case handshaking
        case active
        /// close_notify sent; waiting for the peer's, or the timer, to close the socket.
        case closing(promise: EventLoopPromise<Void>?, timer: Scheduled<Void>)
        case closed
    }

    /// Which end of the connection this is, and its settings (held: BoringSSL's callbacks find them
    /// through the `SSL_CTX`).
    private enum Role {
        case server(AgentTLSServerContext, handshakeTimeout: TimeAmount)
        case client(AgentTLSClientContext, AgentTLSClientContext.Destination)
    }

    private let role: Role
    private let shutdownTimeout: TimeAmount
    private var ssl: OpaquePointer?
    private var state = State.handshaking
    private var allocator = ByteBufferAllocator()
    /// Ciphertext received and not yet taken by BoringSSL; `nil` outside `channelRead`.
    fileprivate var inbound: ByteBuffer?
    /// Ciphertext BoringSSL wrote and the handler has not yet passed on; `nil` outside a call into it.
    fileprivate var outbound: ByteBuffer?
    /// Writes made before the handshake finished, with whether a flush followed them.
    private var waitingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushWaiting = false
    /// True while the writes made before the handshake finished are being sealed: later ones wait.
    private var sealingWaitingWrites = false
    private var handshakeFinished = false
    private var clientHelloSent = false
    /// The appliance's side: closes the connection if the handshake has not finished in time.
    private var handshakeTimer: Scheduled<Void>?

    /// The appliance's end of an agent connection.
    public init(
        context tls: AgentTLSServerContext,
        handshakeTimeout: TimeAmount = defaultHandshakeTimeout,
        shutdownTimeout: TimeAmount = defaultShutdownTimeout
    ) {
        self.role = .server(tls, handshakeTimeout: handshakeTimeout)
        self.shutdownTimeout = shutdownTimeout
    }

    /// An enrolled agent's end of its connection to the appliance at `appliance` (HOST:PORT, as the
    /// agent's configuration names it): the connection offers the session of the last ticket from
    /// that address, and keeps the one its own ticket gives for the next connection there.
    public init(context tls: AgentTLSClientContext, appliance: String, shutdownTimeout: TimeAmount = defaultShutdownTimeout) {
        self.role = .client(tls, AgentTLSClientContext.Destination(appliance))
        self.shutdownTimeout = shutdownTimeout
    }

    /// Whether the handshake resumed an earlier session (no certificates were exchanged: the appliance
    /// authenticated the agent's certificate when it issued the ticket, and the session still holds
    /// it). False before the handshake has finished.
    public var isResumed: Bool {
        guard handshakeFinished, let ssl else { return false }
        return SSL_session_reused(ssl) == 1
    }

    /// The key exchange the handshake made, by BoringSSL's name (`X25519MLKEM768` between an agent
    /// and the appliance, resumed or not); `nil` before the handshake has finished.
    public var keyExchange: String? {
        guard handshakeFinished, let ssl else { return nil }
        let group = SSL_get_group_id(ssl)
        guard group != 0, let name = SSL_get_group_name(group) else { return nil }
        return String(cString: name)
    }

    /// The peer's certificate as DER, once the handshake verified it (or resumed a session that holds
    /// it); `nil` when none was presented or before the handshake has finished.
    public var peerCertificate: [UInt8]? {
        withPeerCertificate { $0.map(Array.init) }
    }

    private func withPeerCertificate<Result>(_ body: (UnsafeBufferPointer<UInt8>?) -> Result) -> Result {
        guard handshakeFinished, let ssl, let chain = SSL_get0_peer_certificates(ssl), sk_CRYPTO_BUFFER_num(chain) > 0,
              let leaf = sk_CRYPTO_BUFFER_value(chain, 0)
        else { return body(nil) }
        return body(UnsafeBufferPointer(start: CRYPTO_BUFFER_data(leaf), count: CRYPTO_BUFFER_len(leaf)))
    }

    /// The appliance's side, once the handshake has finished: who the peer is, or nil when the
    /// connection must close (ALPN did not choose `jump/1`, or the certificate names no Jump Client).
    /// A client without a certificate is anonymous: it may only enroll or ask for support.
    private func authenticatedPeer(negotiatedProtocol: String?) -> PeerAuthenticated? {
        guard negotiatedProtocol == ProtocolVersion.alpn else { return nil }
        return withPeerCertificate { certificate in
            guard let certificate else { return PeerAuthenticated(.anonymous) }
            guard let fields = try? ClientCertificateFields(der: certificate), let clientID = fields.clientID, !clientID.isEmpty
            else { return nil }
            return PeerAuthenticated(.client(clientID), certificateSerial: fields.serialHex)
        }
    }

    /// Bytes of buffers the handler holds of its own: none between reads and writes once the
    /// handshake is over (what an idle connection costs beyond BoringSSL's `SSL`).
    var heldBufferBytes: Int {
        (inbound?.capacity ?? 0) + (outbound?.capacity ?? 0) + waitingWrites.reduce(0) { $0 + $1.0.capacity }
    }

    /// The ALPN protocol the handshake chose, if any.
    public var negotiatedProtocol: String? {
        guard handshakeFinished, let ssl else { return nil }
        var name: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &name, &length)
        guard let name, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: name, count: Int(length)), as: UTF8.self)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        allocator = context.channel.allocator
        let settings = switch role {
        case .server(let tls, _): tls.context
        case .client(let tls, _): tls.context
        }
        guard let ssl = SSL_new(settings), let bio = BIO_new(ChannelBIO.method) else {
            context.fireErrorCaught(AgentTLSError.configuration("BoringSSL could not make a connection"))
            state = .closed
            context.close(promise: nil)
            return
        }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        SSL_set_bio(ssl, bio, bio)
        // The certificate, key and settings the handshake used are not needed after it.
        SSL_set_shed_handshake_config(ssl, 1)
        self.ssl = ssl
        switch role {
        case .server:
            SSL_set_accept_state(ssl)
            if context.channel.isActive { startHandshakeTimer(context: context) }
        case .client(let tls, let destination):
            SSL_set_connect_state(ssl)
            // For the context's new-session callback; `role` holds the destination for the `SSL`'s life.
            SSL_set_ex_data(ssl, AgentTLSClientContext.destinationIndex, Unmanaged.passUnretained(destination).toOpaque())
            if let session = tls.resumableSession(for: destination.appliance) {
                // The `SSL` takes its own reference. A session BoringSSL finds too old to offer, or
                // one the appliance no longer accepts, gives a full handshake.
                SSL_set_session(ssl, session)
                SSL_SESSION_free(session)
            }
            if context.channel.isActive { startHandshake(context: context) }
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        switch role {
        case .server: startHandshakeTimer(context: context)
        case .client: startHandshake(context: context)
        }
    }

    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard case .server(_, let timeout) = role, case .handshaking = state, handshakeTimer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.close(context: context, mode: .all, promise: nil)
        }
    }

    /// The client speaks first: its ClientHello goes out as soon as the connection is up.
    private func startHandshake(context: ChannelHandlerContext) {
        guard case .handshaking = state, !clientHelloSent else { return }
        clientHelloSent = true
        ERR_clear_error()
        _ = handshake(context: context)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel)?.succeed()
        if let ssl { SSL_free(ssl) }
        ssl = nil
        inbound = nil
        outbound = nil
    }

    // MARK: Reading

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var received = unwrapInboundIn(data)
        if inbound == nil {
            inbound = received
        } else {
            inbound!.writeBuffer(&received)
        }
        defer { if inbound?.readableBytes == 0 { inbound = nil } }
        ERR_clear_error()
        switch state {
        case .handshaking:
            guard handshake(context: context) else { return }
            readRecords(context: context)
        case .active:
            readRecords(context: context)
        case .closing:
            awaitCloseNotify(context: context)
        case .closed:
            inbound = nil
        }
    }

    /// Advances the handshake; true once it has finished and the connection is active.
    private func handshake(context: ChannelHandlerContext) -> Bool {
        guard let ssl else { return false }
        let result = SSL_do_handshake(ssl)
        guard result == 1 else {
            // Read before anything else can run on this thread and change it.
            guard SSL_get_error(ssl, result) == SSL_ERROR_WANT_READ else {
                fail(context: context, AgentTLSError.handshakeFailed(AgentTLSError.drainQueue()))
                return false
            }
            if passOnOutbound(context: context, promise: nil) { context.flush() }
            return false
        }
        let wrote = passOnOutbound(context: context, promise: nil)
        state = .active
        handshakeFinished = true
        handshakeTimer?.cancel()
        handshakeTimer = nil
        let negotiatedProtocol = self.negotiatedProtocol
        var authenticated: PeerAuthenticated?
        if case .server = role {
            authenticated = authenticatedPeer(negotiatedProtocol: negotiatedProtocol)
            if authenticated == nil {
                // close_notify follows what the handshake wrote; nothing is passed on.
                close(context: context, mode: .all, promise: nil)
                return false
            }
        }
        // Writes made while the events are handled (the Welcome, say) queue behind the earlier ones.
        sealingWaitingWrites = true
        defer { sealingWaitingWrites = false }
        context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: negotiatedProtocol))
        if let authenticated, case .active = state { context.fireUserInboundEventTriggered(authenticated) }
        while case .active = state, !waitingWrites.isEmpty {
            let (plaintext, promise) = waitingWrites.removeFirst()
            seal(plaintext, context: context, promise: promise)
        }
        guard case .active = state else {
            // Closed by a handler on hearing of the handshake.
            failWaitingWrites(ChannelError.ioOnClosedChannel)
            return false
        }
        if wrote || flushWaiting { context.flush() }
        flushWaiting = false
        return true
    }

    /// Opens every whole record received, passing each one's plaintext on in a buffer of its size.
    private func readRecords(context: ChannelHandlerContext) {
        var wrote = false
        defer { if wrote { context.flush() } }
        while case .active = state, let ssl {
            var first: UInt8 = 0
            let peeked = SSL_peek(ssl, &first, 1)
            guard peeked > 0 else {
                switch SSL_get_error(ssl, peeked) {
                case SSL_ERROR_WANT_READ:
                    // BoringSSL answers a KeyUpdate with its next write; only an alert is written
                    // here, and it comes with an error. Nothing to pass on.
                    wrote = passOnOutbound(context: context, promise: nil) || wrote
                case SSL_ERROR_ZERO_RETURN:
                    // The peer's close_notify: answer it and close.
                    close(context: context, mode: .all, promise: nil)
                default:
                    fail(context: context, AgentTLSError.recordFailed(AgentTLSError.drainQueue()))
                }
                return
            }
            let count = Int(SSL_pending(ssl))
            var plaintext = allocator.buffer(capacity: count)
            let read = plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
                Int(max(0, SSL_read(ssl, space.baseAddress, Int32(count))))
            }
            guard read == count, count > 0 else {
                fail(context: context, AgentTLSError.recordFailed(AgentTLSError.drainQueue()))
                return
            }
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
    }

    /// While closing: discards what the peer still sends until its close_notify, then closes.
    private func awaitCloseNotify(context: ChannelHandlerContext) {
        guard let ssl else { return }
        let peerDone = discardUntilPeerCloses(ssl)
        _ = passOnOutbound(context: context, promise: nil)
        guard peerDone else { return }
        finishClosing(context: context)
    }

    /// Reads and discards the records received and not yet opened; true when they end with the peer's
    /// close_notify (or a record that fails to open: nothing more will be read either way), false
    /// when BoringSSL wants more.
    private func discardUntilPeerCloses(_ ssl: OpaquePointer) -> Bool {
        let result = withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 1) { discard in
            var result: Int32
            repeat { result = SSL_read(ssl, discard.baseAddress, Int32(discard.count)) } while result > 0
            return result
        }
        let wantsMore = SSL_get_error(ssl, result) == SSL_ERROR_WANT_READ
        ERR_clear_error()
        return !wantsMore
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // The socket is closed: what a close was waiting for has happened.
        enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel)?.succeed()
        context.fireChannelInactive()
    }

    // MARK: Writing

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .active where sealingWaitingWrites:
            waitingWrites.append((plaintext, promise))
        case .active:
            seal(plaintext, context: context, promise: promise)
        case .handshaking:
            waitingWrites.append((plaintext, promise))
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .handshaking: flushWaiting = true
        case .active, .closing: context.flush()
        case .closed: break
        }
    }

    /// Seals `plaintext` into records (BoringSSL splits at 16 KiB) written to one buffer sized for
    /// them, and passes that on with `promise`.
    private func seal(_ plaintext: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard case .active = state, let ssl else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard plaintext.readableBytes > 0 else {
            context.write(wrapOutboundOut(plaintext), promise: promise)
            return
        }
        let count = plaintext.readableBytes
        guard count <= Int(Int32.max) else {
            promise?.fail(AgentTLSError.recordFailed("a write of \(count) bytes is larger than TLS can take in one call"))
            return
        }
        outbound = allocator.buffer(capacity: count + Self.recordOverhead * (count / Self.maximumRecord + 1))
        ERR_clear_error()
        let written = plaintext.withUnsafeReadableBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard written == count else {
            // `outbound` may hold BoringSSL's alert: `fail` sends it.
            let error = AgentTLSError.recordFailed(AgentTLSError.drainQueue())
            promise?.fail(error)
            fail(context: context, error)
            return
        }
        _ = passOnOutbound(context: context, promise: promise)
    }

    /// TLS 1.3 adds a 5-byte header, the content type and a 16-byte tag to each record.
    private static let recordOverhead = 22
    private static let maximumRecord = 16384

    /// Writes what BoringSSL produced, if anything, to the channel; completes `promise` either way.
    /// Returns whether it wrote.
    @discardableResult
    private func passOnOutbound(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) -> Bool {
        guard let ciphertext = outbound, ciphertext.readableBytes > 0 else {
            outbound = nil
            promise?.succeed()
            return false
        }
        outbound = nil
        context.write(wrapOutboundOut(ciphertext), promise: promise)
        return true
    }

    private func failWaitingWrites(_ error: any Error) {
        let waiting = waitingWrites
        waitingWrites = []
        for (_, promise) in waiting { promise?.fail(error) }
    }

    // MARK: Closing

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode != .input else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch state {
        case .active:
            guard let ssl else {
                enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel)
                context.close(mode: .all, promise: promise)
                return
            }
            ERR_clear_error()
            var bothSent = SSL_shutdown(ssl) == 1
            ERR_clear_error()
            if !bothSent, let received = inbound, received.readableBytes > 0 {
                // Closed while a record was being handled (the peer's Goodbye, say): the peer's
                // close_notify often came in the same read, behind it. Then there is nothing to wait
                // for: no shutdown timer, no wake-up for the peer's end of the stream.
                bothSent = discardUntilPeerCloses(ssl)
            }
            guard !bothSent else {
                // The peer's close_notify came first: nothing more to wait for.
                enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel)
                if passOnOutbound(context: context, promise: nil) { context.flush() }
                context.close(mode: .all, promise: promise)
                return
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let timer = context.eventLoop.scheduleTask(in: shutdownTimeout) {
                let (handler, context) = loopBound.value
                handler.finishClosing(context: context)
            }
            state = .closing(promise: promise, timer: timer)
            failWaitingWrites(ChannelError.ioOnClosedChannel)
            if passOnOutbound(context: context, promise: nil) { context.flush() }
            context.read()
        case .handshaking:
            enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel)
            context.close(mode: .all, promise: promise)
        case .closing(let first, let timer):
            // A second close joins the first.
            if let promise {
                if let first { first.futureResult.cascade(to: promise) } else {
                    state = .closing(promise: promise, timer: timer)
                }
            }
        case .closed:
            context.close(mode: .all, promise: promise)
        }
    }

    private func finishClosing(context: ChannelHandlerContext) {
        guard case .closing = state else { return }
        context.close(mode: .all, promise: enterClosed(failingWritesWith: ChannelError.ioOnClosedChannel))
    }

    /// Every way to `.closed`: stops the shutdown timer, fails the writes still waiting for the
    /// handshake, and hands back the promise of a close that was waiting, for the caller to complete.
    @discardableResult
    private func enterClosed(failingWritesWith error: any Error) -> EventLoopPromise<Void>? {
        var pendingClose: EventLoopPromise<Void>?
        handshakeTimer?.cancel()
        handshakeTimer = nil
        if case .closing(let promise, let timer) = state {
            timer.cancel()
            pendingClose = promise
        }
        state = .closed
        failWaitingWrites(error)
        return pendingClose
    }

    /// A fatal error: BoringSSL has written its alert, if any; send it, report the error, close.
    private func fail(context: ChannelHandlerContext, _ error: AgentTLSError) {
        let closePromise = enterClosed(failingWritesWith: error)
        // The alert, and any record passed on but not yet flushed, go out before the socket closes
        // (NIO drops unflushed writes on close).
        _ = passOnOutbound(context: context, promise: nil)
        context.flush()
        context.fireErrorCaught(error)
        context.close(mode: .all, promise: closePromise)
    }

    // MARK: BIO

    /// BoringSSL's view of the channel: reads take from `inbound`, writes append to `outbound`.
    fileprivate func bioRead(into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard var available = inbound, available.readableBytes > 0 else { return 0 }
        let count = min(destination.count, available.readableBytes)
        available.withUnsafeReadableBytes { source in
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(count)))
        }
        available.moveReaderIndex(forwardBy: count)
        inbound = available
        return count
    }

    fileprivate func bioWrite(_ source: UnsafeRawBufferPointer) {
        if outbound == nil { outbound = allocator.buffer(capacity: source.count) }
        outbound!.writeBytes(source)
    }
}

/// The BIO method joining BoringSSL to an ``AgentTLSHandler``: one for the process, each BIO
/// pointing (unretained) at its handler, which frees the BIO with its `SSL` before it goes.
private enum ChannelBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "jump channel") else {
            fatalError("BoringSSL could not make a BIO method")
        }
        BIO_meth_set_read(method) { bio, destination, length in
            BIO_clear_retry_flags(bio)
            guard let bio, let destination, length > 0, let handler = ChannelBIO.handler(bio) else { return -1 }
            let count = handler.bioRead(into: UnsafeMutableRawBufferPointer(start: destination, count: Int(length)))
            guard count > 0 else {
                BIO_set_retry_read(bio)
                return -1
            }
            return Int32(count)
        }
        BIO_meth_set_write(method) { bio, source, length in
            BIO_clear_retry_flags(bio)
            guard let bio, let source, length >= 0, let handler = ChannelBIO.handler(bio) else { return -1 }
            handler.bioWrite(UnsafeRawBufferPointer(start: source, count: Int(length)))
            return length
        }
        BIO_meth_set_ctrl(method) { _, command, _, _ in
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        return method
    }()

    static func handler(_ bio: OpaquePointer) -> AgentTLSHandler? {
        BIO_get_data(bio).map { Unmanaged<AgentTLSHandler>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// What went wrong in TLS on an agent connection.
public enum AgentTLSError: Error, Equatable, CustomStringConvertible {
    /// The settings could not be given to BoringSSL.
    case configuration(String)
    /// The handshake failed: a certificate not from the appliance CA (either end's), an expired one,
    /// a peer without TLS 1.3, bytes that are not TLS.
    case handshakeFailed(String)
    /// After the handshake, a record that would not open or a protocol violation.
    case recordFailed(String)

    public var description: String {
        switch self {
        case .configuration(let detail): "TLS settings: \(detail)"
        case .handshakeFailed(let detail): "TLS handshake failed: \(detail)"
        case .recordFailed(let detail): "TLS record failed: \(detail)"
        }
    }

    /// Empties this thread's BoringSSL error queue into one line.
    static func drainQueue() -> String {
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while case let code = ERR_get_error(), code != 0 {
            _ = buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
            lines.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return lines.isEmpty ? "no detail from BoringSSL" : lines.joined(separator: "; ")
    }
}
