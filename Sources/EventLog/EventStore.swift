import Foundation

/// The append-only, per-tenant event log: one protocol, a SQLite and a PostgreSQL implementation,
/// one conformance suite.
///
/// Guarantees every implementation gives:
/// - positions are dense (1, 2, 3 …) per tenant and commit-ordered, so a reader asking for `pos > p` never
///   sees a later position before an earlier one commits;
/// - an append is atomic: all events of the batch or none;
/// - the database refuses UPDATE, DELETE and TRUNCATE of the log;
/// - every event is chained by hash to its predecessor in the same tenant;
/// - nothing of one tenant is readable through another tenant's calls.
public protocol EventStore: KeyStore {
    /// Appends a batch to one tenant's log, all or nothing.
    ///
    /// - Parameters:
    ///   - expecting: per stream, the version the caller expects before the append.
    /// - Throws: `wrongExpectedVersion`, `eventIDConflict`, `invalidArgument`, `personalDataInClear`, `subjectErased` (the batch
    ///   seals data of a shredded subject), `storageFailure`.
    /// - Returns: the positions; when every event id is already in the log, the original positions, marked deduplicated.
    func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion]) async throws -> AppendResult

    /// Reads a tenant's events with `after < pos ≤ through` (no upper bound when `through` is nil), in position order.
    func read(_ tenant: TenantID, after position: LogPosition, through: LogPosition?, limit: Int, filter: EventFilter) async throws -> [RecordedEvent]

    /// Reads one stream's events with a version above `afterVersion`, in version order.
    func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int) async throws -> [RecordedEvent]

    /// Reads several streams of one tenant in one go (one snapshot on SQLite, one round trip on PostgreSQL): for each
    /// request, at most `limit` events with a version above its `afterVersion`, in version order, in request order.
    /// A stream that returns `limit` events may have more (read on with `readStream`).
    func readStreams(_ requests: [StreamRead], of tenant: TenantID, limit: Int) async throws -> [[RecordedEvent]]

    /// The last position and hash of a tenant's log.
    func head(of tenant: TenantID) async throws -> LogHead

    /// Every tenant that has a log in this store.
    func tenants() async throws -> [TenantID]

    /// Shreds a subject's key and appends the event that records it, in one transaction.
    /// The events stay and the chain still verifies; the subject's sealed fields read as erased from then on.
    func shred(_ subject: SubjectID, in tenant: TenantID, recordedBy event: ProposedEvent, metadata: EventMetadata) async throws -> AppendResult

    /// Writes an exported log into an empty tenant, keeping positions and hashes, in one transaction:
    /// if the source throws (a corrupt or reordered line), nothing of it is kept.
    func importLog(_ source: any LogImportSource, into tenant: TenantID) async throws -> LogImportSummary

    /// Wake-ups for live subscriptions of this store's tenants.
    var wakeups: LogWakeups { get }
}

/// One stream of a `readStreams` call, and the version to read after.
public struct StreamRead: Sendable, Hashable {
    public var stream: StreamRef
    public var afterVersion: Int64

    public init(_ stream: StreamRef, afterVersion: Int64 = 0) {
        self.stream = stream
        self.afterVersion = afterVersion
    }
}

extension EventStore {
    /// One `readStream` after the other: for stores (wrappers in tests) that have no single-read form.
    public func readStreams(_ requests: [StreamRead], of tenant: TenantID, limit: Int) async throws -> [[RecordedEvent]] {
        var results: [[RecordedEvent]] = []
        for request in requests {
            results.append(try await readStream(request.stream, of: tenant, afterVersion: request.afterVersion, limit: limit))
        }
        return results
    }

    /// Appends a batch with no expected versions.
    public func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata) async throws -> AppendResult {
        try await append(events, to: tenant, metadata: metadata, expecting: [:])
    }

    /// Reads a tenant's events after a position, in position order.
    public func read(_ tenant: TenantID, after position: LogPosition = .start, limit: Int = 1_000, filter: EventFilter = .all) async throws -> [RecordedEvent] {
        try await read(tenant, after: position, through: nil, limit: limit, filter: filter)
    }

    /// Reads a whole stream.
    public func readStream(_ stream: StreamRef, of tenant: TenantID) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        while true {
            let page = try await readStream(stream, of: tenant, afterVersion: events.last?.streamVersion ?? 0, limit: 1_000)
            events += page
            if page.count < 1_000 { return events }
        }
    }
}

