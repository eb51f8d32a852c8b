import Crypto
import NIOCore
public import NIOSSL
public import FoundationEssentials
import SwiftASN1
public import X509

/// How a support agent decides that it is talking to the appliance its support code names.
///
/// The agent has no installer and no CA file: all it knows is the start of the SHA-256 fingerprint of
/// the appliance CA's certificate (the code's `caPin`). It accepts the appliance only if the chain
/// it presents contains a CA certificate with that fingerprint, the leaf is signed by it, both are
/// within their validity, and the leaf is meant for a TLS server (extended key usage `serverAuth`, so that a Jump Client's own
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

    /// Checks the chain as presented, leaf first, at `now`. Synchronous on purpose: it runs inside the TLS
    /// handshake, on the connection's event loop, and needs no other thread to decide.
    public func evaluate(_ presented: [Certificate], now: Date = Date()) -> Decision {
        guard caPin.count >= Self.minimumPinLength else {
            return .refused("the support code's CA pin is too short")
        }
        guard let leaf = presented.first else {
            return .refused("the appliance presented no certificate")
        }
        let pinned = presented.first { certificate in
            guard let der = try? certificate.derBytes else { return false }
            return Array(SHA256.hash(data: der).prefix(caPin.count)) == caPin
        }
        guard let ca = pinned else {
            return .refused("the appliance's certificate chain has no CA matching the support code")
        }
        guard case .isCertificateAuthority = try? ca.extensions.basicConstraints else {
            return .refused("the certificate the support code names is not a CA")
        }
        guard ca.notValidBefore <= now, now <= ca.notValidAfter else {
            return .refused("the appliance's CA is outside its validity (\(ca.notValidBefore) to \(ca.notValidAfter))")
        }
        guard leaf.issuer == ca.subject, ca.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            return .refused("the appliance's certificate is not signed by the CA the support code names")
        }
        guard leaf.notValidBefore <= now, now <= leaf.notValidAfter else {
            return .refused("the appliance's certificate is outside its validity (\(leaf.notValidBefore) to \(leaf.notValidAfter))")
        }
        guard let usage = try? leaf.extensions.extendedKeyUsage, usage.contains(.serverAuth) else {
            return .refused("the appliance's certificate is not for a TLS server (no serverAuth usage)")
        }
        return .trusted
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
            switch self.evaluate(chain) {
            case .trusted:
                promise.succeed(.certificateVerified)
            case .refused(let reason):
                refused(reason)
                promise.succeed(.failed)
            }
        }
    }
}
