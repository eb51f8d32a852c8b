import CX11TestSupport
public import Foundation

/// A real X server (Xvfb) on a display number it picks itself (-displayfd), with access control by an
/// Xauthority file of its own: only clients that present the cookie get in. -noreset keeps the root
/// window's picture and the RandR monitors after each test client leaves.
public final class XvfbServer {
    public let display: String
    public let directory: URL
    /// The cookie file, readable by every user (the screen helper runs as nobody in the tests).
    /// `directory` is this server's own scratch folder.
    public let xauthority: String
    private let process: Process

    public static var available: Bool {
        ["/usr/bin/Xvfb", "/usr/bin/xauth", "/usr/bin/xrandr", "/usr/bin/xset", "/usr/bin/xprop"].allSatisfy(FileManager.default.isExecutableFile)
    }

    /// One cookie and one Xauthority file for every server of this test process, so XAUTHORITY is
    /// set once and suites running side by side never change it under each other.
    private static let shared: Result<(cookie: String, directory: URL), any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-x11-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let cookie = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        // The server reads its own copy, with the cookie for any display number.
        try tool("/usr/bin/xauth", ["-f", directory.appendingPathComponent("server-auth").path, "add", ":0", "MIT-MAGIC-COOKIE-1", cookie])
        let clients = directory.appendingPathComponent("Xauthority").path
        _ = FileManager.default.createFile(atPath: clients, contents: nil, attributes: [.posixPermissions: 0o644])
        // This process's own X clients (the drawing, the capture tests) find the cookie here.
        setenv("XAUTHORITY", clients, 1)
        return (cookie, directory)
    }

    public init(width: Int = 1920, height: Int = 1080) throws {
        let (cookie, shared) = try Self.shared.get()
        directory = shared.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        xauthority = shared.appendingPathComponent("Xauthority").path

        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/Xvfb")
        process.arguments = ["-displayfd", "1", "-screen", "0", "\(width)x\(height)x24", "-noreset", "-nolisten", "tcp", "-auth", shared.appendingPathComponent("server-auth").path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        // Xvfb writes the display number once it accepts clients.
        guard let number = output.firstLine() else { throw XError("Xvfb exited before it was ready") }
        display = ":" + number
        try Self.tool("/usr/bin/xauth", ["-f", xauthority, "add", display, "MIT-MAGIC-COOKIE-1", cookie])
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: xauthority)
    }

    deinit {
        process.killAndReap()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The environment for a client of this server.
    public var environment: [String: String] { ["DISPLAY": display, "XAUTHORITY": xauthority, "PATH": "/usr/bin:/bin"] }

    /// Runs an X client tool (xrandr, xset, xprop) against this server.
    @discardableResult
    public func run(_ tool: String, _ arguments: [String]) throws -> String {
        try Self.tool("/usr/bin/" + tool, arguments, environment: environment)
    }

    /// Starts a long-running program as `uid` with this display and cookie in its environment, as a
    /// desktop's programs have them (the agent finds both there). Kill it with SIGKILL when done.
    public func userProgram(uid: UInt32) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/bin/sleep", "300"]
        process.environment = ["DISPLAY": display, "XAUTHORITY": xauthority]
        try process.run()
        // Ready once setpriv has become the user and started the program (a scan of /proc before
        // that would see a root process).
        let status = "/proc/\(process.processIdentifier)/status"
        for _ in 0..<500 {
            let text = (try? String(contentsOfFile: status, encoding: .utf8)) ?? ""
            if text.contains("Name:\tsleep"), text.contains("Uid:\t\(uid)\t") { return process }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.killAndReap()
        throw XError("the program as uid \(uid) did not start")
    }

    /// Fills the screen with cells of solid colours, row by row.
    public func fillGrid(columns: Int, rows: Int, _ colors: [UInt32]) throws {
        var error = [CChar](repeating: 0, count: 256)
        let result = display.withCString { jump_x11_test_fill_grid($0, Int32(columns), Int32(rows), colors, &error, error.count) }
        guard result == 0 else { throw XError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
    }

    @discardableResult
    public static func tool(_ path: String, _ arguments: [String], environment: [String: String] = ["PATH": "/usr/bin:/bin"]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw XError("\(path) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    public struct XError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}

extension Process {
    /// Kills the program and collects its exit, without Foundation's waitUntilExit (which can miss
    /// the exit of a program killed while its own children live on, and then waits forever).
    public func killAndReap() {
        guard processIdentifier > 0 else { return }
        kill(processIdentifier, SIGKILL)
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) == -1 && errno == EINTR {}
    }
}

extension Pipe {
    /// The first line a program writes, once it has written it (readiness: an address, a display
    /// number); nil when the program ended first.
    public func firstLine() -> String? {
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = fileHandleForReading.availableData
            guard !chunk.isEmpty else { return nil }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        return String(text.prefix { $0 != "\n" }).trimmingCharacters(in: .whitespaces)
    }
}
