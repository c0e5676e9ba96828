import EventLog
import Foundation

// Fee families and incomes (act 1503/2016 § 3–4, O23). A fee family is the adults of a joint household and their
// minor children living with them; who belongs to it changes over time, so each composition has validity dates and a
// source. Incomes belong to the adults (on their person streams), sealed like every other personal field.

extension RegisterStreams {
    /// One fee family: its compositions, fee decisions and invoices.
    public static func feeFamily(_ id: UUID) -> StreamRef { StreamRef(uncheckedType: "fee-family", id: id.uuidString.lowercased()) }
}

/// Who forms the fee family from `validFrom` (until `validUntil`, or until the next composition starts).
/// Member ids are pseudonymous and are the event's subjects; nothing about them is in clear.
public struct FeeFamilyComposed: RegisterEvent {
    public static let eventType = "FeeFamilyComposed"
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// The adults of the joint household; the first one is the payer of the family's invoices.
    public var adults: [PersonID]
    /// Their minor children living with them, in care or not (they all count in the family's size).
    public var children: [PersonID]
    public var source: DataSource
}

/// An adult's monthly income for the fee, from `validFrom` (until `validUntil`, or until the next statement).
public struct IncomeStatement: Codable, Sendable, Hashable {
    /// Gross earned income a month, in cents.
    public var earnedCents: Int
    /// Gross capital income a month, in cents.
    public var capitalCents: Int
    /// The family accepts the maximum fee and gives no figures.
    public var acceptsMaximumFee: Bool

    public init(earnedCents: Int = 0, capitalCents: Int = 0, acceptsMaximumFee: Bool = false) {
        self.earnedCents = earnedCents
        self.capitalCents = capitalCents
        self.acceptsMaximumFee = acceptsMaximumFee
    }
}

/// An income statement of an adult, on the adult's stream; the figures are sealed, the validity is not.
public struct IncomeRecorded: RegisterEvent {
    public static let eventType = "IncomeRecorded"
    public var statement: Personal<IncomeStatement>
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var source: DataSource
}

/// A period that lasts from its start until its own end or until the next period of the same list starts, whichever
/// comes first; a later record with the same start replaces the earlier one.
protocol DatedPeriod {
    var validFrom: LocalDate { get }
    var validUntil: LocalDate? { get }
}

extension Array where Element: DatedPeriod {
    /// The period in force on `day` (the list is kept sorted by start).
    func inForce(on day: LocalDate) -> Element? {
        guard let latest = last(where: { $0.validFrom <= day }) else { return nil }
        return latest.validUntil.map { day <= $0 } ?? true ? latest : nil
    }

    /// Inserts a period in start order, replacing one with the same start.
    mutating func record(_ period: Element) {
        removeAll { $0.validFrom == period.validFrom }
        append(period)
        sort { $0.validFrom < $1.validFrom }
    }

    /// The days on which what is in force may change: each start and the day after each end.
    var changeDays: [LocalDate] {
        flatMap { [$0.validFrom] + ($0.validUntil.map { [$0.adding(days: 1)] } ?? []) }
    }
}

/// An adult's income statement as folded from their stream.
public struct IncomePeriod: DatedPeriod, Sendable, Hashable {
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// Nil when read without keys, or erased.
    public var statement: IncomeStatement?
    public var source: DataSource
}

/// A fee family as its stream tells it.
public struct FeeFamilyRecord: Sendable, Hashable {
    public var id: UUID
    /// The family's customer number: the log position where it was formed, so unique in the tenant and never
    /// reused (invoice references are built from it).
    public var number: Int64
    public var version: Int64
    public var compositions: [Composition] = []
    public var decisions: [FeeDecision] = []
    public var invoices: [Invoice] = []

    public struct Composition: DatedPeriod, Sendable, Hashable {
        public var validFrom: LocalDate
        public var validUntil: LocalDate?
        public var adults: [PersonID]
        public var children: [PersonID]
        public var source: DataSource
    }

    /// Everyone who has ever been in the family.
    public var members: [PersonID] {
        var seen = Set<PersonID>()
        return compositions.flatMap { $0.adults + $0.children }.filter { seen.insert($0).inserted }
    }
}

extension Registry {
    /// A fee family with its decisions and invoices opened.
    /// - Throws: `not-found` when the tenant has no such family.
    public func feeFamily(_ id: UUID, in tenant: TenantID) async throws -> FeeFamilyRecord {
        try await feeFamily(id, events: try await feeFamilyEvents(id, in: tenant), in: tenant)
    }

