import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Connects the local terminal to a session's WebSocket and carries out what ``JumpSessionState`` decides:
/// standard input to binary messages (one chunk in flight at a time), binary messages to standard output,
/// notices to standard error, SIGWINCH to resize messages.
struct TerminalSessionRunner {
    let threadPool: NIOThreadPool
    /// False for a participant who joined: the end of their piped input leaves the owner's shell running.
    var ownsSession = true

    /// Runs the session to its end and returns jumpctl's exit status. The terminal is in raw mode while this
    /// runs (when standard input is one) and restored on every way out, signals included.
    func run(_ connection: TerminalSocket.Connection, initialSize: WindowSize) async throws -> Int32 {
        let terminal = isatty(STDIN_FILENO) == 1 ? try RawTerminal(descriptor: STDIN_FILENO) : nil
        defer { terminal?.restore() }
        let signals = TerminalSignals { number in
            terminal?.restore()
            let name =
                number == SIGINT
                ? "SIGINT" : number == SIGTERM ? "SIGTERM" : number == SIGHUP ? "SIGHUP" : "signal \(number)"
            try? OutputWriter.writeAll(Array("\r\njumpctl: stopped by \(name)\n".utf8), to: STDERR_FILENO)
            exit(JumpSessionState.signalBase + number)
        }
        defer { signals.cancel() }
        let input = try InputReader(descriptor: STDIN_FILENO, threadPool: threadPool)
        let output = OutputWriter(threadPool: threadPool)
        let state = StateBox(JumpSessionState(inputIsTerminal: terminal != nil, ownsSession: ownsSession))

        let windowChanges = signals.windowChanges
        let ending = try await connection.executeThenClose { inbound, outbound in
            let allocator = ByteBufferAllocator()
            // If this fails the connection is gone, and reading says so.
            try? await outbound.write(TerminalSocket.text(.resize(initialSize), allocator: allocator))
            return await withTaskGroup(of: Void.self, returning: JumpSessionState.Exit.self) { group in
                group.addTask {
                    await forwardInput(input, to: outbound, state: state, allocator: allocator)
                }
                group.addTask {
                    for await _ in windowChanges {
                        let size = RawTerminal.windowSize() ?? initialSize
                        try? await outbound.write(TerminalSocket.text(.resize(size), allocator: allocator))
                    }
                }
                let ending = await readSession(inbound, output: output, rawMode: terminal != nil, state: state)
                input.cancel()
                group.cancelAll()
                // Leave politely; once the appliance has closed, the control handler drops this.
                try? await outbound.write(TerminalSocket.close(allocator: allocator))
                return ending
            }
        }
        let wasRaw = terminal?.isRaw ?? false
        terminal?.restore()
        if let message = ending.message {
            // The remote side may have left the cursor in the middle of a line.
            let text = (wasRaw ? "\r\n" : "") + "jumpctl: \(message)\n"
            try? OutputWriter.writeAll(Array(text.utf8), to: STDERR_FILENO)
        }
        return ending.status
    }

    private func readSession(
        _ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>,
        output: OutputWriter,
        rawMode: Bool,
        state: StateBox
    ) async -> JumpSessionState.Exit {
        var closeReason: String?
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .binary:
                    do {
                        try await output.write(Array(frame.unmaskedData.readableBytesView), to: STDOUT_FILENO)
                    } catch {
                        return state.mutate { $0.outputFailed("\(error)") }
                    }
                case .text:
                    let message: TerminalServerMessage
                    do {
                        message = try TerminalServerMessage.decode(frame.unmaskedData.readableBytesView)
                    } catch {
                        continue  // One unreadable message does not end the session.
                    }
                    switch state.mutate({ $0.received(message) }) {
                    case .none:
                        break
                    case .show(let line):
                        let text = rawMode ? "\r\njumpctl: \(line)\r\n" : "jumpctl: \(line)\n"
                        try? await output.write(Array(text.utf8), to: STDERR_FILENO)
                    case .finish(let exit):
                        return exit
                    }
                case .connectionClose:
                    closeReason = TerminalSocket.describeClose(frame)
                default:
                    break
                }
            }
        } catch NIOSSLError.uncleanShutdown {
            closeReason = "the connection was cut"
        } catch {
            closeReason = "\(error)"
        }
        return state.mutate { $0.connectionEnded(reason: closeReason) }
    }

    private func forwardInput(
        _ input: InputReader,
        to outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>,
        state: StateBox,
        allocator: ByteBufferAllocator
    ) async {
        do {
            while let bytes = try await input.read() {
                // Suspends while the connection cannot take more, so input is read no faster than it is sent.
                try await outbound.write(TerminalSocket.binary(bytes, allocator: allocator))
            }
            if state.mutate({ $0.inputEnded() }) == .sendEndOfTransmission {
                try await outbound.write(TerminalSocket.binary([0x04], allocator: allocator))
            }
        } catch {
            // Cancelled at the end of the session, or the connection is gone: the reading side reports it.
        }
    }
}

/// The state machine shared by the reading and the input tasks.
private final class StateBox: Sendable {
    private let state: Mutex<JumpSessionState>

    init(_ state: JumpSessionState) {
        self.state = Mutex(state)
    }

    func mutate<Result>(_ body: (inout JumpSessionState) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}
