import Crypto
import EventLog
import Foundation

// Retention and erasure (O16–O18; GDPR Art. 17): the retention run anonymises the persons whose records are due by
// shredding their keys, and an erasure request is honoured the same way where no rule keeps the records, or refused
// with the rules that keep them. Before a key is shredded, `SubjectAnonymised` records what stays: the rule or
// request, and for a child in care the anonymous attributes the statistics count (birth month, mother tongue, home
// municipality), so statistics already reported do not change when the person's details become unreadable.

/// A legal hold was placed on a person's records: nothing of them is erased while it is in force, and its days do
/// not count towards any retention period. The reason (a case, a claim) is sealed under the person's key.
public struct LegalHoldPlaced: RegisterEvent {
    public static let eventType = "LegalHoldPlaced"
    public var person: PersonID
    public var reason: Personal<String>
}

public struct LegalHoldLifted: RegisterEvent {
    public static let eventType = "LegalHoldLifted"
    public var person: PersonID
    public var reason: Personal<String>
}

public enum LegalHoldStreams {
    /// Every hold and lifting of a tenant, in order: the retention run reads them in one go.
    public static let all = StreamRef(uncheckedType: "legal-holds", id: "all")
}

/// What stays of a person whose key is about to be shredded. No personal data: codes, dates of rules, and coarse
/// attributes only.
public struct SubjectAnonymised: RegisterEvent {
    public static let eventType = "SubjectAnonymised"
    public var person: PersonID
    /// `retention` or `erasure-request`.
    public var cause: String
    /// The rule whose period ended last (retention only).
    public var rule: RuleReference?
    /// The attributes the statistics count, for a child who was placed; nil otherwise.
    public var statistics: AnonymousStatistics?

    public struct RuleReference: Codable, Sendable, Hashable {
        public var register: String
        public var documentClass: String
        public var ruleValidFrom: LocalDate
        /// `erase` or `anonymise`: on this platform both shred the key and keep these statistics.
        public var action: String
        public var anchor: String
        public var anchorDate: LocalDate?
        public var dueOn: LocalDate
    }
}

/// The attributes of an anonymised child that the statistics count. The month of birth, not the day: ages in
/// statistics are counted on the last day of a month, which the month decides.
public struct AnonymousStatistics: Codable, Sendable, Hashable {
    /// `YYYY-MM`.
    public var birthMonth: String?
    public var motherTongue: String?
    /// Nil under a non-disclosure order (statistics count such a child as `unknown`, O15).
    public var homeMunicipality: String?
}

/// An erasure request refused because rules keep the records, each named with how long.
public struct ErasureRefused: RegisterEvent {
    public static let eventType = "ErasureRefused"
    public var requester: PersonID?
    public var reasons: [Reason]

    public struct Reason: Codable, Sendable, Hashable {
        /// `retention-period`, `permanent`, `born-on-sampling-day`, `care-not-ended`, `legal-hold`, `restricted` …
        public var code: String
        public var register: String?
        public var documentClass: String?
        /// Kept until this day (nil: not yet known, or for ever).
        public var keptUntil: LocalDate?
    }
}

/// The outcome of an erasure request.
public enum ErasureOutcome: Sendable, Hashable {
    case erased(position: LogPosition)
    case refused([ErasureRefused.Reason])
}

/// What a retention run did.
public struct RetentionRunSummary: Sendable, Hashable {
    /// Persons whose key was shredded by this run.
    public var erased: [PersonID] = []
    /// Due, but left for the next run: the reason, per person (a code, never personal data).
    public var failed: [PersonID: String] = [:]
    /// Persons whose records are kept (not due, held, restricted).
    public var kept = 0
    /// Persons erased before this run.
    public var alreadyErased = 0
}

extension RetentionFacts {
    static let eventTypes: Set<String> = [
        PersonRegistered.eventType, PersonDetailsChanged.eventType, PersonDetailsRectified.eventType, NonDisclosureChanged.eventType,
        RelationshipAdded.eventType, ApplicationSubmitted.eventType, PlacementMade.eventType, PlacementEnded.eventType,
        ServiceNeedChanged.eventType, ConsentGiven.eventType, ConsentWithdrawn.eventType, CareInformationRecorded.eventType,
        CareTimeBooked.eventType, ArrivalRecorded.eventType, DepartureRecorded.eventType, AbsenceMarked.eventType,
        LegalHoldPlaced.eventType, LegalHoldLifted.eventType, SubjectErasure.eventType,
        IncomeRecorded.eventType, FeeFamilyComposed.eventType, FeeDecisionMade.eventType, InvoiceIssued.eventType,
        VoucherGranted.eventType, VoucherEnded.eventType, VoucherServiceRecorded.eventType, SettlementFrozen.eventType,
    ]

