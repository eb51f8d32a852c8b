/// A public portal as the policies see it: customers who start an attended session there get its session policy.
public struct PublicPortal: Identifiable, Hashable, Codable, Sendable {
    public var id: PublicPortalID
    public var name: String
    public var sessionPolicy: SessionPolicyID?

    public init(id: PublicPortalID, name: String, sessionPolicy: SessionPolicyID? = nil) {
        self.id = id
        self.name = name
        self.sessionPolicy = sessionPolicy
    }

    public var named: Named<PublicPortalID> { Named(id, name) }
}
