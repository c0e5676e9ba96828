import EventLog
import Foundation

extension PostgresEventStore {
    /// Commits a group of appends in one transaction; see `AppendGroups`.
    func commitGroup(_ requests: [AppendGroups.Request], in tenant: TenantID) async -> [AppendGroups.Outcome] {
        do {
            let outcomes = try await inTenantTransaction(tenant, bindingFirst: false) { connection in
                // Retries (event ids already in the log) are decided alone, where they get their original result;
                // left in the group they would fail its insert as a whole.
                let (head, known) = try await self.beginAppend(of: tenant, checking: requests.flatMap { $0.events.map(\.eventID) }, connection)
                let versions = try await self.currentVersions(AppendGroups.streams(of: requests), in: tenant, at: head, connection)
                let plan = AppendGroups.plan(requests, tenant: tenant, head: head, versions: versions, known: known, now: .now())
                if !plan.rows.isEmpty {
                    try await self.insert(plan.rows, movingHeadTo: plan.head, of: tenant, refusingErased: plan.sealed, connection)
                }
                return plan.outcomes
            }
            AppendGroups.finish(outcomes, of: requests, tenant: tenant, versions: versions, wakeups: wakeups)
            return outcomes
        } catch {
            // The group failed as a whole: nothing of it was written; each append is decided on its own.
            return requests.map { _ in .alone }
        }
    }
}
