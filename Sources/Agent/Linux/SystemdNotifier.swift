public import FoundationEssentials
import Glibc
import JumpAgentCore

/// sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET. READY=1 once the agent runs,
/// WATCHDOG=1 at half the interval systemd asks for ($WATCHDOG_USEC), STOPPING=1 on the way out. Not
/// under systemd (no NOTIFY_SOCKET) it does nothing.
public final class SystemdNotifier: Sendable {
    private let path: String
    /// Half the watchdog interval systemd asked for, or nil without a watchdog.
    public let watchdogInterval: Duration?

    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108 else { return nil }
        self.path = path
        if let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 {
            watchdogInterval = .microseconds(microseconds / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends one notification, e.g. "READY=1". Failures are ignored, as sd_notify's callers do.
    public func notify(_ state: String) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            if bytes.first == UInt8(ascii: "@") { buffer[0] = 0 }  // the abstract namespace
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = state.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length) }
            }
        }
    }

    /// Pings the watchdog until the task is cancelled. In `jump-agent` it runs on the event loop that
    /// carries the connection (see ConcurrencyOnEventLoops), so an agent whose loop is stuck stops
    /// pinging and systemd restarts it.
    public func runWatchdog() async {
        guard let watchdogInterval else { return }
        while !Task.isCancelled {
            notify("WATCHDOG=1")
            try? await EventLoopSleep.sleep(for: watchdogInterval)
        }
    }
}
