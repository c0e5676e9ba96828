import EventLog
import Foundation
import Synchronization

/// A person as their stream tells it: the state commands check their rules against, and the API shows.
public struct PersonRecord: Sendable, Hashable {
    public let id: PersonID
    public var kind: PersonKind
    /// Nil when the details are still sealed (read without keys) or erased.
    public var details: PersonDetails?
    /// The person's key was shredded: their personal fields are gone for good.
    public var isErased: Bool
    public var nonDisclosure: Bool
    /// The person stream's version: the expected version of the next command.
    public var version: Int64
    public var registeredAt: Timestamp
    public var updatedAt: Timestamp
    /// People linked to this one (a child's guardians, trustees …), current links only.
    public var relationships: [Relationship] = []
    public var applications: [Application] = []
    public var placements: [Placement] = []
    /// Consents by purpose, the latest state of each.
    public var consents: [String: Consent] = [:]
    public var careInformation: CareInformation?
    /// An adult's income statements for the client fee, by start.
    public var incomes: [IncomePeriod] = []
    /// A child's service vouchers, with the producers' records of the care given.
    public var vouchers: [Voucher] = []
    /// A minor's prohibitions of disclosure to a guardian in force (O9), family-services registers only.
    public var guardianProhibitions: [GuardianProhibition] = []

    public struct Relationship: Sendable, Hashable {
        public var person: PersonID
        public var kind: RelationshipKind
    }

    public struct Application: Sendable, Hashable {
        public var id: UUID
        public var preferredUnits: [String]
        public var desiredStart: LocalDate
        public var serviceNeed: ServiceNeed
        public var urgent: Bool
        public var submittedAt: Timestamp
    }

    public struct Consent: Sendable, Hashable {
        public var purpose: String
        public var inForce: Bool
        public var validFrom: LocalDate
        public var givenBy: PersonID?
        public var changedAt: Timestamp
    }

    /// Is `other` linked to this person as one of `kinds`?
    public func isLinked(_ other: PersonID, as kinds: Set<RelationshipKind> = Set(RelationshipKind.allCases)) -> Bool {
        relationships.contains { $0.person == other && kinds.contains($0.kind) }
    }

    /// The placement that covers `date`, if any (placements never overlap).
    public func placement(on date: LocalDate) -> Placement? {
        placements.first { $0.covers(date) }
    }
}

/// A child's placement in a unit, with its service need over time.
public struct Placement: Sendable, Hashable {
    public var id: UUID
    public var unit: String
    public var arrangement: Arrangement
    public var start: LocalDate
    public var end: LocalDate?
    /// From which date which service need holds, in date order; the first from `start`.
    public var serviceNeeds: [ServiceNeedPeriod]

    public struct ServiceNeedPeriod: Sendable, Hashable {
        public var from: LocalDate
        public var serviceNeed: ServiceNeed
    }

    public func covers(_ date: LocalDate) -> Bool {
        start <= date && (end.map { date <= $0 } ?? true)
    }

    /// Does this placement share a day with `start...end` (an open end reaches forever)?
    public func overlaps(start other: LocalDate, end otherEnd: LocalDate?) -> Bool {
        let beginsBeforeOtherEnds = otherEnd.map { start <= $0 } ?? true
        let otherBeginsBeforeThisEnds = end.map { other <= $0 } ?? true
        return beginsBeforeOtherEnds && otherBeginsBeforeThisEnds
    }

    public func serviceNeed(on date: LocalDate) -> ServiceNeed? {
        serviceNeeds.last { $0.from <= date }?.serviceNeed
    }

    /// Active on `date` or later: not ended before it.
    public func isCurrentOrUpcoming(on date: LocalDate) -> Bool {
        end.map { $0 >= date } ?? true
    }
}

