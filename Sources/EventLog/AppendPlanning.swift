import Foundation

/// What a store knows about an event id that is already in the log.
public struct ExistingEvent: Sendable, Hashable {
    public var position: LogPosition
    public var stream: StreamRef
    public var streamVersion: Int64
    public var eventType: String
    public var schemaVersion: Int
    public var subjects: [SubjectID]
    public init(position: LogPosition, stream: StreamRef, streamVersion: Int64, eventType: String, schemaVersion: Int, subjects: [SubjectID]) {
        self.position = position
        self.stream = stream
        self.streamVersion = streamVersion
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.subjects = subjects
    }
}

/// The rows a store writes for one append, and the head after it.
public struct AppendPlan: Sendable {
    public var events: [RecordedEvent]
    public var head: LogHead
    public var result: AppendResult
}

/// The store-independent part of an append: validation, idempotency, expected versions, positions and hashes.
///
/// A store calls it while it holds the tenant's append lock, with the head and stream versions it read under
/// that lock, then writes `plan.events` and `plan.head` in the same transaction.
public enum AppendPlanning {
    /// Checks the batch before any database work; both stores refuse exactly the same input.
    /// - Returns: the subjects whose keys seal fields in the batch; the store refuses the batch if any of them
    ///   has been erased (no new personal data about an erased subject).
    @discardableResult
    public static func validate(_ events: [ProposedEvent], metadata: EventMetadata) throws(EventLogError) -> Set<SubjectID> {
        try AppendValidation.check(events, metadata: metadata)
    }

    /// The error for a batch that seals new data of an erased subject.
    package static func erased(_ subject: SubjectID) -> EventLogError {
        EventLogError(.subjectErased, "subject \(subject) has been erased; nothing new can be recorded about them")
    }

    /// The streams whose current versions the plan needs.
    public static func streams(of events: [ProposedEvent], expecting: [StreamRef: ExpectedVersion]) -> [StreamRef] {
        var seen = Set<StreamRef>()
        var ordered: [StreamRef] = []
        for stream in events.map(\.stream) + expecting.keys.sorted(by: { $0.description < $1.description }) where seen.insert(stream).inserted {
            ordered.append(stream)
        }
        return ordered
    }

    /// Resolves a batch whose event ids are (partly) in the log already.
    /// - Returns: the original result when the whole batch was appended before; nil when none of it was.
    /// - Throws: `eventIDConflict` when only part of it was, or an id belongs to a different event.
    public static func resolveRetry(_ events: [ProposedEvent], existing: [UUID: ExistingEvent]) throws(EventLogError) -> AppendResult? {
        guard !existing.isEmpty else { return nil }
        var positions: [LogPosition] = []
        var versions: [Int64] = []
        for event in events {
            let id = event.eventID.lowercasedString
            guard let found = existing[event.eventID] else {
                throw EventLogError(.eventIDConflict, "part of this batch was appended before (not event \(id)); a retried batch must be identical to the original")
            }
            // The payload itself cannot be compared: a retry re-seals it under fresh nonces.
            guard found.stream == event.stream, found.eventType == event.eventType, found.schemaVersion == event.schemaVersion,
                  found.subjects == event.subjects else {
                throw EventLogError(.eventIDConflict, "event id \(id) is already used at position \(found.position) by a different event")
            }
            positions.append(found.position)
            versions.append(found.streamVersion)
        }
        return AppendResult(positions: positions, streamVersions: versions, deduplicated: true)
    }

