import Crypto
public import Foundation

/// The key a representative's authenticator app shares with the appliance.
public struct TOTPSecret: Sendable, Hashable, Codable, CustomStringConvertible {
    /// 160 bits: RFC 4226's recommended length, and the size of an HMAC-SHA1 output, the default algorithm.
    public static let defaultByteCount = 20
    /// 80 bits: the shortest secret that widely used authenticator apps still issue, so one can be imported.
    public static let minimumByteCount = 10
    /// SHA-512's output length: no algorithm here gains strength from a longer key, and it keeps the
    /// enrollment URI small enough for a QR code.
    public static let maximumByteCount = 64

    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(TOTPError) {
        try Self.checkLength(bytes.count)
        self.bytes = bytes
    }

    public init(base32: String) throws(TOTPError) {
        let bytes: [UInt8]
        do {
            bytes = try Base32.decode(base32)
        } catch {
            throw TOTPError(.invalidSecret, "the TOTP secret is not valid base32: \(error.detail)")
        }
        try self.init(bytes: bytes)
    }

    /// The generator is injected so tests are repeatable; in production pass `SystemRandomNumberGenerator`,
    /// which is cryptographically secure.
    public static func generate(
        byteCount: Int = defaultByteCount,
        using generator: inout some RandomNumberGenerator
    ) throws(TOTPError) -> TOTPSecret {
        try checkLength(byteCount)
        return try TOTPSecret(bytes: (0..<byteCount).map { _ in generator.next() })
    }

    private static func checkLength(_ byteCount: Int) throws(TOTPError) {
        guard (minimumByteCount...maximumByteCount).contains(byteCount) else {
            throw TOTPError(
                .invalidSecret,
                "a TOTP secret must be \(minimumByteCount) to \(maximumByteCount) bytes, not \(byteCount)"
            )
        }
    }

    /// What the representative types into an authenticator app when the QR code cannot be scanned.
    public var base32: String { Base32.encode(bytes) }

    /// Only the length, so that a secret logged or interpolated by mistake is not disclosed.
    public var description: String { "TOTPSecret(\(bytes.count) bytes)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(base32: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.detail))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base32)
    }
}

/// How codes are computed; it must match what the authenticator app was told at enrollment.
public struct TOTPParameters: Sendable, Hashable, Codable {
    public enum Algorithm: String, CaseIterable, Sendable, Hashable, Codable {
        case sha1 = "SHA1"
        case sha256 = "SHA256"
        case sha512 = "SHA512"
    }

    public enum Digits: Int, CaseIterable, Sendable, Hashable, Codable {
        case six = 6
        case eight = 8
    }

    /// SHA-1 is what every authenticator app implements (some ignore `algorithm=`); HMAC-SHA1 is not weakened
    /// by SHA-1's collision attacks.
    public static let defaultAlgorithm = Algorithm.sha1
    /// Six digits is what every authenticator app shows; eight is there for policies that want it.
    public static let defaultDigits = Digits.six
    /// Seconds per code. RFC 6238's recommended step, and fixed: several authenticator apps ignore `period=`
    /// and would show codes that never verify.
    public static let periodSeconds: Int64 = 30

    public var algorithm: Algorithm
    public var digits: Digits

    public init(algorithm: Algorithm = defaultAlgorithm, digits: Digits = defaultDigits) {
        self.algorithm = algorithm
        self.digits = digits
    }
}

/// One-time codes: HOTP (RFC 4226) over time steps (RFC 6238).
public enum TOTP {
    /// Whole periods since the Unix epoch. A clock before 1970 or absurdly far ahead is clamped rather than
    /// trapping: its codes then simply do not verify.
    public static func step(at date: Date) -> Int64 {
        let steps = (date.timeIntervalSince1970 / Double(TOTPParameters.periodSeconds)).rounded(.down)
        guard steps >= 0 else { return 0 }
        return Int64(exactly: steps) ?? .max
    }

    public static func code(secret: TOTPSecret, parameters: TOTPParameters, at date: Date) -> String {
        hotp(secret: secret, counter: UInt64(step(at: date)), parameters: parameters)
    }

    public static func hotp(secret: TOTPSecret, counter: UInt64, parameters: TOTPParameters) -> String {
        String(decoding: hotpDigits(secret: secret, counter: counter, parameters: parameters), as: UTF8.self)
    }

    /// The code as ASCII digits, the form the verifier compares in constant time.
    fileprivate static func hotpDigits(secret: TOTPSecret, counter: UInt64, parameters: TOTPParameters) -> [UInt8] {
        let mac = parameters.algorithm.authenticationCode(key: secret.bytes, message: counter.bigEndianBytes)
        // Dynamic truncation (RFC 4226 section 5.3): the low nibble of the last byte picks four bytes.
        let offset = Int(mac[mac.count - 1] & 0x0F)
        var value = mac[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: parameters.digits.rawValue)
        for index in digits.indices.reversed() {
            digits[index] += UInt8(value % 10)
            value /= 10
        }
        return digits
    }

