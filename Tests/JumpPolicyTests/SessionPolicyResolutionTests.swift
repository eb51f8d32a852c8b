import JumpPolicy
import Testing

@Suite("Session policy precedence")
struct SessionPolicyResolutionTests {
    typealias F = RBACFixture

    enum Level: Sendable {
        case item, portal, groupPolicy, user, global
    }

    /// One policy per level, each deciding only pinning (nil: no policy assigned at that level).
    struct Levels: Sendable {
        var item: Tri?
        var portal: Tri?
        var groupPolicy: Tri?
        var user: Tri?
    }

    /// Highest first: Jump Item (Jumps only), public portal (attended only), group policy, account, global default.
    /// The first level that defines the permission decides; Not Defined falls through.
    static let precedence: [(method: SessionMethod, levels: Levels, decidedBy: Level, allowed: Bool)] = [
        (.jump, Levels(item: .allow, groupPolicy: .deny, user: .deny), .item, true),
        (.jump, Levels(item: .deny, groupPolicy: .allow, user: .allow), .item, false),
        (.jump, Levels(item: .notDefined, groupPolicy: .allow, user: .deny), .groupPolicy, true),
        (.jump, Levels(item: .notDefined, groupPolicy: .notDefined, user: .allow), .user, true),
        (.jump, Levels(item: .notDefined, groupPolicy: .notDefined, user: .notDefined), .global, false),
        (.jump, Levels(), .global, false),
        (.jump, Levels(groupPolicy: .deny, user: .allow), .groupPolicy, false),
        (.jump, Levels(user: .allow), .user, true),
        // A portal's policy does not apply to a Jump.
        (.jump, Levels(item: .notDefined, portal: .allow, user: .deny), .user, false),
        (.attended, Levels(portal: .allow, groupPolicy: .deny, user: .deny), .portal, true),
        (.attended, Levels(portal: .notDefined, groupPolicy: .deny, user: .allow), .groupPolicy, false),
        (.attended, Levels(portal: .notDefined, groupPolicy: .notDefined, user: .allow), .user, true),
        (.attended, Levels(portal: .notDefined), .global, false),
        // A Jump Item's policy does not apply to an attended session.
        (.attended, Levels(item: .allow, portal: .notDefined, user: .deny), .user, false),
    ]

    @Test(arguments: precedence)
    func firstDefiningLevelDecides(method: SessionMethod, levels: Levels, decidedBy: Level, allowed: Bool) throws {
        let itemPolicy = levels.item.map { F.pinning(201, $0) }
        let portalPolicy = levels.portal.map { F.pinning(202, $0) }
        let groupPolicyPolicy = levels.groupPolicy.map { F.pinning(203, $0) }
        let userPolicy = levels.user.map { F.pinning(204, $0) }
        let reps = GroupPolicy(
            id: 1,
            name: "Reps",
            members: [F.alice],
            attendedSessionPolicy: groupPolicyPolicy.map { .defined($0.id) } ?? .notDefined,
            unattendedSessionPolicy: groupPolicyPolicy.map { .defined($0.id) } ?? .notDefined
        )
        let directory = try F.directory(
            users: [F.user(F.alice, attended: userPolicy?.id, unattended: userPolicy?.id)],
            groupPolicies: [reps],
            sessionPolicies: [itemPolicy, portalPolicy, groupPolicyPolicy, userPolicy].compactMap { $0 },
            portals: [PublicPortal(id: F.portal.id, name: F.portal.name, sessionPolicy: portalPolicy?.id)],
            jumpItems: [
                JumpItem(
                    id: F.web01,
                    location: .jumpGroup(F.servers.id),
                    customerPresentSessionPolicy: itemPolicy?.id,
                    customerNotPresentSessionPolicy: itemPolicy?.id
                )
            ]
        )
        let decision = directory.sessionPermission(
            .jumpClientPinning,
            user: F.alice,
            method: method,
            item: F.web01,
            customerPresent: false,
            portal: F.portal.id
        )
        let expected: (SessionPolicy?, SessionPolicyLevel) =
            switch decidedBy {
            case .item: (itemPolicy, .jumpItem(F.web01, customerPresent: false))
            case .portal: (portalPolicy, .publicPortal(F.portal.named))
            case .groupPolicy: (groupPolicyPolicy, .groupPolicy(reps.named))
            case .user: (userPolicy, .user(Named(F.alice, "alice")))
            case .global: (F.globalDefault, .globalDefault)
            }
        let policy = try #require(expected.0)
        #expect(decision.isAllowed == allowed)
        #expect(decision.rule == .sessionPolicy(policy.named, level: expected.1))
        #expect(decision.explanation.contains("“\(policy.name)”"))
    }

