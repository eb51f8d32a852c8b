public import JumpProtocol

/// Customer presence, as the guide defines it: with "use screen state to detect customer presence"
/// on, the customer is present only if a user is logged in, the screen is not locked and no screen
/// saver runs; with it off, present if a user is logged in, whatever the screen shows.
public enum PresenceRule {
    /// `console.user` is the user logged in on seat0 (empty when nobody is); `locked` is logind's
    /// LockedHint or a greeter or lock screen in front of that user's session.
    public static func isPresent(_ console: WireConsoleState, useScreenState: Bool) -> Bool {
        guard !console.user.isEmpty else { return false }
        guard useScreenState else { return true }
        return !console.locked && console.screenSaver != .active
    }

    /// The presence message for a report: the decision and the setting that was applied.
    public static func presence(_ console: WireConsoleState, useScreenState: Bool) -> WirePresence {
        var presence = WirePresence()
        presence.present = isPresent(console, useScreenState: useScreenState)
        presence.screenStateUsed = useScreenState
        return presence
    }
}
