public import FoundationEssentials
import Glibc
public import JumpProtocol

/// The bounds of the screenshot thumbnail.
public enum ThumbnailLimits {
    /// The larger side of a thumbnail, in pixels; the screen is scaled down to it, never up.
    public static let largestSide = 320
    /// A thumbnail's largest JPEG. Over it the quality steps down, then the picture halves.
    public static let byteBudget = 8 * 1024
    /// JPEG qualities tried in turn until the picture fits the byte budget.
    public static let qualities = [70, 55, 40, 28]
    /// Below this larger side the picture is not shrunk further to fit the budget.
    public static let smallestSide = 80
}

/// A graphical session's X display and the account a helper must run as to reach it and the user's
/// session bus (root cannot join a user's session bus, and an X server's Xauthority file belongs to
/// its user).
public struct ConsoleDisplay: Hashable, Sendable {
    public var user: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    /// The X display, e.g. ":0"; nil for a session without one (Wayland, text console).
    public var display: String?
    /// The Xauthority file the session's programs use; nil when none was found (the server may still
    /// let the user in by its access list, as Xwayland does).
    public var xauthority: String?
    /// The user's session bus, e.g. "unix:path=/run/user/1000/bus"; nil when it has none.
    public var sessionBus: String?

    public init(user: String, uid: UInt32, gid: UInt32, home: String, display: String? = nil, xauthority: String? = nil, sessionBus: String? = nil) {
        self.user = user
        self.uid = uid
        self.gid = gid
        self.home = home
        self.display = display
        self.xauthority = xauthority
        self.sessionBus = sessionBus
    }
}

/// What the screen helper found: the screen-saver sources and, when asked, a thumbnail. It travels
/// from the helper to the agent as JSON on the helper's standard output.
public struct ScreenProbe: Codable, Hashable, Sendable {
    /// The X server's own screen saver (XScreenSaverQueryInfo): "on", "off", "disabled"; nil unknown.
    public var x11ScreenSaver: String?
    /// xscreensaver's `_SCREENSAVER_STATUS`: "idle", "blanked", "locked"; nil when xscreensaver is not running.
    public var xscreensaver: String?
    /// The desktop's ScreenSaver.GetActive on the session bus; nil when no desktop answered.
    public var desktopScreenSaver: Bool?
    /// The service that answered, e.g. "org.gnome.ScreenSaver".
    public var desktopScreenSaverService: String?
    /// Milliseconds since the last keyboard or mouse input, from the X server.
    public var idleMilliseconds: UInt64?
    public var thumbnail: Picture?
    /// Why there is no thumbnail when one was asked for.
    public var captureError: String?
    /// Sources that failed, for the administrator (not a reason to give up the others).
    public var problems: [String]
    /// The user id the helper asked as.
    public var helperUID: UInt32?

    public struct Picture: Codable, Hashable, Sendable {
        public var jpeg: Data
        public var width: UInt32
        public var height: UInt32
        public var signature: UInt64
        public var monitors: Int
        public var quality: Int
        /// Microseconds to capture and downscale, and to encode.
        public var captureMicroseconds: UInt64
        public var encodeMicroseconds: UInt64

        public init(jpeg: Data, width: UInt32, height: UInt32, signature: UInt64, monitors: Int, quality: Int, captureMicroseconds: UInt64, encodeMicroseconds: UInt64) {
            self.jpeg = jpeg
            self.width = width
            self.height = height
            self.signature = signature
            self.monitors = monitors
            self.quality = quality
            self.captureMicroseconds = captureMicroseconds
            self.encodeMicroseconds = encodeMicroseconds
        }
    }

    public init() {
        problems = []
    }

    /// The screen saver runs when any source says so; it is known not to run when a source answered.
    public var screenSaverState: WireScreenSaverState {
        let active = x11ScreenSaver == "on" || xscreensaver == "blanked" || xscreensaver == "locked" || desktopScreenSaver == true
        if active { return .active }
        let answered = (x11ScreenSaver != nil && x11ScreenSaver != "disabled") || xscreensaver != nil || desktopScreenSaver != nil
        return answered ? .inactive : .unknown
    }

