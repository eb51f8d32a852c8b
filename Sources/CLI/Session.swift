import Foundation

/// What `jumpctl login` keeps under `$XDG_CONFIG_HOME/jumpctl/` (else `~/.config/jumpctl/`), readable
/// by its owner only: the appliance's URL, its CA, and the session token.
struct Session: Codable {
    var server: String
    var caPEM: String
    var user: String
    var token: String
    var expiresAt: Date

    static var directory: URL {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("jumpctl")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".config/jumpctl")
    }

    static var file: URL { directory.appendingPathComponent("session.json") }

    static func load() throws -> Session {
        guard let data = try? Data(contentsOf: file) else {
            throw CLIError.denied("not logged in: jumpctl login --server https://HOST:8443 --user NAME --ca ca.pem")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let session = try? decoder.decode(Session.self, from: data) else {
            throw CLIError.denied("the session file \(file.path) is damaged; log in again")
        }
        return session
    }

    func save() throws {
        try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = Self.directory.appendingPathComponent(".session.json.\(getpid())")
        try Output.writePrivate(data, to: temporary.path)
        guard rename(temporary.path, Self.file.path) == 0 else {
            throw CLIError.failure("cannot save the session in \(Self.file.path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove() {
        try? FileManager.default.removeItem(at: file)
    }

    func client() throws -> APIClient {
        guard let url = URL(string: server) else { throw CLIError.failure("the session's server URL is damaged; log in again") }
        return try APIClient(server: url, caPEM: caPEM, token: token)
    }
}

extension APIClient {
    /// Sends a request and decodes a JSON answer, or throws the appliance's refusal.
    func json<T: Decodable>(_ type: T.Type, _ request: () async throws -> Response) async throws -> T {
        let response = try await request()
        guard (200..<300).contains(response.status) else { throw CLIError.from(response) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: response.body)
        } catch {
            throw CLIError.failure("the appliance's answer is not what jumpctl expects: \(error)")
        }
    }

    /// Sends a request and returns the raw successful answer.
    func checked(_ request: () async throws -> Response) async throws -> Response {
        let response = try await request()
        guard (200..<300).contains(response.status) else { throw CLIError.from(response) }
        return response
    }
}
