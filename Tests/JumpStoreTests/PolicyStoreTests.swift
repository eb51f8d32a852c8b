import Foundation
import JumpPolicy
import JumpStore
import Testing

/// Policy values in the store: one transaction per change with its audit record, validation before anything is
/// written, names unique per kind, and the TOTP enrollment's replay-safe step.
@Suite struct PolicyStoreTests {
    typealias Kind = StoreConformanceTests.Kind

    static func audit(_ action: String) -> AuditEvent { AuditEvent(actor: "admin", action: action, target: "t") }

    /// A store with a Jump Group, two accounts and a Jump Client whose installer named the Jump Policy "Office".
    static func seeded(_ kind: Kind) async throws -> (any Store, JumpStore.JumpGroup, JumpStore.User, JumpStore.User) {
        let (store, group) = try await StoreConformanceTests.seeded(kind)
        let alice = try await store.createUser(
            JumpStore.User(
                name: "alice",
                passwordHash: "h",
                role: .representative,
                createdAt: StoreConformanceTests.t0
            ),
            audit: audit("user.create")
        )
        let bob = try await store.createUser(
            JumpStore.User(name: "bob", passwordHash: "h", role: .representative, createdAt: StoreConformanceTests.t0),
            audit: audit("user.create")
        )
        try await store.createInstaller(
            StoreConformanceTests.installer("in-1", group: group),
            audit: audit("installer.create")
        )
        var client = StoreConformanceTests.client("jc-1", group: group)
        client.jumpPolicy = "Office"
        try await store.registerClient(
            client,
            installerID: "in-1",
            now: StoreConformanceTests.t0,
            audit: audit("client.enroll")
        )
        return (store, group, alice, bob)
    }

    static func office(id: Int64) -> JumpPolicy {
        JumpPolicy(
            id: id,
            name: "Office",
            codeName: "office",
            schedule: AccessSchedule(
                timeZone: "Europe/Berlin",
                entries: [.init(start: WeekTime(day: .monday, hour: 8), end: WeekTime(day: .friday, hour: 18))]
            ),
            forceEndAtScheduleEnd: true
        )
    }

    @Test(arguments: Kind.allCases)
    func aNewStoreHasACompleteGlobalDefaultAndNoAccess(_ kind: Kind) async throws {
        let store = try StoreConformanceTests.makeStore(kind)
        let data = try await store.policyData()
        #expect(data.globalDefaultSessionPolicy == PolicyData.initialGlobalDefault)
        #expect(data.globalDefaultSessionPolicy[.startSession] == .allow)
        #expect(data.globalDefaultSessionPolicy[.elevate] == .deny)
        #expect(SessionPermission.allCases.allSatisfy { data.globalDefaultSessionPolicy[$0] != .notDefined })
        #expect(data.roles.isEmpty)
        _ = try data.directory()
    }

