/// A store row id in a type of its own, so that a user's id cannot be passed where a Jump Group's is expected.
public protocol RowID:
    RawRepresentable<Int64>, Hashable, Comparable, Codable, CodingKeyRepresentable, Sendable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    init(_ rawValue: Int64)
}

extension RowID {
    public init(rawValue: Int64) { self.init(rawValue) }
    public init(integerLiteral value: Int64) { self.init(value) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    /// Dictionaries keyed by an id encode as JSON objects (`{"3": ...}`), not as arrays of
    /// alternating keys and values.
    public var codingKey: any CodingKey { RowIDKey(stringValue: String(rawValue)) }

    public init?<T: CodingKey>(codingKey: T) {
        guard let value = Int64(codingKey.stringValue) else { return nil }
        self.init(value)
    }
}

private struct RowIDKey: CodingKey {
    var stringValue: String
    var intValue: Int? { Int(stringValue) }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { stringValue = String(intValue) }
}

public struct UserID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

public struct JumpGroupID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

public struct JumpItemRoleID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// The built-in No Access role. Store rows start at 1, so 0 can never name a stored role.
    public static let noAccess = JumpItemRoleID(0)
}

public struct GroupPolicyID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

public struct SessionPolicyID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

public struct PublicPortalID: RowID {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}

/// A Jump Client's id: the agent chooses it at enrollment, so it is text rather than a row id.
public struct JumpItemID: RawRepresentable, Hashable, Comparable, Codable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// An id with the name a person knows it by, so that an answer can be read by people and by programs alike.
public struct Named<ID: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    public let id: ID
    public let name: String

    public init(_ id: ID, _ name: String) {
        self.id = id
        self.name = name
    }
}
