import EventLog
import Foundation
import GRDB
import Synchronization

/// Group commit for the embedded store, run on SQLite's one writer.
///
/// Every append joins a queue; the writer's own serial queue takes everything queued, commits each tenant's appends
/// in one transaction (`AppendGroups.plan`: each planned against the head the previous one leaves, so each keeps its
/// own atomicity and its own result), resumes the callers, and goes again while appends keep arriving. An append
/// the group cannot decide (expected versions that no longer hold, a retry of events already in the log, a group
/// that fails as a whole) is run alone right after, on the same writer, where the usual rules decide it.
///
/// Why not the shared `AppendGroups` actor: between two commits its leader is an ordinary task, which waits for a
/// cooperative thread behind every request being served, and appends pile up meanwhile (docs/benchmarks.md, the
/// HTTP API). Here the loop never leaves the writer's queue; each round re-enqueues itself on that queue, so other
/// writes (keys, migrations) still get their turn between rounds.
final class SQLiteGroupCommit: Sendable {
    private struct Pending {
        let tenant: TenantID
        let request: AppendGroups.Request
        let continuation: CheckedContinuation<AppendResult, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var scheduled = false
    }

    private let state = Mutex(State())
    /// The most appends one transaction commits.
    static let maximumGroup = 256

    /// Queues an append and waits until the writer has decided it.
    func append(_ request: AppendGroups.Request, tenant: TenantID, store: SQLiteEventStore) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let schedule = state.withLock { state in
                state.pending.append(Pending(tenant: tenant, request: request, continuation: continuation))
                defer { state.scheduled = true }
                return !state.scheduled
            }
            if schedule { self.schedule(on: store) }
        }
    }

    private func schedule(on store: SQLiteEventStore) {
        store.pool.asyncWriteWithoutTransaction { db in
            self.round(store, db)
        }
    }

    /// One round on the writer: everything queued when it starts, tenant by tenant in arrival order.
    private func round(_ store: SQLiteEventStore, _ db: Database) {
        let taken = state.withLock { state in
            let taken = state.pending
            state.pending = []
            return taken
        }
        var byTenant: [TenantID: [Pending]] = [:]
        var order: [TenantID] = []
        for entry in taken {
            if byTenant[entry.tenant] == nil { order.append(entry.tenant) }
            byTenant[entry.tenant, default: []].append(entry)
        }
        for tenant in order {
            let entries = byTenant[tenant] ?? []
            for start in stride(from: 0, to: entries.count, by: Self.maximumGroup) {
                let group = Array(entries[start..<min(start + Self.maximumGroup, entries.count)])
                decide(group, tenant: tenant, store, db)
            }
        }
        let again = state.withLock { state in
            state.scheduled = !state.pending.isEmpty
            return state.scheduled
        }
        if again { schedule(on: store) }
    }

    private func decide(_ group: [Pending], tenant: TenantID, _ store: SQLiteEventStore, _ db: Database) {
        // One append alone needs no group plan: it is decided as a single append.
        let outcomes = group.count == 1 ? [.alone] : store.commitGroup(group.map(\.request), in: tenant, db)
        for (index, entry) in group.enumerated() {
            // Every caller is resumed exactly once: one the group left undecided is decided alone.
            switch index < outcomes.count ? outcomes[index] : .alone {
            case .written(let outcome):
                entry.continuation.resume(returning: outcome.result)
            case .alone:
                entry.continuation.resume(with: Result {
                    try store.appendAlone(entry.request.events, to: tenant, metadata: entry.request.metadata,
                                          expecting: entry.request.expecting, sealed: entry.request.sealed, db)
                })
            }
        }
    }
}
