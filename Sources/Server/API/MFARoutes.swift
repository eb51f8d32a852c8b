import Foundation
import Hummingbird
import JumpPolicy
import JumpStore

/// The calling user's TOTP enrollment: start (a secret shown once), confirm with a code, remove, and verify a code.
///
/// Codes are checked with `TOTPVerifier` against the last accepted time step, and the new step is stored by a
/// conditional update, so a code is accepted once even when two requests carry it at the same moment.
struct MFARoutes: Sendable {
    /// The issuer authenticator apps show next to the account.
    static let issuer = "Jump Client"
    /// Wrong codes in a row before verification pauses: a six-digit code with a one-step window gives a guesser
    /// three chances in a million per try, so a handful of tries per pause keeps guessing hopeless.
    static let maximumFailures = 5
    /// How long verification pauses after `maximumFailures` wrong codes, and after each further one.
    static let lockout: TimeInterval = 5 * 60

    let store: any Store
    let now: @Sendable () -> Date
    let verifier = TOTPVerifier()
    let parameters = TOTPParameters()

    func register(on api: RouterGroup<APIContext>) {
        api.post("users/me/mfa", use: enroll)
        api.post("users/me/mfa/confirm", use: confirm)
        api.delete("users/me/mfa", use: remove)
        api.post("users/me/mfa/remove", use: removeWithCode)
        api.delete("users/:name/mfa", use: reset)
        api.post("users/me/mfa/verify", use: verify)
    }

    struct Enrollment: ResponseEncodable {
        var secret: String
        var uri: String
    }

    struct CodeRequest: Decodable {
        var code: String
    }

    struct Enrolled: ResponseEncodable {
        var enrolled: Bool
    }

    /// Starts (or restarts, while unconfirmed) an enrollment; refused while a confirmed one exists.
    @Sendable func enroll(_ request: Request, context: APIContext) async throws -> EditedResponse<Enrollment> {
        let user = try context.caller()
        var generator = SystemRandomNumberGenerator()
        let secret = try TOTPSecret.generate(using: &generator)
        // The label is "issuer:account", so a colon in a user name would split it.
        let account = user.name.replacingOccurrences(of: ":", with: "-")
        let uri = try TOTP.enrollmentURI(secret: secret, parameters: parameters, issuer: Self.issuer, account: account)
        do {
            try await store.startMFAEnrollment(
                userID: user.id,
                secret: secret.bytes,
                audit: AuditEvent(actor: user.name, action: "mfa.enroll", target: user.name)
            )
        } catch let error as StoreError where error.code == .duplicate {
            throw HTTPError(
                .conflict,
                message: "multi-factor authentication is already enrolled; remove it first: jumpctl user mfa remove"
            )
        }
        return EditedResponse(status: .created, response: Enrollment(secret: secret.base32, uri: uri))
    }

    @Sendable func confirm(_ request: Request, context: APIContext) async throws -> Enrolled {
        let user = try context.caller()
        let body = try await request.decode(as: CodeRequest.self, context: context)
        guard let enrollment = try await store.mfaEnrollment(userID: user.id) else {
            throw HTTPError(.notFound, message: "no enrollment was started; start one: jumpctl user mfa enroll")
        }
        guard !enrollment.confirmed else {
            throw HTTPError(.conflict, message: "multi-factor authentication is already enrolled")
        }
        try await check(body.code, enrollment, user: user, confirming: true)
        return Enrolled(enrolled: true)
    }

    @Sendable func verify(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let user = try context.caller()
        let body = try await request.decode(as: CodeRequest.self, context: context)
        guard let enrollment = try await store.mfaEnrollment(userID: user.id), enrollment.confirmed else {
            throw HTTPError(.notFound, message: "\(user.name) has no multi-factor authentication enrolled")
        }
        try await check(body.code, enrollment, user: user, confirming: false)
        return .noContent
    }

