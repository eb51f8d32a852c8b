public import Foundation
public import Hummingbird
public import HummingbirdWebSocket
public import JumpStore

/// Each API request's context: who is calling, once the bearer token has been checked.
public struct APIContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var user: User?
    public var tokenHash: String?
    /// Set by a route that upgrades to a WebSocket (a session's terminal).
    public let webSocket: WebSocketHandlerReference<APIContext>

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
    }

    /// Large enough for any request this API takes.
    public var maxUploadSize: Int { 256 * 1024 }

    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public var requestDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The caller, who must be logged in.
    func caller() throws -> User {
        guard let user else { throw HTTPError(.unauthorized, message: "log in first: jumpctl login") }
        return user
    }

    /// The caller, who must be an administrator.
    func administrator() throws -> User {
        let user = try caller()
        guard user.role == .administrator else {
            throw HTTPError(.forbidden, message: "this needs an administrator; \(user.name) is a \(user.role.rawValue)")
        }
        return user
    }
}
