/// One permission as the simulator shows it.
public struct SimulatedPermission: Hashable, Codable, Sendable {
    public let permission: SessionPermission
    public let decision: Decision
}

/// The simulator's answer: every session permission, the policies behind them, and the Jump Item role.
public struct SessionPolicySimulation: Hashable, Codable, Sendable {
    /// Every `SessionPermission`, in declaration order.
    public let permissions: [SimulatedPermission]
    /// Highest precedence first, ending with the global default.
    public let appliedPolicies: [AppliedSessionPolicy]
    /// Present when a Jump Item was given; when the policies allow pinning but the user still cannot pin,
    /// the guide's next step is this role's create-and-deploy permission.
    public let jumpItemRole: RoleDecision?

    public subscript(permission: SessionPermission) -> Decision? {
        permissions.first { $0.permission == permission }?.decision
    }
}

/// The Session Policy Simulator: what a representative could do in a session started a given way, and why.
///
/// It answers for the session's owner; `PolicyDirectory.mayPinOrUnpin` also covers users who do not own it.
public struct SessionPolicySimulator: Hashable, Sendable {
    public let directory: PolicyDirectory

    public init(directory: PolicyDirectory) {
        self.directory = directory
    }

    public func simulate(
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        customerPresent: Bool,
        portal: PublicPortalID?
    ) -> SessionPolicySimulation {
        let permissions = SessionPermission.allCases.map { permission in
            SimulatedPermission(
                permission: permission,
                decision: directory.sessionPermission(
                    permission,
                    user: user,
                    method: method,
                    item: item,
                    customerPresent: customerPresent,
                    portal: portal
                )
            )
        }
        return SessionPolicySimulation(
            permissions: permissions,
            appliedPolicies: directory.appliedSessionPolicies(
                user: user,
                method: method,
                item: item,
                customerPresent: customerPresent,
                portal: portal
            ),
            jumpItemRole: item.map { directory.effectiveRole(user: user, item: $0) }
        )
    }
}
