import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import JumpTestSupport
import Testing

/// The thumbnail and the screen-saver sources against a real X server (Xvfb), and the screen helper
/// run as another user (nobody) the way the agent runs it as the console user.
@Suite(.serialized, .enabled(if: XvfbServer.available, "needs Xvfb, xauth, xrandr, xset and xprop (make test installs them)"))
struct ScreenCaptureTests {
    static let red: UInt32 = 0xE0_2020
    static let green: UInt32 = 0x20_C040
    static let blue: UInt32 = 0x20_40E0
    static let white: UInt32 = 0xF0_F0F0
    static let black: UInt32 = 0x00_0000
    static let nobody: UInt32 = 65534

    /// Whether a decoded pixel is within `tolerance` of a colour in every channel (JPEG is lossy).
    static func matches(_ pixel: (red: UInt8, green: UInt8, blue: UInt8), _ color: UInt32, tolerance: Int = 16) -> Bool {
        let expected = [Int(color >> 16 & 0xFF), Int(color >> 8 & 0xFF), Int(color & 0xFF)]
        let actual = [Int(pixel.red), Int(pixel.green), Int(pixel.blue)]
        return zip(expected, actual).allSatisfy { abs($0 - $1) <= tolerance }
    }

    /// The colour at the centre of each quadrant of a picture.
    static func quadrants(_ picture: RGBPicture) -> [(red: UInt8, green: UInt8, blue: UInt8)] {
        [(1, 1), (3, 1), (1, 3), (3, 3)].map { picture.pixel(x: picture.width * $0.0 / 4, y: picture.height * $0.1 / 4) }
    }

