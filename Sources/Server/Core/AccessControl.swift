import Foundation
public import JumpPolicy
public import JumpStore

/// Where the appliance asks "may this user do this to this Jump Client now": the stored policies as a
/// `PolicyDirectory`, the Jump Policies the directory does not hold, and the system's time zone database.
public struct AccessControl: Sendable {
    public let store: any Store
    /// The tz database Jump Policy schedules are evaluated in; injected so tests can use a fixture tree.
    public let timeZones: TimeZoneDatabase

    public init(store: any Store, timeZones: TimeZoneDatabase = TimeZoneDatabase()) {
        self.store = store
        self.timeZones = timeZones
    }

    /// The stored policies, read in one transaction; throws when they do not build (they were validated when
    /// written, so only a hand-edited database does that).
    public func directory() async throws -> PolicyDirectory {
        try await store.policyData().directory()
    }

    /// The directory and the Jump Policies, from one read.
    public func snapshot() async throws -> (directory: PolicyDirectory, jumpPolicies: [Int64: JumpPolicy]) {
        let data = try await store.policyData()
        return (try data.directory(), data.jumpPolicies)
    }

    /// Whether the customer is present at a Jump Client, by the guide's rule, from its latest statistics: a user is
    /// logged in at the console and, when `useScreenState` (the "use screen state" setting), the screen is neither
    /// locked nor showing a screen saver. Without statistics that tell, the customer is taken as not present.
    public static func customerPresence(
        of view: ClientHub.ClientView?,
        useScreenState: Bool
    ) -> (present: Bool, source: CustomerPresenceSource) {
        guard let view, let reportedAt = view.statisticsAt else { return (false, .unknown) }
        let source = CustomerPresenceSource.statistics(reportedAt: reportedAt, screenStateUsed: useScreenState)
        // The console facts let the current setting be applied even if it changed after the report.
        if let user = view.consoleUser, let locked = view.locked {
            let screenClear = !locked && view.screenSaver != "active"
            return (!user.isEmpty && (!useScreenState || screenClear), source)
        }
        if let present = view.presence { return (present, source) }
        return (false, .unknown)
    }
}
