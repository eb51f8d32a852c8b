import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// TLS connections with client certificates to another server (mosquitto, nats-server), each
/// saying the least its protocol needs for the server to keep it: the same count of idle clients
/// as the appliance holds, to compare the memory each server spends on one. With a ``Publishing``
/// plan each connection also sends one acknowledged message an interval, as a Jump Client sends its
/// statistics: to compare the CPU each server spends on one.
enum PeerProtocol: String, CaseIterable, Sendable {
    /// MQTT 3.1.1 CONNECT with a long keep-alive; held once CONNACK says accepted. A message is a
    /// PUBLISH at QoS 1, acknowledged by the broker's PUBACK.
    case mqtt
    /// NATS: the server's INFO in the clear, then TLS, then CONNECT and PING; held at PONG, and every
    /// PING of the server is answered. A message is a PUB followed by a PING in the same write,
    /// acknowledged by the server's PONG (core NATS has no acknowledgement of its own; this is how
    /// its clients flush).
    case nats
}

/// One message every `interval` from each held connection, the first at a random point of the
/// first interval (as agents that connected at different times report).
struct Publishing: Sendable {
    let interval: TimeAmount
    /// The payload: bytes that do not compress, the same for every message of every connection.
    let payload: ByteBuffer
    var payloadBytes: Int { payload.readableBytes }

