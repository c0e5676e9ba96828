import Foundation

/// Binary forms the stores share for columns that hold ids.
package enum StorageCoding {
    /// 16 bytes of a UUID.
    package static func bytes(of uuid: UUID) -> Data {
        withUnsafeBytes(of: uuid.uuid) { Data($0) }
    }

    /// A UUID from 16 bytes, nil for any other length.
    package static func uuid(from data: Data) -> UUID? {
        data.withUnsafeBytes { uuid(from: $0) }
    }

    /// A UUID from 16 bytes read in place (a store's column), nil for any other length.
    package static func uuid(from raw: UnsafeRawBufferPointer) -> UUID? {
        guard raw.count == 16 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyMemory(from: raw) }
        return UUID(uuid: uuid)
    }

    /// Subjects as 16 bytes each, in order.
    package static func bytes(of subjects: [SubjectID]) -> Data {
        var data = Data(capacity: subjects.count * 16)
        for subject in subjects { withUnsafeBytes(of: subject.uuid.uuid) { data.append(contentsOf: $0) } }
        return data
    }

    /// Subjects from 16 bytes each (a store's column, read in place).
    package static func subjects(from raw: UnsafeRawBufferPointer) -> [SubjectID] {
        var subjects: [SubjectID] = []
        subjects.reserveCapacity(raw.count / 16)
        var offset = 0
        while offset + 16 <= raw.count {
            if let uuid = uuid(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 16])) { subjects.append(SubjectID(uuid)) }
            offset += 16
        }
        return subjects
    }

    /// Subjects from 16 bytes each.
    package static func subjects(from data: Data) -> [SubjectID] {
        data.withUnsafeBytes { subjects(from: $0) }
    }
}

/// The event that records a crypto-shred in the log, so erasures have the same provenance as everything else.
public enum SubjectErasure {
    /// The event type of a shred.
    public static let eventType = "SubjectErased"
    /// The stream type of a subject's own stream.
    public static let streamType = "subject"

    struct Payload: Codable {
        var subject: SubjectID
        var reason: String
    }

    /// The `SubjectErased` event for a subject.
    /// - Parameter reason: a code, not prose (`erasure-request`, `retention:ecec-10y`): 1–100 of `a-z 0-9 : . _ -`,
    ///   because free text could carry personal data into the log in clear.
    public static func event(for subject: SubjectID, reason: String, eventID: UUID = UUID()) throws -> ProposedEvent {
        let bytes = Array(reason.utf8)
        guard (1...100).contains(bytes.count), bytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || $0.isASCIIDigit || [0x3A, 0x2E, 0x5F, 0x2D].contains($0) }) else {
            throw EventLogError(.invalidArgument, "an erasure reason is a code of 1–100 characters a-z, 0-9, ':', '.', '_' and '-'")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ProposedEvent(eventID: eventID, stream: StreamRef(uncheckedType: streamType, id: subject.description), eventType: eventType,
                             subjects: [subject], payload: try encoder.encode(Payload(subject: subject, reason: reason)))
    }
}

extension KeyRing {
    /// Shreds a subject's key in a tenant and records `SubjectErased`, in one transaction; this process forgets the
    /// key at once. The events stay and the chain still verifies; the subject's fields read as erased from now on.
    public func shred(_ subject: SubjectID, in tenant: TenantID, store: any EventStore, metadata: EventMetadata, reason: String, eventID: UUID = UUID()) async throws -> AppendResult {
        let event = try SubjectErasure.event(for: subject, reason: reason, eventID: eventID)
        defer { forget(subject, in: tenant) }
        return try await store.shred(subject, in: tenant, recordedBy: event, metadata: metadata)
    }
}
