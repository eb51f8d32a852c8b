public import Foundation

/// A private system bus (dbus-daemon with a system-type configuration in a temporary folder) with
/// python-dbusmock's logind template on it: a real D-Bus, a mocked logind. The mock's control methods
/// (AddSession, SetLockedHint, Properties.Set) are called with dbus-send, as an outside tool would.
/// With `session: true` it is a session bus instead (for a desktop's mocked screen saver); every user
/// may connect to either.
public final class PrivateSystemBus {
    public let directory: URL
    public let address: String
    public let session: Bool
    private let daemon: Process
    private var mock: Process?

    /// The bus daemon's and the mock's process ids (for benchmarks that count their CPU).
    public var daemonProcessIdentifier: Int32 { daemon.processIdentifier }
    public var mockProcessIdentifier: Int32? { mock?.processIdentifier }

    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-send")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/dbusmock")
    }

    public init(session: Bool = false) throws {
        self.session = session
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-bus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Other users (the screen helper runs as nobody) must reach the socket.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let socket = directory.appendingPathComponent("bus_socket").path
        let configuration = directory.appendingPathComponent("system.conf")
        try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>\(session ? "session" : "system")</type>
              <listen>unix:path=\(socket)</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow user="*"/>
                <allow own="*"/>
                <allow send_destination="*"/>
                <allow receive_sender="*"/>
              </policy>
            </busconfig>
            """.write(to: configuration, atomically: true, encoding: .utf8)
        daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
        daemon.arguments = ["--config-file=\(configuration.path)", "--nofork", "--print-address"]
        let output = Pipe()
        daemon.standardOutput = output
        try daemon.run()
        // The daemon prints its address once it listens.
        guard let line = output.firstLine() else { throw BusError("dbus-daemon exited") }
        address = line
    }

    /// Starts the logind mock and waits until it owns its name.
    public func startLogind() throws {
        try startMock(template: "logind", name: "org.freedesktop.login1")
    }

    /// Starts a python-dbusmock template and waits until it owns `name`.
    public func startMock(template: String, name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-m", "dbusmock", session ? "--session" : "--system", "--template", template]
        process.environment = [session ? "DBUS_SESSION_BUS_ADDRESS" : "DBUS_SYSTEM_BUS_ADDRESS": address, "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        mock = process
        for _ in 0..<200 {
            let reply = try send(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", method: "org.freedesktop.DBus.NameHasOwner", ["string:\(name)"])
            if reply.contains("boolean true") { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw BusError("the \(template) mock did not start")
    }

    /// Calls a method with dbus-send and returns its printed reply.
    @discardableResult
    public func send(destination: String = "org.freedesktop.login1", path: String, method: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-send")
        process.arguments = ["--bus=\(address)", "--print-reply", "--dest=\(destination)", path, method] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    public func addSession(_ id: String, uid: UInt32, user: String) throws {
        try send(path: "/org/freedesktop/login1", method: "org.freedesktop.DBus.Mock.AddSession", [
            "string:\(id)", "string:seat0", "uint32:\(uid)", "string:\(user)", "boolean:true",
        ])
    }

    public func setSession(_ id: String, _ property: String, _ value: String) throws {
        try send(path: "/org/freedesktop/login1/session/\(id)", method: "org.freedesktop.DBus.Properties.Set", [
            "string:org.freedesktop.login1.Session", "string:\(property)", "variant:\(value)",
        ])
    }

    public func lock(_ id: String, _ locked: Bool) throws {
        try send(path: "/org/freedesktop/login1/session/\(id)", method: "org.freedesktop.login1.Session.SetLockedHint", ["boolean:\(locked)"])
    }

    deinit {
        // Neither the mock's GLib main loop nor dbus-daemon reliably ends on SIGTERM from here
        // (a test runner may hand its children an ignored SIGTERM); nothing of theirs needs saving.
        for process in [mock, daemon].compactMap({ $0 }) { process.killAndReap() }
        try? FileManager.default.removeItem(at: directory)
    }

    public struct BusError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}