    init(interval: TimeAmount, payloadBytes: Int) {
        self.interval = interval
        var generator = SplitMix64(seed: 0x6a75_6d70)
        payload = ByteBuffer(bytes: (0..<payloadBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Calls `publish` on the channel's event loop every interval, from a random first moment.
    /// `publish` is the channel handler's and stays on its loop (`NIOLoopBound` checks so).
    func start(on eventLoop: any EventLoop, _ publish: @escaping () -> Void) -> RepeatedTask {
        let first = TimeAmount.nanoseconds(Int64.random(in: 0..<max(interval.nanoseconds, 1)))
        let bound = NIOLoopBound(publish, eventLoop: eventLoop)
        return eventLoop.scheduleRepeatedTask(initialDelay: first, delay: interval) { _ in bound.value() }
    }
}

/// The message a connection waits to have acknowledged: when it left, for the round trip.
private struct Outstanding {
    private var sent: NIODeadline?

    mutating func send(_ counters: FleetCounters) -> Bool {
        // One at a time: a message still unacknowledged when the next is due means the server is behind.
        guard sent == nil else { return false }
        sent = .now()
        counters.reportsSent.add(1, ordering: .relaxed)
        return true
    }

    mutating func acknowledged(_ counters: FleetCounters) {
        guard let sent else { return }
        self.sent = nil
        counters.reportsAcked.add(1, ordering: .relaxed)
        counters.recordRoundTrip(Double((NIODeadline.now() - sent).nanoseconds) / 1e6)
    }
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
    /// nil: the connections stay idle.
    var publishing: Publishing? = nil

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
                .channelInitializer { [tls, peer, publishing] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        switch peer {
                        case .mqtt:
                            try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                            // Client ids are unique across processes: the broker drops the older of two alike.
                            try pipeline.addHandler(
                                MQTTIdleClient(clientID: "hold-\(getpid())-\(index)", counters: counters, publishing: publishing)
                            )
                        case .nats:
                            try pipeline.addHandler(NATSIdleClient(tls: tls, counters: counters, publishing: publishing, subject: "stats.\(getpid()).\(index)"))
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
    private(set) var held = false
    mutating func ready(_ counters: FleetCounters) {
        guard !held else { return }
        held = true
        counters.recordReady(resumed: false)
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

    /// The largest packet accepted from the broker (it sends CONNACK, PUBACK, PINGRESP: a few bytes).
    static let maximumPacket = 1024

    let clientID: String
    let counters: FleetCounters
    let publishing: Publishing?
    private var state = HeldState()
    private var received = ByteBuffer()
    private var outstanding = Outstanding()
    private var publisher: RepeatedTask?
    private var packetID: UInt16 = 0

    init(clientID: String, counters: FleetCounters, publishing: Publishing? = nil) {
        self.clientID = clientID
        self.counters = counters
        self.publishing = publishing
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
        return packet(0x10, variable)
    }

    /// PUBLISH at QoS 1 (the broker answers PUBACK with the same packet id), not retained.
    static func publish(topic: String, packetID: UInt16, payload: ByteBuffer) -> ByteBuffer {
        var variable = ByteBuffer()
        variable.writeInteger(UInt16(topic.utf8.count))
        variable.writeString(topic)
        variable.writeInteger(packetID)
        variable.writeImmutableBuffer(payload)
        return packet(0x32, variable)
    }

    /// A packet: its type and flags, the remaining length (7 bits a byte), the rest.
    private static func packet(_ first: UInt8, _ variable: ByteBuffer) -> ByteBuffer {
        var packet = ByteBuffer()
        packet.writeInteger(first)
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
        while let (type, body) = nextPacket() {
            switch type {
            case 0x20:  // CONNACK: flags, return code 0 (accepted)
                guard body.count == 2, body[1] == 0 else {
                    context.close(promise: nil)
                    return
                }
                state.ready(counters)
                startPublishing(context: context)
            case 0x40:  // PUBACK
                outstanding.acknowledged(counters)
            default:
                break
            }
        }
        if received.readableBytes > Self.maximumPacket { context.close(promise: nil) }
        received.discardReadBytes()
    }

    /// The next whole packet's type (high 4 bits) and body, consumed; nil until one is whole.
    private func nextPacket() -> (UInt8, [UInt8])? {
        guard let first = received.getInteger(at: received.readerIndex, as: UInt8.self) else { return nil }
        var length = 0
        var offset = 1
        while true {
            guard offset <= 4, let byte = received.getInteger(at: received.readerIndex + offset, as: UInt8.self) else { return nil }
            length |= Int(byte & 0x7f) << (7 * (offset - 1))
            offset += 1
            if byte & 0x80 == 0 { break }
        }
        guard received.readableBytes >= offset + length else { return nil }
        received.moveReaderIndex(forwardBy: offset)
        let body = received.readBytes(length: length) ?? []
        return (first & 0xf0, body)
    }

    private func startPublishing(context: ChannelHandlerContext) {
        guard let publishing, publisher == nil else { return }
        let payload = publishing.payload
        let topic = "stats/\(clientID)"
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        publisher = publishing.start(on: context.eventLoop) { [self] in
            guard outstanding.send(counters) else { return }
            packetID = packetID == .max ? 1 : packetID + 1
            let context = loopBound.value
            context.writeAndFlush(wrapOutboundOut(Self.publish(topic: topic, packetID: packetID, payload: payload)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        publisher?.cancel()
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
    let publishing: Publishing?
    let subject: String
    private var state = HeldState()
    private var secured = false
    private var line: [UInt8] = []
    private var outstanding = Outstanding()
    private var publisher: RepeatedTask?

    init(tls: NIOSSLContext, counters: FleetCounters, publishing: Publishing? = nil, subject: String) {
        self.tls = tls
        self.counters = counters
        self.publishing = publishing
        self.subject = subject
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
            if state.held {
                outstanding.acknowledged(counters)
            } else {
                state.ready(counters)
                startPublishing(context: context)
            }
        } else if line.hasPrefix("PING") {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil)
        } else if line.hasPrefix("-ERR") {
            context.close(promise: nil)
        }
    }

    /// Each message: PUB with its payload, then PING, in one write; the PONG acknowledges it.
    private func startPublishing(context: ChannelHandlerContext) {
        guard let publishing, publisher == nil else { return }
        var message = ByteBuffer(string: "PUB \(subject) \(publishing.payloadBytes)\r\n")
        message.writeImmutableBuffer(publishing.payload)
        message.writeString("\r\nPING\r\n")
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        publisher = publishing.start(on: context.eventLoop) { [self] in
            guard outstanding.send(counters) else { return }
            loopBound.value.writeAndFlush(wrapOutboundOut(message), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        publisher?.cancel()
        state.closed(counters)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
