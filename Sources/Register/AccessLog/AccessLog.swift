import EventLog
import Foundation

/// What was done with a data subject's personal data (O14).
public enum AccessAction: String, Codable, Sendable, Hashable, CaseIterable {
    case view, print, insert, change, delete, export
}

/// One use of one subject's personal data: who (user and role), what, which resource, why.
///
/// Nothing in it is personal data in clear: the subject and the resource are ids, the purpose is a code.
public struct AccessEntry: Sendable, Hashable {
    public var subject: SubjectID
    public var action: AccessAction
    /// What was used, by id (`child/<uuid>`, `unit/<code>/roster/2026-11-24`).
    public var resource: String
    /// Why, as a code from the register's purposes (`ecec-daily-work`, `subject-access-request`).
    public var purpose: String
    public var actor: Actor
    public var correlationID: UUID?

    public init(subject: SubjectID, action: AccessAction, resource: String, purpose: String, actor: Actor, correlationID: UUID? = nil) {
        self.subject = subject
        self.action = action
        self.resource = resource
        self.purpose = purpose
        self.actor = actor
        self.correlationID = correlationID
    }
}

/// An entry as recorded: the entry and when.
public struct AccessRecord: Sendable, Hashable {
    public var position: LogPosition
    public var recordedAt: Timestamp
    public var entry: AccessEntry
}

/// The tenants' access logs: append-only and hash-chained like the register itself, kept in a log store of
/// their own, so that the (many) access entries neither mingle with the register's events nor reach its feeds.
///
/// `record` returns only when the entries are durable, so callers record before personal data leaves the server.
/// Concurrent callers are group-committed by the store: while one commit is being written, appends that arrive wait
/// and go into the next commit together.
public struct AccessLog: Sendable {
    /// The event type of an entry.
    public static let eventType = "PersonalDataAccessed"

    public let store: any EventStore

    public init(store: any EventStore) {
        self.store = store
    }

    /// Records entries for one tenant durably; concurrent calls share commits (the stores' group commit).
    /// - Throws: `invalidArgument` for a resource or purpose that is not an id or a code.
    public func record(_ entries: [AccessEntry], in tenant: TenantID) async throws {
        guard !entries.isEmpty else { return }
        _ = try await store.append(try entries.map(Self.event(for:)), to: tenant, metadata: EventMetadata(actor: .system))
    }

    /// A subject's entries, oldest first (for the subject's own request: who has used my data).
    public func entries(of subject: SubjectID, in tenant: TenantID) async throws -> [AccessRecord] {
        try await store.readStream(Self.stream(of: subject), of: tenant).compactMap(Self.record(from:))
    }

    /// `count` entries drawn at random from the tenant's whole log, for the periodic review (O14), in log order.
    public func sample(_ count: Int, in tenant: TenantID) async throws -> [AccessRecord] {
        let head = try await store.head(of: tenant).position.rawValue
        guard head > 0, count > 0 else { return [] }
        var positions = Set<Int64>()
        if count >= head {
            positions = Set(1...head)
        } else {
            while positions.count < count { positions.insert(Int64.random(in: 1...head)) }
        }
        var records: [AccessRecord] = []
        for position in positions.sorted() {
            let events = try await store.read(tenant, after: LogPosition(position - 1), through: LogPosition(position), limit: 1, filter: .all)
            records += events.compactMap(Self.record(from:))
        }
        return records
    }

    // MARK: Encoding

    static func stream(of subject: SubjectID) -> StreamRef {
        StreamRef(uncheckedType: "subject", id: subject.description)
    }

    private struct Payload: Codable {
        var action: AccessAction
        var resource: String
        var purpose: String
    }

    private static func event(for entry: AccessEntry) throws -> ProposedEvent {
        guard isCode(entry.resource, allowing: "/:._-"), isCode(entry.purpose, allowing: ":._-") else {
            throw EventLogError(.invalidArgument, "an access entry's resource and purpose are ids and codes (a-z, 0-9 and /:._-), never personal data")
        }
        // Written by hand (one is written for every use of personal data): the values are codes checked above, which
        // JSON never escapes, so this is exactly what JSONEncoder with sorted keys would write.
        let payload = Data(#"{"action":"\#(entry.action.rawValue)","purpose":"\#(entry.purpose)","resource":"\#(entry.resource)"}"#.utf8)
        return ProposedEvent(stream: stream(of: entry.subject), eventType: eventType, subjects: [entry.subject], payload: payload,
                             metadata: EventMetadata(actor: entry.actor, correlationID: entry.correlationID))
    }

    private static func isCode(_ text: String, allowing extra: String) -> Bool {
        let allowed = Set(extra.utf8)
        return (1...300).contains(text.utf8.count)
            && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || allowed.contains($0) }
    }

    private static func record(from event: RecordedEvent) -> AccessRecord? {
        guard event.eventType == eventType, let subject = event.subjects.first,
              let payload = try? JSONDecoder().decode(Payload.self, from: event.payload) else { return nil }
        return AccessRecord(position: event.position, recordedAt: event.recordedAt, entry: AccessEntry(
            subject: subject, action: payload.action, resource: payload.resource, purpose: payload.purpose,
            actor: event.actor, correlationID: event.correlationID))
    }
}