    /// The built jump-agent, which holds the helper (`jump-agent screen-probe`).
    static let agentProgram: String = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("jump-agent").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return ".build/debug/jump-agent"
    }()

    @Test func theThumbnailShowsThePictureOnTheScreen() throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 2, rows: 2, [Self.red, Self.green, Self.blue, Self.white])
        let display = try X11Display(server.display)
        let thumbnail = try Thumbnailer.make(display)
        #expect(thumbnail.width == 320 && thumbnail.height == 180)
        #expect(thumbnail.monitors == 1)
        #expect(thumbnail.jpeg.count <= ThumbnailLimits.byteBudget)
        let picture = try JPEG.decode(thumbnail.jpeg)
        #expect(picture.width == 320 && picture.height == 180)
        let corners = Self.quadrants(picture)
        for (pixel, color) in zip(corners, [Self.red, Self.green, Self.blue, Self.white]) {
            #expect(Self.matches(pixel, color), "got \(pixel), drew \(String(color, radix: 16))")
        }

        // The same screen signs the same; a changed screen signs differently.
        #expect(try Thumbnailer.make(display).signature == thumbnail.signature)
        try server.fillGrid(columns: 2, rows: 2, [Self.red, Self.green, Self.blue, Self.red])
        #expect(try Thumbnailer.make(display).signature != thumbnail.signature)
    }

    @Test func everyMonitorIsCapturedAndScreenOutsideThemStaysBlack() throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 2, rows: 2, [Self.red, Self.green, Self.blue, Self.white])
        // Two monitors: the left half at full height, the right half at half height, so the screen's
        // bottom right quarter is on no monitor.
        try server.run("xrandr", ["--setmonitor", "left", "960/254x1080/286+0+0", "screen"])
        try server.run("xrandr", ["--setmonitor", "right", "960/254x540/143+960+0", "none"])
        let capture = try X11Display(server.display).capture(largestSide: 320)
        #expect(capture.monitors == 2)
        let corners = Self.quadrants(capture.picture)
        for (pixel, color) in zip(corners, [Self.red, Self.green, Self.blue, Self.black]) {
            #expect(Self.matches(pixel, color, tolerance: 0), "got \(pixel), expected \(String(color, radix: 16))")
        }
    }

    @Test func withoutSharedMemoryTheCaptureIsTheSame() throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 3, rows: 3, [Self.red, Self.green, Self.blue, Self.white, Self.black, Self.red, Self.green, Self.blue, Self.white])
        let shared = try X11Display(server.display).capture(largestSide: 333)
        setenv("JUMP_X11_NO_SHM", "1", 1)
        defer { unsetenv("JUMP_X11_NO_SHM") }
        let plain = try X11Display(server.display).capture(largestSide: 333)
        #expect(shared.usedSharedMemory && !plain.usedSharedMemory)
        #expect(plain.picture == shared.picture)
        #expect(plain.picture.width == 333 && plain.picture.height == 187)
    }

    @Test func theXServersScreenSaverFollowsXset() throws {
        let server = try XvfbServer()
        let display = try X11Display(server.display)
        #expect(try display.screenSaver().server == "off")
        try server.run("xset", ["s", "activate"])
        #expect(try display.screenSaver().server == "on")
        try server.run("xset", ["s", "reset"])
        #expect(try display.screenSaver().server == "off")
        try server.run("xset", ["s", "off"])
        #expect(try display.screenSaver().server == "disabled")
    }

    @Test func xscreensaversStatusPropertyIsRead() throws {
        let server = try XvfbServer()
        let display = try X11Display(server.display)
        #expect(try display.screenSaver().xscreensaver == nil)
        // xscreensaver 6 keeps its state in this root window property: an INTEGER list whose first
        // element is the atom BLANK or LOCK while it runs, 0 while it waits. The daemon refuses to
        // run as root (the tests' user), so the test writes the property as the daemon does.
        func set(_ state: String) throws {
            let atom = state == "0" ? "0" : try Self.atom(state, server)
            try server.run("xprop", ["-root", "-f", "_SCREENSAVER_STATUS", "32i", "-set", "_SCREENSAVER_STATUS", "\(atom),1764316800,0"])
        }
        try set("0")
        #expect(try display.screenSaver().xscreensaver == "idle")
        try set("BLANK")
        #expect(try display.screenSaver().xscreensaver == "blanked")
        try set("LOCK")
        #expect(try display.screenSaver().xscreensaver == "locked")
        try server.run("xprop", ["-root", "-remove", "_SCREENSAVER_STATUS"])
        #expect(try display.screenSaver().xscreensaver == nil)
    }

    /// The real xscreensaver 6 daemon, run as nobody (it refuses root) on the test's display:
    /// `xscreensaver-command -activate` blanks, `-deactivate` ends it, and the agent sees both.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/xscreensaver"), "needs xscreensaver (make test installs it)"))
    func theXscreensaverDaemonIsSeen() async throws {
        let server = try XvfbServer()
        let home = server.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.ownerAccountID: Self.nobody, .groupOwnerAccountID: Self.nobody], ofItemAtPath: home.path)
        func asNobody(_ arguments: [String]) -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups"] + arguments
            process.environment = server.environment.merging(["HOME": home.path]) { $1 }
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            return process
        }
        let daemon = asNobody(["/usr/bin/xscreensaver", "-no-splash"])
        try daemon.run()
        defer { daemon.killAndReap() }
        let display = try X11Display(server.display)
        /// Asks until the daemon's asynchronous change shows, for at most ten seconds.
        func waitFor(_ state: String?) async throws -> String? {
            var seen = try display.screenSaver().xscreensaver
            for _ in 0..<100 where seen != state {
                try await Task.sleep(for: .milliseconds(100))
                seen = try display.screenSaver().xscreensaver
            }
            return seen
        }
        let started = try await waitFor("idle")
        #expect(started == "idle", "the daemon publishes its state when it starts")
        /// Sends a command; the daemon takes commands once its window is up, a moment after it starts.
        func command(_ argument: String) async throws {
            var status: Int32 = -1
            for _ in 0..<100 where status != 0 {
                if status != -1 { try await Task.sleep(for: .milliseconds(100)) }
                let process = asNobody(["/usr/bin/xscreensaver-command", argument])
                try process.run()
                process.waitUntilExit()
                status = process.terminationStatus
            }
            #expect(status == 0, "xscreensaver-command \(argument)")
        }
        try await command("-activate")
        let blanked = try await waitFor("blanked")
        #expect(blanked == "blanked")
        try await command("-deactivate")
        let ended = try await waitFor("idle")
        #expect(ended == "idle")
    }

    /// The number of an atom, interned through xprop (an ATOM-typed property set by name, read back as a number).
    static func atom(_ name: String, _ server: XvfbServer) throws -> String {
        try server.run("xprop", ["-root", "-f", "JUMP_TEST_ATOM", "32a", "-set", "JUMP_TEST_ATOM", name])
        let text = try server.run("xprop", ["-root", "-f", "JUMP_TEST_ATOM", "32c", "JUMP_TEST_ATOM"])
        guard let value = text.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines), UInt32(value) != nil else {
            throw XvfbServer.XError("cannot read the atom of \(name): \(text)")
        }
        return value
    }

    @Test func theHelperRunsAsTheConsoleUserWithTheirXauthority() throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 2, rows: 2, [Self.red, Self.green, Self.blue, Self.white])
        let reader = HelperScreenReader(program: Self.agentProgram)
        var console = ConsoleDisplay(user: "nobody", uid: Self.nobody, gid: Self.nobody, home: "/nonexistent", display: server.display, xauthority: server.xauthority)
        let probe = reader.probe(console, thumbnail: true)
        #expect(probe.helperUID == Self.nobody)
        #expect(probe.problems.isEmpty, "\(probe.problems)")
        let thumbnail = try #require(probe.thumbnail, "\(probe.captureError ?? "")")
        #expect(Self.matches(Self.quadrants(try JPEG.decode(thumbnail.jpeg))[0], Self.red))
        #expect(probe.x11ScreenSaver == "off")
        #expect(probe.screenSaverState == .inactive)

        // Without the user's cookie the X server turns the helper away, and the report says why.
        console.xauthority = nil
        let refused = reader.probe(console, thumbnail: true)
        #expect(refused.thumbnail == nil)
        #expect(refused.captureError?.contains("cannot open X display \(server.display)") == true, "\(refused.captureError ?? "")")
        #expect(refused.screenSaverState == .unknown)
    }

    @Test func theDesktopsScreenSaverIsAskedOnTheUsersSessionBus() throws {
        try #require(PrivateSystemBus.available, "needs dbus-daemon and python3-dbusmock")
        let bus = try PrivateSystemBus(session: true)
        try bus.startMock(template: "gnome_screensaver", name: "org.gnome.ScreenSaver")
        let reader = HelperScreenReader(program: Self.agentProgram)
        let console = ConsoleDisplay(user: "nobody", uid: Self.nobody, gid: Self.nobody, home: "/nonexistent", sessionBus: bus.address)
        let idle = reader.probe(console, thumbnail: false)
        #expect(idle.problems.isEmpty, "\(idle.problems)")
        #expect(idle.desktopScreenSaver == false)
        #expect(idle.desktopScreenSaverService == "org.gnome.ScreenSaver")
        #expect(idle.screenSaverState == .inactive)

        try bus.send(destination: "org.gnome.ScreenSaver", path: "/org/gnome/ScreenSaver", method: "org.gnome.ScreenSaver.SetActive", ["boolean:true"])
        let active = reader.probe(console, thumbnail: false)
        #expect(active.desktopScreenSaver == true)
        #expect(active.screenSaverState == .active)
    }

    @Test func aSessionBusWithoutAScreenSaverLeavesTheStateToTheOtherSources() throws {
        try #require(PrivateSystemBus.available, "needs dbus-daemon and python3-dbusmock")
        let bus = try PrivateSystemBus(session: true)
        let probe = HelperScreenReader(program: Self.agentProgram).probe(
            ConsoleDisplay(user: "nobody", uid: Self.nobody, gid: Self.nobody, home: "/nonexistent", sessionBus: bus.address), thumbnail: false)
        #expect(probe.problems.isEmpty, "\(probe.problems)")
        #expect(probe.desktopScreenSaver == nil)
        #expect(probe.screenSaverState == .unknown)
    }

    /// The whole path a report takes: logind says an X11 session of nobody's is in front (a fake
    /// console reader), the cookie is found in the environment of nobody's program on that display
    /// in the live /proc, the helper captures as nobody, and the report carries the thumbnail once.
    @Test func aReportCarriesTheThumbnailOnlyWhenItChanged() async throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 2, rows: 2, [Self.red, Self.green, Self.blue, Self.white])
        let desktopProgram = try server.userProgram(uid: Self.nobody)
        defer { desktopProgram.killAndReap() }

        let session = LogindConsole.Session(user: "nobody", uid: Self.nobody, type: "x11", sessionClass: "user", display: server.display, remote: false, locked: false)
        let source = LinuxStatsSource(
            console: FixedConsole(LogindConsole(active: session, userSession: session)),
            screen: HelperScreenReader(program: Self.agentProgram),
            locator: DisplayLocator(account: { _ in DisplayLocator.Account(name: "nobody", gid: Self.nobody, home: "/nonexistent") })
        )
        let request = ReportRequest(selection: [.thumbnail], includeFacts: false, useScreenState: true)
        var gate = ThumbnailGate()
        var first = await source.report(request)
        #expect(first.thumbnailStatus == .captured, "\(first.thumbnailDetail)")
        #expect(source.lastScreenProbe?.helperUID == Self.nobody)
        gate.filter(&first)
        #expect(first.thumbnailStatus == .captured)
        #expect(first.thumbnail.width == 320)
        #expect(first.console.screenSaver == .inactive)
        #expect(first.presence.present)

        var second = await source.report(request)
        gate.filter(&second)
        #expect(second.thumbnailStatus == .unchanged)
        #expect(!second.hasThumbnail)

        // The X server's saver takes presence away in screen-state mode; the picture changed too.
        try server.run("xset", ["s", "activate"])
        var third = await source.report(request)
        gate.filter(&third)
        #expect(third.console.screenSaver == .active)
        #expect(!third.presence.present)
    }
}

