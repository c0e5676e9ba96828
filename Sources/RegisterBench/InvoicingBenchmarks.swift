import EventLog
import Foundation
import Register

// The monthly invoicing run's benchmark (issue: client fees): a tenant with many fee families and a year of history,
// the run timed on it, beside the raw catch-up read rate of the same log in the same run.

/// The fee events' JSON shapes, beside the register's other events' (`Mirror`).
private enum FeeMirror {
    struct FeeFamilyComposed: Encodable {
        var validFrom: LocalDate
        var validUntil: LocalDate?
        var adults: [PersonID]
        var children: [PersonID]
        var source: DataSource
    }

    struct IncomeRecorded: Encodable {
        var statement: Personal<IncomeStatement>
        var validFrom: LocalDate
        var validUntil: LocalDate?
        var source: DataSource
    }
}

/// A municipality's year: fee families (one or two adults with incomes, one or two children in municipal care from
/// 1 August 2025), then every operational day until 31 July 2026 an arrival or a sick day for each child.
struct FeeHistory {
    let tenant: TenantID
    let families: Int
    let units: [String]
    static let start = try! LocalDate("2025-08-01")
    static let end = try! LocalDate("2026-07-31")

    func seed(_ store: any EventStore, keyRing: KeyRing) async throws -> (families: Int, children: Int, events: Int) {
        let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "billing"))
        var random = SystemRandomNumberGenerator()
        var children: [(PersonID, String)] = []
        var batch: [ProposedEvent] = []
        func flush() async throws {
            guard !batch.isEmpty else { return }
            _ = try await store.append(batch, to: tenant, metadata: metadata)
            batch.removeAll(keepingCapacity: true)
        }
        for index in 0..<families {
            var adults: [PersonID] = [], kids: [PersonID] = []
            for adult in 0..<(index % 5 < 3 ? 2 : 1) {
                let id = PersonID.random()
                adults.append(id)
                let details = PersonDetails(name: PersonName(first: adult == 0 ? "Maksaja" : "Puoliso", last: "Perhe\(index)"),
                                            address: PostalAddress(street: "Laskutie \(index)", postalCode: "99100", city: "Esimerkkilä"))
                batch.append(try await event(RegisterStreams.person(id), "PersonRegistered",
                                             Mirror.PersonRegistered(kind: .guardian, details: .clear(details, subject: id), nonDisclosure: false, source: .demo),
                                             subjects: [id], keyRing: keyRing))
                let statement = index % 10 == 0 ? IncomeStatement(acceptsMaximumFee: true)
                    : IncomeStatement(earnedCents: Int.random(in: 150_000...600_000, using: &random), capitalCents: index % 7 == 0 ? 20_000 : 0)
                batch.append(try await event(RegisterStreams.person(id), "IncomeRecorded",
                                             FeeMirror.IncomeRecorded(statement: .clear(statement, subject: id), validFrom: Self.start, validUntil: nil, source: .demo),
                                             subjects: [id], keyRing: keyRing))
            }
            for child in 0..<(index % 3 == 0 ? 2 : 1) {
                let id = PersonID.random()
                kids.append(id)
                let details = PersonDetails(name: PersonName(first: "Lapsi\(child)", last: "Perhe\(index)"),
                                            birthDate: try LocalDate(year: 2020 + (index + child) % 5, month: 1 + index % 12, day: 1 + index % 28))
                batch.append(try await event(RegisterStreams.person(id), "PersonRegistered",
                                             Mirror.PersonRegistered(kind: .child, details: .clear(details, subject: id), nonDisclosure: false, source: .demo),
                                             subjects: [id], keyRing: keyRing))
                let unit = units[(index + child) % units.count]
                batch.append(try event(RegisterStreams.person(id), "PlacementMade",
                                       Mirror.PlacementMade(placement: UUID(), unit: unit, arrangement: .municipal, start: Self.start, end: nil,
                                                               serviceNeed: ServiceNeed(hoursPerWeek: [20, 30, 40][(index + child) % 3])), subjects: [id]))
                children.append((id, unit))
            }
            batch.append(try event(RegisterStreams.feeFamily(UUID()), "FeeFamilyComposed",
                                   FeeMirror.FeeFamilyComposed(validFrom: Self.start, validUntil: nil, adults: adults, children: kids, source: .populationRegister),
                                   subjects: adults + kids))
            if batch.count >= 900 { try await flush() }
        }
        try await flush()
        log("  seeded \(families.formatted()) families; a year of attendance follows")
        var day = Self.start
        var number = 0
        while day <= Self.end {
            defer { day = day.adding(days: 1) }
            guard day.isoWeekday <= 5 else { continue }
            number += 1
            for (index, (child, unit)) in children.enumerated() {
                let stream = RegisterStreams.attendance(child, month: day.monthKey)
                if (index + number) % 20 == 0 {
                    batch.append(try event(stream, "AbsenceMarked", Mirror.AbsenceMarked(date: day, kind: .sick), subjects: [child]))
                } else {
                    batch.append(try event(stream, "ArrivalRecorded", Mirror.Mark(date: day, time: try LocalTime(minutes: 450 + index % 60), unit: unit),
                                           subjects: [child]))
                }
                if batch.count >= 1_000 { try await flush() }
            }
            if number % 50 == 0 { log("  seeded \(number) operational days") }
        }
        try await flush()
        return (families, children.count, Int(try await store.head(of: tenant).position.rawValue))
    }

    private func event<T: Encodable>(_ stream: StreamRef, _ type: String, _ payload: T, subjects: [PersonID], keyRing: KeyRing) async throws -> ProposedEvent {
        ProposedEvent(stream: stream, eventType: type, subjects: subjects, payload: try await keyRing.seal(payload, subjects: subjects, in: tenant))
    }

    private func event<T: Encodable>(_ stream: StreamRef, _ type: String, _ payload: T, subjects: [PersonID]) throws -> ProposedEvent {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ProposedEvent(stream: stream, eventType: type, subjects: subjects, payload: try encoder.encode(payload))
    }
}

