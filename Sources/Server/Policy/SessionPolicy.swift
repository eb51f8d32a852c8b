/// How a session starts: a Jump to a Jump Item (unattended), or a customer-initiated (attended) session.
public enum SessionMethod: String, CaseIterable, Codable, Sendable {
    case jump
    case attended
}

/// A permission a session policy can allow, deny or leave Not Defined.
public enum SessionPermission: String, CaseIterable, Codable, CodingKeyRepresentable, Sendable {
    case startSession
    case viewScreen
    case shellAccess
    case fileTransfer
    case elevate
    /// Only the session owner may use it, whatever the policies say.
    case jumpClientPinning

    public var title: String {
        switch self {
        case .startSession: "Start Session"
        case .viewScreen: "Screen Sharing"
        case .shellAccess: "Command Shell"
        case .fileTransfer: "File Transfer"
        case .elevate: "Elevation"
        case .jumpClientPinning: "Jump Clients Pinning/Unpinning"
        }
    }
}

/// A session policy's choice for one permission.
public enum Tri: String, CaseIterable, Codable, Sendable {
    case allow
    case deny
    /// Falls through to the next lower session policy, down to the global default.
    case notDefined
}

/// A reusable set of session permissions, assignable to users, group policies, portals and Jump Items.
public struct SessionPolicy: Identifiable, Hashable, Codable, Sendable {
    /// Where a policy may be assigned; it keeps one policy from being attached where it was not meant to be.
    public enum Availability: String, CaseIterable, Codable, Sendable {
        /// User accounts, group policies and public portals.
        case users
        case repInvite
        case jumpItems
    }

    public var id: SessionPolicyID
    public var name: String
    public var codeName: String
    public var description: String
    public var availability: Set<Availability>
    /// A permission that is absent is Not Defined.
    public var permissions: [SessionPermission: Tri]

    public init(
        id: SessionPolicyID,
        name: String,
        codeName: String = "",
        description: String = "",
        availability: Set<Availability> = [.users],
        permissions: [SessionPermission: Tri] = [:]
    ) {
        self.id = id
        self.name = name
        self.codeName = codeName
        self.description = description
        self.availability = availability
        self.permissions = permissions
    }

    public var named: Named<SessionPolicyID> { Named(id, name) }

    public subscript(permission: SessionPermission) -> Tri { permissions[permission] ?? .notDefined }

    /// Throws when this policy is not available where it is being assigned, naming both.
    public func checkAssignable(to assignee: Assignee) throws(PolicyDirectoryError) {
        let needed = assignee.requiredAvailability
        guard !availability.contains(needed) else { return }
        throw PolicyDirectoryError(
            .unavailablePolicy,
            "Session policy “\(name)” (\(id)) cannot be assigned to \(assignee): its Availability does not "
                + "include \(needed.title). Allow \(needed.title) on the policy, or choose another policy."
        )
    }
}

/// What a session policy is being assigned to.
public enum Assignee: Hashable, Codable, Sendable, CustomStringConvertible {
    case user(UserID)
    case groupPolicy(GroupPolicyID)
    case publicPortal(PublicPortalID)
    case jumpItem(JumpItemID)

    public var requiredAvailability: SessionPolicy.Availability {
        switch self {
        case .user, .groupPolicy, .publicPortal: .users
        case .jumpItem: .jumpItems
        }
    }

    public var description: String {
        switch self {
        case .user(let id): "user \(id)"
        case .groupPolicy(let id): "group policy \(id)"
        case .publicPortal(let id): "public portal \(id)"
        case .jumpItem(let id): "Jump Item \(id)"
        }
    }
}

extension SessionPolicy.Availability {
    public var title: String {
        switch self {
        case .users: "Users"
        case .repInvite: "Rep Invite"
        case .jumpItems: "Jump Items"
        }
    }
}