    /// Assigns positions, stream versions, the recording time and hashes after `head`.
    /// - Parameters:
    ///   - currentVersions: the last version of each stream in `streams(of:expecting:)` (absent means no stream).
    ///   - now: the store's clock; the recorded time never goes below the head's, so it is monotonic per tenant.
    public static func plan(_ events: [ProposedEvent], tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                            head: LogHead, currentVersions: [StreamRef: Int64], now: Timestamp) throws(EventLogError) -> AppendPlan {
        for (stream, expected) in expecting.sorted(by: { $0.key.description < $1.key.description }) {
            let current = currentVersions[stream] ?? 0
            guard expected.admits(current: current) else {
                let actual = current == 0 ? "does not exist" : "is at version \(current)"
                throw EventLogError(.wrongExpectedVersion, "stream \(stream) \(actual), but the append expected \(expected)")
            }
        }
        var versions = currentVersions
        var previous = head
        let recordedAt = max(now, head.recordedAt)
        var recorded: [RecordedEvent] = []
        recorded.reserveCapacity(events.count)
        for event in events {
            let version = (versions[event.stream] ?? 0) + 1
            versions[event.stream] = version
            let cause = event.metadata ?? metadata
            var row = RecordedEvent(
                tenant: tenant, position: previous.position.next, eventID: event.eventID, stream: event.stream, streamVersion: version,
                eventType: event.eventType, schemaVersion: event.schemaVersion, recordedAt: recordedAt, actor: cause.actor,
                correlationID: cause.correlationID, causationID: cause.causationID, subjects: event.subjects,
                payload: event.payload, previousHash: previous.hash, hash: .genesis)
            row.hash = HashChain.hash(of: row)
            previous = LogHead(position: row.position, hash: row.hash, recordedAt: recordedAt)
            recorded.append(row)
        }
        let result = AppendResult(positions: recorded.map(\.position), streamVersions: recorded.map(\.streamVersion), deduplicated: false)
        return AppendPlan(events: recorded, head: previous, result: result)
    }
}

/// What one append transaction did: its result and, if it wrote, what the stream-version cache learns.
package struct AppendOutcome: Sendable {
    package var result: AppendResult
    package var written: (base: LogHead, head: LogHead, versions: [StreamRef: Int64])?

    package init(result: AppendResult, written: (base: LogHead, head: LogHead, versions: [StreamRef: Int64])?) {
        self.result = result
        self.written = written
    }
}

/// Thrown inside an append transaction when the event-id key refuses a row, so the store rolls back before the
/// batch is resolved as a retry.
package struct DuplicateEventID: Error {
    package init() {}
}

/// How an append attempt ended.
package enum AppendAttempt: Sendable {
    /// The transaction committed this.
    case written(AppendOutcome)
    /// The batch was in the log already: its original result, nothing written.
    case retried(AppendResult)
}

extension AppendAttempt {
    /// The append's result; after a write, the stream versions it learned are recorded and the tenant's
    /// subscribers woken — those interested in the types of `events` — (both only once the transaction has committed).
    package func finish(_ tenant: TenantID, events: [ProposedEvent], versions: StreamVersionCache, wakeups: LogWakeups) -> AppendResult {
        switch self {
        case .retried(let result):
            return result
        case .written(let outcome):
            if let written = outcome.written {
                versions.record(written.versions, in: tenant, from: written.base, to: written.head)
                wakeups.signal(tenant, eventTypes: Set(events.map(\.eventType)))
            }
            return outcome.result
        }
    }
}

extension AppendPlanning {
    /// Runs one append transaction. A retried batch shows up in two ways — the event-id key refuses a row, or its
    /// expected versions were moved by its own first attempt — and both come back as the original result, found
    /// with `existing` after the transaction has rolled back.
    package static func attempt(_ events: [ProposedEvent], _ transaction: () async throws -> AppendOutcome,
                                existing: () async throws -> [UUID: ExistingEvent]) async throws -> AppendAttempt {
        do {
            return .written(try await transaction())
        } catch where mayBeRetry(error) {
            return try retried(events, after: error, existing: try await existing())
        }
    }

    /// `attempt` for a store that runs it on a thread of its own (the SQLite writer).
    package static func attempt(_ events: [ProposedEvent], _ transaction: () throws -> AppendOutcome,
                                existing: () throws -> [UUID: ExistingEvent]) throws -> AppendAttempt {
        do {
            return .written(try transaction())
        } catch where mayBeRetry(error) {
            return try retried(events, after: error, existing: try existing())
        }
    }

    /// Whether a failed transaction may have been the retry of a batch already written.
    private static func mayBeRetry(_ error: any Error) -> Bool {
        error is DuplicateEventID || (error as? EventLogError)?.code == .wrongExpectedVersion
    }

    /// The original result of a retried batch, found among the `existing` events; else the transaction's `error`.
    private static func retried(_ events: [ProposedEvent], after error: any Error, existing: [UUID: ExistingEvent]) throws -> AppendAttempt {
        if let retry = try resolveRetry(events, existing: existing) { return .retried(retry) }
        if error is DuplicateEventID { throw EventLogError(.storageFailure, "an event id collided but cannot be found again") }
        throw error
    }
}
