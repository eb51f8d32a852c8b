/// A set of Jump Items and the users given access to them on the Jump Group page.
///
/// Users that group policies add are not listed here: they are derived from the group policies, so that
/// changing a policy changes every group it names (see `PolicyDirectory.members(of:)`).
public struct JumpGroup: Identifiable, Hashable, Codable, Sendable {
    /// A user added on the Jump Group page ("Allowed Users").
    public struct Member: Hashable, Codable, Sendable {
        public var user: UserID
        /// nil: the user's default Jump Item role applies in this group.
        public var role: JumpItemRoleID?

        public init(user: UserID, role: JumpItemRoleID? = nil) {
            self.user = user
            self.role = role
        }
    }

    public var id: JumpGroupID
    public var name: String
    public var codeName: String
    public var comments: String
    public var members: [Member]

    public init(id: JumpGroupID, name: String, codeName: String = "", comments: String = "", members: [Member] = []) {
        self.id = id
        self.name = name
        self.codeName = codeName
        self.comments = comments
        self.members = members
    }

    public var named: Named<JumpGroupID> { Named(id, name) }

    public func member(_ user: UserID) -> Member? { members.first { $0.user == user } }
}
