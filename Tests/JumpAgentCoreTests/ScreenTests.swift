import Foundation
import JumpAgentCore
import JumpProtocol
import Synchronization
import Testing

/// The screen decisions without an X server: which session to ask, why there is no thumbnail, how
/// the screen-saver sources combine, when a picture is sent, and where the display and its cookie are.
@Suite struct ScreenTests {
    static func session(_ type: String, _ sessionClass: String = "user", display: String = "") -> LogindConsole.Session {
        LogindConsole.Session(user: "ada", uid: 1000, type: type, sessionClass: sessionClass, display: display, remote: false, locked: false)
    }

    @Test(arguments: [
        ("x11", "user", true, WireThumbnailStatus.captured, true),
        ("wayland", "user", false, .wayland, true),
        ("tty", "user", false, .noDisplay, false),
        ("x11", "greeter", false, .noDisplay, false),
        ("x11", "lock-screen", false, .noDisplay, false),
        ("unspecified", "user", false, .noDisplay, false),
    ])
    func thePlanFollowsTheSessionTypeAndClass(type: String, sessionClass: String, capture: Bool, status: WireThumbnailStatus, asks: Bool) {
        let plan = ScreenPlan.plan(for: LogindConsole(active: Self.session(type, sessionClass)))
        #expect(plan.capture == capture)
        #expect(plan.status == status)
        #expect((plan.session != nil) == asks)
        #expect(capture || !plan.detail.isEmpty, "a missing thumbnail always says why")
    }

    @Test func nobodyLoggedInMeansNoDisplay() {
        let plan = ScreenPlan.plan(for: LogindConsole())
        #expect(plan.session == nil)
        #expect(plan.status == .noDisplay)
        #expect(plan.detail == "nobody is logged in on seat0")
    }

    @Test(arguments: [
        (nil, nil, nil, WireScreenSaverState.unknown),
        ("disabled", nil, nil, .unknown),
        ("off", nil, nil, .inactive),
        ("on", nil, nil, .active),
        ("off", "idle", nil, .inactive),
        ("off", "blanked", nil, .active),
        ("off", "locked", nil, .active),
        (nil, nil, false, .inactive),
        (nil, nil, true, .active),
        ("off", "idle", true, .active),
    ] as [(String?, String?, Bool?, WireScreenSaverState)])
    func anySourceThatSeesASaverMakesItActive(server: String?, xscreensaver: String?, desktop: Bool?, expected: WireScreenSaverState) {
        var probe = ScreenProbe()
        probe.x11ScreenSaver = server
        probe.xscreensaver = xscreensaver
        probe.desktopScreenSaver = desktop
        #expect(probe.screenSaverState == expected)
        #expect(probe.lockedByScreenSaver == (xscreensaver == "locked"))
    }

    static func report(signature: UInt64) -> WireStatsReport {
        var report = WireStatsReport()
        report.thumbnailStatus = .captured
        report.thumbnail.jpeg = Data([0xFF, 0xD8, 0xFF, 0xD9])
        report.thumbnail.signature = signature
        return report
    }

    @Test func aThumbnailIsSentOnlyWhenThePictureChanged() {
        var gate = ThumbnailGate()
        var first = Self.report(signature: 7)
        gate.filter(&first)
        #expect(first.thumbnailStatus == .captured && first.hasThumbnail)
        var same = Self.report(signature: 7)
        gate.filter(&same)
        #expect(same.thumbnailStatus == .unchanged && !same.hasThumbnail)
        var changed = Self.report(signature: 8)
        gate.filter(&changed)
        #expect(changed.thumbnailStatus == .captured && changed.hasThumbnail)
        // A failure in between does not make the next picture look new.
        var failed = WireStatsReport()
        failed.thumbnailStatus = .failed
        gate.filter(&failed)
        var again = Self.report(signature: 8)
        gate.filter(&again)
        #expect(again.thumbnailStatus == .unchanged)
    }

    @Test func theSignatureSeesVisibleChangesOnly() {
        let grey = [UInt8](repeating: 128, count: 4 * 4 * 3)
        var noise = grey
        noise[5] ^= 1  // below what the signature looks at
        var visible = grey
        visible[5] = 200
        func sign(_ pixels: [UInt8], width: Int = 4) -> UInt64 {
            pixels.withUnsafeBytes { ThumbnailSignature.of(width: width, height: pixels.count / 3 / width, rgb: $0) }
        }
        #expect(sign(grey) == sign(noise))
        #expect(sign(grey) != sign(visible))
        #expect(sign(grey) != sign(grey, width: 8), "the same bytes in another shape are another picture")
    }

