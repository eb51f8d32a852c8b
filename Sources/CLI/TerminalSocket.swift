import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A session's terminal WebSocket (`GET /api/v1/sessions/{id}/terminal`), over TLS that trusts the appliance CA
/// alone, as ``APIClient`` does. Fragmented messages arrive whole; pings are answered and close frames
/// returned by ``WebSocketControlHandler``; what is left for the caller is binary and text messages, and the
/// server's close frame.
enum TerminalSocket {
    typealias Connection = NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    /// The largest single frame accepted from the appliance.
    static let maximumFrameBytes = 1 << 20
    /// The largest message accepted once its fragments are put together.
    static let maximumMessageBytes = 8 << 20
    /// The most fragments one message may have.
    static let maximumFragments = 4096
    /// The largest refusal (a JSON error) read when the appliance does not upgrade.
    static let maximumRefusalBytes = 64 * 1024
    /// How long the appliance may take to accept or refuse the WebSocket.
    static let upgradeTimeout = APIClient.timeout
    /// After this long without a frame from the appliance, jumpctl pings it, which keeps NAT and proxies from
    /// forgetting an idle session and lets TCP notice an appliance that is gone.
    static let keepaliveInterval = TimeAmount.seconds(30)

    private enum Upgrade: Sendable {
        case upgraded(Connection)
        case refused(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
    }

    /// Opens the WebSocket at `path` (below /api/v1) with the API's token, or throws the appliance's refusal
    /// as a ``CLIError`` with the same exit status as the API's.
    static func connect(_ api: APIClient, path: String) async throws -> Connection {
        let context = try api.makeTLSContext()
        let serverHostname = api.serverHostname
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/v1" + path)
        head.headers.add(name: "Host", value: serverHostname ?? api.host)
        head.headers.add(name: "User-Agent", value: "jumpctl")
        head.headers.add(name: "Content-Length", value: "0")
        if let token = api.token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let requestHead = head

        let upgrade: EventLoopFuture<Upgrade>
        do {
            upgrade = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: api.host, port: api.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                        )
                        let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                            maxFrameSize: maximumFrameBytes,
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    let sync = channel.pipeline.syncOperations
                                    try sync.addHandler(IdleStateHandler(readTimeout: keepaliveInterval))
                                    try sync.addHandler(
                                        NIOWebSocketFrameAggregator(
                                            minNonFinalFragmentSize: 0,
                                            maxAccumulatedFrameCount: maximumFragments,
                                            maxAccumulatedFrameSize: maximumMessageBytes
                                        )
                                    )
                                    try sync.addHandler(WebSocketControlHandler())
                                    return Upgrade.upgraded(try Connection(wrappingChannelSynchronously: channel))
                                }
                            }
                        )
                        let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                            upgradeRequestHead: requestHead,
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    Upgrade.refused(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                                }
                            }
                        )
                        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                        // The appliance sends output right after its 101, often in the same read: keep those bytes.
                        pipeline.leftOverBytesStrategy = .forwardBytes
                        let result = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                            configuration: pipeline
                        )
                        // Closing the channel fails the upgrade (or ends reading a refusal) if the appliance is silent.
                        let timeout = channel.eventLoop.scheduleTask(in: upgradeTimeout) { channel.close(promise: nil) }
                        result.whenSuccess { upgrade in
                            if case .upgraded = upgrade { timeout.cancel() }
                        }
                        return result
                    }
                }
        } catch {
            throw CLIError.unreachable("cannot reach the appliance at \(api.host):\(api.port): \(error)")
        }

        let result: Upgrade
        do {
            result = try await upgrade.get()
        } catch let error as NIOSSLError {
            throw CLIError.unreachable(
                "TLS with the appliance failed (is the session's CA the appliance's ca.pem, and the host name in its certificate?): \(error)"
            )
        } catch {
            throw CLIError.unreachable("the appliance did not open the session's terminal: \(error)")
        }
        switch result {
        case .upgraded(let connection):
            return connection
        case .refused(let channel):
            throw try await refusal(channel)
        }
    }

    /// Reads the answer the appliance gave instead of upgrading, and turns it into the API's error.
    private static func refusal(
        _ channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    ) async throws -> CLIError {
        var status = 0
        var contentType = ""
        var body = Data()
        do {
            try await channel.executeThenClose { inbound, _ in
                reading: for try await part in inbound {
                    switch part {
                    case .head(let head):
                        status = Int(head.status.code)
                        contentType = head.headers["Content-Type"].first ?? ""
                    case .body(let buffer):
                        body.append(contentsOf: buffer.readableBytesView.prefix(maximumRefusalBytes - body.count))
                    case .end:
                        break reading
                    }
                }
            }
        } catch {
            // A refusal cut short still has its status.
        }
        guard status != 0 else {
            return .unreachable("the appliance closed the connection instead of opening the session's terminal")
        }
        if (200..<300).contains(status) {
            return .failure("the appliance answered \(status) instead of opening the session's terminal (a WebSocket)")
        }
        return CLIError.from(APIClient.Response(status: status, contentType: contentType, body: body))
    }

    /// A binary message: bytes for the remote terminal. Client frames are masked (RFC 6455 section 5.3).
    static func binary(_ bytes: some Collection<UInt8>, allocator: ByteBufferAllocator) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: allocator.buffer(bytes: bytes))
    }

    static func text(_ message: TerminalClientMessage, allocator: ByteBufferAllocator) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: allocator.buffer(string: message.json))
    }

    /// A normal close (1000), sent when jumpctl leaves first.
    static func close(allocator: ByteBufferAllocator) -> WebSocketFrame {
        var data = allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
    }

    /// What a close frame from the appliance says, for the message when the session ends without an `end`.
    static func describeClose(_ frame: WebSocketFrame) -> String {
        var data = frame.unmaskedData
        guard let code = data.readWebSocketErrorCode() else { return "it closed the WebSocket without a code" }
        let reason = data.readString(length: data.readableBytes) ?? ""
        return "it closed the WebSocket (\(code))" + (reason.isEmpty ? "" : ": \(reason)")
    }
}

extension APIClient {
    /// The TLS context ``send(_:_:body:)`` uses: TLS 1.2 or later, the appliance CA as the only trust root.
    func makeTLSContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        } catch {
            throw CLIError.failure("the appliance CA is not a valid PEM certificate")
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// The name checked against the appliance's certificate and sent as SNI; nil for an IP address.
    var serverHostname: String? {
        host.contains(":") || host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) ? nil : host
    }
}

/// Carries out the WebSocket's control frames so that the session's code sees only messages: answers pings,
/// returns the appliance's close frame and then closes the connection, sends nothing after a close, and
/// pings an appliance that has been silent for ``TerminalSocket/keepaliveInterval``.
final class WebSocketControlHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            context.fireChannelRead(data)
            if closeSent {
                context.close(promise: nil)
                return
            }
            closeSent = true
            // Echo the status code (RFC 6455 section 5.5.1), then close the TCP connection.
            var echo = context.channel.allocator.buffer(capacity: 2)
            var payload = frame.unmaskedData
            if let code = payload.readWebSocketErrorCode() { echo.write(webSocketErrorCode: code) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closeSent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if unwrapOutboundIn(data).opcode == .connectionClose { closeSent = true }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            guard !closeSent else { return }
            let ping = WebSocketFrame(
                fin: true,
                opcode: .ping,
                maskKey: .random(),
                data: context.channel.allocator.buffer(capacity: 0)
            )
            context.writeAndFlush(wrapOutboundOut(ping), promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