extension PersonRecord {
    /// Folds a person stream. With `opener` keys the sealed details open; without, they stay nil.
    /// - Returns: nil when the stream holds no registration.
    /// - Parameter start: a record folded from the stream's earlier events, which `events` continue.
    static func fold(_ events: [RecordedEvent], opener: PayloadOpener, onto start: PersonRecord? = nil) throws -> PersonRecord? {
        var record: PersonRecord? = start
        for event in events {
            if event.eventType == PersonRegistered.eventType {
                let registered = try opener.open(PersonRegistered.self, from: event.payload)
                guard let subject = event.subjects.first else { continue }
                record = PersonRecord(id: subject, kind: registered.kind, details: registered.details.value, isErased: registered.details.isErased,
                                      nonDisclosure: registered.nonDisclosure, version: event.streamVersion,
                                      registeredAt: event.recordedAt, updatedAt: event.recordedAt)
                continue
            }
            guard var current = record else { continue }
            current.version = event.streamVersion
            current.updatedAt = event.recordedAt
            switch event.eventType {
            case PersonDetailsChanged.eventType:
                let changed = try opener.open(PersonDetailsChanged.self, from: event.payload)
                if let patch = changed.change.value, let details = current.details {
                    current.details = patch.applied(to: details)
                }
                if changed.change.isErased { current.isErased = true; current.details = nil }
            case PersonDetailsRectified.eventType:
                let rectified = try opener.open(PersonDetailsRectified.self, from: event.payload)
                if let patch = rectified.change.value, let details = current.details {
                    current.details = patch.applied(to: details)
                }
                if rectified.change.isErased { current.isErased = true; current.details = nil }
            case NonDisclosureChanged.eventType:
                current.nonDisclosure = try opener.open(NonDisclosureChanged.self, from: event.payload).nonDisclosure
            case RelationshipAdded.eventType:
                let added = try opener.open(RelationshipAdded.self, from: event.payload)
                if !current.isLinked(added.person, as: [added.relationship]) {
                    current.relationships.append(.init(person: added.person, kind: added.relationship))
                }
            case RelationshipEnded.eventType:
                let ended = try opener.open(RelationshipEnded.self, from: event.payload)
                current.relationships.removeAll { $0.person == ended.person && $0.kind == ended.relationship }
            case ApplicationSubmitted.eventType:
                let submitted = try opener.open(ApplicationSubmitted.self, from: event.payload)
                current.applications.append(.init(id: submitted.application, preferredUnits: submitted.preferredUnits, desiredStart: submitted.desiredStart,
                                                  serviceNeed: submitted.serviceNeed, urgent: submitted.urgent, submittedAt: event.recordedAt))
            case PlacementMade.eventType:
                let made = try opener.open(PlacementMade.self, from: event.payload)
                current.placements.append(Placement(id: made.placement, unit: made.unit, arrangement: made.arrangement, start: made.start, end: made.end,
                                                    serviceNeeds: [.init(from: made.start, serviceNeed: made.serviceNeed)]))
                current.placements.sort { $0.start < $1.start }
            case PlacementEnded.eventType:
                let ended = try opener.open(PlacementEnded.self, from: event.payload)
                if let index = current.placements.firstIndex(where: { $0.id == ended.placement }) {
                    current.placements[index].end = ended.end
                }
            case ServiceNeedChanged.eventType:
                let changed = try opener.open(ServiceNeedChanged.self, from: event.payload)
                if let index = current.placements.firstIndex(where: { $0.id == changed.placement }) {
                    var needs = current.placements[index].serviceNeeds.filter { $0.from != changed.from }
                    needs.append(.init(from: changed.from, serviceNeed: changed.serviceNeed))
                    current.placements[index].serviceNeeds = needs.sorted { $0.from < $1.from }
                }
            case ConsentGiven.eventType:
                let given = try opener.open(ConsentGiven.self, from: event.payload)
                current.consents[given.purpose] = .init(purpose: given.purpose, inForce: true, validFrom: given.validFrom, givenBy: given.givenBy,
                                                        changedAt: event.recordedAt)
            case ConsentWithdrawn.eventType:
                let withdrawn = try opener.open(ConsentWithdrawn.self, from: event.payload)
                current.consents[withdrawn.purpose]?.inForce = false
                current.consents[withdrawn.purpose]?.changedAt = event.recordedAt
            case GuardianDisclosureProhibited.eventType:
                let prohibited = try opener.open(GuardianDisclosureProhibited.self, from: event.payload)
                current.guardianProhibitions.removeAll { $0.guardian == prohibited.guardian && $0.register == prohibited.register }
                current.guardianProhibitions.append(.init(guardian: prohibited.guardian, register: prohibited.register, since: event.recordedAt,
                                                          reason: prohibited.reason.value))
            case GuardianDisclosureProhibitionLifted.eventType:
                let lifted = try opener.open(GuardianDisclosureProhibitionLifted.self, from: event.payload)
                current.guardianProhibitions.removeAll { $0.guardian == lifted.guardian && $0.register == lifted.register }
            case CareInformationRecorded.eventType:
                let recorded = try opener.open(CareInformationRecorded.self, from: event.payload)
                current.careInformation = recorded.information.value
            case VoucherGranted.eventType, VoucherEnded.eventType, VoucherServiceRecorded.eventType:
                try current.apply(voucherEvent: event, opener: opener)
            case IncomeRecorded.eventType:
                let recorded = try opener.open(IncomeRecorded.self, from: event.payload)
                current.incomes.record(IncomePeriod(validFrom: recorded.validFrom, validUntil: recorded.validUntil, statement: recorded.statement.value,
                                                    source: recorded.source))
            default:
                break  // Events of later schema or other concerns (access, erasure) do not change this view.
            }
            record = current
        }
        return record
    }
}

