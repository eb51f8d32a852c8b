import FoundationEssentials
import Glibc
public import JumpProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

extension AgentRuntime {
    /// How long an uninstall by hand waits for the appliance to acknowledge it.
    public static let localUninstallReportTimeout = Duration.seconds(10)

    /// Tells the appliance that someone at the computer uninstalls (or disables) this Jump Client,
    /// so it applies its "uninstalled behaviour"; true when the appliance acknowledged. Without
    /// contact the uninstall goes on anyway and the appliance keeps the client as it last saw it.
    public func reportLocalUninstall(kind: WireLocalUninstallKind, user: String) async -> Bool {
        for server in configuration.servers {
            guard let (host, port) = Self.split(server) else { continue }
            let reporter = Reporter(kind: kind, user: user)
            let gate = CommandGate(agentID: configuration.clientID, lastSequence: state.withLock(\.lastCommandSequence))
            let channel: any Channel
            let tls = credentials.withLock { $0.tls }
            do {
                channel = try await AgentChannel.connect(
                    host: host, port: port, group: group, security: .enrolled(tls), connectTimeout: .seconds(5),
                    configuration: .init(purpose: .serve(gate), hello: Self.hello()), delegate: reporter
                )
            } catch {
                logger.info("cannot reach the appliance to report the uninstall", metadata: ["server": "\(server)", "error": "\(error)"])
                continue
            }
            let timeout = Task {
                try? await EventLoopSleep.sleep(for: Self.localUninstallReportTimeout, on: group)
                reporter.finish(false)
                channel.close(promise: nil)
            }
            let acknowledged = await reporter.result()
            timeout.cancel()
            channel.close(promise: nil)
            if acknowledged { return true }
        }
        return false
    }

    /// One connection that sends LocalUninstall once welcomed and waits for its acknowledgement.
    final class Reporter: AgentConnectionDelegate {
        let message: WireLocalUninstall
        private let state = Mutex<(sentID: UInt64?, done: Bool?, waiter: CheckedContinuation<Bool, Never>?)>((nil, nil, nil))

        init(kind: WireLocalUninstallKind, user: String) {
            var message = WireLocalUninstall()
            message.kind = kind
            message.localUser = String(user.prefix(64))
            self.message = message
        }

        func result() async -> Bool {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool? in
                    if let done = state.done { return done }
                    state.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }

        func finish(_ acknowledged: Bool) {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard state.done == nil else { return nil }
                state.done = acknowledged
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: acknowledged)
        }

        func connectionReady(_ connection: AgentConnection, welcome: WireWelcome) {
            connection.send(.localUninstall(message)).whenSuccess { [self] id in
                state.withLock { $0.sentID = id }
            }
        }

        func connection(_ connection: AgentConnection, received message: ControlMessage, id: UInt64) {
            guard case .ack(let ack) = message, ack.ref == state.withLock({ $0.sentID }) else { return }
            finish(ack.result == .ok)
            connection.close(WireGoodbye(.normal, "uninstalled"))
        }

        func connection(_ connection: AgentConnection, command: WireCommand, id: UInt64) {
            connection.send(.ack(WireAck(ref: id, .refused, "this Jump Client is being uninstalled")))
        }

        func connection(_ connection: AgentConnection, received data: ByteBuffer, channel: UInt32) {}

        func connectionClosed(_ connection: AgentConnection, outcome: AgentConnectionOutcome) {
            finish(false)
        }
    }
}
