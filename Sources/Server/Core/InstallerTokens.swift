import Crypto
public import Foundation
import JumpTLS

/// Enrollment tokens. A token is HMAC-SHA256 of the installer's id under a key that only the data
/// directory holds; the database stores only the token's SHA-256. So the database alone never reveals
/// a token, yet the appliance can give an administrator the same installer file again (the guide's
/// "download" in the installers list). Deleting the installer deletes the hash, and its token stops
/// working at once.
public struct InstallerTokens: Sendable {
    /// 256 random bits.
    public static let keyLength = 32

    private let key: Data

    public init(key: Data) {
        self.key = key
    }

    /// Reads the key file, making it on first use.
    public static func load(keyFile: URL) throws -> InstallerTokens {
        InstallerTokens(key: try KeyFile.load(keyFile, length: keyLength))
    }

    public func token(installerID: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data("jump installer token v1|\(installerID)".utf8), using: SymmetricKey(data: key)))
    }

    public static func hash(_ token: Data) -> String {
        Hex.lowercase(SHA256.hash(data: token))
    }
}

/// A secret key in a file of the data directory: base64 text, mode 0600, made on first use and never
/// replaced (a new key would invalidate everything made with the old one).
public enum KeyFile {
    public static func load(_ url: URL, length: Int) throws -> Data {
        if FileManager.default.fileExists(atPath: url.path) {
            let text = try String(contentsOf: url, encoding: .utf8)
            guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == length else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
            }
            return bytes
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try DataDirectory.write(bytes.base64EncodedString() + "\n", to: url, mode: 0o600)
        return bytes
    }
}
