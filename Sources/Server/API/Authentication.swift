import Crypto
import Foundation
import Hummingbird
import JumpStore
import JumpTLS

/// Checks the bearer token of every request after login and records the call: a request that
/// changes something is audited by the change itself (same transaction); any other call is audited
/// here, as is every refused one.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIContext

    let store: any Store
    let now: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let path = request.uri.path
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            try await audit("api.denied", actor: "anonymous", request, detail: "no session token")
            throw HTTPError(.unauthorized, message: "log in first: jumpctl login")
        }
        let tokenHash = Self.hash(String(header.dropFirst("Bearer ".count)))
        guard let session = try await store.session(tokenHash: tokenHash), session.expiresAt > now(),
            let user = try await store.user(id: session.userID)
        else {
            try await audit("api.denied", actor: "anonymous", request, detail: "unknown or expired session")
            throw HTTPError(.unauthorized, message: "the session is unknown or has expired; log in again: jumpctl login")
        }
        context.user = user
        context.tokenHash = tokenHash
        if request.method == .get || request.method == .head {
            try await audit("api.read", actor: user.name, request, detail: "")
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .forbidden {
            try await audit("api.denied", actor: user.name, request, detail: "\(path)")
            throw error
        }
    }

    private func audit(_ action: String, actor: String, _ request: Request, detail: String) async throws {
        try await store.appendAudit(
            AuditEvent(actor: actor, action: action, target: "\(request.method) \(request.uri.path)", detail: detail)
        )
    }

    static func hash(_ token: String) -> String {
        Hex.lowercase(SHA256.hash(data: Data(token.utf8)))
    }
}
