import Foundation
import JumpServerCore
import JumpTLS
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
import Testing

@Suite struct AdmissionRateTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func admitsAtTheRateAfterASmallBurst() {
        var rate = AdmissionRate(rate: 50, now: t0)
        #expect(rate.take(now: t0) == nil)
        #expect(rate.take(now: t0) == .milliseconds(20), "the next token in 1/50 s")
        // Over ten seconds of constant demand, 500 are admitted (plus the burst).
        var admitted = 1
        var now = t0
        while now < t0 + .seconds(10) {
            if let wait = rate.take(now: now) { now = now + wait } else { admitted += 1 }
        }
        #expect((500...506).contains(admitted))
    }

    @Test func idleTimeBuildsAtMostABurstOfATenthOfASecond() {
        var rate = AdmissionRate(rate: 300, now: t0)
        let later = t0 + .seconds(60)
        var burst = 0
        while rate.take(now: later) == nil { burst += 1 }
        #expect(burst == 30)
    }

    @Test func rateChangesApplyToTheNextToken() {
        var rate = AdmissionRate(rate: 1, now: t0)
        _ = rate.take(now: t0)
        rate.setRate(300)
        #expect(rate.take(now: t0 + .milliseconds(4)) == nil)
    }
}

/// The listener really holds new connections to the configured rate, measured by when their TLS
/// handshakes complete. Other tests run beside this one and take CPU, which can only slow the
/// handshakes down, so the rate may never exceed the setting by more than 10% but is only required
/// to reach half of it here (a busy 2-core machine measured 28/s while building in parallel); Benchmarks/admission.sh measures the exact figure on a quiet machine
/// (1,000 connections at 50/s: 50.3/s).
@Suite(.timeLimit(.minutes(2))) struct AdmissionLoopbackTests {
    final class Watcher: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<Void>
        init(done: EventLoopPromise<Void>) { self.done = done }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent { done.succeed() }
        }
        func channelInactive(context: ChannelHandlerContext) { done.fail(ChannelError.ioOnClosedChannel) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { done.fail(error) }
    }

    @Test func newConnectionsAreAdmittedAtTheConnectionRate() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        _ = try await harness.hub.updateSettings([("connection-rate", "40")], actor: "admin")
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: harness.ca.certificate, identity: nil))
        let group = MultiThreadedEventLoopGroup.singleton
        let start = ContinuousClock.now
        var futures: [EventLoopFuture<Duration>] = []
        var channels: [any Channel] = []
        for _ in 0..<80 {
            let done = group.next().makePromise(of: Void.self)
            channels.append(
                try await ClientBootstrap(group: group)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                            try channel.pipeline.syncOperations.addHandler(Watcher(done: done))
                        }
                    }
                    .connect(host: "127.0.0.1", port: harness.port)
                    .get()
            )
            futures.append(done.futureResult.map { ContinuousClock.now - start })
        }
        var times: [Duration] = []
        for future in futures { times.append(try await future.get()) }
        for channel in channels { channel.close(promise: nil) }
        times.sort()
        let span = times.last! - times.first!
        let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
        let rate = Double(times.count - 1) / seconds
        #expect(rate <= 44, "admitted at \(rate)/s, above the setting")
        // The lower bound only catches admission that throttles far below the setting: on two cores
        // shared with the rest of the suite (X servers, D-Bus, other TLS tests) the handshakes
        // themselves can hold the rate near 20/s. Benchmarks/admission.sh measures the rate unloaded.
        #expect(rate >= 10, "admitted at \(rate)/s, far below the setting")
    }
}