    @Test(arguments: Kind.allCases)
    func valuesRoundTripWithTheirAuditRecordAndNewIDsCountUp(_ kind: Kind) async throws {
        let (store, group, alice, _) = try await Self.seeded(kind)
        let auditBefore = try await store.auditRecords(afterID: 0, limit: 1000).count
        let first = try await store.updatePolicy { data in
            let role = JumpItemRole(id: data.nextRoleID, name: "Operators", permissions: [.startSessions, .editTag])
            data.roles[role.id] = role
            return (role.id, Self.audit("role.create"))
        }
        let second = try await store.updatePolicy { data in
            let role = JumpItemRole(id: data.nextRoleID, name: "Viewers", permissions: [.startSessions])
            data.roles[role.id] = role
            return (role.id, Self.audit("role.create"))
        }
        #expect(first == JumpItemRoleID(1))
        #expect(second == JumpItemRoleID(2))

        let policy = SessionPolicy(
            id: 1,
            name: "No shell",
            availability: [.users, .jumpItems],
            permissions: [.shellAccess: .deny, .viewScreen: .allow]
        )
        let group1 = GroupPolicy(
            id: 1,
            name: "Operators",
            members: [UserID(alice.id)],
            jumpGroups: [JumpGroupID(group.id): .final(.add(role: first))],
            unattendedSessionPolicy: .defined(policy.id)
        )
        try await store.updatePolicy { data in
            data.sessionPolicies[policy.id] = policy
            data.jumpPolicies[1] = Self.office(id: 1)
            data.groupPolicies = [group1]
            data.userAccess[UserID(alice.id)] = JumpPolicy::User(
                id: UserID(alice.id),
                username: "ignored",
                displayName: "Alice A.",
                systemJumpItemRole: second
            )
            data.groupMembers[JumpGroupID(group.id)] = [.init(user: UserID(alice.id), role: second)]
            data.clientAccess["jc-1"] = ClientAccess(jumpPolicy: 1, customerNotPresentSessionPolicy: policy.id)
            return ((), Self.audit("policy.change"))
        }

        let data = try await store.policyData()
        #expect(data.roles[first]?.permissions == [.startSessions, .editTag])
        #expect(data.sessionPolicies[policy.id] == policy)
        #expect(data.jumpPolicies[1] == Self.office(id: 1))
        #expect(data.groupPolicies == [group1])
        #expect(data.groupMembers[JumpGroupID(group.id)] == [.init(user: UserID(alice.id), role: second)])
        let settings = data.accessSettings(of: try #require(data.account(named: "alice")))
        #expect(settings.username == "alice", "the username always comes from the account")
        #expect(settings.displayName == "Alice A.")
        #expect(settings.systemJumpItemRole == second)

        let directory = try data.directory()
        #expect(directory.jumpItems["jc-1"]?.jumpPolicy == 1)
        #expect(directory.jumpItems["jc-1"]?.customerNotPresentSessionPolicy == policy.id)
        #expect(directory.effectiveRole(user: UserID(alice.id), item: "jc-1").role.id == second)

        let records = try await store.auditRecords(afterID: 0, limit: 1000)
        #expect(records.count == auditBefore + 3)
        #expect(records.suffix(3).map(\.action) == ["role.create", "role.create", "policy.change"])
    }

    @Test(arguments: Kind.allCases)
    func anInvalidChangeWritesNothing(_ kind: Kind) async throws {
        let (store, _, alice, _) = try await Self.seeded(kind)
        let before = try await store.policyData()
        let auditBefore = try await store.auditRecords(afterID: 0, limit: 1000).count

        await #expect(throws: PolicyDirectoryError(.unknownReference, ""), "a role that does not exist") {
            try await store.updatePolicy { data in
                data.roles[1] = JumpItemRole(id: 1, name: "Kept out", permissions: [])
                data.userAccess[UserID(alice.id)] = JumpPolicy::User(
                    id: UserID(alice.id),
                    username: "alice",
                    defaultJumpItemRole: 99
                )
                return ((), Self.audit("user.access"))
            }
        }
        await #expect(throws: PolicyDirectoryError(.incompleteGlobalDefault, "")) {
            try await store.updatePolicy { data in
                data.globalDefaultSessionPolicy.permissions[.elevate] = .notDefined
                return ((), Self.audit("session-policy.global-default"))
            }
        }
        await #expect(throws: PolicyDirectoryError(.unavailablePolicy, ""), "a users-only policy on a Jump Client") {
            try await store.updatePolicy { data in
                data.sessionPolicies[1] = SessionPolicy(id: 1, name: "Users only", availability: [.users])
                data.clientAccess["jc-1"] = ClientAccess(customerPresentSessionPolicy: 1)
                return ((), Self.audit("client.access"))
            }
        }
        await #expect(throws: PolicyDirectoryError(.unknownReference, ""), "a Jump Policy that does not exist") {
            try await store.updatePolicy { data in
                data.clientAccess["jc-1"] = ClientAccess(jumpPolicy: 7)
                return ((), Self.audit("client.access"))
            }
        }
        #expect(try await store.policyData() == before)
        #expect(try await store.auditRecords(afterID: 0, limit: 1000).count == auditBefore)
    }

    @Test(arguments: Kind.allCases)
    func namesAreUniquePerKindWithoutCase(_ kind: Kind) async throws {
        let store = try StoreConformanceTests.makeStore(kind)
        try await store.updatePolicy { data in
            data.roles[1] = JumpItemRole(id: 1, name: "Operators", permissions: [])
            return ((), Self.audit("role.create"))
        }
        for name in ["operators", " Operators", "no access"] {
            await #expect(throws: StoreError(.duplicate, ""), "\(name)") {
                try await store.updatePolicy { data in
                    data.roles[2] = JumpItemRole(id: 2, name: name, permissions: [])
                    return ((), Self.audit("role.create"))
                }
            }
        }
        // The same name in another kind is fine.
        try await store.updatePolicy { data in
            data.groupPolicies = [GroupPolicy(id: 1, name: "Operators")]
            return ((), Self.audit("group-policy.create"))
        }
        #expect(try await store.policyData().groupPolicies.map(\.name) == ["Operators"])
    }

    @Test(arguments: Kind.allCases)
    func groupPoliciesKeepTheirOrder(_ kind: Kind) async throws {
        let store = try StoreConformanceTests.makeStore(kind)
        try await store.updatePolicy { data in
            data.groupPolicies = [
                GroupPolicy(id: 1, name: "A"), GroupPolicy(id: 2, name: "B"), GroupPolicy(id: 3, name: "C"),
            ]
            return ((), Self.audit("group-policy.create"))
        }
        try await store.updatePolicy { data in
            data.groupPolicies = [data.groupPolicies[2], data.groupPolicies[0], data.groupPolicies[1]]
            return ((), Self.audit("group-policy.order"))
        }
        #expect(try await store.policyData().groupPolicies.map(\.name) == ["C", "A", "B"])
        try await store.updatePolicy { data in
            data.groupPolicies.removeAll { $0.name == "A" }
            data.groupPolicies.append(GroupPolicy(id: data.nextGroupPolicyID, name: "A"))
            return ((), Self.audit("group-policy.change"))
        }
        let policies = try await store.policyData().groupPolicies
        #expect(policies.map(\.name) == ["C", "B", "A"])
        #expect(policies.map(\.id) == [3, 2, 4])
    }

    @Test(arguments: Kind.allCases)
    func aClientsInstallerJumpPolicyNameMapsToItsIDUntilSetExplicitly(_ kind: Kind) async throws {
        let (store, _, _, _) = try await Self.seeded(kind)
        #expect(
            try await store.policyData().directory().jumpItems["jc-1"]?.jumpPolicy == nil,
            "no policy named Office yet"
        )
        try await store.updatePolicy { data in
            data.jumpPolicies[5] = Self.office(id: 5)
            return ((), Self.audit("jump-policy.create"))
        }
        let data = try await store.policyData()
        #expect(data.access(of: try #require(data.clients.first)).jumpPolicy == 5)
        #expect(try data.directory().jumpItems["jc-1"]?.jumpPolicy == 5)
        try await store.updatePolicy { data in
            data.clientAccess["jc-1"] = ClientAccess(jumpPolicy: nil)
            return ((), Self.audit("client.access"))
        }
        #expect(try await store.policyData().directory().jumpItems["jc-1"]?.jumpPolicy == nil, "explicitly none")
    }

    @Test(arguments: Kind.allCases)
    func deletedClientsAreNotJumpItems(_ kind: Kind) async throws {
        let (store, _, _, _) = try await Self.seeded(kind)
        // With access settings of its own: deletion keeps the client's row, and with it the settings,
        // which must not make the whole directory unreadable.
        try await store.updatePolicy { data in
            data.clientAccess["jc-1"] = ClientAccess(jumpPolicy: nil)
            return ((), Self.audit("client.access"))
        }
        var client = try #require(try await store.client(id: "jc-1"))
        client.state = .deleted
        try await store.updateClient(client, audit: Self.audit("client.delete"))
        #expect(try await store.policyData().directory().jumpItems.isEmpty)
        // Policies can still be changed afterwards.
        try await store.updatePolicy { data in
            data.roles[7] = JumpItemRole(id: 7, name: "After deletion", permissions: [])
            return ((), Self.audit("role.create"))
        }
    }

    @Test(arguments: Kind.allCases)
    func mfaStepsAreAcceptedOnceAndFailuresPause(_ kind: Kind) async throws {
        let (store, _, alice, _) = try await Self.seeded(kind)
        let secret = [UInt8](repeating: 0x42, count: 20)
        try await store.startMFAEnrollment(userID: alice.id, secret: secret, audit: Self.audit("mfa.enroll"))
        #expect(
            try await store.mfaEnrollment(userID: alice.id)
                == MFAEnrollment(userID: alice.id, secret: secret, confirmed: false)
        )

        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 100,
                confirming: false,
                now: StoreConformanceTests.t0,
                audit: Self.audit("mfa.verify")
            ) == false,
            "not confirmed yet"
        )
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 100,
                confirming: true,
                now: StoreConformanceTests.t0,
                audit: Self.audit("mfa.confirm")
            )
        )
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 100,
                confirming: false,
                now: StoreConformanceTests.t0,
                audit: Self.audit("mfa.verify")
            ) == false,
            "a replay"
        )
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 99,
                confirming: false,
                now: StoreConformanceTests.t0,
                audit: Self.audit("mfa.verify")
            ) == false,
            "an older step"
        )
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 101,
                confirming: false,
                now: StoreConformanceTests.t0,
                audit: Self.audit("mfa.verify")
            )
        )
        #expect(try await store.mfaEnrollment(userID: alice.id)?.lastAcceptedStep == 101)

        await #expect(throws: StoreError(.duplicate, ""), "a confirmed enrollment is not replaced") {
            try await store.startMFAEnrollment(userID: alice.id, secret: secret, audit: Self.audit("mfa.enroll"))
        }

        let until = StoreConformanceTests.t0 + 300
        for _ in 0..<2 {
            try await store.recordMFAFailure(
                userID: alice.id,
                lockAfter: 3,
                until: until,
                audit: Self.audit("mfa.verify-failed")
            )
        }
        #expect(try await store.mfaEnrollment(userID: alice.id)?.lockedUntil == nil)
        try await store.recordMFAFailure(
            userID: alice.id,
            lockAfter: 3,
            until: until,
            audit: Self.audit("mfa.verify-failed")
        )
        #expect(try await store.mfaEnrollment(userID: alice.id)?.lockedUntil == until)
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 102,
                confirming: false,
                now: until - 1,
                audit: Self.audit("mfa.verify")
            ) == false,
            "paused: even a right code waits (parallel guesses cannot slip past the pause)"
        )
        #expect(
            try await store.acceptMFAStep(
                userID: alice.id,
                step: 102,
                confirming: false,
                now: until,
                audit: Self.audit("mfa.verify")
            )
        )
        #expect(try await store.mfaEnrollment(userID: alice.id)?.failures == 0)

        #expect(try await store.deleteMFAEnrollment(userID: alice.id, audit: Self.audit("mfa.remove")))
        #expect(try await store.deleteMFAEnrollment(userID: alice.id, audit: Self.audit("mfa.remove")) == false)
        #expect(try await store.mfaEnrollment(userID: alice.id) == nil)
    }

    @Test func storedValuesAreParameterisedNotExecuted() async throws {
        let store = try SQLiteStore()
        let hostile = "x'); DROP TABLE policyObject;--"
        try await store.updatePolicy { data in
            data.roles[1] = JumpItemRole(id: 1, name: hostile, description: hostile, permissions: [])
            return ((), AuditEvent(actor: hostile, action: "role.create", target: hostile))
        }
        #expect(try await store.policyData().roles[1]?.name == hostile)
    }
}
