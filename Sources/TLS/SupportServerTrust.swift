import Crypto
public import NIOCore
public import NIOSSL
import SwiftASN1
public import X509

/// How a support agent decides that it is talking to the appliance its support code names.
///
/// The agent has no installer and no CA file: all it knows is the start of the SHA-256 fingerprint of
/// the appliance CA's certificate (the code's `caPin`). It accepts the appliance only if the chain
/// it presents contains a certificate with that fingerprint, and the leaf verifies against that
/// certificate as the one trust root (RFC 5280: signature, validity, basic constraints), and the
/// leaf is meant for a TLS server (extended key usage `serverAuth`, so that a Jump Client's own
/// certificate from the same CA cannot pose as the appliance). Host names are not checked, as for
/// the enrolled agent: the CA is private to one appliance.
public struct SupportServerTrust: Sendable {
    /// Fewer pinned bytes would make a matching CA too easy to forge: the support code's pin length.
    public static let minimumPinLength = 11

    public enum Decision: Sendable, Hashable {
        case trusted
        /// Why the appliance is not trusted, for the person who typed the code.
        case refused(String)
    }

    public let caPin: [UInt8]

    /// `caPin`: at least ``minimumPinLength`` leading bytes of the CA certificate's SHA-256.
    public init(caPin: [UInt8]) {
        self.caPin = caPin
    }

    /// Checks the chain as presented, leaf first, at the current time.
    public func evaluate(_ presented: [Certificate]) async -> Decision {
        guard caPin.count >= Self.minimumPinLength else {
            return .refused("the support code's CA pin is too short")
        }
        guard let leaf = presented.first else {
            return .refused("the appliance presented no certificate")
        }
        let pinned = presented.filter { certificate in
            guard let der = try? certificate.derBytes else { return false }
            return Array(SHA256.hash(data: der).prefix(caPin.count)) == caPin
        }
        guard let ca = pinned.first else {
            return .refused("the appliance's certificate chain has no CA matching the support code")
        }
        var verifier = Verifier(rootCertificates: CertificateStore([ca])) {
            RFC5280Policy()
            ServerAuthenticationUsagePolicy()
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore()) {
        case .validCertificate:
            return .trusted
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            return .refused(
                "the appliance's certificate is not valid under the CA the support code names"
                    + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))
            )
        }
    }

    /// For `NIOSSLClientHandler(context:serverHostname:customVerificationCallback:)` with
    /// ``JumpTLSConfiguration/supportClient()``. `refused` hears why a handshake was refused.
    public func verificationCallback(
        refused: @escaping @Sendable (String) -> Void = { _ in }
    ) -> NIOSSLCustomVerificationCallback {
        { presented, promise in
            let chain: [Certificate]
            do {
                chain = try presented.map { try Certificate(derEncoded: try $0.toDERBytes()) }
            } catch {
                refused("the appliance presented a certificate that cannot be read")
                promise.succeed(.failed)
                return
            }
            promise.completeWithTask {
                switch await self.evaluate(chain) {
                case .trusted:
                    return .certificateVerified
                case .refused(let reason):
                    refused(reason)
                    return .failed
                }
            }
        }
    }
}

/// The leaf must carry the `serverAuth` extended key usage.
struct ServerAuthenticationUsagePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        guard let usage = try? chain.leaf.extensions.extendedKeyUsage, usage.contains(.serverAuth) else {
            return .failsToMeetPolicy(reason: "the appliance's certificate is not for a TLS server (no serverAuth usage)")
        }
        return .meetsPolicy
    }
}
