/// A representative permission from the Users or Group Policies page that is not about one Jump Item.
public enum RepresentativePermission: String, CaseIterable, Codable, Sendable {
    /// Start a session outside a Jump Policy's schedule after being told the schedule does not permit it.
    case overrideJumpPolicySchedule

    public var title: String {
        switch self {
        case .overrideJumpPolicySchedule: "Override Jump Policy Schedule"
        }
    }
}

/// A user account as the policies see it: its own settings, before any group policy replaces them.
public struct User: Identifiable, Hashable, Codable, Sendable {
    public var id: UserID
    public var username: String
    public var displayName: String
    /// Applies in Jump Groups whose membership does not name a role.
    public var defaultJumpItemRole: JumpItemRoleID
    /// Applies to the user's own personal Jump Items.
    public var personalJumpItemsRole: JumpItemRoleID
    /// Applies in Jump Groups the user is not a member of; No Access keeps those groups closed.
    public var systemJumpItemRole: JumpItemRoleID
    public var representativePermissions: Set<RepresentativePermission>
    public var attendedSessionPolicy: SessionPolicyID?
    public var unattendedSessionPolicy: SessionPolicyID?

    public init(
        id: UserID,
        username: String,
        displayName: String = "",
        defaultJumpItemRole: JumpItemRoleID = .noAccess,
        personalJumpItemsRole: JumpItemRoleID = .noAccess,
        systemJumpItemRole: JumpItemRoleID = .noAccess,
        representativePermissions: Set<RepresentativePermission> = [],
        attendedSessionPolicy: SessionPolicyID? = nil,
        unattendedSessionPolicy: SessionPolicyID? = nil
    ) {
        self.id = id
        self.username = username
        self.displayName = displayName
        self.defaultJumpItemRole = defaultJumpItemRole
        self.personalJumpItemsRole = personalJumpItemsRole
        self.systemJumpItemRole = systemJumpItemRole
        self.representativePermissions = representativePermissions
        self.attendedSessionPolicy = attendedSessionPolicy
        self.unattendedSessionPolicy = unattendedSessionPolicy
    }

    public var named: Named<UserID> { Named(id, username) }

    /// The user's own session policy for a kind of session, used when no group policy defines one.
    public func sessionPolicy(for method: SessionMethod) -> SessionPolicyID? {
        switch method {
        case .attended: attendedSessionPolicy
        case .jump: unattendedSessionPolicy
        }
    }
}