    private struct KindHeader: Decodable { var kind: PersonKind }

    mutating func recorded(_ kind: RetentionRecords, on day: LocalDate) {
        lastRecorded[kind] = max(lastRecorded[kind] ?? day, day)
    }

    mutating func attended(on day: LocalDate) {
        lastAttendance = max(lastAttendance ?? day, day)
    }

    /// Folds a tenant's whole log into facts per person (birth dates are left to the caller: they are sealed).
    public static func collect(from store: any EventStore, tenant: TenantID) async throws -> [PersonID: RetentionFacts] {
        var facts: [PersonID: RetentionFacts] = [:]
        let decoder = JSONDecoder()
        var position = LogPosition.start
        while true {
            let page = try await store.read(tenant, after: position, through: nil, limit: 5_000, filter: EventFilter(eventTypes: eventTypes))
            guard let last = page.last else { break }
            position = last.position
            for event in page {
                let day = LocalDate.today(at: event.recordedAt.date)
                let owner = event.stream.type == "attendance" ? event.stream.id.split(separator: ".").first.flatMap { try? PersonID(String($0)) }
                                                              : try? PersonID(event.stream.id)
                func touch(_ kind: RetentionRecords, of person: PersonID? = owner) {
                    guard let person else { return }
                    facts[person]?.recorded(kind, on: day)
                }
                switch event.eventType {
                case PersonRegistered.eventType:
                    guard let person = owner else { continue }
                    let header = try decoder.decode(KindHeader.self, from: event.payload)
                    facts[person] = RetentionFacts(person: person, kind: header.kind)
                    touch(.person)
                case PersonDetailsChanged.eventType, PersonDetailsRectified.eventType, NonDisclosureChanged.eventType:
                    touch(.person)
                case RelationshipAdded.eventType:
                    let added = try decoder.decode(RelationshipAdded.self, from: event.payload)
                    if let child = owner { facts[added.person]?.children.insert(child) }
                    touch(.person)
                case ApplicationSubmitted.eventType:
                    touch(.applications)
                case PlacementMade.eventType:
                    let made = try decoder.decode(PlacementMade.self, from: event.payload)
                    if let child = owner { facts[child]?.placements[made.placement] = PlacementSpan(start: made.start, end: made.end) }
                    touch(.placements)
                case PlacementEnded.eventType:
                    let ended = try decoder.decode(PlacementEnded.self, from: event.payload)
                    if let child = owner { facts[child]?.placements[ended.placement]?.end = ended.end }
                    touch(.placements)
                case ServiceNeedChanged.eventType:
                    touch(.placements)
                case ConsentGiven.eventType, ConsentWithdrawn.eventType:
                    touch(.consents)
                case CareInformationRecorded.eventType:
                    touch(.careInformation)
                case ArrivalRecorded.eventType:
                    let arrival = try decoder.decode(ArrivalRecorded.self, from: event.payload)
                    if let child = owner { facts[child]?.attended(on: arrival.date) }
                    touch(.attendance)
                case DepartureRecorded.eventType:
                    let departure = try decoder.decode(DepartureRecorded.self, from: event.payload)
                    if let child = owner { facts[child]?.attended(on: departure.date) }
                    touch(.attendance)
                case CareTimeBooked.eventType, AbsenceMarked.eventType:
                    touch(.attendance)
                case LegalHoldPlaced.eventType:
                    if let person = event.subjects.first { facts[person]?.holds.append(HoldSpan(from: day, until: nil)) }
                case LegalHoldLifted.eventType:
                    if let person = event.subjects.first, let open = facts[person]?.holds.lastIndex(where: { $0.until == nil }) {
                        facts[person]?.holds[open].until = day
                    }
                case SubjectErasure.eventType:
                    if let person = event.subjects.first { facts[person]?.erased = true }
                case IncomeRecorded.eventType:
                    touch(.fees)
                case FeeFamilyComposed.eventType, FeeDecisionMade.eventType, InvoiceIssued.eventType:
                    // On the family's stream: the records of every member it names (the payer's invoices included).
                    for person in event.subjects { touch(.fees, of: person) }
                case VoucherGranted.eventType, VoucherEnded.eventType, VoucherServiceRecorded.eventType:
                    touch(.vouchers)
                case SettlementFrozen.eventType:
                    for person in event.subjects { touch(.vouchers, of: person) }
                default:
                    break
                }
            }
        }
        return facts
    }
}

