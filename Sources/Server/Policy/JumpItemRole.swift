/// What a Jump Item Role lets its holder do with the Jump Items it applies to (guide: "Jump Item Roles").
public enum JumpItemPermission: String, CaseIterable, Codable, Sendable {
    case createAndDeploy
    /// Move Jump Items from one Jump Group to another.
    case move
    case delete
    case startSessions
    case editTag
    case editComments
    case editPublicPortal
    case editJumpPolicy
    /// Needed to assign the Customer Present and Not Present session policies of a Jump Client.
    case editSessionPolicy
    case editConnectivityAndAuthentication
    case editBehaviorAndExperience

    /// The label the administrative interface shows.
    public var title: String {
        switch self {
        case .createAndDeploy: "Create and Deploy Jump Items"
        case .move: "Move Jump Items Between Jump Groups"
        case .delete: "Delete Jump Items"
        case .startSessions: "Start Sessions"
        case .editTag: "Edit Tag"
        case .editComments: "Edit Comments"
        case .editPublicPortal: "Edit Public Portal"
        case .editJumpPolicy: "Edit Jump Policy"
        case .editSessionPolicy: "Edit Session Policy"
        case .editConnectivityAndAuthentication: "Edit Connectivity and Authentication"
        case .editBehaviorAndExperience: "Edit Behavior and Experience"
        }
    }
}

/// A named set of Jump Item permissions, applied to a user per Jump Group, for personal items, or system-wide.
public struct JumpItemRole: Identifiable, Hashable, Codable, Sendable {
    public var id: JumpItemRoleID
    public var name: String
    public var description: String
    public var permissions: Set<JumpItemPermission>

    public init(id: JumpItemRoleID, name: String, description: String = "", permissions: Set<JumpItemPermission>) {
        self.id = id
        self.name = name
        self.description = description
        self.permissions = permissions
    }

    /// Built in rather than stored so that "no access" is always available as the safe default.
    public static let noAccess = JumpItemRole(
        id: .noAccess,
        name: "No Access",
        description: "Grants no permissions on Jump Items.",
        permissions: []
    )

    public var named: Named<JumpItemRoleID> { Named(id, name) }
}
