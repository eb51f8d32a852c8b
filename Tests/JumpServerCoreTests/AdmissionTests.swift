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

/// The listener really holds new connections to the configured rate, measured by when the appliance
/// first answers each one (its TLS ServerHello, the first thing it does after accepting). Waiting
/// for whole handshakes instead would measure the test's own CPU: with other tests and builds beside
/// it, client-side handshakes on two cores fell to 8/s while the listener admitted at the setting.
/// Benchmarks/admission.sh measures the exact figure on a quiet machine (1,000 connections at 50/s: 50.3/s).
@Suite(.timeLimit(.minutes(2))) struct AdmissionLoopbackTests {
    /// Sits below TLS and sees the appliance's first bytes.
    final class FirstAnswer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let done: EventLoopPromise<Void>
        init(done: EventLoopPromise<Void>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            done.succeed()
            context.fireChannelRead(data)
        }
        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { done.fail(error) }
    }

    /// The rate at which `count` new connections got the appliance's first answer.
    static func answerRate(_ harness: ApplianceHarness, count: Int) async throws -> Double {
        let tls = try NIOSSLContext(configuration: JumpTLSConfiguration.client(trusting: harness.ca.certificate, identity: nil))
        let group = MultiThreadedEventLoopGroup.singleton
        let start = ContinuousClock.now
        var futures: [EventLoopFuture<Duration>] = []
        var channels: [any Channel] = []
        for _ in 0..<count {
            let done = group.next().makePromise(of: Void.self)
            channels.append(
                try await ClientBootstrap(group: group)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(FirstAnswer(done: done))
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
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
        return Double(times.count - 1) / seconds
    }

    @Test func newConnectionsAreAdmittedAtTheConnectionRate() async throws {
        let harness = try await ApplianceHarness.start()
        defer { Task { await harness.stop() } }
        // What this process can do right now, with the rate at its maximum: the other suites running
        // beside this one (bcrypt, X servers, TLS) can starve it far below any setting.
        _ = try await harness.hub.updateSettings([("connection-rate", "300")], actor: "admin")
        let capacity = try await Self.answerRate(harness, count: 80)
        _ = try await harness.hub.updateSettings([("connection-rate", "40")], actor: "admin")
        let rate = try await Self.answerRate(harness, count: 80)
        #expect(rate <= 44, "admitted at \(rate)/s, above the setting")
        #expect(rate >= min(40, capacity) / 2, "admitted at \(rate)/s while this machine could answer \(capacity)/s")
    }
}
