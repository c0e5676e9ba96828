import Crypto
import Foundation

/// The per-tenant hash chain: `hash = SHA-256(domain tag ‖ previous hash ‖ canonical envelope ‖ sealed payload)`.
///
/// The canonical encoding is fixed-order and length-prefixed (big-endian `UInt32` lengths, `Int64` numbers),
/// so two different envelopes can never encode to the same bytes. It covers every stored field, so changing
/// any column of a stored row — even a sealed byte — breaks the chain at that position.
/// Changing this encoding is a format change: bump the domain tag and keep the old one verifiable.
public enum HashChain {
    /// Identifies version 1 of the canonical encoding.
    static let domainTag = Array("register.event.v1".utf8)

    /// The hash of an event given its previous hash; `event.hash` is ignored.
    public static func hash(of event: RecordedEvent) -> EventDigest {
        var hasher = SHA256()
        var scratch = [UInt8]()
        scratch.reserveCapacity(256)
        scratch.append(contentsOf: domainTag)
        scratch.append(contentsOf: event.previousHash.bytes)
        appendString(event.tenant.rawValue, to: &scratch)
        appendInt64(event.position.rawValue, to: &scratch)
        appendUUID(event.eventID, to: &scratch)
        appendString(event.stream.type, to: &scratch)
        appendString(event.stream.id, to: &scratch)
        appendInt64(event.streamVersion, to: &scratch)
        appendString(event.eventType, to: &scratch)
        appendInt64(Int64(event.schemaVersion), to: &scratch)
        appendInt64(event.recordedAt.rawValue, to: &scratch)
        appendString(event.actor.userID, to: &scratch)
        appendString(event.actor.role, to: &scratch)
        appendOptionalUUID(event.correlationID, to: &scratch)
        appendOptionalUUID(event.causationID, to: &scratch)
        appendUInt32(UInt32(event.subjects.count), to: &scratch)
        for subject in event.subjects { appendUUID(subject.uuid, to: &scratch) }
        appendUInt32(UInt32(event.payload.count), to: &scratch)
        hasher.update(data: scratch)
        hasher.update(data: event.payload)
        return EventDigest(unchecked: Array(hasher.finalize()))
    }

    /// Checks one event against its predecessor's position and hash; returns why it does not fit, or nil.
    public static func mismatch(of event: RecordedEvent, after previous: LogHead) -> String? {
        if event.position != previous.position.next {
            return "expected position \(previous.position.next), found \(event.position)"
        }
        if event.previousHash != previous.hash {
            return "its previous hash does not equal the hash of position \(previous.position)"
        }
        if hash(of: event) != event.hash {
            return "its stored hash does not match its contents"
        }
        return nil
    }

    private static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func appendInt64(_ value: Int64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func appendString(_ value: String, to bytes: inout [UInt8]) {
        let utf8 = value.utf8
        appendUInt32(UInt32(utf8.count), to: &bytes)
        bytes.append(contentsOf: utf8)
    }

    private static func appendUUID(_ value: UUID, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
    }

    private static func appendOptionalUUID(_ value: UUID?, to bytes: inout [UInt8]) {
        if let value {
            bytes.append(1)
            appendUUID(value, to: &bytes)
        } else {
            bytes.append(0)
        }
    }
}
