import Foundation

/// The JSON Lines export of one tenant's log, version 1.
///
/// ```
/// {"type":"header","format":"register-log-export","version":1,"tenant":"lohja","head":{"position":3,"hash":"…"},…}
/// {"type":"tenant-key","masterKeyID":"…","wrapped":"<base64>"}             (unless exported without keys)
/// {"type":"subject-key","subject":"<uuid>","wrapped":"<base64>"}           (or "shreddedAt": <µs> for a tombstone)
/// {"type":"event","position":1,"eventID":"…","streamType":"…",…,"payload":"<base64>","previousHash":"…","hash":"…"}
/// ```
/// Payloads are exported as stored, sealed; the wrapped keys still need the master key. Events come in position
/// order and end exactly at the header's head, so a truncated, reordered or altered file is refused on import.
enum ExportFormat {
    static let name = "register-log-export"
    static let version = 1
}

struct ExportHeader: Codable {
    var type = "header"
    var format = ExportFormat.name
    var version = ExportFormat.version
    var tenant: TenantID
    var head: ExportHead
    var exportedAt: Timestamp
    var includesKeys: Bool
}

struct ExportHead: Codable {
    var position: LogPosition
    var hash: String
}

struct ExportTenantKey: Codable {
    var type = "tenant-key"
    var masterKeyID: String
    var wrapped: Data
}

struct ExportSubjectKey: Codable {
    var type = "subject-key"
    var subject: SubjectID
    var wrapped: Data?
    var shreddedAt: Timestamp?
}

struct ExportEvent: Codable {
    var type = "event"
    var position: LogPosition
    var eventID: UUID
    var streamType: String
    var streamID: String
    var streamVersion: Int64
    var eventType: String
    var schemaVersion: Int
    var recordedAt: Timestamp
    var actorUser: String
    var actorRole: String
    var correlationID: UUID?
    var causationID: UUID?
    var subjects: [SubjectID]
    var payload: Data
    var previousHash: String
    var hash: String

    init(_ event: RecordedEvent) {
        position = event.position
        eventID = event.eventID
        streamType = event.stream.type
        streamID = event.stream.id
        streamVersion = event.streamVersion
        eventType = event.eventType
        schemaVersion = event.schemaVersion
        recordedAt = event.recordedAt
        actorUser = event.actor.userID
        actorRole = event.actor.role
        correlationID = event.correlationID
        causationID = event.causationID
        subjects = event.subjects
        payload = event.payload
        previousHash = event.previousHash.hex
        hash = event.hash.hex
    }

    func recorded(in tenant: TenantID) throws(EventLogError) -> RecordedEvent {
        RecordedEvent(
            tenant: tenant, position: position, eventID: eventID, stream: try StreamRef(type: streamType, id: streamID),
            streamVersion: streamVersion, eventType: eventType, schemaVersion: schemaVersion, recordedAt: recordedAt,
            actor: try Actor(userID: actorUser, role: actorRole), correlationID: correlationID, causationID: causationID,
            subjects: subjects, payload: payload, previousHash: try EventDigest(hex: previousHash), hash: try EventDigest(hex: hash))
    }
}

/// Only the discriminator, decoded first to choose the line's type.
struct ExportLineType: Decodable {
    var type: String
}
