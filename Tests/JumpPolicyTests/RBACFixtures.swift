import JumpPolicy

/// A small site shared by the role, group policy and session policy tests: three users, two Jump Groups.
enum RBACFixture {
    static let alice: UserID = 1
    static let bob: UserID = 2
    static let carol: UserID = 3

    static let technician = JumpItemRole(id: 1, name: "Technician", permissions: [.startSessions, .editTag])
    static let deployer = JumpItemRole(id: 2, name: "Deployer", permissions: Set(JumpItemPermission.allCases))
    static let viewer = JumpItemRole(id: 3, name: "Viewer", permissions: [.startSessions])
    static let roles = [technician, deployer, viewer]

    static let servers = JumpGroup(id: 10, name: "Servers", codeName: "servers", comments: "Web servers in Zürich")
    static let desktops = JumpGroup(id: 11, name: "Desktops", codeName: "desktops", comments: "Front office PCs")

    static let web01: JumpItemID = "web-01"
    static let alicesLaptop: JumpItemID = "alice-laptop"
    static let portal = PublicPortal(id: 30, name: "Customers")

    /// Defines every permission, as it must; pinning and the shell are denied so that a grant is visible.
    static let globalDefault = SessionPolicy(
        id: 100,
        name: "Global Default",
        availability: [],
        permissions: [
            .startSession: .allow, .viewScreen: .allow, .shellAccess: .deny, .fileTransfer: .deny, .elevate: .deny,
            .jumpClientPinning: .deny,
        ]
    )

    static func user(
        _ id: UserID,
        default defaultRole: JumpItemRoleID = .noAccess,
        personal: JumpItemRoleID = .noAccess,
        system: JumpItemRoleID = .noAccess,
        attended: SessionPolicyID? = nil,
        unattended: SessionPolicyID? = nil
    ) -> User {
        let names: [UserID: (String, String)] = [
            alice: ("alice", "Alice Ångström"), bob: ("bob", "Bob Builder"),
            carol: ("carol", "José Carol"),
        ]
        let (username, displayName) = names[id] ?? ("user\(id)", "User \(id)")
        return User(
            id: id,
            username: username,
            displayName: displayName,
            defaultJumpItemRole: defaultRole,
            personalJumpItemsRole: personal,
            systemJumpItemRole: system,
            attendedSessionPolicy: attended,
            unattendedSessionPolicy: unattended
        )
    }

    /// A session policy that only decides pinning; available everywhere unless told otherwise.
    static func pinning(
        _ id: SessionPolicyID,
        _ choice: Tri,
        availability: Set<SessionPolicy.Availability> = [.users, .jumpItems]
    ) -> SessionPolicy {
        SessionPolicy(
            id: id,
            name: "Pinning \(choice) \(id)",
            availability: availability,
            permissions: [.jumpClientPinning: choice]
        )
    }

    static func directory(
        users: [User] = [user(alice), user(bob), user(carol)],
        jumpGroups: [JumpGroup] = [servers, desktops],
        groupPolicies: [GroupPolicy] = [],
        sessionPolicies: [SessionPolicy] = [],
        globalDefault: SessionPolicy = globalDefault,
        portals: [PublicPortal] = [portal],
        jumpItems: [JumpItem] = [
            JumpItem(id: web01, location: .jumpGroup(servers.id)),
            JumpItem(id: alicesLaptop, location: .personal(alice)),
        ]
    ) throws -> PolicyDirectory {
        try PolicyDirectory(
            roles: roles,
            users: users,
            jumpGroups: jumpGroups,
            groupPolicies: groupPolicies,
            sessionPolicies: sessionPolicies,
            globalDefaultSessionPolicy: globalDefault,
            publicPortals: portals,
            jumpItems: jumpItems
        )
    }

    static func group(_ group: JumpGroup, members: [JumpGroup.Member]) -> JumpGroup {
        var group = group
        group.members = members
        return group
    }
}
