public import FoundationEssentials
import Glibc

/// Which local account a session's shell runs as. The endpoint decides, not the appliance: the
/// agent's configuration names one account, and a request for any other is refused.
public struct SessionUser: Sendable, Hashable {
    /// The account sessions run as when the configuration names none.
    public static let defaultUser = "root"

    public let configured: String

    public init(_ configured: String) {
        self.configured = configured
    }

    public enum Decision: Sendable, Hashable {
        case runAs(String)
        /// The detail for `Ack{REFUSED}`.
        case refuse(String)
    }

    /// An empty request means "whoever this Jump Client runs sessions as".
    public func decide(requested: String) -> Decision {
        guard requested.isEmpty || requested == configured else {
            return .refuse("this Jump Client runs sessions as \(configured) only")
        }
        return .runAs(configured)
    }

    /// The `sessionUser` setting of `etc/agent.json`, or nil when it has none.
    public static func configured(inAgentJSON data: Data) -> String? {
        struct Settings: Decodable { var sessionUser: String? }
        guard let user = (try? JSONDecoder().decode(Settings.self, from: data))?.sessionUser, !user.isEmpty else {
            return nil
        }
        return user
    }
}
