import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Idle TLS connections with client certificates to another server (mosquitto, nats-server), each
/// saying the least its protocol needs for the server to keep it: the same count of idle clients
/// as the appliance holds, to compare the memory each server spends on one.
enum PeerProtocol: String, CaseIterable, Sendable {
    /// MQTT 3.1.1 CONNECT with a long keep-alive; held once CONNACK says accepted.
    case mqtt
    /// NATS: the server's INFO in the clear, then TLS, then CONNECT and PING; held at PONG, and every
    /// PING of the server is answered.
    case nats
}

struct PeerHold {
    /// MQTT keep-alive: the broker closes a client silent for 1.5 times this; longer than any run.
    static let mqttKeepAliveSeconds: UInt16 = 3600
    /// Connects tried per connection when TCP connect fails (a full listen queue), a second apart.
    static let connectAttempts = 5

    let host: String
    let port: Int
    let peer: PeerProtocol
    let tls: NIOSSLContext
    let group: any EventLoopGroup
    let localAddress: SocketAddress?
    let counters: FleetCounters

    /// Opens `count` connections, `perSecond` at a time, and returns the channels once all are open
    /// or failed; the caller keeps them until it stops.
    func open(_ count: Int, perSecond: Int) async -> [any Channel] {
        let clock = ContinuousClock()
        let start = clock.now
        return await withTaskGroup(of: (any Channel)?.self) { tasks in
            for index in 0..<count {
                if perSecond > 0 {
                    let due = start + .milliseconds(index * 1000 / perSecond)
                    if due > clock.now { try? await Task.sleep(until: due, clock: clock) }
                }
                if Task.isCancelled { break }
                tasks.addTask { await connect(index) }
            }
            var channels: [any Channel] = []
            for await channel in tasks { if let channel { channels.append(channel) } }
            return channels
        }
    }

    private func connect(_ index: Int) async -> (any Channel)? {
        for attempt in 1...Self.connectAttempts {
            if let channel = await connectOnce(index, last: attempt == Self.connectAttempts) { return channel }
            try? await Task.sleep(for: .seconds(1))
        }
        return nil
    }

    /// One TCP connect; a failure is counted (and its time-out) only when it is the last attempt.
    private func connectOnce(_ index: Int, last: Bool) async -> (any Channel)? {
        var bootstrap = ClientBootstrap(group: group)
        if let localAddress { bootstrap = bootstrap.bind(to: localAddress) }
        let counters = self.counters
        do {
            return try await bootstrap
                .connectTimeout(.seconds(30))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { [tls, peer] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        switch peer {
                        case .mqtt:
                            try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                            // Client ids are unique across processes: the broker drops the older of two alike.
                            try pipeline.addHandler(MQTTIdleClient(clientID: "hold-\(getpid())-\(index)", counters: counters))
                        case .nats:
                            try pipeline.addHandler(NATSIdleClient(tls: tls, counters: counters))
                        }
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            guard last else { return nil }
            counters.connectFailures.add(1, ordering: .relaxed)
            if case ChannelError.connectTimeout = error { counters.connectTimeouts.add(1, ordering: .relaxed) }
            return nil
        }
    }

    static func context(ca: String, certificate: String, key: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.trustRoots = .file(ca)
        configuration.certificateVerification = .noHostnameVerification
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Counts a held connection once, and its end.
private struct HeldState {
    var held = false
    mutating func ready(_ counters: FleetCounters) {
        guard !held else { return }
        held = true
        counters.recordReady()
    }
    func closed(_ counters: FleetCounters) {
        if held {
            counters.closedAfterReady.add(1, ordering: .relaxed)
        } else {
            counters.closedBeforeReady.add(1, ordering: .relaxed)
        }
    }
}

final class MQTTIdleClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let clientID: String
    let counters: FleetCounters
    private var state = HeldState()
    private var received = ByteBuffer()

    init(clientID: String, counters: FleetCounters) {
        self.clientID = clientID
        self.counters = counters
    }

    /// CONNECT, MQTT 3.1.1, clean session, no credentials (the certificate identifies the client).
    static func connect(clientID: String, keepAlive: UInt16) -> ByteBuffer {
        var variable = ByteBuffer()
        variable.writeInteger(UInt16(4))
        variable.writeString("MQTT")
        variable.writeInteger(UInt8(4))  // protocol level 3.1.1
        variable.writeInteger(UInt8(0x02))  // clean session
        variable.writeInteger(keepAlive)
        variable.writeInteger(UInt16(clientID.utf8.count))
        variable.writeString(clientID)
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x10))
        var remaining = variable.readableBytes
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            packet.writeInteger(byte)
        } while remaining > 0
        packet.writeImmutableBuffer(variable)
        return packet
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(Self.connect(clientID: clientID, keepAlive: PeerHold.mqttKeepAliveSeconds)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        // CONNACK: 0x20, length 2, flags, return code 0 (accepted).
        if received.readableBytes >= 4, let connack = received.getBytes(at: received.readerIndex, length: 4) {
            if connack[0] == 0x20, connack[3] == 0 {
                state.ready(counters)
            } else {
                context.close(promise: nil)
            }
            received.clear()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed(counters)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

final class NATSIdleClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest line accepted from the server (INFO is a few hundred bytes).
    static let maximumLine = 64 * 1024

    let tls: NIOSSLContext
    let counters: FleetCounters
    private var state = HeldState()
    private var secured = false
    private var line: [UInt8] = []

    init(tls: NIOSSLContext, counters: FleetCounters) {
        self.tls = tls
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        for byte in bytes.readableBytesView {
            line.append(byte)
            guard byte == UInt8(ascii: "\n") else {
                if line.count > Self.maximumLine { context.close(promise: nil) }
                continue
            }
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll(keepingCapacity: false)
            handle(text, context: context)
        }
    }

    private func handle(_ line: String, context: ChannelHandlerContext) {
        if line.hasPrefix("INFO"), !secured {
            secured = true
            do {
                // The server waits for the client's TLS handshake after its INFO.
                try context.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil), position: .first)
            } catch {
                context.close(promise: nil)
                return
            }
            let hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true,\"lang\":\"swift\",\"version\":\"0\",\"protocol\":1}\r\nPING\r\n"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: hello)), promise: nil)
        } else if line.hasPrefix("PONG") {
            state.ready(counters)
        } else if line.hasPrefix("PING") {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil)
        } else if line.hasPrefix("-ERR") {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed(counters)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
