import Crypto
import Foundation

/// The outcome of recomputing a tenant's hash chain.
public struct ChainVerification: Sendable, Hashable {
    public var tenant: TenantID
    /// Events whose hash was recomputed.
    public var checked: Int
    /// The last event that verified.
    public var verifiedHead: LogHead
    /// The first position that does not verify, and why; nil when the whole chain verifies.
    public var failure: Failure?

    public struct Failure: Sendable, Hashable, CustomStringConvertible {
        public var position: LogPosition
        public var reason: String
        public var description: String { "position \(position): \(reason)" }
    }

    public var isIntact: Bool { failure == nil }
}

extension EventStore {
    /// Recomputes a tenant's chain from position 1 and names the first position that does not match.
    ///
    /// Also checks the stored head against the last event, so removing events at the end is detected too.
    /// - Parameter progress: called after each page with the number of events checked so far.
    public func verifyChain(of tenant: TenantID, pageSize: Int = 5_000, progress: ((Int) -> Void)? = nil) async throws -> ChainVerification {
        let storedHead = try await head(of: tenant)
        var verified = LogHead.empty
        var checked = 0
        while verified.position < storedHead.position {
            let page = try await read(tenant, after: verified.position, through: storedHead.position, limit: pageSize, filter: .all)
            if page.isEmpty {
                return ChainVerification(tenant: tenant, checked: checked, verifiedHead: verified, failure: .init(
                    position: verified.position.next, reason: "missing: the log ends at position \(verified.position) but its head is at \(storedHead.position)"))
            }
            for event in page {
                if let reason = HashChain.mismatch(of: event, after: verified) {
                    let position = event.position > verified.position.next ? verified.position.next : event.position
                    return ChainVerification(tenant: tenant, checked: checked, verifiedHead: verified, failure: .init(position: position, reason: reason))
                }
                verified = LogHead(position: event.position, hash: event.hash, recordedAt: event.recordedAt)
                checked += 1
            }
            progress?(checked)
        }
        if verified.hash != storedHead.hash {
            return ChainVerification(tenant: tenant, checked: checked, verifiedHead: verified, failure: .init(
                position: storedHead.position, reason: "the head records a different hash than the last event's"))
        }
        let beyond = try await read(tenant, after: storedHead.position, through: nil, limit: 1, filter: .all)
        if let extra = beyond.first {
            return ChainVerification(tenant: tenant, checked: checked, verifiedHead: verified, failure: .init(
                position: extra.position, reason: "an event lies beyond the head at position \(storedHead.position)"))
        }
        return ChainVerification(tenant: tenant, checked: checked, verifiedHead: verified, failure: nil)
    }
}

/// A signed statement "tenant T's log had hash H at position P", for a third party (a witness) to keep.
///
/// If the log were later rewritten — even consistently, with every hash recomputed — the chain would no longer
/// pass through H at P, and `verify(against:)` says so.
public struct SignedCheckpoint: Codable, Sendable, Hashable {
    public static let format = "register-checkpoint/v1"
    public var format: String
    public var tenant: TenantID
    public var position: LogPosition
    /// Hex SHA-256 of the event at `position`.
    public var hash: String
    public var signedAt: Timestamp
    /// Base64 of the Ed25519 public key of the installation that signed it.
    public var publicKey: String
    /// Base64 of the Ed25519 signature over `message`.
    public var signature: String

    var message: Data {
        Data("\(Self.format)|\(tenant.rawValue)|\(position.rawValue)|\(hash)|\(signedAt.rawValue)".utf8)
    }

    /// Signs a tenant's current head.
    public static func sign(_ head: LogHead, of tenant: TenantID, with key: Curve25519.Signing.PrivateKey, at time: Timestamp = .now()) throws -> SignedCheckpoint {
        var checkpoint = SignedCheckpoint(format: format, tenant: tenant, position: head.position, hash: head.hash.hex, signedAt: time,
                                          publicKey: key.publicKey.rawRepresentation.base64EncodedString(), signature: "")
        checkpoint.signature = try key.signature(for: checkpoint.message).base64EncodedString()
        return checkpoint
    }

    /// Whether the signature is valid for the embedded public key (and, if given, whether that is the expected key).
    public func hasValidSignature(expectedPublicKey: String? = nil) -> Bool {
        guard format == Self.format, let keyData = Data(base64Encoded: publicKey), let signatureData = Data(base64Encoded: signature),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyData) else { return false }
        if let expectedPublicKey, expectedPublicKey != publicKey { return false }
        return key.isValidSignature(signatureData, for: message)
    }
}

extension EventStore {
    /// Checks a signed checkpoint against this store's log.
    /// - Returns: nil when it holds; otherwise why not.
    public func verify(_ checkpoint: SignedCheckpoint, expectedPublicKey: String? = nil) async throws -> String? {
        guard checkpoint.hasValidSignature(expectedPublicKey: expectedPublicKey) else {
            return expectedPublicKey == nil ? "the checkpoint's signature is not valid" : "the checkpoint is not validly signed by the expected key"
        }
        guard checkpoint.position > .start else { return nil }
        let events = try await read(checkpoint.tenant, after: LogPosition(checkpoint.position.rawValue - 1), through: checkpoint.position, limit: 1, filter: .all)
        guard let event = events.first, event.position == checkpoint.position else {
            return "the log of \(checkpoint.tenant) has no event at position \(checkpoint.position)"
        }
        guard event.hash.hex == checkpoint.hash else {
            return "the log of \(checkpoint.tenant) has a different hash at position \(checkpoint.position) than the checkpoint"
        }
        return nil
    }
}