    // MARK: Finding the display

    /// A fixture root with processes of ada (1000) and of root, as /proc shows them.
    static func fixtureRoot(_ processes: [(pid: Int, uid: UInt32, environment: [String])], files: [String] = []) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("jump-locator-\(UUID().uuidString)")
        for process in processes {
            let folder = root.appendingPathComponent("proc/\(process.pid)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "Name:\tprogram\nUid:\t\(process.uid)\t\(process.uid)\t\(process.uid)\t\(process.uid)\n".write(to: folder.appendingPathComponent("status"), atomically: true, encoding: .utf8)
            try Data(process.environment.map { $0 + "\0" }.joined().utf8).write(to: folder.appendingPathComponent("environ"))
        }
        for file in files {
            let url = root.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data().write(to: url)
        }
        return root.path
    }

    static let ada: @Sendable (UInt32) -> DisplayLocator.Account? = { uid in
        uid == 1000 ? DisplayLocator.Account(name: "ada", gid: 1000, home: "/home/ada") : nil
    }

    @Test func theCookieComesFromTheUsersProgramsOnThatDisplay() throws {
        let root = try Self.fixtureRoot([
            (1, 0, ["DISPLAY=:1", "XAUTHORITY=/root/.Xauthority"]),
            (200, 1000, ["HOME=/home/ada", "DISPLAY=:0", "XAUTHORITY=/tmp/other"]),
            (300, 1000, ["DISPLAY=:1", "XAUTHORITY=/run/user/1000/gdm/Xauthority", "LANG=C"]),
        ], files: ["run/user/1000/bus"])
        let located = try #require(DisplayLocator(root: root, account: Self.ada).locate(Self.session("x11", display: ":1"), wantDisplay: true))
        #expect(located.display == ":1")
        #expect(located.xauthority == "/run/user/1000/gdm/Xauthority")
        #expect(located.sessionBus == "unix:path=/run/user/1000/bus")
        #expect(located.uid == 1000 && located.gid == 1000 && located.user == "ada")
    }

    @Test func withoutLogindsDisplayTheUsersProgramsTellIt() throws {
        let root = try Self.fixtureRoot([(300, 1000, ["DISPLAY=:2"]), (301, 1000, ["DISPLAY=:2", "XAUTHORITY=/home/ada/.Xauthority"])])
        let located = try #require(DisplayLocator(root: root, account: Self.ada).locate(Self.session("x11"), wantDisplay: true))
        #expect(located.display == ":2")
        #expect(located.xauthority == "/home/ada/.Xauthority")
        #expect(located.sessionBus == nil)
    }

    @Test func theHomeFoldersCookieIsTheLastResort() throws {
        let root = try Self.fixtureRoot([(300, 1000, ["PATH=/usr/bin"])], files: ["home/ada/.Xauthority"])
        let located = try #require(DisplayLocator(root: root, account: Self.ada).locate(Self.session("x11", display: ":0"), wantDisplay: true))
        #expect(located.display == ":0")
        #expect(located.xauthority == "/home/ada/.Xauthority")
    }

    @Test func noDisplayAnywhereIsNoDisplay() throws {
        let root = try Self.fixtureRoot([(300, 1000, ["PATH=/usr/bin"])])
        let locator = DisplayLocator(root: root, account: Self.ada)
        #expect(locator.locate(Self.session("x11"), wantDisplay: true) == nil)
        // A Wayland session needs only the account and the bus.
        #expect(locator.locate(Self.session("wayland"), wantDisplay: false)?.user == "ada")
        // An account the system does not know cannot be asked as.
        #expect(DisplayLocator(root: root, account: { _ in nil }).locate(Self.session("x11", display: ":0"), wantDisplay: true) == nil)
    }

    @Test(arguments: [":0", ":1.0", "unix:0", "localhost:10.0", "/tmp/launch-x/org.xquartz:0"])
    func displayNamesAreAccepted(_ name: String) throws {
        let root = try Self.fixtureRoot([(300, 1000, ["DISPLAY=\(name)", "XAUTHORITY=/x"])])
        #expect(DisplayLocator(root: root, account: Self.ada).locate(Self.session("x11"), wantDisplay: true)?.display == name)
    }

