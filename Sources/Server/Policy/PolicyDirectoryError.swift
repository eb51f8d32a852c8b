/// A directory that would break a policy rule; the message says what to change.
public struct PolicyDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// Two entries of one kind share an id.
        public static let duplicateID = Code(name: "duplicate id")
        /// An id that names nothing in the directory.
        public static let unknownReference = Code(name: "unknown reference")
        /// A session policy assigned where its Availability does not allow.
        public static let unavailablePolicy = Code(name: "unavailable policy")
        /// The global default session policy leaves a permission Not Defined, so some answer would be missing.
        public static let incompleteGlobalDefault = Code(name: "incomplete global default")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: PolicyDirectoryError, rhs: PolicyDirectoryError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