/// `jump-agent stats` as an administrator runs it on an endpoint: logind (mocked on a private system
/// bus) says nobody's X11 session on the Xvfb display is in front; the agent finds the cookie in the
/// environment of nobody's program, its helper captures as nobody, and the JPEG lands in the file.
@Suite(.serialized, .enabled(if: XvfbServer.available && PrivateSystemBus.available, "needs Xvfb and python3-dbusmock (make test installs them)"))
struct StatsCommandScreenTests {
    static func run(_ arguments: [String], bus: PrivateSystemBus) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ScreenCaptureTests.agentProgram)
        process.arguments = arguments
        process.environment = ["DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: text, as: UTF8.self), String(decoding: errorText, as: UTF8.self))
    }

    @Test func statsWritesTheThumbnailAndShowsItsInputs() throws {
        let server = try XvfbServer()
        try server.fillGrid(columns: 2, rows: 2, [ScreenCaptureTests.red, ScreenCaptureTests.green, ScreenCaptureTests.blue, ScreenCaptureTests.white])
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: ScreenCaptureTests.nobody, user: "nobody")
        try bus.setSession("c1", "Type", "string:x11")
        try bus.setSession("c1", "Display", "string:\(server.display)")
        let desktopProgram = try server.userProgram(uid: ScreenCaptureTests.nobody)
        defer { desktopProgram.killAndReap() }

        let file = server.directory.appendingPathComponent("shot.jpg")
        let result = try Self.run(["stats", "--json", "--sample", "10", "--thumbnail", file.path], bus: bus)
        #expect(result.status == 0, "\(result.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(report["thumbnail_captured"] as? Bool == true)
        #expect(report["thumbnail_status"] as? String == "THUMBNAIL_STATUS_CAPTURED")
        let thumbnail = try #require(report["thumbnail"] as? [String: Any])
        #expect(thumbnail["width"] as? Int == 320)
        #expect(thumbnail["jpeg"] == nil, "the JSON shows the size, not the bytes")
        let bytes = try #require(thumbnail["jpeg_bytes"] as? Int)
        let probe = try #require(report["screen_probe"] as? [String: Any])
        #expect(probe["helper_uid"] as? Int == Int(ScreenCaptureTests.nobody))
        #expect(probe["x11_screen_saver"] as? String == "off")
        let console = try #require(report["console"] as? [String: Any])
        #expect(console["user"] as? String == "nobody")
        #expect(console["screen_saver"] as? String == "SCREEN_SAVER_STATE_INACTIVE")
        #expect((report["presence"] as? [String: Any])?["present"] as? Bool == true)

        let jpeg = try Data(contentsOf: file)
        #expect(jpeg.count == bytes)
        let picture = try JPEG.decode(jpeg)
        #expect(ScreenCaptureTests.matches(ScreenCaptureTests.quadrants(picture)[3], ScreenCaptureTests.white))
    }

    @Test func withoutAPictureStatsSaysWhyAndFails() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: ScreenCaptureTests.nobody, user: "nobody")
        try bus.setSession("c1", "Type", "string:wayland")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jump-shot-\(UUID().uuidString).jpg")
        let result = try Self.run(["stats", "--sample", "10", "--thumbnail", file.path], bus: bus)
        #expect(result.status == 69)
        #expect(result.error.contains("no thumbnail (wayland): a Wayland session cannot be captured"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }
}

/// A console reader that answers what it was given.
struct FixedConsole: ConsoleReader {
    let console: LogindConsole
    init(_ console: LogindConsole) { self.console = console }
    func read() throws -> LogindConsole { console }
}
