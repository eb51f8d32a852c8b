import Dispatch
import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import Logging
import NIOCore
import Synchronization
import Testing

/// A real login shell (`runuser --login`, so root only) on a pseudo-terminal through ``SessionChannels``
/// and ``ShellSessionHost``, over a connection twin whose serial context is a dispatch queue. Nothing
/// sleeps: the test waits for the `SessionEvent`, with a timeout that only matters when something is broken.
@Suite(.serialized, .enabled(if: geteuid() == 0, "runuser needs root"))
struct SessionChannelsShellTests {
    static let timeout: Duration = .seconds(30)

    /// Writes DATA at once (the window is large) and records everything in order.
    final class QueueTransport: SessionTransport, @unchecked Sendable {
        enum Record: Equatable {
            case control(ControlMessage)
            case data([UInt8])
        }

        let queue = DispatchQueue(label: "session-test-connection")
        private let records = Mutex<[Record]>([])
        /// Whether the SessionEvent was sent, and who waits for it.
        private let ending = Mutex<(sent: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        var log: [Record] { records.withLock { $0 } }

        func execute(_ body: @escaping @Sendable () -> Void) { queue.async(execute: body) }

        func schedule(after delay: TimeAmount, _ body: @escaping @Sendable () -> Void) {
            queue.asyncAfter(deadline: .now() + .nanoseconds(Int(delay.nanoseconds)), execute: body)
        }

        func sendControl(_ message: ControlMessage) {
            records.withLock { $0.append(.control(message)) }
            if case .sessionEvent = message {
                ending.withLock { ending in
                    ending.sent = true
                    return ending.waiter.take()
                }?.resume()
            }
        }

        func openChannel(_ id: UInt32, receiveWindow: UInt32, sendWindow: UInt32) throws(ProtocolError) {}
        func closeChannel(_ id: UInt32) {}

        func queueData(_ bytes: ByteBuffer, channel: UInt32, written: @escaping @Sendable (Bool) -> Void) {
            records.withLock { $0.append(.data(Array(bytes.readableBytesView))) }
            queue.async { written(true) }
        }

        func consumed(_ length: Int, channel: UInt32) {}

        /// Waits for the SessionEvent.
        func sessionEnded(within timeout: Duration) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withCheckedContinuation { continuation in
                        let sent = self.ending.withLock { ending in
                            if !ending.sent { ending.waiter = continuation }
                            return ending.sent
                        }
                        if sent { continuation.resume() }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw CancellationError()
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    @Test func loginShellRunsTheInputAndReportsItsExitStatus() async throws {
        let transport = QueueTransport()
        let channels = SessionChannels(
            transport: transport,
            configuration: .init(host: ShellSessionHost(terminationGrace: .seconds(1)), user: SessionUser("root")),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        var request = WireOpenSession()
        request.channelID = 1
        request.kind = .shell
        request.columns = 100
        request.rows = 30
        request.term = "xterm-256color"
        request.initialWindow = ProtocolLimits.defaultInitialWindowSize
        transport.queue.sync {
            #expect(channels.handle(.openSession(request), id: 7))
            channels.received(ByteBuffer(string: "echo hel''lo; exit 3\n"), channel: 1)
        }
        try await transport.sessionEnded(within: Self.timeout)

        let log = transport.log
        guard case .control(.ack(let ack)) = log.first else {
            Issue.record("the Ack must come first: \(log.first.map { "\($0)" } ?? "nothing")")
            return
        }
        #expect(ack.ref == 7)
        #expect(ack.result == .ok, "\(ack.detail)")
        #expect(ack.detail.hasPrefix("shell as root (pid "))
        let output = log.flatMap { record -> [UInt8] in if case .data(let bytes) = record { bytes } else { [] } }
        // "hel''lo" is what the terminal echoes; only the shell's own output says "hello".
        #expect(String(decoding: output, as: UTF8.self).contains("hello\r\n"))
        var exited = WireSessionEvent()
        exited.channelID = 1
        exited.kind = .exited
        exited.exitStatus = 3
        #expect(log.last == .control(.sessionEvent(exited)))
        #expect(transport.queue.sync { channels.count } == 0)
    }

    @Test func anUnknownAccountFailsToStartAndSaysSo() throws {
        let transport = QueueTransport()
        let channels = SessionChannels(
            transport: transport,
            configuration: .init(host: ShellSessionHost(), user: SessionUser("no-such-user-jump")),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        var request = WireOpenSession()
        request.channelID = 1
        request.kind = .shell
        request.columns = 80
        request.rows = 24
        transport.queue.sync { _ = channels.handle(.openSession(request), id: 1) }
        #expect(
            transport.log == [
                .control(.ack(WireAck(ref: 1, .failed, "there is no account \"no-such-user-jump\" on this computer")))
            ]
        )
    }
}
