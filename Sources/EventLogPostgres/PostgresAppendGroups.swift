import EventLog
import Foundation

/// Group commit of one tenant's appends within this process.
///
/// Every append of a tenant takes the tenant's head row lock and holds it across its round trips (lock, versions,
/// insert, commit). Under concurrency the appends queue on that lock one transaction at a time, and on a busy machine
/// the holder is often descheduled while the others wait (docs/benchmarks.md). So: an append that finds no append of
/// its tenant in flight runs alone, as before; appends that arrive while one is in flight wait, and the next of them
/// commits all waiting appends in one transaction, each planned against the head the previous one leaves. An append
/// whose expected versions no longer hold, and every append of a group whose transaction fails as a whole (an event
/// id already in the log, an erased subject, a database error), runs again on its own, where the usual rules
/// (idempotent retries included) decide it. Each append keeps its own atomicity and its own result.
actor PostgresAppendGroups {
    struct Request: Sendable {
        let events: [ProposedEvent]
        let metadata: EventMetadata
        let expecting: [StreamRef: ExpectedVersion]
        let sealed: Set<SubjectID>
    }

    /// How a waiting append ended.
    enum Outcome: Sendable {
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
    let maximumGroup = 256

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
}

extension PostgresEventStore {
    /// Commits a group of appends in one transaction; see `PostgresAppendGroups`.
    func commitGroup(_ requests: [PostgresAppendGroups.Request], in tenant: TenantID) async -> [PostgresAppendGroups.Outcome] {
        do {
            let (outcomes, written) = try await inTenantTransaction(tenant) { connection in
                let head = try await self.lockHead(of: tenant, connection)
                var streams: [StreamRef] = []
                var seen = Set<StreamRef>()
                for request in requests {
                    for stream in AppendPlanning.streams(of: request.events, expecting: request.expecting) where seen.insert(stream).inserted {
                        streams.append(stream)
                    }
                }
                var (versions, missing) = self.versions.lookup(streams, in: tenant, at: head)
                if !missing.isEmpty {
                    versions.merge(try await self.streamVersions(missing, in: tenant, connection)) { _, read in read }
                }
                // Retries (event ids already in the log) are decided alone, where they get their original result;
                // left in the group they would fail its insert as a whole.
                let known = try await self.existingEvents(requests.flatMap { $0.events.map(\.eventID) }, in: tenant, connection)
                var running = head
                var rows: [RecordedEvent] = []
                var sealed = Set<SubjectID>()
                var outcomes: [PostgresAppendGroups.Outcome] = []
                let now = Timestamp.now()
                for request in requests {
                    if request.events.contains(where: { known[$0.eventID] != nil }) {
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
                        // Its expected versions no longer hold (or it is a retry of an earlier append): decided alone.
                        outcomes.append(.alone)
                    }
                }
                if !rows.isEmpty {
                    try await self.insert(rows, movingHeadTo: running, of: tenant, refusingErased: sealed, connection)
                }
                return (outcomes, !rows.isEmpty)
            }
            if written {
                for case .written(let outcome) in outcomes {
                    _ = AppendAttempt.written(outcome).finish(tenant, versions: versions, wakeups: wakeups)
                }
            }
            return outcomes
        } catch {
            // The group failed as a whole: nothing of it was written; each append is decided on its own.
            return requests.map { _ in .alone }
        }
    }
}
