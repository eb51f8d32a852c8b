/// A failure to make, read or check a key, request or certificate.
public struct PKIError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// Bytes that are not the DER or PEM they should be.
        public static let malformed = Code(name: "malformed")
        /// A request whose signature does not match its key.
        public static let badSignature = Code(name: "bad signature")
        /// A key other than P-256.
        public static let unsupportedKey = Code(name: "unsupported key")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: PKIError, rhs: PKIError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
