import Foundation
import Hummingbird
import JumpPolicy
import JumpProtocol
import JumpServerCore
import JumpStore

/// A kind of policy value that has its own id and name and is kept by the same five routes (list, create, show,
/// replace, delete): Jump Item roles, Jump Policies, session policies and group policies.
protocol PolicyRouteKind: SendableMetatype {
    associatedtype Value: Codable, Equatable, Sendable

    /// The path under /api/v1, e.g. "roles".
    static var path: String { get }
    /// The first word of audit actions, e.g. "role" in "role.create".
    static var action: String { get }
    /// What people call it, e.g. "Jump Item role".
    static var noun: String { get }
    /// What `jumpctl` lists them with, for messages.
    static var listCommand: String { get }

    /// In the order the list route returns them.
    static func all(in data: PolicyData) -> [Value]
    static func value(_ id: Int64, in data: PolicyData) -> Value?
    static func nextID(in data: PolicyData) -> Int64
    /// Inserts a new value or replaces the one with its id (in place, for ordered kinds).
    static func put(_ value: Value, in data: inout PolicyData)
    static func remove(_ id: Int64, from data: inout PolicyData)

    static func id(of value: Value) -> Int64
    static func name(of value: Value) -> String
    /// Fields a request body may leave out, with the value they then take.
    static func defaults(name: String) -> [String: JSONValue]
    /// The value as it is stored: `id` set, the name trimmed and checked, anything else checked that the
    /// directory does not check.
    static func prepare(_ value: Value, id: Int64, timeZones: TimeZoneDatabase) throws -> Value
    /// Throws when the value may not be deleted whatever refers to it (a built-in one).
    static func checkDeletable(_ id: Int64) throws
}

extension PolicyRouteKind {
    static func defaults(name: String) -> [String: JSONValue] { [:] }
    static func checkDeletable(_ id: Int64) throws {}
}

enum RoleKind: PolicyRouteKind {
    static let path = "roles"
    static let action = "role"
    static let noun = "Jump Item role"
    static let listCommand = "jumpctl role list"

    /// The built-in No Access role is listed first, so that it can be chosen by name like any other.
    static func all(in data: PolicyData) -> [JumpItemRole] {
        [.noAccess] + data.roles.values.sorted { $0.id < $1.id }
    }

    static func value(_ id: Int64, in data: PolicyData) -> JumpItemRole? {
        id == JumpItemRoleID.noAccess.rawValue ? .noAccess : data.roles[JumpItemRoleID(id)]
    }

    static func nextID(in data: PolicyData) -> Int64 { data.nextRoleID.rawValue }
    static func put(_ value: JumpItemRole, in data: inout PolicyData) { data.roles[value.id] = value }
    static func remove(_ id: Int64, from data: inout PolicyData) { data.roles[JumpItemRoleID(id)] = nil }
    static func id(of value: JumpItemRole) -> Int64 { value.id.rawValue }
    static func name(of value: JumpItemRole) -> String { value.name }

    static func defaults(name: String) -> [String: JSONValue] {
        ["description": "", "permissions": []]
    }

    static func checkDeletable(_ id: Int64) throws {
        guard id != JumpItemRoleID.noAccess.rawValue else {
            throw HTTPError(.conflict, message: "the built-in No Access role cannot be changed or deleted")
        }
    }

    static func prepare(_ value: JumpItemRole, id: Int64, timeZones: TimeZoneDatabase) throws -> JumpItemRole {
        try checkDeletable(id)
        var role = value
        role.id = JumpItemRoleID(id)
        role.name = try Validation.name(value.name, "role name")
        role.description = try Validation.text(value.description, "description")
        return role
    }
}

enum JumpPolicyKind: PolicyRouteKind {
    static let path = "jump-policies"
    static let action = "jump-policy"
    static let noun = "Jump Policy"
    static let listCommand = "jumpctl jump-policy list"

    static func all(in data: PolicyData) -> [JumpPolicy] { data.jumpPolicies.values.sorted { $0.id < $1.id } }
    static func value(_ id: Int64, in data: PolicyData) -> JumpPolicy? { data.jumpPolicies[id] }
    static func nextID(in data: PolicyData) -> Int64 { data.nextJumpPolicyID }
    static func put(_ value: JumpPolicy, in data: inout PolicyData) { data.jumpPolicies[value.id] = value }
    static func remove(_ id: Int64, from data: inout PolicyData) { data.jumpPolicies[id] = nil }
    static func id(of value: JumpPolicy) -> Int64 { value.id }
    static func name(of value: JumpPolicy) -> String { value.name }