extension Registry {
    /// Every person's retention verdict in a tenant on `date`.
    public func retentionPlan(in tenant: TenantID, registers: [RegisterDefinition], on date: LocalDate) async throws -> [SubjectRetention] {
        var facts = try await RetentionFacts.collect(from: store, tenant: tenant)
        let needsBirth = registers.flatMap(\.retention).contains { $0.from == .birth || !($0.keepPermanentlyIfBornOnDays ?? []).isEmpty }
        if needsBirth {
            for (person, personFacts) in facts where !personFacts.erased {
                facts[person]?.birthDate = try await self.person(person, in: tenant).details?.birthDate
            }
        }
        return RetentionPlanner.plan(facts, registers: registers, on: date, restricted: Set(try await restrictions(in: tenant).keys))
    }

    /// Anonymises every person due on `date`. Safe to run twice or to stop half-way: each person is anonymised
    /// with event ids derived from the tenant and person, so a repeat finds them done; one person's failure is
    /// reported and the run goes on.
    public func applyRetention(in tenant: TenantID, registers: [RegisterDefinition], on date: LocalDate, by metadata: EventMetadata,
                               progress: (_ done: Int, _ due: Int) -> Void = { _, _ in }) async throws -> RetentionRunSummary {
        let plan = try await retentionPlan(in: tenant, registers: registers, on: date)
        var summary = RetentionRunSummary()
        let due = plan.filter { $0.isDue(on: date) }
        summary.alreadyErased = plan.filter(\.erased).count
        summary.kept = plan.count - due.count - summary.alreadyErased
        for (index, subject) in due.enumerated() {
            guard let deciding = subject.decidingClass, let dueOn = deciding.status.dueDate else { continue }
            let rule = SubjectAnonymised.RuleReference(register: deciding.register, documentClass: deciding.rule.documentClass,
                                                       ruleValidFrom: deciding.rule.validFrom, action: (deciding.rule.action ?? .erase).rawValue,
                                                       anchor: (deciding.rule.from ?? .recorded).rawValue, anchorDate: deciding.anchorDate, dueOn: dueOn)
            do {
                _ = try await anonymise(subject.person, cause: "retention", rule: rule, reason: deciding.reasonCode, in: tenant, by: metadata)
                summary.erased.append(subject.person)
            } catch let error as EventLogError {
                summary.failed[subject.person] = error.code.description
            } catch let error as DomainError {
                summary.failed[subject.person] = error.code
            }
            progress(index + 1, due.count)
        }
        return summary
    }

    /// An erasure request (GDPR Art. 17): honoured by shredding when no rule keeps the person's records today, no
    /// legal hold or restriction is in force; otherwise refused, with each reason recorded.
    public func requestErasure(of person: PersonID, requester: PersonID?, registers: [RegisterDefinition], in tenant: TenantID,
                               by metadata: EventMetadata) async throws -> ErasureOutcome {
        let structure = try await personStructure(person, in: tenant)
        guard !structure.isErased else { throw DomainError(.rule, "erased", "This person's data has already been erased.") }
        let today = LocalDate.today(at: now())
        guard let verdict = try await retentionPlan(in: tenant, registers: registers, on: today).first(where: { $0.person == person }) else {
            throw DomainError.personNotFound()
        }
        var reasons: [ErasureRefused.Reason] = []
        if verdict.held { reasons.append(.init(code: "legal-hold")) }
        if verdict.restricted { reasons.append(.init(code: "restricted")) }
        for kept in verdict.keeping(on: today) {
            reasons.append(.init(code: kept.status.code, register: kept.register, documentClass: kept.rule.documentClass, keptUntil: kept.status.dueDate))
        }
        guard reasons.isEmpty else {
            let refused = ErasureRefused(requester: requester, reasons: reasons)
            _ = try await store.append([ProposedEvent(stream: RegisterStreams.person(person), eventType: ErasureRefused.eventType, subjects: [person] + (requester.map { [$0] } ?? []),
                                                      payload: try Self.sortedEncoder.encode(refused))], to: tenant, metadata: metadata)
            return .refused(reasons)
        }
        // A fresh id: an earlier refused request must not make this one look done.
        return .erased(position: try await anonymise(person, cause: "erasure-request", rule: nil, reason: "erasure-request", in: tenant, by: metadata, fresh: true))
    }

