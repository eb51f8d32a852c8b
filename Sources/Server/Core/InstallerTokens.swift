import Crypto
public import Foundation

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

    /// Reads the key file (base64 text), making it (mode 0600) on first use.
    public static func load(keyFile: URL) throws -> InstallerTokens {
        if FileManager.default.fileExists(atPath: keyFile.path) {
            let text = try String(contentsOf: keyFile, encoding: .utf8)
            guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                bytes.count == keyLength
            else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: keyFile.path])
            }
            return InstallerTokens(key: bytes)
        }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        try DataDirectory.write(bytes.base64EncodedString() + "\n", to: keyFile, mode: 0o600)
        return InstallerTokens(key: bytes)
    }

    public func token(installerID: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data("jump installer token v1|\(installerID)".utf8), using: SymmetricKey(data: key)))
    }

    public static func hash(_ token: Data) -> String {
        SHA256.hash(data: token).map { String(format: "%02x", $0) }.joined()
    }
}
