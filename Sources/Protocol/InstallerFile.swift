public import FoundationEssentials

/// The installer file an administrator downloads from the appliance and `jump-agent install`
/// consumes: where the appliance is, the CA to trust (and its fingerprint), the enrollment token, and
/// the parameters with the overrides the person installing may change. JSON, `format` first.
public struct InstallerFile: Codable, Hashable, Sendable {
    public static let currentFormat = "jump-installer/1"

    public var format: String
    public var installerID: String
    /// `HOST:PORT` addresses of the appliance's agent listener, tried in order.
    public var servers: [String]
    /// The appliance CA certificate, PEM.
    public var caCertificate: String
    /// SHA-256 of the CA certificate's DER bytes, lowercase hex; the agent checks it against `caCertificate`.
    public var caSHA256: String
    /// The enrollment token, base64url without padding.
    public var token: String
    public var expiresAt: Date
    public var group: String
    public var jumpPolicy: String
    public var name: String
    public var tag: String
    public var comments: String
    public var allowedOverrides: [String]

    public init(
        installerID: String,
        servers: [String],
        caCertificate: String,
        caSHA256: String,
        token: String,
        expiresAt: Date,
        group: String,
        jumpPolicy: String,
        name: String,
        tag: String,
        comments: String,
        allowedOverrides: [String]
    ) {
        self.format = Self.currentFormat
        self.installerID = installerID
        self.servers = servers
        self.caCertificate = caCertificate
        self.caSHA256 = caSHA256
        self.token = token
        self.expiresAt = expiresAt
        self.group = group
        self.jumpPolicy = jumpPolicy
        self.name = name
        self.tag = tag
        self.comments = comments
        self.allowedOverrides = allowedOverrides
    }

    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The token's bytes.
    public var tokenBytes: Data? { Base64URL.decode(token) }
}

/// base64url without padding (RFC 4648 section 5), for tokens in files and URLs.
public enum Base64URL {
    public static func encode(_ data: some Sequence<UInt8>) -> String {
        String(Data(data).base64EncodedString().compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
    }

    public static func decode(_ text: String) -> Data? {
        var base64 = String(text.map { character -> Character in
            switch character {
            case "-": "+"
            case "_": "/"
            default: character
            }
        })
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
