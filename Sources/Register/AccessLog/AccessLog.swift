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
/// Concurrent callers are group-committed: while one batch is being written, entries that arrive wait and go
/// into the next batch together, one commit for all of them.
public actor AccessLog {
    /// The event type of an entry.
    public static let eventType = "PersonalDataAccessed"

    public nonisolated let store: any EventStore

    private struct Waiting {
        let events: [ProposedEvent]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private var waiting: [TenantID: [Waiting]] = [:]
    private var writing: Set<TenantID> = []

    public init(store: any EventStore) {
        self.store = store
    }

    /// Records entries for one tenant durably; concurrent calls share commits.
    /// - Throws: `invalidArgument` for a resource or purpose that is not an id or a code.
    public func record(_ entries: [AccessEntry], in tenant: TenantID) async throws {
        guard !entries.isEmpty else { return }
        let events = try entries.map(Self.event(for:))
        if writing.contains(tenant) {
            // Another caller is committing for this tenant: join the next batch it writes.
            try await withCheckedThrowingContinuation { continuation in
                waiting[tenant, default: []].append(Waiting(events: events, continuation: continuation))
            }
            return
        }
        writing.insert(tenant)
        defer { writing.remove(tenant) }
        // This caller leads: it writes its own entries with whatever has queued, then keeps writing batches until
        // nobody waits. The actor is re-entered while a commit is in flight; that is where entries queue.
        var own: Result<Void, any Error> = .success(())
        var leading = true
        var waiters = takeWaiting(tenant)
        repeat {
            let batch = (leading ? events : []) + waiters.flatMap(\.events)
            do {
                _ = try await store.append(batch, to: tenant, metadata: EventMetadata(actor: .system))
                waiters.forEach { $0.continuation.resume() }
            } catch {
                if leading { own = .failure(error) }
                waiters.forEach { $0.continuation.resume(throwing: error) }
            }
            leading = false
            waiters = takeWaiting(tenant)
        } while !waiters.isEmpty
        try own.get()
    }

    private func takeWaiting(_ tenant: TenantID) -> [Waiting] {
        waiting.removeValue(forKey: tenant) ?? []
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload = try encoder.encode(Payload(action: entry.action, resource: entry.resource, purpose: entry.purpose))
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
