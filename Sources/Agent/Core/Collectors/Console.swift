public import JumpProtocol

/// What logind says about seat0: the active session, and the user session on the seat (the same one,
/// or one behind a greeter or lock screen).
public struct LogindConsole: Hashable, Sendable {
    public struct Session: Hashable, Sendable {
        public var user: String
        public var uid: UInt32
        public var type: String
        public var sessionClass: String
        public var display: String
        public var remote: Bool
        public var locked: Bool

        public init(user: String, uid: UInt32, type: String, sessionClass: String, display: String, remote: Bool, locked: Bool) {
            self.user = user
            self.uid = uid
            self.type = type
            self.sessionClass = sessionClass
            self.display = display
            self.remote = remote
            self.locked = locked
        }
    }

    public var active: Session?
    public var userSession: Session?

    public init(active: Session? = nil, userSession: Session? = nil) {
        self.active = active
        self.userSession = userSession
    }

    /// The console for a report. A greeter or lock screen in front of a user's session means that
    /// user is logged in with the screen locked (light-locker locks by switching seat0 to the greeter).
    public func state(screenSaver: WireScreenSaverState) -> WireConsoleState {
        var state = WireConsoleState()
        state.screenSaver = screenSaver
        if let active {
            state.sessionClass = Self.sessionClass(active.sessionClass)
            state.remote = active.remote
        }
        let user = active?.sessionClass == "user" ? active : userSession
        guard let user else { return state }
        state.user = user.user
        state.sessionType = Self.sessionType(user.type)
        let lockedInFront = active.map { $0.sessionClass == "greeter" || $0.sessionClass == "lock-screen" } ?? false
        state.locked = user.locked || lockedInFront
        return state
    }

    /// The graphical session a screenshot would come from, when there is one in front.
    public var graphicalSession: Session? {
        guard let active, active.sessionClass == "user" else { return nil }
        return active
    }

    static func sessionType(_ text: String) -> WireSessionType {
        switch text {
        case "x11": .x11
        case "wayland": .wayland
        case "tty": .tty
        case "": .unspecified
        default: .other
        }
    }

    static func sessionClass(_ text: String) -> WireSessionClass {
        switch text {
        case "user": .user
        case "greeter": .greeter
        case "lock-screen": .lockScreen
        case "": .unspecified
        default: .other
        }
    }
}

/// Reads seat0's state from logind. The Linux one asks over D-Bus.
public protocol ConsoleReader: Sendable {
    func read() throws -> LogindConsole
}

/// A console reader failed: no system bus, no logind.
public struct ConsoleReadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
