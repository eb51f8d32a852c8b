import Foundation
import Hummingbird
import HummingbirdTesting
import JumpPolicy
import JumpStore
import NIOCore
import Synchronization
import Testing

@testable import JumpAPI
@testable import JumpServerCore

/// The access-control routes through Hummingbird's router, against a real appliance core (data directory,
/// SQLite store, hub): every change validated, audited, and refused with the status the contract names.
@Suite struct PolicyAPITests {
    /// Saturday 2026-03-14 12:00 UTC: outside a Monday-to-Friday office schedule.
    static let saturdayNoon = Date(timeIntervalSince1970: 1_773_489_600)
    /// Monday 2026-03-16 08:00 in Berlin (CET, UTC+1).
    static let mondayOpening = Date(timeIntervalSince1970: 1_773_644_400)

    /// A clock the test moves, so TOTP steps and session expiry do not depend on when the test runs.
    final class TestClock: Sendable {
        let date: Mutex<Date>
        init(_ date: Date) { self.date = Mutex(date) }
        var now: Date { date.withLock { $0 } }
        func advance(_ interval: TimeInterval) { date.withLock { $0 += interval } }
    }

    struct Answer {
        var status: HTTPResponse.Status
        var body: Data

        func decode<Value: Decodable>(_ type: Value.Type) throws -> Value {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(type, from: body)
        }

        var message: String {
            struct Problem: Decodable {
                struct Inner: Decodable { var message: String }
                var error: Inner
            }
            return (try? JSONDecoder().decode(Problem.self, from: body))?.error.message ?? ""
        }
    }

    struct Caller: Sendable {
        let client: any TestClientProtocol
        let token: String