/// What an import wrote.
public struct LogImportSummary: Sendable, Hashable {
    public var events: Int
    public var subjectKeys: Int
    public var head: LogHead
    public init(events: Int, subjectKeys: Int, head: LogHead) {
        self.events = events
        self.subjectKeys = subjectKeys
        self.head = head
    }
}

/// A source of events to import, pulled synchronously inside the store's transaction.
///
/// Implementations verify as they go (dense positions, chain links, hashes) and throw `importRejected`
/// naming the line, which rolls the whole import back.
public protocol LogImportSource: AnyObject {
    /// The tenant the exported log belongs to.
    var tenant: TenantID { get }
    /// The tenant's wrapped key, if the export carries keys.
    var tenantKey: StoredTenantKey? { get }
    /// The subjects' wrapped keys and tombstones, if the export carries keys.
    var subjectKeys: [SubjectID: StoredSubjectKey] { get }
    /// The next verified events, at most `limit`; nil at the end (after which the source has checked its trailer).
    func nextBatch(limit: Int) throws -> [RecordedEvent]?
}

/// Hands an import source to the code that runs a store's import transaction.
///
/// `@unchecked Sendable` because a source is mutable and not thread-safe, but it is owned by one import call:
/// the caller awaits the transaction, and only the transaction's closure pulls from it, so it is never used
/// concurrently.
package struct ImportSourceTransfer: @unchecked Sendable {
    package let source: any LogImportSource
    package init(source: any LogImportSource) { self.source = source }
}

/// Rules every store applies before writing, shared so both stores refuse exactly the same input.
enum AppendValidation {
    static let maximumBatch = 10_000
    static let maximumPayload = 1 << 20

    /// - Returns: the subjects whose keys seal fields in the batch.
    @discardableResult
    static func check(_ events: [ProposedEvent], metadata: EventMetadata) throws(EventLogError) -> Set<SubjectID> {
        var sealedSubjects = Set<SubjectID>()
        guard !events.isEmpty else { throw EventLogError(.invalidArgument, "an append needs at least one event") }
        guard events.count <= maximumBatch else { throw EventLogError(.invalidArgument, "a batch has at most \(maximumBatch) events") }
        var seen = Set<UUID>()
        for (index, event) in events.enumerated() {
            guard seen.insert(event.eventID).inserted else {
                throw EventLogError(.eventIDConflict, "event id \(event.eventID.lowercasedString) appears twice in the batch")
            }
            guard isValidEventType(event.eventType) else {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch: an event type starts with an upper-case letter and has at most 100 letters and digits")
            }
            guard (1...Int(Int32.max)).contains(event.schemaVersion) else {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch: the schema version is a positive 32-bit number")
            }
            guard event.payload.count <= maximumPayload else {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch: a payload has at most 1 MiB")
            }
            guard event.payload.first == UInt8(ascii: "{") else {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch: a payload is a JSON object")
            }
            guard !hasDuplicates(event.subjects) else {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch names a subject twice")
            }
            let leaked = event.payload.withUnsafeBytes { PlaintextGuard.containsIdentityCode($0.bindMemory(to: UInt8.self)) }
            guard !leaked else {
                throw EventLogError(.personalDataInClear, "event \(index + 1) of the batch holds a personal identity code outside a sealed field")
            }
            let sealed = SealedValue.subjects(in: event.payload)
            if let stranger = sealed.first(where: { !event.subjects.contains($0) }) {
                throw EventLogError(.invalidArgument, "event \(index + 1) of the batch seals a field of subject \(stranger), which is not among the event's subjects")
            }
            sealedSubjects.formUnion(sealed)
        }
        return sealedSubjects
    }

    static func hasDuplicates(_ subjects: [SubjectID]) -> Bool {
        if subjects.count < 2 { return false }
        if subjects.count <= 8 {
            for index in subjects.indices.dropLast() where subjects[(index + 1)...].contains(subjects[index]) { return true }
            return false
        }
        return Set(subjects).count != subjects.count
    }

    static func isValidEventType(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...100).contains(bytes.count), let first = bytes.first, first >= 0x41, first <= 0x5A else { return false }
        return bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit }
    }
}
