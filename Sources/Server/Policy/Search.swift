import Foundation

extension PolicyDirectory {
    /// Jump Groups whose name or comments contain the term, by name; a blank term lists every group.
    public func jumpGroups(matching term: String) -> [JumpGroup] {
        jumpGroups.values
            .filter { $0.name.contains(searchTerm: term) || $0.comments.contains(searchTerm: term) }
            .sorted { ($0.name.lowercased(), $0.id) < ($1.name.lowercased(), $1.id) }
    }

    /// The group's member table filtered by username or display name ("Filter by name").
    public func members(of group: JumpGroupID, matching name: String) -> [JumpGroupMember] {
        members(of: group).filter {
            $0.user.name.contains(searchTerm: name) || $0.displayName.contains(searchTerm: name)
        }
    }
}

extension String {
    /// Case and accents are ignored because people type "jose" for "José" and "ops" for "OPS".
    fileprivate func contains(searchTerm: String) -> Bool {
        let term = searchTerm.trimmingCharacters(in: .whitespacesAndNewlines)
        return term.isEmpty || range(of: term, options: [.caseInsensitive, .diacriticInsensitive]) != nil
    }
}
