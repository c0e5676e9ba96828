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
                if let id = UUID(canonical: event.stream.id), seen.insert(id).inserted { families.append(id) }
            }
            guard let last = page.last, page.count == 5_000 else { break }
            position = last.position
        }
        return families
    }

    /// Families worked out concurrently, and recorded together in one append (an append per family would make the
    /// run as slow as that many durable commits).
    static let invoicingBatch = 250
    static let invoicingWidth = 4

    /// Invoices every fee family of the tenant for `month`. A family that fails is counted and left for the next run;
    /// the others go on. With `commit`, the run's completion is recorded.
    /// - Parameter each: called with each family's result (for listings); `progress` with families done and the total.
    public func runInvoicing(in tenant: TenantID, month: BillingMonth, rules: FeeRules, commit: Bool, issuedOn issued: LocalDate,
                             by metadata: EventMetadata, each: (FamilyInvoicing) -> Void = { _ in },
                             progress: (Int, Int) -> Void = { _, _ in }) async throws -> InvoicingSummary {
        let families = try await feeFamilies(in: tenant)
        var summary = InvoicingSummary(month: month, committed: commit)
        progress(0, families.count)
        func failed(_ error: any Error) throws {
            switch error {
            case let error as DomainError: summary.failed[error.code, default: 0] += 1
            case let error as EventLogError: summary.failed["\(error.code)", default: 0] += 1
            default: throw error  // the store itself failed: stop the run (a rerun finishes it)
            }
        }
        for start in stride(from: 0, to: families.count, by: Self.invoicingBatch) {
            let chunk = Array(families[start..<min(start + Self.invoicingBatch, families.count)])
            var plans = try await planChunk(chunk, month: month, rules: rules, issuedOn: issued, in: tenant)
            if commit {
                let ready = plans.indices.filter { if case .success(let plan) = plans[$0] { !plan.events.isEmpty } else { false } }
                var events: [ProposedEvent] = []
                var expecting: [StreamRef: ExpectedVersion] = [:]
                for index in ready {
                    guard case .success(let plan) = plans[index] else { continue }
                    events += plan.events
                    expecting.merge(plan.expecting) { first, _ in first }
                }
                if !events.isEmpty {
                    do {
                        let positions = try await store.append(events, to: tenant, metadata: metadata, expecting: expecting).positions
                        var offset = 0
                        for index in ready {
                            guard case .success(var plan) = plans[index] else { continue }
                            plan.recorded(at: Array(positions[offset..<(offset + plan.events.count)]))
                            offset += plan.events.count
                            plans[index] = .success(plan)
                        }
                    } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                        // Something in the batch changed meanwhile: each of its families on its own, deciding again.
                        for index in ready {
                            do {
                                let result = try await invoiceFeeFamily(chunk[index], month: month, rules: rules, commit: true, issuedOn: issued, in: tenant, by: metadata)
                                plans[index] = .success(InvoicingPlan(result: result, events: [], expecting: [:]))
                            } catch {
                                plans[index] = .failure(error)
                            }
                        }
                    }
                }
            }
            for plan in plans {
                switch plan {
                case .success(let plan):
                    let result = plan.result
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
                case .failure(let error):
                    try failed(error)
                }
            }
            progress(min(start + Self.invoicingBatch, families.count), families.count)
        }
        if commit {
            let payload = try JSONEncoder().encode(InvoicingRunCompleted(month: month, summary: summary))
            _ = try await store.append([ProposedEvent(stream: RegisterStreams.invoicingRuns(month), eventType: InvoicingRunCompleted.eventType, subjects: [],
                                                      payload: payload)], to: tenant, metadata: metadata)
        }
        return summary
    }

    /// Plans a batch of families, a few at a time; the results in the batch's order.
    private func planChunk(_ chunk: [UUID], month: BillingMonth, rules: FeeRules, issuedOn issued: LocalDate,
                           in tenant: TenantID) async throws -> [Result<InvoicingPlan, any Error>] {
        let registry = self
        // The batch's streams first, then every key they name in one query (a round trip per family otherwise; the
        // key ring keeps them for the planning that follows).
        let streams = try await withThrowingTaskGroup(of: (Int, [RecordedEvent]).self) { group in
            var streams = [[RecordedEvent]](repeating: [], count: chunk.count)
            for (index, id) in chunk.enumerated() {
                if index >= Self.invoicingWidth * 2, let (done, events) = try await group.next() { streams[done] = events }
                group.addTask { (index, try await registry.feeFamilyEvents(id, in: tenant)) }
            }
            while let (index, events) = try await group.next() { streams[index] = events }
            return streams
        }
        _ = try await keyRing.openingKeys(for: Array(Set(streams.joined().flatMap(\.subjects))), in: tenant)
        return try await withThrowingTaskGroup(of: (Int, Result<InvoicingPlan, any Error>).self) { group in
            var planned: [(Int, Result<InvoicingPlan, any Error>)] = []
            planned.reserveCapacity(chunk.count)
            for (index, id) in chunk.enumerated() {
                if index >= Self.invoicingWidth, let done = try await group.next() { planned.append(done) }
                let events = streams[index]
                group.addTask {
                    do { return (index, .success(try await registry.planInvoicing(of: id, month: month, rules: rules, issuedOn: issued, events: events, in: tenant))) }
                    catch { return (index, .failure(error)) }
                }
            }
            while let done = try await group.next() { planned.append(done) }
            return planned.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