    /// The Jump Item's policy is chosen by customer presence.
    @Test(arguments: [(true, true), (false, false)])
    func customerPresenceChoosesTheItemsPolicy(customerPresent: Bool, allowed: Bool) throws {
        let present = F.pinning(201, .allow)
        let notPresent = F.pinning(202, .deny)
        let directory = try F.directory(
            sessionPolicies: [present, notPresent],
            jumpItems: [
                JumpItem(
                    id: F.web01,
                    location: .jumpGroup(F.servers.id),
                    customerPresentSessionPolicy: present.id,
                    customerNotPresentSessionPolicy: notPresent.id
                )
            ]
        )
        let decision = directory.sessionPermission(
            .jumpClientPinning,
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: customerPresent,
            portal: nil
        )
        #expect(decision.isAllowed == allowed)
        #expect(
            decision.rule
                == .sessionPolicy(
                    (customerPresent ? present : notPresent).named,
                    level: .jumpItem(F.web01, customerPresent: customerPresent)
                )
        )
    }

    /// Attended sessions use the attended policies and Jumps the unattended ones, on the account and in group policies.
    @Test(arguments: [(SessionMethod.attended, true), (.jump, false)])
    func methodChoosesAttendedOrUnattended(method: SessionMethod, allowed: Bool) throws {
        let attended = F.pinning(201, .allow)
        let unattended = F.pinning(202, .deny)
        for viaGroupPolicy in [false, true] {
            let policy = GroupPolicy(
                id: 1,
                name: "Reps",
                members: viaGroupPolicy ? [F.alice] : [],
                attendedSessionPolicy: .defined(attended.id),
                unattendedSessionPolicy: .defined(unattended.id)
            )
            let directory = try F.directory(
                users: [F.user(F.alice, attended: attended.id, unattended: unattended.id)],
                groupPolicies: [policy],
                sessionPolicies: [attended, unattended]
            )
            let decision = directory.sessionPermission(
                .jumpClientPinning,
                user: F.alice,
                method: method,
                item: nil,
                customerPresent: true,
                portal: nil
            )
            #expect(decision.isAllowed == allowed)
        }
    }

    /// The group policies' session policy is one setting, resolved by group policy precedence.
    @Test(arguments: [(false, 202 as SessionPolicyID, true), (true, 201, false)])
    func groupPolicySessionPolicyFollowsPrecedence(topIsFinal: Bool, decider: SessionPolicyID, allowed: Bool) throws {
        let deny = F.pinning(201, .deny)
        let allow = F.pinning(202, .allow)
        let top = GroupPolicy(
            id: 1,
            name: "Top",
            members: [F.alice],
            unattendedSessionPolicy: PolicySetting(deny.id, isFinal: topIsFinal)
        )
        let bottom = GroupPolicy(id: 2, name: "Bottom", members: [F.alice], unattendedSessionPolicy: .defined(allow.id))
        let directory = try F.directory(groupPolicies: [top, bottom], sessionPolicies: [deny, allow])
        let decision = directory.sessionPermission(
            .jumpClientPinning,
            user: F.alice,
            method: .jump,
            item: nil,
            customerPresent: true,
            portal: nil
        )
        #expect(decision.isAllowed == allowed)
        guard case .sessionPolicy(let policy, level: .groupPolicy) = decision.rule else {
            Issue.record("decided by \(decision.rule)")
            return
        }
        #expect(policy.id == decider)
    }

    /// Guide line 273: a Jump Client's policy that allows pinning lets anyone who starts a session on it pin,
    /// even a user denied pinning everywhere else.
    @Test func jumpItemPolicyLetsAnyoneWhoStartsASessionPin() throws {
        let allow = F.pinning(201, .allow, availability: [.jumpItems])
        let deny = F.pinning(202, .deny)
        let directory = try F.directory(
            users: [F.user(F.alice, attended: deny.id, unattended: deny.id), F.user(F.bob)],
            groupPolicies: [
                GroupPolicy(id: 1, name: "No pinning", members: [F.alice], unattendedSessionPolicy: .final(deny.id))
            ],
            sessionPolicies: [allow, deny],
            jumpItems: [
                JumpItem(
                    id: F.web01,
                    location: .jumpGroup(F.servers.id),
                    customerPresentSessionPolicy: allow.id,
                    customerNotPresentSessionPolicy: allow.id
                ),
                JumpItem(id: "web-02", location: .jumpGroup(F.servers.id)),
            ]
        )
        for user in [F.alice, F.bob] {
            for present in [true, false] {
                #expect(
                    directory.mayPinOrUnpin(
                        user: user,
                        method: .jump,
                        item: F.web01,
                        customerPresent: present,
                        portal: nil,
                        isSessionOwner: true
                    ).isAllowed
                )
                #expect(
                    !directory.mayPinOrUnpin(
                        user: user,
                        method: .jump,
                        item: "web-02",
                        customerPresent: present,
                        portal: nil,
                        isSessionOwner: true
                    ).isAllowed
                )
            }
        }
    }

    @Test func onlyTheSessionOwnerMayPin() throws {
        let allow = F.pinning(201, .allow)
        let directory = try F.directory(users: [F.user(F.alice, unattended: allow.id)], sessionPolicies: [allow])
        let owner = directory.mayPinOrUnpin(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil,
            isSessionOwner: true
        )
        let guest = directory.mayPinOrUnpin(
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil,
            isSessionOwner: false
        )
        #expect(owner.isAllowed)
        #expect(!guest.isAllowed)
        #expect(guest.rule == .notSessionOwner)
    }

    @Test(arguments: [
        (UserID(99), SessionMethod.jump, JumpItemID?.none, PublicPortalID?.none, MissingEntry.user(99)),
        (F.alice, .jump, "nope", nil, .jumpItem("nope")),
        (F.alice, .attended, nil, 99, .publicPortal(99)),
    ])
    func unknownEntriesAreDenied(
        user: UserID,
        method: SessionMethod,
        item: JumpItemID?,
        portal: PublicPortalID?,
        missing: MissingEntry
    ) throws {
        let decision = try F.directory().sessionPermission(
            .startSession,
            user: user,
            method: method,
            item: item,
            customerPresent: true,
            portal: portal
        )
        #expect(decision == .deny(.missing(missing), missing.description))
    }

    /// Ids that the session's method does not use are not looked at: a stale portal does not block a Jump.
    @Test func unusedIdsAreIgnored() throws {
        let directory = try F.directory()
        #expect(
            directory.sessionPermission(
                .startSession,
                user: F.alice,
                method: .jump,
                item: F.web01,
                customerPresent: true,
                portal: 99
            ).isAllowed
        )
        #expect(
            directory.sessionPermission(
                .startSession,
                user: F.alice,
                method: .attended,
                item: "nope",
                customerPresent: true,
                portal: nil
            ).isAllowed
        )
    }

    @Test func explanationNamesTheLevelsThatFellThrough() throws {
        let silent = SessionPolicy(id: 201, name: "Silent", availability: [.users, .jumpItems])
        let directory = try F.directory(
            users: [F.user(F.alice, unattended: silent.id)],
            sessionPolicies: [silent],
            jumpItems: [
                JumpItem(id: F.web01, location: .jumpGroup(F.servers.id), customerPresentSessionPolicy: silent.id)
            ]
        )
        let decision = directory.sessionPermission(
            .shellAccess,
            user: F.alice,
            method: .jump,
            item: F.web01,
            customerPresent: true,
            portal: nil
        )
        #expect(decision.rule == .sessionPolicy(F.globalDefault.named, level: .globalDefault))
        #expect(decision.explanation.contains("The higher policies “Silent”, “Silent” leave it Not Defined."))
    }
}