    /// The key URI that authenticator apps read from a QR code. The label is `issuer:account`, so neither may
    /// contain a colon; everything outside RFC 3986's unreserved characters is percent-encoded (a space as
    /// `%20`, never `+`).
    public static func enrollmentURI(
        secret: TOTPSecret,
        parameters: TOTPParameters,
        issuer: String,
        account: String
    ) throws(TOTPError) -> String {
        for (name, value) in [("issuer", issuer), ("account", account)] {
            guard !value.isEmpty, !value.contains(":") else {
                throw TOTPError(.invalidLabel, "the \(name) must be non-empty and contain no ':' (got \"\(value)\")")
            }
        }
        let issuer = percentEncoded(issuer)
        return "otpauth://totp/\(issuer):\(percentEncoded(account))?secret=\(secret.base32)&issuer=\(issuer)"
            + "&algorithm=\(parameters.algorithm.rawValue)&digits=\(parameters.digits.rawValue)"
            + "&period=\(TOTPParameters.periodSeconds)"
    }

    private static func percentEncoded(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                output += byte < 0x10 ? "%0\(hex)" : "%\(hex)"
            }
        }
        return output
    }
}

extension TOTPParameters.Algorithm {
    fileprivate func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        return switch self {
        case .sha1: Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }
}

extension UInt64 {
    fileprivate var bigEndianBytes: [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }
}

/// Checks a code a representative typed, and refuses one that was already used.
public struct TOTPVerifier: Sendable, Hashable {
    /// One step either side tolerates a phone clock up to about 30 s off and a code typed as it changes.
    public static let defaultWindow = 1
    /// Each step of window accepts two more codes, doubling a guesser's odds per step; a clock more than five
    /// minutes off should be fixed, not tolerated.
    public static let maximumWindow = 10
    /// Longer input is refused before any other work: no code has more than 8 digits.
    public static let maximumCodeLength = 10

    /// Steps accepted on each side of the current one.
    public let window: Int

    /// The window comes from code, not from users, so a value out of range is a programming error.
    public init(window: Int = defaultWindow) {
        precondition((0...Self.maximumWindow).contains(window), "TOTP window \(window) is out of range")
        self.window = window
    }

    /// Every step in the window is computed and compared in full, whatever the input, so the time taken
    /// tells nothing about how close a guess was. When a code matches several steps (a collision), the latest
    /// one after `lastAcceptedStep` wins.
    public func verify(
        code: String,
        secret: TOTPSecret,
        parameters: TOTPParameters,
        at date: Date,
        lastAcceptedStep: Int64?
    ) -> TOTPVerification {
        guard code.utf8.count <= Self.maximumCodeLength else { return .rejected(.malformed) }
        let entered = Array(code.utf8)
        guard entered.count == parameters.digits.rawValue,
            entered.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return .rejected(.malformed) }

        let current = TOTP.step(at: date)
        let (upper, overflow) = current.addingReportingOverflow(Int64(window))
        var accepted: Int64?
        var replayed = false
        for step in max(0, current - Int64(window))...(overflow ? .max : upper) {
            let expected = TOTP.hotpDigits(secret: secret, counter: UInt64(step), parameters: parameters)
            guard Self.constantTimeEqual(expected, entered) else { continue }
            if let lastAcceptedStep, step <= lastAcceptedStep {
                replayed = true
            } else {
                accepted = step
            }
        }
        if let accepted { return .accepted(step: accepted) }
        return .rejected(replayed ? .replayed : .wrong)
    }

    /// Folds every byte's difference together instead of stopping at the first mismatch.
    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) { difference |= left ^ right }
        return difference == 0
    }
}

/// What the caller does next: store `step` as the new last accepted step, or tell the user why not.
public enum TOTPVerification: Sendable, Hashable, Codable {
    case accepted(step: Int64)
    case rejected(Reason)

    public enum Reason: String, Sendable, Hashable, Codable, CustomStringConvertible {
        /// Not exactly the expected number of ASCII digits.
        case malformed
        /// Matches no step in the window.
        case wrong
        /// Matches only steps at or before the last accepted one: someone may have seen it being typed.
        case replayed

        public var description: String {
            switch self {
            case .malformed: "Enter the code exactly as your authenticator app shows it: digits only."
            case .wrong: "The code is not correct. Check that your device's clock is set automatically."
            case .replayed: "That code has already been used. Wait for the next code and enter it."
            }
        }
    }
}

/// A TOTP secret or enrollment request that cannot be used.
public struct TOTPError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String

        /// A secret that is not base32 or not of an accepted length.
        public static let invalidSecret = Code(name: "invalid secret")
        /// An issuer or account name that cannot appear in an enrollment URI's label.
        public static let invalidLabel = Code(name: "invalid label")

        public var description: String { name }
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    public static func == (lhs: TOTPError, rhs: TOTPError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
