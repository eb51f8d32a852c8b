import JumpProtocol
import NIOCore

/// What the fuzzer runs for each input, and what the regression tests run for every input that
/// once crashed: the bytes go through the frame parser, the control codec and both connection state
/// machines, with the application's answers filled in so every state is reachable.
///
/// The first byte picks the peer (anonymous or a client certificate) and which side parses; the rest
/// is the byte stream.
public enum ProtocolFuzzHarness {
    private static let t0 = Timestamp(monotonic: .uptimeNanoseconds(1_000_000_000), unixMilliseconds: 1_795_000_000_000)

    public static func run(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        var stream = ByteBuffer(bytes: input.dropFirst())
        if selector & 0b10 == 0 {
            runServer(&stream, peer: selector & 1 == 0 ? .anonymous : .client("jc-1"))
        } else {
            runAgent(&stream, enroll: selector & 1 == 0)
        }
    }

    private static func runServer(_ stream: inout ByteBuffer, peer: ServerConnectionStateMachine.Peer) {
        var machine = ServerConnectionStateMachine(configuration: .init(), peer: peer, now: t0)
        var parser = FrameParser()
        var now = t0
        var heardHello = false
        do throws(ProtocolError) {
            while !machine.isClosed, let frame = try parser.next(from: &stream) {
                let event = try InboundEvent(frame)
                if frame.kind == .control { _ = ControlCodec.statsReportBytes(in: frame.payload) }
                if case .control(let envelope) = event, case .hello = envelope.body { heardHello = true }
                switch machine.received(event, now: now) {
                case .admit(let clientID, _):
                    precondition(peer == .client(clientID), "admission asked for a client the handshake did not name")
                    _ = machine.admitted(config: WireSiteConfig(), now: now)
                case .enroll:
                    precondition(peer == .anonymous, "enrollment on an authenticated connection")
                    _ = machine.enrollmentFinished(WireEnrollResponse())
                case .deliver(_, let message):
                    precondition(machine.isActive && heardHello, "a message reached the application before admission")
                    // What the appliance stores of a report as sent decodes to the report it took in.
                    if case .statsReport(let report) = message, let bytes = ControlCodec.statsReportBytes(in: frame.payload) {
                        let alone = try? ControlCodec.decodeStatsReport(Array(bytes.readableBytesView))
                        precondition(alone == report, "a stats report's bytes as sent decode to another report")
                    }
                case .deliverData:
                    precondition(machine.isActive && heardHello, "a message reached the application before admission")
                default:
                    break
                }
                if machine.isActive { _ = try? machine.openChannel(1, receiveWindow: 1024, sendWindow: 1024) }
                now = now.advanced(by: .milliseconds(Int64(stream.readableBytes % 4000)))
                _ = machine.tick(now: now)
            }
        } catch {
            _ = machine.failed(error)
        }
        precondition(machine.clientID == nil || peer != .anonymous, "an anonymous peer was admitted")
    }

    private static func runAgent(_ stream: inout ByteBuffer, enroll: Bool) {
        let purpose: AgentConnectionStateMachine.Purpose =
            enroll ? .enroll(WireEnrollRequest()) : .serve(CommandGate(agentID: "jc-1", lastSequence: 10))
        var machine = AgentConnectionStateMachine(configuration: .init(purpose: purpose))
        var parser = FrameParser()
        var now = t0
        _ = machine.channelActive(now: now)
        do throws(ProtocolError) {
            while !machine.isClosed, let frame = try parser.next(from: &stream) {
                switch machine.received(try InboundEvent(frame), now: now) {
                case .command(_, let command):
                    precondition(command.agentID == "jc-1" && command.sequence > 10, "a command passed the gate wrongly")
                default:
                    break
                }
                if machine.isActive { _ = try? machine.openChannel(1, receiveWindow: 1024, sendWindow: 1024) }
                now = now.advanced(by: .milliseconds(Int64(stream.readableBytes % 4000)))
                _ = machine.tick(now: now)
            }
        } catch {
            _ = machine.failed(error)
        }
    }
}