    /// Records `SubjectAnonymised`, then shreds the person's key with `SubjectErased`.
    private func anonymise(_ person: PersonID, cause: String, rule: SubjectAnonymised.RuleReference?, reason: String, in tenant: TenantID,
                           by metadata: EventMetadata, fresh: Bool = false) async throws -> LogPosition {
        let record = try await self.person(person, in: tenant)
        var statistics: AnonymousStatistics?
        if record.kind == .child, !record.placements.isEmpty, let details = record.details {
            statistics = AnonymousStatistics(birthMonth: details.birthDate?.monthKey, motherTongue: details.motherTongue,
                                             homeMunicipality: record.nonDisclosure ? nil : details.homeMunicipality?.description)
        }
        let anonymised = SubjectAnonymised(person: person, cause: cause, rule: rule, statistics: statistics)
        let ids = fresh ? (UUID(), UUID()) : (Self.derivedID("anonymised", person, tenant), Self.derivedID("erased", person, tenant))
        do {
            _ = try await store.append([ProposedEvent(eventID: ids.0, stream: RegisterStreams.person(person), eventType: SubjectAnonymised.eventType,
                                                      subjects: [person], payload: try Self.sortedEncoder.encode(anonymised))],
                                       to: tenant, metadata: metadata)
        } catch let error as EventLogError where error.code == .eventIDConflict {
            // A run stopped after this step, and the rule has changed since: the first record stands.
        }
        // The next load of the person finds the key gone and drops their opened record from memory.
        let result = try await keyRing.shred(person, in: tenant, store: store, metadata: metadata, reason: reason, eventID: ids.1)
        return result.positions.first ?? .start
    }

    static let sortedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// A stable event id for one step of one person's anonymisation, so a repeated run is recognised by the log.
    static func derivedID(_ step: String, _ person: PersonID, _ tenant: TenantID) -> UUID {
        var bytes = Array(SHA256.hash(data: Data("register.retention|\(step)|\(tenant)|\(person)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50  // version 5-style (name-based)
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    // MARK: Legal holds

    /// The holds in force in the tenant.
    public func legalHolds(in tenant: TenantID) async throws -> (version: Int64, held: [PersonID: Timestamp]) {
        var held: [PersonID: Timestamp] = [:]
        var version: Int64 = 0
        for event in try await store.readStream(LegalHoldStreams.all, of: tenant) {
            version = event.streamVersion
            guard let person = event.subjects.first else { continue }
            if event.eventType == LegalHoldPlaced.eventType { held[person] = event.recordedAt } else { held.removeValue(forKey: person) }
        }
        return (version, held)
    }

    /// Places a legal hold on a person's records.
    public func placeLegalHold(on person: PersonID, reason: String, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        let record = try await personStructure(person, in: tenant)
        guard !record.isErased else { throw DomainError(.rule, "erased", "This person's data has been erased; there is nothing to hold.") }
        try await changeHold(person, in: tenant, by: metadata) { held in
            guard held[person] == nil else { throw DomainError(.conflict, "already-held", "A legal hold is already in force on this person's records.") }
            return (LegalHoldPlaced.eventType, try await keyRing.seal(LegalHoldPlaced(person: person, reason: .clear(reason, subject: person)), subjects: [person], in: tenant))
        }
    }

    /// Lifts the legal hold in force.
    public func liftLegalHold(on person: PersonID, reason: String, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        try await changeHold(person, in: tenant, by: metadata) { held in
            guard held[person] != nil else { throw DomainError(.notFound, "not-found", "No legal hold is in force on this person's records.") }
            return (LegalHoldLifted.eventType, try await keyRing.seal(LegalHoldLifted(person: person, reason: .clear(reason, subject: person)), subjects: [person], in: tenant))
        }
    }

    private func changeHold(_ person: PersonID, in tenant: TenantID, by metadata: EventMetadata,
                            decide: ([PersonID: Timestamp]) async throws -> (String, Data)) async throws {
        for _ in 1...Self.attempts {
            let (version, held) = try await legalHolds(in: tenant)
            let (type, payload) = try await decide(held)
            do {
                _ = try await store.append([ProposedEvent(stream: LegalHoldStreams.all, eventType: type, subjects: [person], payload: payload)],
                                           to: tenant, metadata: metadata, expecting: [LegalHoldStreams.all: .exact(version)])
                return
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        throw DomainError(.conflict, "contended", "The legal holds changed repeatedly meanwhile; try again.")
    }
}