/// One child's attendance in one month, as its stream tells it.
public struct AttendanceMonth: Sendable, Hashable {
    public let child: PersonID
    /// `YYYY-MM`.
    public let month: String
    public var version: Int64 = 0
    public var days: [LocalDate: AttendanceDay] = [:]

    public struct AttendanceDay: Sendable, Hashable {
        public var booking: Booking?
        public var visits: [Visit] = []
        public var absence: AbsenceKind?

        public var isPresent: Bool { !visits.isEmpty }
        /// Minutes present, counting only completed visits.
        public var minutesPresent: Int {
            visits.reduce(0) { total, visit in total + (visit.departure.map { $0.minutes - visit.arrival.minutes } ?? 0) }
        }
    }

    public struct Booking: Sendable, Hashable {
        public var start: LocalTime
        public var end: LocalTime
    }

    public struct Visit: Sendable, Hashable {
        public var unit: String
        public var arrival: LocalTime
        public var departure: LocalTime?
    }

    /// Folds a month's stream; with `day`, only that day's events are decoded (a write decides on one day, and
    /// decoding every event of a busy month would dominate its cost). The version is always the stream's.
    static func fold(_ events: [RecordedEvent], child: PersonID, month: String, day: LocalDate? = nil) throws -> AttendanceMonth {
        var result = AttendanceMonth(child: child, month: month)
        let decoder = JSONDecoder()
        let needle = day.map { Array($0.description.utf8) }
        for event in events {
            result.version = event.streamVersion
            if let needle, !event.payload.contains(needle) { continue }
            switch event.eventType {
            case CareTimeBooked.eventType:
                let booked = try decoder.decode(CareTimeBooked.self, from: event.payload)
                result.days[booked.date, default: .init()].booking = .init(start: booked.start, end: booked.end)
            case ArrivalRecorded.eventType:
                let arrival = try decoder.decode(ArrivalRecorded.self, from: event.payload)
                result.days[arrival.date, default: .init()].visits.append(.init(unit: arrival.unit, arrival: arrival.time))
            case DepartureRecorded.eventType:
                let departure = try decoder.decode(DepartureRecorded.self, from: event.payload)
                if let index = result.days[departure.date]?.visits.lastIndex(where: { $0.departure == nil }) {
                    result.days[departure.date]?.visits[index].departure = departure.time
                }
            case AbsenceMarked.eventType:
                let absence = try decoder.decode(AbsenceMarked.self, from: event.payload)
                result.days[absence.date, default: .init()].absence = absence.kind
            default:
                break
            }
        }
        return result
    }
}

extension Data {
    /// Whether the bytes contain `needle` (a short ASCII string).
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return needle.isEmpty }
        return withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let first = needle[0], last = bytes.count - needle.count
            var index = 0
            while index <= last {
                if bytes[index] == first {
                    var matched = 1
                    while matched < needle.count, bytes[index + matched] == needle[matched] { matched += 1 }
                    if matched == needle.count { return true }
                }
                index += 1
            }
            return false
        }
    }
}

/// Folded person records, in memory only, bounded; keyed by tenant, person and whether the details were opened.
/// Opened details are personal data: they live here no longer than the process, are dropped as soon as a load finds
/// the person's key shredded, and the whole cache is cleared when it grows past its bound.
final class PersonRecordCache: Sendable {
    struct Key: Hashable, Sendable {
        let tenant: TenantID
        let person: PersonID
        let opened: Bool
    }

    private let entries = Mutex<[Key: PersonRecord]>([:])
    let limit = 20_000

    subscript(key: Key) -> PersonRecord? {
        get { entries.withLock { $0[key] } }
        set {
            entries.withLock { entries in
                if newValue != nil, entries.count >= limit { entries.removeAll(keepingCapacity: true) }
                entries[key] = newValue
            }
        }
    }
}
