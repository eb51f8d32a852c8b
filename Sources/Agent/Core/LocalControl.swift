public import FoundationEssentials
import Glibc

/// Who may uninstall or disable the Jump Client from the computer itself, as the guide's "restrict
/// local uninstall/disable" setting says: root always; with the restriction on, nobody else; with
/// it off, also the user at the console.
public enum LocalControlPolicy {
    public enum Request: String, Sendable, CaseIterable {
        case uninstall
        case disable
    }

    public enum Decision: Equatable, Sendable {
        case allowed
        case refused(String)
    }

    public static func decide(_ request: Request, uid: UInt32, consoleUID: UInt32?, restricted: Bool) -> Decision {
        if uid == 0 { return .allowed }
        if restricted {
            return .refused("only root may \(request.rawValue) this Jump Client: the appliance restricts local uninstall and disable")
        }
        guard let consoleUID, consoleUID == uid else {
            return .refused("only the user at the console or root may \(request.rawValue) this Jump Client")
        }
        return .allowed
    }
}

/// The agent's local control socket, DIR/run/control.sock: any local user may connect; the agent
/// learns who from the kernel (SO_PEERCRED) and decides with ``LocalControlPolicy``. One line in
/// ("uninstall" or "disable"), one line out ("ok ..." or "refused ...").
public enum LocalControlSocket {
    public static func path(_ files: AgentFiles) -> URL { files.root.appendingPathComponent("run/control.sock") }

    /// Asks the running agent; the answer line, or nil when no agent listens.
    public static func ask(_ request: LocalControlPolicy.Request, files: AgentFiles) -> String? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        setReceiveTimeout(descriptor, seconds: 30)
        guard var address = socketAddress(path(files).path) else { return nil }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let line = request.rawValue + "\n"
        guard line.withCString({ write(descriptor, $0, strlen($0)) }) > 0 else { return nil }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 512)
        while answer.count < 4096 {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { break }
            answer += buffer[0..<count]
            if answer.contains(UInt8(ascii: "\n")) { break }
        }
        let text = String(decoding: answer, as: UTF8.self).trimmed()
        return text.isEmpty ? nil : text
    }

    static func socketAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    /// Listens on the socket on a thread of its own and answers each request with `handle`, which
    /// gets the request and the caller's uid and returns the decision; `then` runs after an allowed
    /// request was answered.
    public final class Server: @unchecked Sendable {
        private let descriptor: Int32
        private let path: String

        public init(files: AgentFiles, handle: @escaping @Sendable (LocalControlPolicy.Request, UInt32) -> LocalControlPolicy.Decision, then: @escaping @Sendable (LocalControlPolicy.Request, UInt32) -> Void) throws {
            let url = LocalControlSocket.path(files)
            path = url.path
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.deletingLastPathComponent().path)
            unlink(path)
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard listener >= 0, var address = socketAddress(path) else { throw AgentError(.io, "cannot open the control socket \(path)") }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, chmod(path, 0o666) == 0, listen(listener, 8) == 0 else {
                close(listener)
                throw AgentError(.io, "cannot listen on \(path): \(String(cString: strerror(errno)))")
            }
            descriptor = listener
            let started = DetachedThread.start(name: "jump-control", stackSize: 256 * 1024) {
                while true {
                    let client = accept(listener, nil, nil)
                    if client < 0 {
                        if errno == EINTR || errno == ECONNABORTED { continue }
                        return  // closed
                    }
                    Self.serve(client, handle: handle, then: then)
                }
            }
            guard started else {
                close(listener)
                throw AgentError(.io, "cannot start the thread that answers \(path)")
            }
        }

        static func serve(_ client: Int32, handle: (LocalControlPolicy.Request, UInt32) -> LocalControlPolicy.Decision, then: (LocalControlPolicy.Request, UInt32) -> Void) {
            setReceiveTimeout(client, seconds: 2)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var credentials = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
                close(client)
                return
            }
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = read(client, &buffer, buffer.count)
            let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmed() : ""
            let answer: String
            var allowed: LocalControlPolicy.Request?
            if let request = LocalControlPolicy.Request(rawValue: text) {
                switch handle(request, credentials.uid) {
                case .allowed:
                    answer = "ok \(request.rawValue)"
                    allowed = request
                case .refused(let reason):
                    answer = "refused \(reason)"
                }
            } else {
                answer = "refused unknown request; say uninstall or disable"
            }
            _ = (answer + "\n").withCString { write(client, $0, strlen($0)) }
            close(client)
            if let allowed { then(allowed, credentials.uid) }
        }

        /// struct ucred of <sys/socket.h> (glibc shows it only with _GNU_SOURCE).
        struct PeerCredentials {
            var pid: Int32 = 0
            var uid: UInt32 = 0
            var gid: UInt32 = 0
        }

        public func stop() {
            shutdown(descriptor, Int32(SHUT_RDWR))
            close(descriptor)
            unlink(path)
        }
    }
}

/// SO_RCVTIMEO in whole seconds. A struct timeval on 64-bit Linux is two longs (seconds,
/// microseconds); written as such, so no C struct member is needed from Swift.
public func setReceiveTimeout(_ descriptor: Int32, seconds: Int) {
    var value: (Int, Int) = (seconds, 0)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<(Int, Int)>.size))
}