    /// xscreensaver locked the screen (logind's LockedHint does not know about it).
    public var lockedByScreenSaver: Bool { xscreensaver == "locked" }
}

/// Asks about the console's screen; the Linux one runs a helper process as the console user.
public protocol ScreenReader: Sendable {
    func probe(_ display: ConsoleDisplay, thumbnail: Bool) -> ScreenProbe
}

/// What to do about the screen for the console logind reports: whom to ask, and why there is no
/// thumbnail when there cannot be one. Decided by the session type, never by a `$DISPLAY`: capturing
/// Xwayland's root window gives a black picture.
public struct ScreenPlan: Hashable, Sendable {
    /// The session whose screen to ask about; nil when nobody's screen is in front.
    public var session: LogindConsole.Session?
    /// Whether that session has an X display to capture.
    public var capture: Bool
    /// The thumbnail status when there is no capture.
    public var status: WireThumbnailStatus
    public var detail: String

    public static func plan(for console: LogindConsole) -> ScreenPlan {
        guard let active = console.active else {
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "nobody is logged in on seat0")
        }
        switch active.sessionClass {
        case "user":
            break
        case "greeter":
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "the login screen is in front")
        case "lock-screen":
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "the lock screen is in front")
        default:
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "no user session is in front (class \(active.sessionClass))")
        }
        switch active.type {
        case "x11":
            return ScreenPlan(session: active, capture: true, status: .captured, detail: "")
        case "wayland":
            // The desktop's screen saver still answers on the session bus.
            return ScreenPlan(session: active, capture: false, status: .wayland, detail: "a Wayland session cannot be captured by another program")
        case "tty":
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "the console is a text terminal")
        default:
            return ScreenPlan(session: nil, capture: false, status: .noDisplay, detail: "the session has no display (type \(active.type.isEmpty ? "unspecified" : active.type))")
        }
    }
}

/// A cheap signature of a downscaled picture: FNV-1a over its size and its pixels without their two
/// lowest bits, so the same screen gives the same signature and any visible change a new one.
public enum ThumbnailSignature {
    public static func of(width: Int, height: Int, rgb: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        withUnsafeBytes(of: UInt32(width).littleEndian) { $0.forEach(mix) }
        withUnsafeBytes(of: UInt32(height).littleEndian) { $0.forEach(mix) }
        for byte in rgb { mix(byte >> 2) }
        return hash
    }
}

/// Sends a thumbnail only when the picture changed since the last one this connection sent.
public struct ThumbnailGate: Sendable {
    private var lastSignature: UInt64?

    public init() {}

    /// Replaces an unchanged picture in `report` by the status that says so.
    public mutating func filter(_ report: inout WireStatsReport) {
        guard report.thumbnailStatus == .captured, report.hasThumbnail else { return }
        if report.thumbnail.signature == lastSignature {
            report.clearThumbnail()
            report.thumbnailStatus = .unchanged
        } else {
            lastSignature = report.thumbnail.signature
        }
    }
}

/// Finds a session's X display and Xauthority file the way the desktop's own programs see them: logind's
/// Display property, else the environment of the user's processes (/proc/PID/environ), and the
/// XAUTHORITY those programs use, else ~/.Xauthority. Reads under an injected root, like the collectors.
public struct DisplayLocator: Sendable {
    public struct Account: Hashable, Sendable {
        public var name: String
        public var gid: UInt32
        public var home: String

        public init(name: String, gid: UInt32, home: String) {
            self.name = name
            self.gid = gid
            self.home = home
        }
    }

    /// At most this many processes are looked at, and this much of each environment read.
    public static let maximumProcesses = 4096
    public static let maximumEnvironmentBytes = 64 * 1024

    /// The root's path with a trailing slash. Plain paths, not URL: this runs at every report.
    let rootPrefix: String
    let account: @Sendable (UInt32) -> Account?

