import Foundation

/// Group commit of one tenant's appends within this process: the actor is PostgreSQL's; SQLite commits its groups on
/// its writer's own queue (`SQLiteGroupCommit`) and shares only the planning (`plan`, `streams`, `finish`).
///
/// Appends of a tenant are serialised (the head row lock on PostgreSQL, the one writer on SQLite), one transaction
/// and one commit each; under concurrency they queue, and on a busy machine the holder is often descheduled while the
/// others wait (docs/benchmarks.md). So: an append that finds no append of its tenant in flight runs alone, as
/// before; appends that arrive while one is in flight wait, and the next of them commits all waiting appends in one
/// transaction, each planned against the head the previous one leaves. An append
/// whose expected versions no longer hold, and every append of a group whose transaction fails as a whole (an event
/// id already in the log, an erased subject, a database error), runs again on its own, where the usual rules
/// (idempotent retries included) decide it. Each append keeps its own atomicity and its own result.
package actor AppendGroups {
    package struct Request: Sendable {
        package let events: [ProposedEvent]
        package let metadata: EventMetadata
        package let expecting: [StreamRef: ExpectedVersion]
        package let sealed: Set<SubjectID>

        package init(events: [ProposedEvent], metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion], sealed: Set<SubjectID>) {
            self.events = events
            self.metadata = metadata
            self.expecting = expecting
            self.sealed = sealed
        }
    }

    /// How a waiting append ended.
    package enum Outcome: Sendable {
        /// Committed in a group transaction.
        case written(AppendOutcome)
        /// Not decided in the group: run it alone.
        case alone
    }

    private struct Waiting {
        let request: Request
        let continuation: CheckedContinuation<Outcome, Never>
    }

    private var waiting: [TenantID: [Waiting]] = [:]
    private var writing: Set<TenantID> = []
    /// The most appends one group transaction commits.
    package let maximumGroup = 256

    package init() {}

    /// Appends through the group protocol: a waiter gets its group's decision; the leader, and every append a group
    /// could not decide, runs `alone`; the leader then commits the groups that queued behind it with `commitGroup`.
    package nonisolated func append(_ request: Request, tenant: TenantID, alone: () async throws -> AppendResult,
                                    commitGroup: @escaping @Sendable ([Request]) async -> [Outcome]) async throws -> AppendResult {
        switch await enter(request, tenant: tenant) {
        case .written(let outcome)?:
            return outcome.result
        case .alone?:
            return try await alone()
        case nil:
            defer { Task { await self.drain(tenant, commitGroup: commitGroup) } }
            return try await alone()
        }
    }

    /// Makes the caller the tenant's leader when no append of the tenant is in flight (it then appends alone and
    /// calls `drain`); otherwise waits until a group decides the append.
    /// - Returns: nil for the leader; for a waiter, how its group decided.
    func enter(_ request: Request, tenant: TenantID) async -> Outcome? {
        guard writing.contains(tenant) else {
            writing.insert(tenant)
            return nil
        }
        return await withCheckedContinuation { continuation in
            waiting[tenant, default: []].append(Waiting(request: request, continuation: continuation))
        }
    }

    /// Called by the leader after its own append: commits the groups that queued, until nobody waits.
    func drain(_ tenant: TenantID, commitGroup: @Sendable ([Request]) async -> [Outcome]) async {
        while var queued = waiting.removeValue(forKey: tenant), !queued.isEmpty {
            if queued.count > maximumGroup {
                waiting[tenant] = Array(queued[maximumGroup...]) + (waiting[tenant] ?? [])
                queued = Array(queued[..<maximumGroup])
            }
            let outcomes = await commitGroup(queued.map(\.request))
            for (index, entry) in queued.enumerated() {
                entry.continuation.resume(returning: index < outcomes.count ? outcomes[index] : .alone)
            }
        }
        writing.remove(tenant)
    }

    /// Plans a group's appends one after another from `head`, as if each ran alone after the previous one.
    /// - Parameter known: event ids already in the log: appends holding one are retries, decided alone.
    /// - Returns: per request its outcome, the rows to write, the head after them, the subjects whose sealed data
    ///   they carry, and the stream versions after them.
    package static func plan(_ requests: [Request], tenant: TenantID, head: LogHead, versions start: [StreamRef: Int64], known: Set<UUID>,
                             now: Timestamp) -> (outcomes: [Outcome], rows: [RecordedEvent], head: LogHead, sealed: Set<SubjectID>) {
        var versions = start
        var running = head
        var rows: [RecordedEvent] = []
        var sealed = Set<SubjectID>()
        var outcomes: [Outcome] = []
        for request in requests {
            if request.events.contains(where: { known.contains($0.eventID) }) {
                outcomes.append(.alone)
                continue
            }
            do {
                let plan = try AppendPlanning.plan(request.events, tenant: tenant, metadata: request.metadata, expecting: request.expecting,
                                                   head: running, currentVersions: versions.filter { $0.value > 0 }, now: now)
                for event in plan.events { versions[event.stream] = event.streamVersion }
                outcomes.append(.written(AppendOutcome(result: plan.result, written: (running, plan.head, versions))))
                rows += plan.events
                sealed.formUnion(request.sealed)
                running = plan.head
            } catch {
                // Its expected versions no longer hold: decided alone, where it gets its error.
                outcomes.append(.alone)
            }
        }
        return (outcomes, rows, running, sealed)
    }

    /// The streams a group's appends read or write, each once.
    package static func streams(of requests: [Request]) -> [StreamRef] {
        var seen = Set<StreamRef>()
        var streams: [StreamRef] = []
        for request in requests {
            for stream in AppendPlanning.streams(of: request.events, expecting: request.expecting) where seen.insert(stream).inserted {
                streams.append(stream)
            }
        }
        return streams
    }

    /// After a group committed: records what the version cache learned and wakes subscribers, once for the group.
    package static func finish(_ outcomes: [Outcome], of requests: [Request], tenant: TenantID, versions: StreamVersionCache, wakeups: LogWakeups) {
        var eventTypes = Set<String>()
        for (outcome, request) in zip(outcomes, requests) {
            guard case .written(let outcome) = outcome, let written = outcome.written else { continue }
            versions.record(written.versions, in: tenant, from: written.base, to: written.head)
            for event in request.events { eventTypes.insert(event.eventType) }
        }
        if !eventTypes.isEmpty { wakeups.signal(tenant, eventTypes: eventTypes) }
    }
}