struct InvoicingBenchmarks {
    let rules: FeeRules
    let units: [String]

    /// Seeds the tenant, reads its log whole, then times the first invoicing run (June 2026: every family's decisions
    /// are recorded, with its invoices), the monthly run (July 2026) and the same run repeated (it bills nothing).
    func run(_ name: String, store: any EventStore, keyRing: KeyRing, families: Int) async throws -> [String] {
        let tenant = try TenantID("bench-invoicing")
        log("\(name): seeding \(families.formatted()) fee families and a year of attendance")
        let seeded = try await FeeHistory(tenant: tenant, families: families, units: units).seed(store, keyRing: keyRing)
        log("\(name): raw catch-up read of \(seeded.events.formatted()) events")
        var position = LogPosition.start
        var read = 0
        let readSeconds = try await Stopwatch.time {
            while true {
                let page = try await store.read(tenant, after: position, through: nil, limit: 5_000, filter: .all)
                guard let last = page.last else { break }
                read += page.count
                position = last.position
            }
        }
        var lines = ["| \(name) | raw catch-up read of the whole log | \(read.formatted()) events | \(String(format: "%.1f", readSeconds)) | \(Int(Double(read) / readSeconds).formatted()) events/s |"]
        let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "billing"))
        for (label, month) in [("first run, June 2026 (every family's decisions recorded)", "2026-06"), ("monthly run, July 2026", "2026-07"),
                               ("July 2026 again (bills nothing)", "2026-07")] {
            // A fresh registry: nothing cached from the run before, as a new `register invoices run` process starts.
            let registry = Registry(store: store, keyRing: KeyRing(masterKey: keyRing.masterKey, store: store))
            log("\(name): invoicing \(month)")
            var summary: InvoicingSummary?
            let seconds = try await Stopwatch.time {
                summary = try await registry.runInvoicing(in: tenant, month: try BillingMonth(month), rules: rules, commit: true, issuedOn: try LocalDate("2026-08-05"),
                                                          by: metadata)
            }
            guard let summary, summary.failed.isEmpty else { throw BenchmarkFailure("the invoicing run failed for some families: \(summary?.failed ?? [:])") }
            let documents = summary.invoices + summary.creditNotes + summary.surcharges
            lines.append("| \(name) | \(label) | \(summary.families.formatted()) families, \(summary.decisions.formatted()) decisions, \(documents.formatted()) documents "
                         + "| \(String(format: "%.1f", seconds)) | \(Int(Double(summary.families) / seconds).formatted()) families/s |")
        }
        return lines
    }
}