    public init(root: String = "/", account: @escaping @Sendable (UInt32) -> Account? = DisplayLocator.systemAccount) {
        self.rootPrefix = directoryPrefix(root)
        self.account = account
    }

    /// `path` (relative, or absolute on the endpoint) under the root.
    func underRoot(_ path: String) -> String {
        rootPrefix + (path.hasPrefix("/") ? String(path.dropFirst()) : path)
    }

    public func locate(_ session: LogindConsole.Session, wantDisplay: Bool) -> ConsoleDisplay? {
        guard let account = account(session.uid) else { return nil }
        var located = ConsoleDisplay(user: account.name, uid: session.uid, gid: account.gid, home: account.home)
        let bus = "run/user/\(session.uid)/bus"
        if FileManager.default.fileExists(atPath: underRoot(bus)) {
            located.sessionBus = "unix:path=/\(bus)"
        }
        guard wantDisplay else { return located }
        let logindDisplay = Self.validDisplay(session.display)
        var fromEnvironment: (display: String, xauthority: String?)?
        for environment in environments(of: session.uid) {
            guard let display = environment["DISPLAY"].flatMap(Self.validDisplay) else { continue }
            if let logindDisplay, display != logindDisplay { continue }
            let xauthority = environment["XAUTHORITY"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            if fromEnvironment == nil || (fromEnvironment?.xauthority == nil && xauthority != nil) {
                fromEnvironment = (display, xauthority)
            }
            if xauthority != nil { break }
        }
        located.display = logindDisplay ?? fromEnvironment?.display
        located.xauthority = fromEnvironment?.xauthority
        if located.xauthority == nil {
            let fallback = account.home.hasSuffix("/") ? account.home + ".Xauthority" : account.home + "/.Xauthority"
            if FileManager.default.fileExists(atPath: underRoot(fallback)) { located.xauthority = fallback }
        }
        return located.display == nil ? nil : located
    }

    /// An X display name: optional host, a colon, the display number and an optional screen.
    static func validDisplay(_ text: String) -> String? {
        guard text.utf8.count <= 64, let colon = text.lastIndex(of: ":") else { return nil }
        let host = text[..<colon]
        let number = text[text.index(after: colon)...]
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || "._-/".contains($0) }) else { return nil }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        return text
    }

    /// The environments of the user's processes, lowest process id first.
    func environments(of uid: UInt32) -> [[String: String]] {
        let proc = underRoot("proc")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []
        let pids = names.compactMap(Int.init).sorted().prefix(Self.maximumProcesses)
        return pids.compactMap { pid in
            let folder = "\(proc)/\(pid)"
            guard let status = readWhole(folder + "/status", maximumBytes: 64 * 1024).map({ String(decoding: $0, as: UTF8.self) }),
                Self.realUID(status) == uid,
                let data = readPrefix(ofFile: folder + "/environ", maximumBytes: Self.maximumEnvironmentBytes)
            else { return nil }
            var environment: [String: String] = [:]
            for entry in data.split(separator: 0) {
                guard let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
                let key = String(decoding: entry[entry.startIndex..<equals], as: UTF8.self)
                guard key == "DISPLAY" || key == "XAUTHORITY" else { continue }
                environment[key] = String(decoding: entry[(equals + 1)...], as: UTF8.self)
            }
            return environment.isEmpty ? nil : environment
        }
    }

    /// The real user id from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
    static func realUID(_ status: String) -> UInt32? {
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.dropFirst(4).split(whereSeparator: \.isWhitespace).first.flatMap { UInt32($0) }
        }
        return nil
    }

    /// The account from the system's user database (getpwuid_r: files, LDAP, whatever NSS says).
    public static let systemAccount: @Sendable (UInt32) -> Account? = { uid in
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return Account(name: String(cString: entry.pw_name), gid: entry.pw_gid, home: String(cString: entry.pw_dir))
    }
}
