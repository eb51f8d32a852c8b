import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Opens many TLS connections to an appliance's agent port at once and reports when each handshake
/// finished: the rate at which the appliance admits new connections.
///
///     jump-bench-admission --server 127.0.0.1:7443 --ca DATA/ca.pem [--connections 1000]
///
/// Benchmarks/admission.sh starts an appliance, sets its connection rate and runs this.
@main
enum AdmissionBenchmark {
    static func main() async throws {
        var server = "127.0.0.1:7443"
        var caPath = ""
        var connections = 1000
        var expected: Double?
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--server": server = arguments.popFirst() ?? server
            case "--ca": caPath = arguments.popFirst() ?? ""
            case "--connections": connections = Int(arguments.popFirst() ?? "") ?? connections
            case "--expected-rate": expected = Double(arguments.popFirst() ?? "")
            case "--help", "-h":
                print("usage: jump-bench-admission --server HOST:PORT --ca CA.pem [--connections N] [--expected-rate R]")
                return
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument); see --help\n".utf8))
                exit(64)
            }
        }
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) else {
            FileHandle.standardError.write(Data("--server must be HOST:PORT\n".utf8))
            exit(64)
        }
        let host = String(server[..<colon])
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.applicationProtocols = ["jump/1"]
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .file(caPath)
        let context = try NIOSSLContext(configuration: tls)

        let group = MultiThreadedEventLoopGroup.singleton
        let start = ContinuousClock.now
        let times = Mutex<[Duration]>([])
        let failures = Mutex(0)
        var channels: [any Channel] = []
        for _ in 0..<connections {
            let done = group.next().makePromise(of: Void.self)
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(120))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: done))
                    }
                }
                .connect(host: host, port: port)
                .get()
            channels.append(channel)
            done.futureResult.whenComplete { result in
                switch result {
                case .success: times.withLock { $0.append(ContinuousClock.now - start) }
                case .failure: failures.withLock { $0 += 1 }
                }
            }
        }
        print("opened \(connections) connections in \(ContinuousClock.now - start); waiting for the handshakes")
        while times.withLock(\.count) + failures.withLock({ $0 }) < connections {
            try await Task.sleep(for: .milliseconds(100))
        }
        for channel in channels { channel.close(promise: nil) }

        let sorted = times.withLock { $0 }.sorted()
        guard sorted.count >= 2 else {
            print("fewer than two handshakes finished (\(failures.withLock { $0 }) failed)")
            exit(1)
        }
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        let span = seconds(sorted.last! - sorted.first!)
        let rate = Double(sorted.count - 1) / span
        print(String(format: "handshakes completed: %d, failed: %d", sorted.count, failures.withLock { $0 }))
        print(String(format: "first at %.3f s, last at %.3f s", seconds(sorted.first!), seconds(sorted.last!)))
        print(String(format: "admission rate: %.1f connections/s", rate))
        // Per-second arrivals, to show the rate holds throughout.
        var buckets: [Int: Int] = [:]
        for time in sorted { buckets[Int(seconds(time)), default: 0] += 1 }
        let perSecond = buckets.keys.sorted().map { "\(buckets[$0]!)" }.joined(separator: " ")
        print("admitted per second: \(perSecond)")
        if let expected {
            let deviation = (rate - expected) / expected * 100
            print(String(format: "against the configured %.0f/s: %+.1f%%", expected, deviation))
            if abs(deviation) > 10 { exit(1) }
        }
    }
}

/// Fulfils `done` when the TLS handshake completes, fails it when the connection closes first.
final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}
