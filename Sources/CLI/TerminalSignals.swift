import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signals that matter during a session, taken with Dispatch sources rather than C handlers: SIGINT,
/// SIGTERM and SIGHUP end jumpctl (after `terminate` has restored the terminal), SIGWINCH becomes
/// ``windowChanges``. In raw mode the keyboard sends no SIGINT; these come from `kill` or a closed terminal.
final class TerminalSignals {
    static let terminating: [CInt] = [SIGINT, SIGTERM, SIGHUP]

    /// One element per SIGWINCH (several close together may arrive as one).
    let windowChanges: AsyncStream<Void>
    private let sources: [any DispatchSourceSignal]
    private let queue = DispatchQueue(label: "jumpctl.signals")

    /// `terminate` runs on a Dispatch queue with the signal's number and must end the process.
    init(terminate: @escaping @Sendable (CInt) -> Never) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        windowChanges = stream
        var sources: [any DispatchSourceSignal] = []
        for number in Self.terminating + [SIGWINCH] {
            // Dispatch sees a signal only when its default action (ending the process) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            if number == SIGWINCH {
                source.setEventHandler { continuation.yield() }
                source.setCancelHandler { continuation.finish() }
            } else {
                source.setEventHandler { terminate(number) }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Stops watching; the terminating signals get their default action back.
    func cancel() {
        for source in sources { source.cancel() }
        for number in Self.terminating { signal(number, SIG_DFL) }
    }
}
