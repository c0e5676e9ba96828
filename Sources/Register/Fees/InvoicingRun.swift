import EventLog
import Foundation

/// A completed invoicing run, recorded on `invoicing-runs/<YYYY-MM>` (counts only, no personal data), so the log also
/// says when each month was billed and by whom.
public struct InvoicingRunCompleted: RegisterEvent {
    public static let eventType = "InvoicingRunCompleted"
    public var month: BillingMonth
    public var summary: InvoicingSummary
}

/// What an invoicing run did (or, dry, would do). Counts and sums only.
public struct InvoicingSummary: Codable, Sendable, Hashable {
    public var month: BillingMonth
    public var committed: Bool
    public var families = 0
    public var decisions = 0
    public var invoices = 0
    public var creditNotes = 0
    public var surcharges = 0
    /// The documents' totals together, cents (credit notes negative).
    public var totalCents = 0
    /// Families with months that could not be charged, by reason.
    public var pending: [String: Int] = [:]
    /// Families that failed, by error code; a later run tries them again.
    public var failed: [String: Int] = [:]
}

extension RegisterStreams {
    public static func invoicingRuns(_ month: BillingMonth) -> StreamRef { StreamRef(uncheckedType: "invoicing-runs", id: month.description) }
}

extension Registry {
    /// Every fee family of the tenant, in the order they were formed.
    public func feeFamilies(in tenant: TenantID) async throws -> [UUID] {
        var families: [UUID] = []
        var seen = Set<UUID>()
        var position = LogPosition.start
        while true {
            let page = try await store.read(tenant, after: position, through: nil, limit: 5_000,
                                            filter: EventFilter(eventTypes: [FeeFamilyComposed.eventType], streamTypes: ["fee-family"]))
            for event in page {
                if let id = UUID(uuidString: event.stream.id), seen.insert(id).inserted { families.append(id) }
            }
            guard let last = page.last, page.count == 5_000 else { break }
            position = last.position
        }
        return families
    }

    /// Invoices every fee family of the tenant for `month`. A family that fails is counted and left for the next run;
    /// the others go on. With `commit`, the run's completion is recorded.
    /// - Parameter each: called with each family's result (for listings); `progress` with families done and the total.
    public func runInvoicing(in tenant: TenantID, month: BillingMonth, rules: FeeRules, commit: Bool, issuedOn issued: LocalDate,
                             by metadata: EventMetadata, each: (FamilyInvoicing) -> Void = { _ in },
                             progress: (Int, Int) -> Void = { _, _ in }) async throws -> InvoicingSummary {
        let families = try await feeFamilies(in: tenant)
        var summary = InvoicingSummary(month: month, committed: commit)
        progress(0, families.count)
        for (index, family) in families.enumerated() {
            do {
                let result = try await invoiceFeeFamily(family, month: month, rules: rules, commit: commit, issuedOn: issued, in: tenant, by: metadata)
                summary.families += 1
                summary.decisions += result.decisions.count
                for invoice in result.invoices {
                    switch invoice.kind {
                    case .invoice: summary.invoices += 1
                    case .creditNote: summary.creditNotes += 1
                    case .surcharge: summary.surcharges += 1
                    }
                    summary.totalCents += invoice.content?.totalCents ?? 0
                }
                for reason in Set(result.pending.map(\.reason)) { summary.pending[reason, default: 0] += 1 }
                each(result)
            } catch let error as DomainError {
                summary.failed[error.code, default: 0] += 1
            } catch let error as EventLogError {
                summary.failed["\(error.code)", default: 0] += 1
            }
            progress(index + 1, families.count)
        }
        if commit {
            let payload = try JSONEncoder().encode(InvoicingRunCompleted(month: month, summary: summary))
            _ = try await store.append([ProposedEvent(stream: RegisterStreams.invoicingRuns(month), eventType: InvoicingRunCompleted.eventType, subjects: [],
                                                      payload: payload)], to: tenant, metadata: metadata)
        }
        return summary
    }
}
