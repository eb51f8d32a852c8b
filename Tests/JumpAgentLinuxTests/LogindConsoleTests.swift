import Foundation
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import JumpTestSupport
import Testing

/// The console user, session and lock state read over a real D-Bus from python-dbusmock's logind
/// (logind itself needs systemd as PID 1, which this machine does not run), and presence following
/// them in both modes.
@Suite(.serialized, .enabled(if: PrivateSystemBus.available, "needs dbus-daemon and python3-dbusmock (make test installs them)"))
struct LogindConsoleTests {
    func read(_ bus: PrivateSystemBus) throws -> WireConsoleState {
        try SDBusConsoleReader(busAddress: bus.address).read().state(screenSaver: .inactive)
    }

    func present(_ console: WireConsoleState) -> (screenState: Bool, loggedIn: Bool) {
        (PresenceRule.isPresent(console, useScreenState: true), PresenceRule.isPresent(console, useScreenState: false))
    }

    @Test func noSeatNoSessionNobodyPresent() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        let console = try read(bus)
        #expect(console.user.isEmpty)
        #expect(present(console) == (false, false))
        try bus.send(path: "/org/freedesktop/login1", method: "org.freedesktop.DBus.Mock.AddSeat", ["string:seat0"])
        #expect(try read(bus).user.isEmpty)
    }

    @Test func aUserAtAnUnlockedX11Session() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        try bus.setSession("c1", "Type", "string:x11")
        try bus.setSession("c1", "Display", "string::0")
        let console = try read(bus)
        #expect(console.user == "alice")
        #expect(console.sessionType == .x11)
        #expect(console.sessionClass == .user)
        #expect(!console.locked)
        #expect(!console.remote)
        #expect(present(console) == (true, true))
        let raw = try SDBusConsoleReader(busAddress: bus.address).read()
        #expect(raw.graphicalSession?.display == ":0")
        #expect(raw.graphicalSession?.uid == 1000)
    }

    @Test func lockingAndUnlockingFollowLockedHint() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        try bus.lock("c1", true)
        let locked = try read(bus)
        #expect(locked.locked)
        #expect(present(locked) == (false, true), "locked: present only when screen state is ignored")
        try bus.lock("c1", false)
        #expect(present(try read(bus)) == (true, true))
    }

    @Test func aGreeterInFrontOfTheUserMeansLocked() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        try bus.addSession("c2", uid: 107, user: "lightdm")  // becomes seat0's active session
        try bus.setSession("c2", "Class", "string:greeter")
        let console = try read(bus)
        #expect(console.user == "alice", "alice is still logged in behind the greeter")
        #expect(console.sessionClass == .greeter)
        #expect(console.locked)
        #expect(present(console) == (false, true))
    }

    @Test func aGreeterWithNobodyBehindItMeansNobody() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c2", uid: 107, user: "lightdm")
        try bus.setSession("c2", "Class", "string:greeter")
        let console = try read(bus)
        #expect(console.user.isEmpty)
        #expect(present(console) == (false, false))
    }

    @Test func aRemoteSessionIsReportedAsRemote() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        try bus.setSession("c1", "Remote", "boolean:true")
        #expect(try read(bus).remote)
    }

    @Test func aScreenSaverTakesPresenceAwayOnlyInScreenStateMode() throws {
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 1000, user: "alice")
        let console = try SDBusConsoleReader(busAddress: bus.address).read().state(screenSaver: .active)
        #expect(present(console) == (false, true))
    }

    @Test func noBusIsAClearError() {
        #expect(throws: ConsoleReadError.self) {
            try SDBusConsoleReader(busAddress: "unix:path=/nonexistent/bus").read()
        }
    }
}