    /// Removes an enrollment not yet confirmed. A confirmed one needs a current code (`removeWithCode`), so that a
    /// stolen login token alone cannot take the second factor away.
    @Sendable func remove(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let user = try context.caller()
        if let enrollment = try await store.mfaEnrollment(userID: user.id), enrollment.confirmed {
            throw HTTPError(
                .unauthorized,
                message: "removing multi-factor authentication needs a current code: jumpctl user mfa remove CODE"
            )
        }
        return try await delete(user, actor: user.name)
    }

    /// Removes the caller's enrollment after checking a current code (which is then used up).
    @Sendable func removeWithCode(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let user = try context.caller()
        let body = try await request.decode(as: CodeRequest.self, context: context)
        guard let enrollment = try await store.mfaEnrollment(userID: user.id) else {
            throw HTTPError(.notFound, message: "\(user.name) has no multi-factor authentication enrolled")
        }
        if enrollment.confirmed {
            try await check(body.code, enrollment, user: user, confirming: false)
        }
        return try await delete(user, actor: user.name)
    }

    /// An administrator resets another user's enrollment (a lost phone); audited as such.
    @Sendable func reset(_ request: Request, context: APIContext) async throws -> HTTPResponse.Status {
        let administrator = try context.administrator()
        let name = try context.parameters.require("name")
        guard let user = try await store.user(named: name) else {
            throw HTTPError(.notFound, message: "there is no user \"\(name)\"; see jumpctl user list")
        }
        return try await delete(user, actor: administrator.name)
    }

    private func delete(_ user: JumpStore.User, actor: String) async throws -> HTTPResponse.Status {
        let removed = try await store.deleteMFAEnrollment(
            userID: user.id,
            audit: AuditEvent(actor: actor, action: actor == user.name ? "mfa.remove" : "mfa.reset", target: user.name)
        )
        guard removed else {
            throw HTTPError(.notFound, message: "\(user.name) has no multi-factor authentication enrolled")
        }
        return .noContent
    }

    /// Accepts the code or throws 401 (429 while paused after too many wrong codes); every outcome is audited.
    func check(_ code: String, _ enrollment: MFAEnrollment, user: JumpStore.User, confirming: Bool) async throws
    {
        let now = self.now()
        let action = confirming ? "mfa.confirm" : "mfa.verify"
        if let lockedUntil = enrollment.lockedUntil, lockedUntil > now {
            try await store.appendAudit(
                AuditEvent(actor: user.name, action: "\(action)-refused", target: user.name, detail: "paused")
            )
            throw HTTPError(
                .tooManyRequests,
                message: "too many wrong codes; try again after \(lockedUntil.formatted(.iso8601))"
            )
        }
        let secret = try TOTPSecret(bytes: enrollment.secret)
        let outcome = verifier.verify(
            code: code.trimmingCharacters(in: .whitespaces),
            secret: secret,
            parameters: parameters,
            at: now,
            lastAcceptedStep: enrollment.lastAcceptedStep
        )
        switch outcome {
        case .accepted(let step):
            let accepted = try await store.acceptMFAStep(
                userID: user.id,
                step: step,
                confirming: confirming,
                now: now,
                audit: AuditEvent(actor: user.name, action: action, target: user.name)
            )
            // Another request took this step (or a later one) first: this one is the replay.
            guard accepted else {
                try await refuse(user, action, TOTPVerification.Reason.replayed)
                return
            }
        case .rejected(let reason):
            try await refuse(user, action, reason)
        }
    }

    private func refuse(_ user: JumpStore.User, _ action: String, _ reason: TOTPVerification.Reason) async throws {
        try await store.recordMFAFailure(
            userID: user.id,
            lockAfter: Self.maximumFailures,
            until: now() + Self.lockout,
            audit: AuditEvent(actor: user.name, action: "\(action)-failed", target: user.name, detail: reason.rawValue)
        )
        throw HTTPError(.unauthorized, message: reason.description)
    }
}
