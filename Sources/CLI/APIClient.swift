import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small HTTPS client for the appliance's API: one request per connection, TLS that trusts the
/// appliance CA alone and checks the server's name against its certificate.
struct APIClient {
    struct Response {
        var status: Int
        var contentType: String
        var body: Data
    }

    /// How long to wait for the appliance before giving up.
    static let timeout = TimeAmount.seconds(30)
    /// The largest answer accepted (a list of 19,000 clients is about 20 MB).
    static let maximumResponseBytes = 256 * 1024 * 1024

    let host: String
    let port: Int
    let caPEM: String
    var token: String?
    /// How long this client waits for an answer (a pin waits for the end user's computer to install itself).
    var timeout = APIClient.timeout

    init(server: URL, caPEM: String, token: String? = nil) throws {
        guard server.scheme == "https", let host = server.host, !host.isEmpty else {
            throw CLIError.usage("the server must be an https:// URL with a host, e.g. https://127.0.0.1:8443")
        }
        self.host = host
        self.port = server.port ?? 443
        self.caPEM = caPEM
        self.token = token
    }

    func get(_ path: String) async throws -> Response { try await send(.GET, path, body: nil) }
    func delete(_ path: String) async throws -> Response { try await send(.DELETE, path, body: nil) }
    func post(_ path: String, json: some Encodable) async throws -> Response {
        try await send(.POST, path, body: try JSONEncoder().encode(json))
    }
    func put(_ path: String, json: some Encodable) async throws -> Response {
        try await send(.PUT, path, body: try JSONEncoder().encode(json))
    }

    func send(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> Response {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        } catch {
            throw CLIError.failure("the appliance CA is not a valid PEM certificate")
        }
        let context = try NIOSSLContext(configuration: tls)
        let serverHostname = host.contains(":") || host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) ? nil : host
        let collector = ResponseCollector(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: collector.eventLoop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                        )
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw CLIError.unreachable("cannot reach the appliance at \(host):\(port): \(error)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: "/api/v1" + path)
        head.headers.add(name: "Host", value: serverHostname ?? host)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Accept", value: "application/json")
        head.headers.add(name: "User-Agent", value: "jumpctl")
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.count))
        } else if method == .POST || method == .PUT {
            head.headers.add(name: "Content-Length", value: "0")
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let limit = self.timeout
        let timeout = channel.eventLoop.scheduleTask(in: limit) {
            collector.fail(CLIError.unreachable("the appliance did not answer within \(limit.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        do {
            let response = try await collector.result.futureResult.get()
            try? await channel.close()
            return response
        } catch let error as CLIError {
            throw error
        } catch let error as NIOSSLError {
            throw CLIError.unreachable("TLS with the appliance failed (is --ca the appliance's ca.pem, and the host name in its certificate?): \(error)")
        } catch {
            throw CLIError.unreachable("the connection to the appliance failed: \(error)")
        }
    }
}

/// Gathers one HTTP response.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    // Used only on `eventLoop` after creation; the promise is thread-safe.
    typealias InboundIn = HTTPClientResponsePart

    let eventLoop: any EventLoop
    let result: EventLoopPromise<APIClient.Response>
    private var status = 0
    private var contentType = ""
    private var body = ByteBuffer()

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.result = eventLoop.makePromise()
    }

    func fail(_ error: any Error) {
        result.fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            contentType = head.headers["Content-Type"].first ?? ""
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= APIClient.maximumResponseBytes else {
                result.fail(CLIError.failure("the appliance's answer is larger than \(APIClient.maximumResponseBytes) bytes"))
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&part)
        case .end:
            result.succeed(APIClient.Response(status: status, contentType: contentType, body: Data(body.readableBytesView)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        result.fail(CLIError.unreachable("the appliance closed the connection before answering"))
    }
}