    static func defaults(name: String) -> [String: JSONValue] {
        [
            "codeName": .string(Validation.codeName(from: name)), "description": "", "forceEndAtScheduleEnd": false,
            "requireTicketID": false, "requireMFA": false,
            "simultaneousJumps": .string(JumpPolicy.SimultaneousJumps.useGlobalSetting.rawValue),
            "schedule": ["enabled": false, "timeZone": "UTC", "entries": []],
        ]
    }

    /// The schedule is checked even when it is disabled, so that enabling it later cannot fail on a zone that
    /// was never there.
    static func prepare(_ value: JumpPolicy, id: Int64, timeZones: TimeZoneDatabase) throws -> JumpPolicy {
        var policy = value
        policy.id = id
        policy.name = try Validation.name(value.name, "Jump Policy name")
        policy.codeName = try Validation.name(value.codeName, "code name", allowEmpty: true)
        policy.description = try Validation.text(value.description, "description")
        try policy.schedule.validate(in: timeZones)
        return policy
    }
}

enum SessionPolicyKind: PolicyRouteKind {
    static let path = "session-policies"
    static let action = "session-policy"
    static let noun = "session policy"
    static let listCommand = "jumpctl session-policy list"

    static func all(in data: PolicyData) -> [SessionPolicy] { data.sessionPolicies.values.sorted { $0.id < $1.id } }
    static func value(_ id: Int64, in data: PolicyData) -> SessionPolicy? { data.sessionPolicies[SessionPolicyID(id)] }
    static func nextID(in data: PolicyData) -> Int64 { data.nextSessionPolicyID.rawValue }
    static func put(_ value: SessionPolicy, in data: inout PolicyData) { data.sessionPolicies[value.id] = value }
    static func remove(_ id: Int64, from data: inout PolicyData) { data.sessionPolicies[SessionPolicyID(id)] = nil }
    static func id(of value: SessionPolicy) -> Int64 { value.id.rawValue }
    static func name(of value: SessionPolicy) -> String { value.name }

    static func defaults(name: String) -> [String: JSONValue] {
        [
            "codeName": .string(Validation.codeName(from: name)), "description": "",
            "availability": [.string(SessionPolicy.Availability.users.rawValue)], "permissions": [:],
        ]
    }

    static func prepare(_ value: SessionPolicy, id: Int64, timeZones: TimeZoneDatabase) throws -> SessionPolicy {
        var policy = value
        policy.id = SessionPolicyID(id)
        policy.name = try Validation.name(value.name, "session policy name")
        policy.codeName = try Validation.name(value.codeName, "code name", allowEmpty: true)
        policy.description = try Validation.text(value.description, "description")
        return policy
    }
}

enum GroupPolicyKind: PolicyRouteKind {
    static let path = "group-policies"
    static let action = "group-policy"
    static let noun = "group policy"
    static let listCommand = "jumpctl group-policy list"

    static func all(in data: PolicyData) -> [GroupPolicy] { data.groupPolicies }
    static func value(_ id: Int64, in data: PolicyData) -> GroupPolicy? {
        data.groupPolicies.first { $0.id.rawValue == id }
    }
    static func nextID(in data: PolicyData) -> Int64 { data.nextGroupPolicyID.rawValue }

    /// A new policy goes last, below every other, so adding one never changes what the others decide.
    static func put(_ value: GroupPolicy, in data: inout PolicyData) {
        if let index = data.groupPolicies.firstIndex(where: { $0.id == value.id }) {
            data.groupPolicies[index] = value
        } else {
            data.groupPolicies.append(value)
        }
    }

    static func remove(_ id: Int64, from data: inout PolicyData) {
        data.groupPolicies.removeAll { $0.id.rawValue == id }
    }

    static func id(of value: GroupPolicy) -> Int64 { value.id.rawValue }
    static func name(of value: GroupPolicy) -> String { value.name }

    static func defaults(name: String) -> [String: JSONValue] {
        let notDefined: JSONValue = ["isFinal": false]
        return [
            "members": [], "jumpGroups": [:], "defaultJumpItemRole": notDefined,
            "personalJumpItemsRole": notDefined, "systemJumpItemRole": notDefined,
            "representativePermissions": notDefined, "attendedSessionPolicy": notDefined,
            "unattendedSessionPolicy": notDefined,
        ]
    }

    static func prepare(_ value: GroupPolicy, id: Int64, timeZones: TimeZoneDatabase) throws -> GroupPolicy {
        var policy = value
        policy.id = GroupPolicyID(id)
        policy.name = try Validation.name(value.name, "group policy name")
        return policy
    }
}