        static func login(_ client: any TestClientProtocol, _ user: String, _ password: String) async throws -> Caller {
            let answer = try await Caller(client: client, token: "").call(
                .post,
                "login",
                json: #"{"user":"\#(user)","password":"\#(password)"}"#
            )
            #expect(answer.status == .ok)
            struct Login: Decodable { var token: String }
            return Caller(client: client, token: try answer.decode(Login.self).token)
        }

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ path: String, json: String? = nil) async throws -> Answer {
            try await call(method, path, body: json.map { Data($0.utf8) })
        }

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ path: String, encoding value: some Encodable) async throws -> Answer {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            return try await call(method, path, body: try encoder.encode(value))
        }

        func call(_ method: HTTPRequest.Method, _ path: String, body: Data?) async throws -> Answer {
            var headers: HTTPFields = [.contentType: "application/json"]
            if !token.isEmpty { headers[.authorization] = "Bearer \(token)" }
            return try await client.execute(
                uri: "/api/v1/\(path)",
                method: method,
                headers: headers,
                body: body.map { ByteBuffer(bytes: $0) }
            ) { response in
                Answer(status: response.status, body: Data(response.body.readableBytesView))
            }
        }
    }

    struct Fixture: Sendable {
        let admin: Caller
        let harness: ApplianceHarness
        let clock: TestClock
        let group: JumpStore.JumpGroup

        func audit(_ action: String) async throws -> [AuditRecord] {
            try await harness.store.auditRecords(afterID: 0, limit: 10_000).filter { $0.action == action }
        }

        /// Creates a representative through the API and logs them in.
        func representative(_ name: String) async throws -> Caller {
            let password = "correct horse \(name)"
            let created = try await admin.call(
                .post,
                "users",
                json: #"{"name":"\#(name)","password":"\#(password)","role":"representative"}"#
            )
            #expect(created.status == .created)
            return try await Caller.login(admin.client, name, password)
        }

        /// A Jump Client in the Default group whose installer named the Jump Policy `jumpPolicy`.
        func client(_ id: String, jumpPolicy: String = "") async throws {
            let installer = try await harness.makeInstaller(now: clock.now)
            let now = clock.now
            try await harness.store.registerClient(
                ClientRecord(
                    id: id,
                    name: "kiosk \(id)",
                    groupID: group.id,
                    jumpPolicy: jumpPolicy,
                    hostname: "kiosk",
                    installerID: installer.id,
                    certificateSerial: "01",
                    certificateExpiresAt: now + 86_400,
                    enrolledAt: now,
                    stateChangedAt: now
                ),
                installerID: installer.id,
                now: now,
                audit: AuditEvent(actor: "test", action: "client.enroll", target: id)
            )
        }
    }

    static func withAPI(_ body: @escaping @Sendable (Fixture) async throws -> Void) async throws {
        let harness = try await ApplianceHarness.start()
        let clock = TestClock(saturdayNoon)
        let routes = APIRoutes(
            hub: harness.hub,
            store: harness.store,
            ca: harness.ca,
            tokens: harness.contents.installerTokens,
            agentAddresses: ["127.0.0.1:8443"],
            now: { clock.now }
        )
        let group = try #require(try await harness.store.group(named: "Default"))
        let password = try #require(harness.contents.initialAdminPassword)
        do {
            try await Application(router: routes.router()).test(.router) { client in
                let admin = try await Caller.login(client, "admin", password)
                try await body(Fixture(admin: admin, harness: harness, clock: clock, group: group))
            }
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    struct GroupName: Decodable { var name: String }
    struct Enrollment: Decodable {
        var secret: String
        var uri: String
    }

    // MARK: Roles

    @Test func rolesAreCreatedReadChangedAndDeletedByAdministratorsOnly() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            let created = try await admin.call(
                .post,
                "roles",
                json: #"{"name":"Operators","permissions":["startSessions","editTag"]}"#
            )
            #expect(created.status == .created)
            let role = try created.decode(JumpItemRole.self)
            #expect(role.id == 1)
            #expect(role.permissions == [.startSessions, .editTag])

            let duplicate = try await admin.call(.post, "roles", json: #"{"name":"operators","permissions":[]}"#)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.message.contains("Operators"))

            let list = try await admin.call(.get, "roles").decode([JumpItemRole].self)
            #expect(list.map(\.name) == ["No Access", "Operators"])

            var changed = role
            changed.permissions = [.startSessions]
            changed.id = 77  // the path decides the id
            let updated = try await admin.call(.put, "roles/1", encoding: changed)
            #expect(updated.status == .ok)
            #expect(
                try updated.decode(JumpItemRole.self)
                    == JumpItemRole(id: 1, name: "Operators", permissions: [.startSessions])
            )
            #expect(try await admin.call(.get, "roles/1").decode(JumpItemRole.self).permissions == [.startSessions])

            #expect(try await admin.call(.put, "roles/9", encoding: changed).status == .notFound)
            #expect(try await admin.call(.get, "roles/9").status == .notFound)
            #expect(try await admin.call(.delete, "roles/0").status == .conflict, "No Access is built in")

            let rep = try await fixture.representative("rita")
            #expect(try await rep.call(.get, "roles").status == .ok)
            #expect(try await rep.call(.post, "roles", json: #"{"name":"Mine","permissions":[]}"#).status == .forbidden)
            #expect(try await rep.call(.delete, "roles/1").status == .forbidden)

            // In use as rita's default role: deleting it would leave a dangling reference.
            let access = try await admin.call(.put, "users/rita/access", json: #"{"defaultJumpItemRole":1}"#)
            #expect(access.status == .ok)
            let refused = try await admin.call(.delete, "roles/1")
            #expect(refused.status == .unprocessableContent)
            #expect(refused.message.contains("default Jump Item role"))
            #expect(try await admin.call(.put, "users/rita/access", json: #"{"defaultJumpItemRole":0}"#).status == .ok)
            #expect(try await admin.call(.delete, "roles/1").status == .noContent)
            #expect(try await admin.call(.get, "roles/1").status == .notFound)

            let records = try await fixture.audit("role.create")
            #expect(records.count == 1)
            #expect(records.first?.actor == "admin")
            #expect(records.first?.target == "Jump Item role 1 “Operators”")
            #expect(try await fixture.audit("role.delete").count == 1)
            #expect(try await fixture.audit("role.update").count == 1, "refused changes leave no record")
        }
    }

    // MARK: Jump Policies, clients and the simulator

    @Test func jumpPoliciesNeedAZoneFromTheTzDatabase() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            let unknownZone = try await admin.call(
                .post,
                "jump-policies",
                json: #"{"name":"Nowhere","schedule":{"enabled":true,"timeZone":"Mars/Olympus_Mons","entries":[]}}"#
            )
            #expect(unknownZone.status == .unprocessableContent)
            #expect(unknownZone.message.contains("Mars/Olympus_Mons"))
            let escape = try await admin.call(
                .post,
                "jump-policies",
                json: #"{"name":"Escape","schedule":{"enabled":false,"timeZone":"../../etc/passwd","entries":[]}}"#
            )
            #expect(escape.status == .unprocessableContent)

            let policy = JumpPolicy(
                id: 0,
                name: "Office",
                codeName: "office",
                schedule: AccessSchedule(
                    timeZone: "Europe/Berlin",
                    entries: [.init(start: WeekTime(day: .monday, hour: 8), end: WeekTime(day: .friday, hour: 18))]
                ),
                forceEndAtScheduleEnd: true,
                requireTicketID: true
            )
            let created = try await admin.call(.post, "jump-policies", encoding: policy)
            #expect(created.status == .created)
            #expect(try created.decode(JumpPolicy.self).id == 1)
            #expect(try await admin.call(.get, "jump-policies").decode([JumpPolicy].self).map(\.name) == ["Office"])
        }
    }

    @Test func theSimulatorExplainsEveryPermissionAndTheSchedule() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            _ = try await fixture.representative("rita")
            try await fixture.client("jc-1", jumpPolicy: "Office")
            let office = JumpPolicy(
                id: 0,
                name: "Office",
                codeName: "office",
                schedule: AccessSchedule(
                    timeZone: "Europe/Berlin",
                    entries: [.init(start: WeekTime(day: .monday, hour: 8), end: WeekTime(day: .friday, hour: 18))]
                ),
                forceEndAtScheduleEnd: true
            )
            #expect(try await admin.call(.post, "jump-policies", encoding: office).status == .created)
            let noShell = SessionPolicy(
                id: 0,
                name: "No shell when absent",
                availability: [.jumpItems],
                permissions: [.shellAccess: .deny]
            )
            #expect(try await admin.call(.post, "session-policies", encoding: noShell).status == .created)
            #expect(
                try await admin.call(.post, "roles", json: #"{"name":"Operators","permissions":["startSessions"]}"#)
                    .status == .created
            )
            #expect(
                try await admin.call(.put, "groups/\(fixture.group.id)/members/rita", json: #"{"role":1}"#).status
                    == .ok
            )

            // The installer's Jump Policy name was mapped to the policy; the session policy is set here.
            let access = try await admin.call(.get, "clients/jc-1/access").decode(ClientAccess.self)
            #expect(access == ClientAccess(jumpPolicy: 1))
            let set = try await admin.call(.put, "clients/jc-1/access", json: #"{"customerNotPresentSessionPolicy":1}"#)
            #expect(
                try set.decode(ClientAccess.self) == ClientAccess(jumpPolicy: 1, customerNotPresentSessionPolicy: 1)
            )
            #expect(
                try await admin.call(.put, "clients/jc-1/access", json: #"{"jumpPolicy":5}"#).status
                    == .unprocessableContent
            )
            #expect(try await admin.call(.get, "clients/jc-9/access").status == .notFound)

            let answer = try await admin.call(
                .post,
                "simulate",
                json: #"{"user":"rita","method":"jump","client":"jc-1","customerPresent":null,"at":null}"#
            )
            #expect(answer.status == .ok)
            let report = try answer.decode(SimulationReport.self)
            #expect(report.question.customerPresence == .unknown, "the client has sent no statistics")
            #expect(report.question.customerPresent == false)
            #expect(report.question.at == Self.saturdayNoon)
            #expect(report.permissions.map(\.permission) == SessionPermission.allCases)
            let shell = try #require(report[.shellAccess])
            #expect(!shell.isAllowed)
            #expect(
                shell.rule
                    == .sessionPolicy(
                        Named(1, "No shell when absent"),
                        level: .jumpItem("jc-1", customerPresent: false)
                    )
            )
            let screen = try #require(report[.viewScreen])
            #expect(screen.isAllowed)
            #expect(screen.rule == .sessionPolicy(Named(0, "Global Default"), level: .globalDefault))
            #expect(screen.explanation.contains("Not Defined"))
            #expect(report.jumpItemRole?.role.name == "Operators")
            #expect(report.jumpItemRole?.source == .jumpGroupPage(Named(JumpGroupID(fixture.group.id), "Default")))
            #expect(report.jumpItemPermissions.filter(\.granted).map(\.permission) == [.startSessions])
            let policy = try #require(report.jumpPolicy)
            #expect(policy.policy == Named(1, "Office"))
            #expect(!policy.schedulePermits)
            #expect(policy.nextChange == Self.mondayOpening)
            #expect(policy.forceEnd == nil)
            #expect(!policy.overrideSchedule.isAllowed)
            #expect(policy.explanation.contains("Monday 2026-03-16T08:00:00 CET (Europe/Berlin)"))

            let present = try await admin.call(
                .post,
                "simulate",
                json:
                    #"{"user":"rita","method":"jump","client":"jc-1","customerPresent":true,"at":"2026-03-16T09:00:00Z"}"#
            ).decode(SimulationReport.self)
            #expect(present.question.customerPresence == .given)
            #expect(present[.shellAccess]?.isAllowed == true, "the Customer Present policy is unset")
            #expect(present.jumpPolicy?.schedulePermits == true)
            // Friday 18:00 CET is 17:00 UTC.
            #expect(present.jumpPolicy?.forceEnd?.end == Date(timeIntervalSince1970: 1_773_680_400 + 4 * 86_400))

            #expect(
                try await admin.call(.post, "simulate", json: #"{"user":"nobody","method":"jump"}"#).status == .notFound
            )
            let rita = try await Caller.login(admin.client, "rita", "correct horse rita")
            #expect(try await rita.call(.post, "simulate", json: #"{"user":"rita","method":"attended"}"#).status == .ok)
            #expect(
                try await rita.call(.post, "simulate", json: #"{"user":"admin","method":"attended"}"#).status
                    == .forbidden
            )
        }
    }

    // MARK: Session policies

    @Test func theGlobalDefaultMustDefineEveryPermission() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            var global = try await admin.call(.get, "session-policies/global-default").decode(SessionPolicy.self)
            #expect(global.id == 0)
            #expect(global[.elevate] == .deny)
            global.permissions[.elevate] = .notDefined
            let refused = try await admin.call(.put, "session-policies/global-default", encoding: global)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.message.contains("Elevation"))
            global.permissions[.elevate] = .allow
            #expect(try await admin.call(.put, "session-policies/global-default", encoding: global).status == .ok)
            #expect(
                try await admin.call(.get, "session-policies/global-default").decode(SessionPolicy.self)[.elevate]
                    == .allow
            )
            #expect(try await fixture.audit("session-policy.global-default").count == 1)

            let usersOnly = SessionPolicy(id: 0, name: "Reps", availability: [.users], permissions: [.elevate: .deny])
            #expect(try await admin.call(.post, "session-policies", encoding: usersOnly).status == .created)
            try await fixture.client("jc-1")
            let unavailable = try await admin.call(
                .put,
                "clients/jc-1/access",
                json: #"{"customerPresentSessionPolicy":1}"#
            )
            #expect(unavailable.status == .unprocessableContent)
            #expect(unavailable.message.contains("Availability"))
            #expect(try await admin.call(.get, "session-policies").decode([SessionPolicy].self).map(\.name) == ["Reps"])
        }
    }

    // MARK: Group policies and Jump Group members

    @Test func groupPoliciesAreOrderedAndTheirMembershipsAreNotEditableOnTheGroup() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            _ = try await fixture.representative("bob")
            let users = try await admin.call(.get, "users").decode([PolicyRoutes.UserSummary].self)
            let bob = try #require(users.first { $0.name == "bob" })
            #expect(!String(decoding: try await admin.call(.get, "users").body, as: UTF8.self).contains("passwordHash"))

            let groupID = JumpGroupID(fixture.group.id)
            let ops = GroupPolicy(
                id: 0,
                name: "Ops",
                members: [bob.access.id],
                jumpGroups: [groupID: .defined(.add(role: nil))]
            )
            #expect(try await admin.call(.post, "group-policies", encoding: ops).status == .created)
            #expect(try await admin.call(.post, "group-policies", json: #"{"name":"Second"}"#).status == .created)
            #expect(try await admin.call(.post, "group-policies", json: #"{"name":"Third"}"#).status == .created)
            let list = try await admin.call(.get, "group-policies").decode([GroupPolicy].self)
            #expect(list.map(\.name) == ["Ops", "Second", "Third"])

            let reordered = try await admin.call(.put, "group-policies/order", json: #"{"ids":[3,1,2]}"#)
            #expect(try reordered.decode([GroupPolicy].self).map(\.name) == ["Third", "Ops", "Second"])
            #expect(
                try await admin.call(.put, "group-policies/order", json: #"{"ids":[3,1]}"#).status
                    == .unprocessableContent
            )
            #expect(
                try await admin.call(.put, "group-policies/order", json: #"{"ids":[3,1,1]}"#).status
                    == .unprocessableContent
            )
            #expect(try await admin.call(.get, "group-policies").decode([GroupPolicy].self).map(\.id) == [3, 1, 2])

            let members = try await admin.call(.get, "groups/\(groupID)/members").decode([JumpGroupMember].self)
            #expect(members.map(\.user.name) == ["bob"])
            #expect(members.first?.editability == .grantedByGroupPolicy(Named(1, "Ops")))
            let refused = try await admin.call(.delete, "groups/\(groupID)/members/bob")
            #expect(refused.status == .conflict)
            #expect(refused.message.contains("group policy “Ops”"))

            #expect(try await admin.call(.put, "groups/Default/members/admin", json: #"{"role":null}"#).status == .ok)
            let filtered = try await admin.call(.get, "groups/\(groupID)/members?filter=ADM").decode(
                [JumpGroupMember].self
            )
            #expect(filtered.map(\.user.name) == ["admin"])
            #expect(filtered.first?.editability == .editable)
            #expect(try await admin.call(.delete, "groups/\(groupID)/members/admin").status == .noContent)
            #expect(try await admin.call(.delete, "groups/\(groupID)/members/admin").status == .notFound)
            #expect(
                try await admin.call(.put, "groups/\(groupID)/members/nobody", json: #"{"role":null}"#).status
                    == .notFound
            )
            #expect(try await admin.call(.get, "groups/999/members").status == .notFound)

            #expect(try await admin.call(.delete, "group-policies/1").status == .noContent)
            #expect(try await admin.call(.get, "group-policies").decode([GroupPolicy].self).map(\.id) == [3, 2])
        }
    }

    @Test func groupSearchMatchesNameOrComments() async throws {
        try await Self.withAPI { fixture async throws in
            let admin = fixture.admin
            #expect(
                try await admin.call(.post, "groups", json: #"{"name":"Kiosks","comments":"Lobby screens in Zürich"}"#)
                    .status == .created
            )
            #expect(try await admin.call(.post, "groups", json: #"{"name":"Servers"}"#).status == .created)
            #expect(
                try await admin.call(.get, "groups?search=zurich").decode([GroupName].self).map(\.name) == ["Kiosks"]
            )
            #expect(
                try await admin.call(.get, "groups?search=SERV").decode([GroupName].self).map(\.name) == ["Servers"]
            )
            #expect(try await admin.call(.get, "groups").decode([GroupName].self).count == 3)
        }
    }

    // MARK: Users

    @Test func representativesReadOnlyTheirOwnAccount() async throws {
        try await Self.withAPI { fixture in
            let rita = try await fixture.representative("rita")
            _ = try await fixture.representative("sam")
            let seen = try await rita.call(.get, "users").decode([PolicyRoutes.UserSummary].self)
            #expect(seen.map(\.name) == ["rita"])
            #expect(try await rita.call(.get, "users/rita/access").status == .ok)
            #expect(try await rita.call(.get, "users/sam/access").status == .forbidden)
            #expect(try await fixture.admin.call(.get, "users").decode([PolicyRoutes.UserSummary].self).count == 3)
        }
    }

    @Test func anAdministratorResetsALostSecondFactor() async throws {
        try await Self.withAPI { fixture in
            let rita = try await fixture.representative("rita")
            let sam = try await fixture.representative("sam")
            #expect(try await rita.call(.post, "users/me/mfa").status == .created)
            #expect(try await sam.call(.delete, "users/rita/mfa").status == .forbidden)
            #expect(try await fixture.admin.call(.delete, "users/rita/mfa").status == .noContent)
            #expect(try await fixture.admin.call(.delete, "users/rita/mfa").status == .notFound)
            #expect(try await fixture.audit("mfa.reset").count == 1)
        }
    }

    @Test func userAccessTakesItsIdentityFromThePath() async throws {
        try await Self.withAPI { fixture in
            let admin = fixture.admin
            _ = try await fixture.representative("rita")
            #expect(
                try await admin.call(
                    .post,
                    "users",
                    json: #"{"name":"rita","password":"0123456789ab","role":"representative"}"#
                ).status == .conflict
            )
            #expect(
                try await admin.call(
                    .post,
                    "users",
                    json: #"{"name":"tim","password":"short","role":"representative"}"#
                ).status == .badRequest
            )
            let forged = JumpPolicy::User(
                id: 1,
                username: "admin",
                displayName: "Rita R.",
                representativePermissions: [.overrideJumpPolicySchedule]
            )
            let updated = try await admin.call(.put, "users/rita/access", encoding: forged).decode(
                JumpPolicy::User.self
            )
            #expect(updated.username == "rita")
            #expect(updated.id != 1)
            #expect(updated.representativePermissions == [.overrideJumpPolicySchedule])
            #expect(try await admin.call(.get, "users/admin/access").decode(JumpPolicy::User.self).displayName == "")
            #expect(
                try await admin.call(.get, "users/rita/access").decode(JumpPolicy::User.self).displayName == "Rita R."
            )
            #expect(try await admin.call(.get, "users/nobody/access").status == .notFound)
            let dangling = try await admin.call(.put, "users/rita/access", json: #"{"attendedSessionPolicy":4}"#)
            #expect(dangling.status == .unprocessableContent)
        }
    }

    // MARK: Multi-factor authentication

    @Test func mfaEnrolsConfirmsAndRefusesReplays() async throws {
        try await Self.withAPI { fixture in
            let rita = try await fixture.representative("rita")
            let started = try await rita.call(.post, "users/me/mfa")
            #expect(started.status == .created)
            let enrollment = try started.decode(Enrollment.self)
            #expect(enrollment.uri.hasPrefix("otpauth://totp/Jump%20Client:rita?secret=\(enrollment.secret)"))
            let secret = try TOTPSecret(base32: enrollment.secret)
            func code() -> String { TOTP.code(secret: secret, parameters: TOTPParameters(), at: fixture.clock.now) }

            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status == .notFound,
                "not confirmed"
            )
            #expect(
                try await rita.call(.post, "users/me/mfa/confirm", json: #"{"code":"000000x"}"#).status == .unauthorized
            )
            #expect(try await rita.call(.post, "users/me/mfa/confirm", json: #"{"code":"\#(code())"}"#).status == .ok)
            #expect(
                try await rita.call(.post, "users/me/mfa").status == .conflict,
                "enrolled: the secret is not shown again"
            )
            let users = try await fixture.admin.call(.get, "users").decode([PolicyRoutes.UserSummary].self)
            #expect(users.first { $0.name == "rita" }?.mfaEnrolled == true)
            #expect(
                !String(decoding: try await fixture.admin.call(.get, "users").body, as: UTF8.self).contains(
                    enrollment.secret
                )
            )

            let replay = try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#)
            #expect(replay.status == .unauthorized, "the confirming code was this step's")
            #expect(replay.message.contains("already been used"))
            fixture.clock.advance(30)
            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status == .noContent
            )
            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status
                    == .unauthorized
            )
            fixture.clock.advance(30)
            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status == .noContent
            )

            // Five wrong codes in a row pause verification, even for the right code.
            for _ in 0..<MFARoutes.maximumFailures {
                #expect(
                    try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"12345"}"#).status
                        == .unauthorized
                )
            }
            fixture.clock.advance(30)
            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status
                    == .tooManyRequests
            )
            fixture.clock.advance(MFARoutes.lockout)
            #expect(
                try await rita.call(.post, "users/me/mfa/verify", json: #"{"code":"\#(code())"}"#).status == .noContent
            )

            // A confirmed enrollment goes only with a current code; the login token alone is not enough.
            #expect(try await rita.call(.delete, "users/me/mfa").status == .unauthorized)
            #expect(try await rita.call(.post, "users/me/mfa/remove", json: #"{"code":"000000"}"#).status == .unauthorized)
            fixture.clock.advance(30)
            #expect(try await rita.call(.post, "users/me/mfa/remove", json: #"{"code":"\#(code())"}"#).status == .noContent)
            #expect(try await rita.call(.delete, "users/me/mfa").status == .notFound)
            #expect(try await fixture.audit("mfa.remove").count == 1)
            #expect(try await fixture.audit("mfa.verify").count == 4)
            #expect(try await fixture.audit("mfa.verify-refused").count == 1)
            #expect(try await fixture.audit("mfa.verify-failed").count == MFARoutes.maximumFailures + 3)
        }
    }

    // MARK: Presence

    @Test(arguments: [
        // consoleUser, locked, screenSaver, useScreenState, present
        ("rita", false, "inactive", true, true),
        ("rita", true, "inactive", true, false),
        ("rita", false, "active", true, false),
        ("rita", true, "active", false, true),
        ("", false, "inactive", false, false),
    ])
    func presenceFollowsTheScreenStateSetting(
        _ user: String,
        _ locked: Bool,
        _ screenSaver: String,
        _ useScreenState: Bool,
        _ present: Bool
    ) throws {
        let json = """
            {"id":"jc-1","name":"k","groupID":1,"group":"","tag":"","comments":"","status":"online",
             "enrolledAt":"2026-03-14T12:00:00Z","hostname":"k","addresses":[],"thumbnail":false,
             "statisticsAt":"2026-03-14T12:00:00Z","presence":\(!present),
             "consoleUser":"\(user)","locked":\(locked),"screenSaver":"\(screenSaver)"}
            """
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let view = try decoder.decode(ClientHub.ClientView.self, from: Data(json.utf8))
        let answer = AccessControl.customerPresence(of: view, useScreenState: useScreenState)
        #expect(answer.present == present)
        #expect(answer.source == .statistics(reportedAt: Self.saturdayNoon, screenStateUsed: useScreenState))
        let unknown = AccessControl.customerPresence(of: nil, useScreenState: true)
        #expect(!unknown.present)
        #expect(unknown.source == .unknown)
    }
}