    /// A fee family's stream as stored.
    func feeFamilyEvents(_ id: UUID, in tenant: TenantID) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        while true {
            let page = try await store.readStream(RegisterStreams.feeFamily(id), of: tenant, afterVersion: events.last?.streamVersion ?? 0, limit: 1_000)
            events += page
            if page.count < 1_000 { break }
        }
        return events
    }

    /// A fee family folded from its stream, read already (the invoicing run reads a batch's streams first, to load
    /// all their keys at once).
    func feeFamily(_ id: UUID, events: [RecordedEvent], in tenant: TenantID) async throws -> FeeFamilyRecord {
        guard !events.isEmpty else { throw DomainError(.notFound, "not-found", "The tenant has no such fee family.") }
        let keys = try await keyRing.openingKeys(for: Array(Set(events.flatMap(\.subjects))), in: tenant)
        return try FeeFamilyRecord.fold(events, id: id, opener: PayloadOpener(keys: keys))
    }

    /// Forms a new fee family from a day on: adults of a joint household (the first is the payer) and their minor
    /// children living with them. Everyone must be in the register: adults not children, children children.
    @discardableResult
    public func createFeeFamily(adults: [PersonID], children: [PersonID], validFrom: LocalDate, source: DataSource,
                                id: UUID = UUID(), in tenant: TenantID, by metadata: EventMetadata) async throws -> (id: UUID, number: Int64) {
        for _ in 1...Self.attempts {
            let restrictions = try await checkMembers(adults: adults, children: children, in: tenant)
            let composed = FeeFamilyComposed(validFrom: validFrom, validUntil: nil, adults: adults, children: children, source: source)
            do {
                let result = try await store.append([ProposedEvent(stream: RegisterStreams.feeFamily(id), eventType: FeeFamilyComposed.eventType,
                                                                   subjects: adults + children, payload: try JSONEncoder().encode(composed))],
                                                    to: tenant, metadata: metadata,
                                                    expecting: [RegisterStreams.feeFamily(id): .noStream, RestrictionStreams.all: restrictions])
                return (id, result.positions[0].rawValue)
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                if try await !store.readStream(RegisterStreams.feeFamily(id), of: tenant, afterVersion: 0, limit: 1).isEmpty {
                    throw DomainError(.conflict, "family-exists", "A fee family with this id exists already.", field: "id")
                }
                continue  // a restriction was recorded meanwhile: check the members again
            }
        }
        throw Self.contendedFamily()
    }

    /// Records who forms the family from `validFrom` on (until `validUntil`, when given).
    public func composeFeeFamily(_ id: UUID, adults: [PersonID], children: [PersonID], validFrom: LocalDate, validUntil: LocalDate?,
                                 source: DataSource, in tenant: TenantID, by metadata: EventMetadata) async throws {
        if let validUntil, validUntil < validFrom { throw DomainError.invalid("validUntil", "validUntil is on or after validFrom") }
        for _ in 1...Self.attempts {
            let restrictions = try await checkMembers(adults: adults, children: children, in: tenant)
            let family = try await feeFamily(id, in: tenant)
            let composed = FeeFamilyComposed(validFrom: validFrom, validUntil: validUntil, adults: adults, children: children,
                                             source: source)
            do {
                _ = try await store.append([ProposedEvent(stream: RegisterStreams.feeFamily(id), eventType: FeeFamilyComposed.eventType,
                                                          subjects: adults + children, payload: try JSONEncoder().encode(composed))],
                                           to: tenant, metadata: metadata,
                                           expecting: [RegisterStreams.feeFamily(id): .exact(family.version), RestrictionStreams.all: restrictions])
                return
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        throw Self.contendedFamily()
    }

    /// Records an adult's income statement (sealed) from `validFrom` on.
    public func recordIncome(of adult: PersonID, _ statement: IncomeStatement, validFrom: LocalDate, validUntil: LocalDate?, source: DataSource,
                             in tenant: TenantID, by metadata: EventMetadata) async throws {
        // A hundred million euros a month is beyond any household; above it the figure is a typing error.
        for (value, field) in [(statement.earnedCents, "earnedCents"), (statement.capitalCents, "capitalCents")] {
            guard (0...10_000_000_000).contains(value) else { throw DomainError.invalid(field, "\(field) is zero or more, and at most 100 000 000 € a month") }
        }
        if let validUntil, validUntil < validFrom { throw DomainError.invalid("validUntil", "validUntil is on or after validFrom") }
        try await execute(on: adult, in: tenant, by: metadata) { record in
            guard record.kind != .child else { throw DomainError(.rule, "not-an-adult", "Incomes are recorded for the adults of a fee family.", field: "person") }
            let recorded = IncomeRecorded(statement: .clear(statement, subject: adult), validFrom: validFrom, validUntil: validUntil, source: source)
            return [try await event(adult, recorded, subjects: [adult], in: tenant)]
        }
    }

    /// - Returns: what the family's append expects of the restrictions, as the first member's check read them.
    private func checkMembers(adults: [PersonID], children: [PersonID], in tenant: TenantID) async throws -> ExpectedVersion {
        guard (1...2).contains(adults.count) else { throw DomainError.invalid("adults", "a fee family has one or two adults") }
        guard !children.isEmpty, children.count <= 20 else { throw DomainError.invalid("children", "a fee family has 1 to 20 children") }
        guard Set(adults + children).count == adults.count + children.count else { throw DomainError.invalid("children", "each member is named once") }
        var restrictions: ExpectedVersion?
        for (index, adult) in adults.enumerated() {
            let (record, checked) = try await member(adult, field: "adults[\(index)]", in: tenant)
            restrictions = restrictions ?? checked
            if record.kind == .child { throw DomainError(.rule, "not-an-adult", "A child is not an adult of a fee family.", field: "adults[\(index)]") }
        }
        for (index, child) in children.enumerated() {
            let (record, checked) = try await member(child, field: "children[\(index)]", in: tenant)
            restrictions = restrictions ?? checked
            if record.kind != .child { throw DomainError(.rule, "not-a-child", "Only children are a fee family's children.", field: "children[\(index)]") }
        }
        return restrictions ?? .any
    }

    /// A member named in a request: a person of the tenant, neither erased nor under a restriction of processing.
    private func member(_ id: PersonID, field: String, in tenant: TenantID) async throws -> (PersonRecord, ExpectedVersion) {
        let record: PersonRecord
        do { record = try await personStructure(id, in: tenant) } catch let error as DomainError where error.kind == .notFound {
            throw DomainError(.invalid, "unknown-person", "No such person in this register.", field: field)
        }
        if record.isErased { throw DomainError(.rule, "erased", "This person's data has been erased; nothing new can be recorded.", field: field) }
        return (record, try await refuseRestricted(id, in: tenant))
    }

    static func contendedFamily() -> DomainError {
        DomainError(.conflict, "contended", "The fee family changed repeatedly while this change was being made; try again.")
    }
}
