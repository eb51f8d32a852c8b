import CSystemd
import FoundationEssentials
import Glibc
public import JumpAgentCore
import Synchronization

/// The screen helper: a short-lived process (`jump-agent screen-probe`) that the agent starts as the
/// console user for every report. Root cannot join a user's session bus, and the X server's
/// Xauthority file and shared memory belong to the user, so the helper asks as that user. A hung X
/// server or bus costs the helper its life (the agent's deadline, and an alarm of its own), never the
/// agent a thread.
public enum ScreenHelper {
    /// How long one ScreenSaver.GetActive call on the session bus may take.
    public static let busTimeoutMilliseconds: UInt32 = 1000

    /// Gives up root for the account `uid`: its supplementary groups, then its group, then its user.
    /// Afterwards regaining root must fail, or the helper refuses to go on.
    public static func becomeUser(uid: UInt32, gid: UInt32) throws(ScreenError) {
        if getuid() == uid && geteuid() == uid { return }
        guard geteuid() == 0 else {
            throw ScreenError("the screen helper runs as uid \(geteuid()) and cannot become uid \(uid): run the agent as root")
        }
        let name = DisplayLocator.systemAccount(uid)?.name
        let groupsSet = name.map { initgroups($0, gid) == 0 } ?? (setgroups(0, nil) == 0)
        guard groupsSet, setgid(gid) == 0, setuid(uid) == 0 else {
            throw ScreenError("cannot become uid \(uid) gid \(gid): \(String(cString: strerror(errno)))")
        }
        guard setuid(0) != 0, getuid() == uid, geteuid() == uid, getegid() == gid else {
            throw ScreenError("the screen helper could regain root; refusing to go on")
        }
    }

    /// Asks every source, as the user this process now is. `display` nil: no X display (Wayland).
    public static func probe(display: String?, sessionBus: String?, thumbnail: Bool) -> ScreenProbe {
        var probe = ScreenProbe()
        probe.helperUID = geteuid()
        if let display {
            do {
                let x11 = try X11Display(display)
                do {
                    let saver = try x11.screenSaver()
                    probe.x11ScreenSaver = saver.server
                    probe.xscreensaver = saver.xscreensaver
                    probe.idleMilliseconds = saver.idleMilliseconds
                } catch {
                    probe.problems.append("screen saver: \(error)")
                }
                if thumbnail {
                    do {
                        probe.thumbnail = try Thumbnailer.make(x11)
                    } catch {
                        probe.captureError = error.description
                    }
                }
            } catch {
                probe.problems.append(error.description)
                if thumbnail { probe.captureError = error.description }
            }
        }
        if let sessionBus {
            var service = [CChar](repeating: 0, count: 128)
            var error = [CChar](repeating: 0, count: 512)
            let result = sessionBus.withCString { jump_session_screen_saver($0, busTimeoutMilliseconds, &service, service.count, &error, error.count) }
            if result >= 0 {
                probe.desktopScreenSaver = result == 1
                probe.desktopScreenSaverService = X11Display.text(service)
            } else if result != -ENOENT {
                probe.problems.append("session bus: \(X11Display.text(error))")
            }
        }
        return probe
    }
}

/// Runs `jump-agent screen-probe` as the console user for each probe, with a deadline.
public struct HelperScreenReader: ScreenReader {
    /// How long the helper may take before it is killed and the probe reported as failed.
    public static let deadline: Duration = .seconds(5)
    /// The most the helper may write; a thumbnail is at most ``ThumbnailLimits/byteBudget``.
    public static let maximumOutput = 256 * 1024

    let program: String

    /// `program` is the jump-agent executable; by default this very program, even if an upgrade
    /// replaced the file since it started.
    public init(program: String = "/proc/self/exe") {
        self.program = program
    }

    public func probe(_ display: ConsoleDisplay, thumbnail: Bool) -> ScreenProbe {
        do {
            return try run(display, thumbnail: thumbnail)
        } catch {
            var probe = ScreenProbe()
            probe.problems.append(error.description)
            if thumbnail { probe.captureError = error.description }
            return probe
        }
    }

    func run(_ display: ConsoleDisplay, thumbnail: Bool) throws(ScreenError) -> ScreenProbe {
        var arguments = ["screen-probe", "--uid", String(display.uid), "--gid", String(display.gid)]
        if let name = display.display { arguments += ["--display", name] }
        if let bus = display.sessionBus { arguments += ["--session-bus", bus] }
        if thumbnail { arguments.append("--thumbnail") }
        // Only what the helper needs; nothing of the agent's own environment.
        var environment = ["PATH": "/usr/bin:/bin", "HOME": display.home, "USER": display.user, "LOGNAME": display.user, "LANG": "C.UTF-8"]
        if let name = display.display { environment["DISPLAY"] = name }
        if let file = display.xauthority { environment["XAUTHORITY"] = file }
        if let bus = display.sessionBus { environment["DBUS_SESSION_BUS_ADDRESS"] = bus }
        let helper = ChildProcess(
            program: program, arguments: arguments, environment: environment, directory: "/",
            maximumOutput: Self.maximumOutput, deadline: Self.deadline)
        let outcome: ChildProcess.Outcome
        do {
            outcome = try helper.run()
        } catch {
            throw ScreenError("cannot start the screen helper \(program): \(error)")
        }
        if outcome.timedOut { throw ScreenError("the screen helper did not answer within \(Self.deadline)") }
        guard !outcome.overflowed else { throw ScreenError("the screen helper wrote more than \(Self.maximumOutput) bytes") }
        guard outcome.status == 0 else {
            throw ScreenError(outcome.signal != 0 ? "the screen helper was ended by signal \(outcome.signal)" : "the screen helper failed (status \(outcome.status))")
        }
        let data = Data(outcome.output)
        do {
            return try JSONDecoder().decode(ScreenProbe.self, from: data)
        } catch {
            throw ScreenError("the screen helper's answer is unreadable: \(error)")
        }
    }
}
