/// A Jump Client as the policies see it: where it lives and which policies are attached to it.
public struct JumpItem: Identifiable, Hashable, Codable, Sendable {
    /// A Jump Item lives either in a Jump Group or in one user's personal list.
    public enum Location: Hashable, Codable, Sendable {
        case jumpGroup(JumpGroupID)
        case personal(UserID)
    }

    public var id: JumpItemID
    public var location: Location
    /// The id of the Jump Policy (schedule, ticket, MFA) that applies to this item, if any.
    public var jumpPolicy: Int64?
    /// Applies while someone is logged in at the endpoint (see the "Use screen state" setting).
    public var customerPresentSessionPolicy: SessionPolicyID?
    public var customerNotPresentSessionPolicy: SessionPolicyID?

    public init(
        id: JumpItemID,
        location: Location,
        jumpPolicy: Int64? = nil,
        customerPresentSessionPolicy: SessionPolicyID? = nil,
        customerNotPresentSessionPolicy: SessionPolicyID? = nil
    ) {
        self.id = id
        self.location = location
        self.jumpPolicy = jumpPolicy
        self.customerPresentSessionPolicy = customerPresentSessionPolicy
        self.customerNotPresentSessionPolicy = customerNotPresentSessionPolicy
    }

    public func sessionPolicy(customerPresent: Bool) -> SessionPolicyID? {
        customerPresent ? customerPresentSessionPolicy : customerNotPresentSessionPolicy
    }
}