    @Test(arguments: ["", ":", "0", ":a", ":0;reboot", "$(reboot):0", ":0 :1", ":0.0.0", "host name:0"])
    func malformedDisplayNamesAreIgnored(_ name: String) throws {
        let root = try Self.fixtureRoot([(300, 1000, ["DISPLAY=\(name)", "XAUTHORITY=relative/file"])])
        #expect(DisplayLocator(root: root, account: Self.ada).locate(Self.session("x11", display: name), wantDisplay: true) == nil)
    }

    // MARK: Reports

    /// Records what it was asked and answers a fixed probe.
    final class RecordingScreen: ScreenReader {
        let answer: ScreenProbe
        let asked = Mutex<[(ConsoleDisplay, Bool)]>([])
        init(_ answer: ScreenProbe) { self.answer = answer }
        func probe(_ display: ConsoleDisplay, thumbnail: Bool) -> ScreenProbe {
            asked.withLock { $0.append((display, thumbnail)) }
            return answer
        }
    }

    struct FixedConsole: ConsoleReader {
        let console: LogindConsole
        func read() throws -> LogindConsole { console }
    }

    static let request = ReportRequest(selection: [.thumbnail, .consoleUser], includeFacts: false, useScreenState: true)

    @Test func onWaylandTheDesktopsSaverCountsAndTheReportSaysWhyThereIsNoPicture() async throws {
        var answer = ScreenProbe()
        answer.desktopScreenSaver = true
        let screen = RecordingScreen(answer)
        let session = Self.session("wayland")
        let root = try Self.fixtureRoot([], files: ["run/user/1000/bus"])
        let source = LinuxStatsSource(root: root, console: FixedConsole(console: LogindConsole(active: session, userSession: session)), screen: screen, locator: DisplayLocator(root: root, account: Self.ada))
        let report = await source.report(Self.request)
        #expect(report.thumbnailStatus == .wayland)
        #expect(!report.hasThumbnail)
        #expect(report.console.screenSaver == .active)
        #expect(!report.presence.present)
        let asked = screen.asked.withLock { $0 }
        #expect(asked.count == 1)
        #expect(asked.first?.1 == false, "no capture is asked of a Wayland session")
        #expect(asked.first?.0.sessionBus == "unix:path=/run/user/1000/bus")
    }

    @Test func atTheLoginScreenNobodyIsAsked() async throws {
        let screen = RecordingScreen(ScreenProbe())
        let source = LinuxStatsSource(console: FixedConsole(console: LogindConsole(active: Self.session("x11", "greeter"))), screen: screen, locator: DisplayLocator(account: Self.ada))
        let report = await source.report(Self.request)
        #expect(report.thumbnailStatus == .noDisplay)
        #expect(report.thumbnailDetail == "the login screen is in front")
        #expect(screen.asked.withLock { $0.isEmpty })
    }

    @Test func xscreensaversLockLocksTheConsole() async throws {
        var answer = ScreenProbe()
        answer.xscreensaver = "locked"
        let session = Self.session("x11", display: ":0")
        let root = try Self.fixtureRoot([])
        let source = LinuxStatsSource(root: root, console: FixedConsole(console: LogindConsole(active: session, userSession: session)), screen: RecordingScreen(answer), locator: DisplayLocator(root: root, account: Self.ada))
        let report = await source.report(ReportRequest(selection: [.consoleUser], includeFacts: false, useScreenState: false))
        #expect(report.console.locked)
        #expect(report.console.screenSaver == .active)
        #expect(report.presence.present, "with screen state off, a logged-in user is present")
        #expect(report.thumbnailStatus == .unspecified, "not selected, not reported")
    }

    @Test func aFailedCaptureSaysWhy() async throws {
        var answer = ScreenProbe()
        answer.captureError = "cannot open X display :0"
        let session = Self.session("x11", display: ":0")
        let root = try Self.fixtureRoot([])
        let source = LinuxStatsSource(root: root, console: FixedConsole(console: LogindConsole(active: session, userSession: session)), screen: RecordingScreen(answer), locator: DisplayLocator(root: root, account: Self.ada))
        let report = await source.report(Self.request)
        #expect(report.thumbnailStatus == .failed)
        #expect(report.thumbnailDetail == "cannot open X display :0")
    }
}
