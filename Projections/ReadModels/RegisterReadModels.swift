import EventLog
import Foundation
import Register

/// The register's read models as the API serves them: queries of the projections' tables, combined and with personal
/// details opened (only as an answer is produced, with the tenant's keys; shredded subjects read as erased).
///
/// Read models follow the log shortly after each append (see `ProjectionService`); they can lag a write by the
/// time a batch takes. Each `store.read` is one snapshot; an answer that needs several (the roster reads placements,
/// then those children's bookings and guardians) may see a batch committed in between, which can add or drop a row
/// written at that moment, never mix tenants or expose a half-built generation.
public struct RegisterReadModels: Sendable {
    public let store: any ReadModelStore
    public let keyRing: KeyRing

    public init(store: any ReadModelStore, keyRing: KeyRing) {
        self.store = store
        self.keyRing = keyRing
    }

    typealias People = PeopleProjection
    typealias Placements = PlacementsProjection
    typealias Attendance = AttendanceProjection
    static let people = PeopleProjection()
    static let placements = PlacementsProjection()
    static let attendance = AttendanceProjection()

    // MARK: People

    /// A person as the read models hold them, details opened.
    public struct PersonEntry: Sendable, Hashable {
        public let id: String
        public let kind: PersonKind
        public let nonDisclosure: Bool
        /// Nil when the subject's key was shredded (erased) or no details were recorded.
        public let details: PersonDetails?
        public let erased: Bool
        public let registeredAt: Timestamp
    }

    /// People by id, with their details opened; ids not in the read model are left out.
    public func people(_ ids: Set<String>, tenant: TenantID) async throws -> [String: PersonEntry] {
        guard !ids.isEmpty else { return [:] }
        let keys = ids.sorted().map(ReadModelValue.text)
        let rows = try await store.read([
            ReadModelQuery(Self.people, People.people, where: [.oneOf("person", keys)]),
            ReadModelQuery(Self.people, People.details, where: [.oneOf("person", keys)]),
            ReadModelQuery(Self.people, People.protection, where: [.oneOf("person", keys)]),
        ], tenant: tenant)
        return try await openPeople(people: rows[0], details: rows[1], protection: rows[2], tenant: tenant)
    }

    func openPeople(people: [ReadModelRow], details: [ReadModelRow], protection: [ReadModelRow], tenant: TenantID) async throws -> [String: PersonEntry] {
        var fragments: [String: [(Int64, String, String)]] = [:]
        for row in details {
            guard let pos = row[0].int, let person = row[1].text, let sealed = row[2].text, let fields = row[3].text else { continue }
            fragments[person, default: []].append((pos, sealed, fields))
        }
        let protected = Dictionary(protection.compactMap { row in row[0].text.map { ($0, row[1].int == 1) } }, uniquingKeysWith: { $1 })
        let subjects = try people.compactMap { row in try row[0].text.map { try SubjectID($0) } }
        let keys = try await keyRing.openingKeys(for: subjects, in: tenant)
        var result: [String: PersonEntry] = [:]
        for row in people {
            guard let id = row[0].text, let kind = row[1].text.flatMap(PersonKind.init(rawValue:)), let registered = row[2].int else { continue }
            var details: PersonDetails?
            var erased = false
            for (_, sealed, fields) in (fragments[id] ?? []).sorted(by: { $0.0 < $1.0 }) {
                if fields == "*" {
                    guard let field = Personal<PersonDetails>(sealedText: sealed) else { continue }
                    let opened = try field.opened(with: keys)
                    erased = opened.isErased
                    details = opened.value
                } else if let current = details, let field = Personal<PersonDetailsPatch>(sealedText: sealed), let patch = try field.opened(with: keys).value {
                    details = patch.applied(to: current)
                }
            }
            result[id] = PersonEntry(id: id, kind: kind, nonDisclosure: protected[id] ?? false, details: erased ? nil : details, erased: erased,
                                     registeredAt: Timestamp(rawValue: registered))
        }
        return result
    }

    // MARK: Placements

    public struct PlacementEntry: Sendable, Hashable {
        public let child: String
        public let id: String
        public let unit: String
        public let arrangement: Arrangement
        public let start: LocalDate
        /// The end as last set, or the planned end.
        public let end: LocalDate?
        /// Service needs from their dates, in date order.
        public let serviceNeeds: [(from: LocalDate, need: ServiceNeed)]

        public func covers(_ date: LocalDate) -> Bool { start <= date && (end.map { date <= $0 } ?? true) }
        public func overlaps(_ from: LocalDate, _ to: LocalDate) -> Bool { start <= to && (end.map { from <= $0 } ?? true) }

        /// The service need in force on a date, and the date it took effect.
        public func serviceNeed(on date: LocalDate) -> (from: LocalDate, need: ServiceNeed)? { serviceNeeds.last { $0.from <= date } ?? serviceNeeds.first }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.child == rhs.child && lhs.id == rhs.id && lhs.unit == rhs.unit && lhs.arrangement == rhs.arrangement && lhs.start == rhs.start
                && lhs.end == rhs.end && lhs.serviceNeeds.map(\.from) == rhs.serviceNeeds.map(\.from) && lhs.serviceNeeds.map(\.need) == rhs.serviceNeeds.map(\.need)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(child)
            hasher.combine(id)
        }
    }

    /// Placements matching the conditions on the placements table, with their ends and service needs.
    func placements(where conditions: [ReadModelCondition], tenant: TenantID) async throws -> [PlacementEntry] {
        let placementRows = try await store.read([ReadModelQuery(Self.placements, Placements.placements, where: conditions)], tenant: tenant)[0]
        let children = Set(placementRows.compactMap { $0[0].text }).sorted().map(ReadModelValue.text)
        guard !children.isEmpty else { return [] }
        let more = try await store.read([
            ReadModelQuery(Self.placements, Placements.ends, where: [.oneOf("child", children)]),
            ReadModelQuery(Self.placements, Placements.serviceNeeds, where: [.oneOf("child", children)]),
        ], tenant: tenant)
        return Self.combinePlacements(placementRows, ends: more[0], serviceNeeds: more[1])
    }

    static func combinePlacements(_ rows: [ReadModelRow], ends: [ReadModelRow], serviceNeeds: [ReadModelRow]) -> [PlacementEntry] {
        var endOf: [String: LocalDate] = [:]
        for row in ends {
            if let placement = row[1].text, let end = row[2].text.flatMap({ try? LocalDate($0) }) { endOf[placement] = end }
        }
        var needs: [String: [(from: LocalDate, need: ServiceNeed)]] = [:]
        for row in serviceNeeds {
            guard let placement = row[1].text, let from = row[2].text.flatMap({ try? LocalDate($0) }), let hours = row[3].int else { continue }
            needs[placement, default: []].append((from, ServiceNeed(hoursPerWeek: Int(hours), shiftCare: row[4].int == 1)))
        }
        return rows.compactMap { row -> PlacementEntry? in
            guard let child = row[0].text, let id = row[1].text, let unit = row[2].text, let arrangement = row[3].text.flatMap(Arrangement.init(rawValue:)),
                  let start = row[4].text.flatMap({ try? LocalDate($0) }) else { return nil }
            let planned = row[5].text.flatMap { try? LocalDate($0) }
            return PlacementEntry(child: child, id: id, unit: unit, arrangement: arrangement, start: start, end: endOf[id] ?? planned,
                                  serviceNeeds: (needs[id] ?? []).sorted { $0.from < $1.from })
        }
        .sorted { ($0.child, $0.start, $0.id) < ($1.child, $1.start, $1.id) }
    }

    // MARK: A unit's roster for a date

    public struct RosterEntry: Sendable {
        public let child: PersonEntry
        public let placement: PlacementEntry
        public let serviceNeed: (from: LocalDate, need: ServiceNeed)?
        public let booking: (start: LocalTime, end: LocalTime)?
        public let guardians: [PersonEntry]
    }

    /// The children placed in a unit on a date, their service need and booked time that day, and their guardians.
    public func roster(unit: String, on date: LocalDate, tenant: TenantID) async throws -> [RosterEntry] {
        let placed = try await placements(where: [.equals("unit", .text(unit)), .between("start", nil, .text(date.description))], tenant: tenant)
            .filter { $0.covers(date) }
        let children = Set(placed.map(\.child))
        guard !children.isEmpty else { return [] }
        let childKeys = children.sorted().map(ReadModelValue.text)
        let rows = try await store.read([
            ReadModelQuery(Self.attendance, Attendance.careTimes, where: [.oneOf("child", childKeys), .equals("day", .text(date.description))]),
            ReadModelQuery(Self.people, People.relationships, where: [.oneOf("child", childKeys), .equals("kind", .text(RelationshipKind.guardian.rawValue))]),
        ], tenant: tenant)
        var bookings: [String: (LocalTime, LocalTime)] = [:]
        for row in rows[0] {
            if let child = row[0].text, let start = row[2].int.flatMap({ try? LocalTime(minutes: Int($0)) }), let end = row[3].int.flatMap({ try? LocalTime(minutes: Int($0)) }) {
                bookings[child] = (start, end)
            }
        }
        var guardiansOf: [String: [String]] = [:]
        for row in rows[1] {
            if let child = row[0].text, let person = row[1].text { guardiansOf[child, default: []].append(person) }
        }
        let everyone = try await people(children.union(guardiansOf.values.joined()), tenant: tenant)
        return placed.compactMap { placement -> RosterEntry? in
            guard let child = everyone[placement.child] else { return nil }
            let guardians = (guardiansOf[placement.child] ?? []).compactMap { everyone[$0] }.sorted { Self.sortName($0) < Self.sortName($1) }
            return RosterEntry(child: child, placement: placement, serviceNeed: placement.serviceNeed(on: date),
                               booking: bookings[placement.child].map { (start: $0.0, end: $0.1) }, guardians: guardians)
        }
        .sorted { Self.sortName($0.child) < Self.sortName($1.child) }
    }

    /// Sorting by name happens after opening (a unit's roster is small); erased people sort last.
    static func sortName(_ person: PersonEntry) -> String {
        person.details.map { "\($0.name.last.lowercased()) \($0.name.first.lowercased())" } ?? "\u{10FFFF}\(person.id)"
    }

    // MARK: A child's overview

    public struct ChildOverview: Sendable {
        public let child: PersonEntry
        public let placements: [PlacementEntry]
        public let related: [(relationship: RelationshipKind, person: PersonEntry)]
        public let consents: [ConsentEntry]
    }

    public struct ConsentEntry: Sendable, Hashable {
        public let subject: String
        public let purpose: String
        public let validFrom: LocalDate
        public let givenBy: String?
        public let givenAt: Timestamp
    }

    /// A child's placement history, service needs, linked people and consents in force; nil when the child is not in the read model.
    public func childOverview(_ child: String, tenant: TenantID) async throws -> ChildOverview? {
        let rows = try await store.read([
            ReadModelQuery(Self.people, People.relationships, where: [.equals("child", .text(child))]),
            ReadModelQuery(Self.people, People.consents, where: [.equals("subject", .text(child))]),
        ], tenant: tenant)
        let related = rows[0].compactMap { row -> (RelationshipKind, String)? in
            guard let person = row[1].text, let kind = row[2].text.flatMap(RelationshipKind.init(rawValue:)) else { return nil }
            return (kind, person)
        }
        let everyone = try await people(Set(related.map(\.1) + [child]), tenant: tenant)
        guard let entry = everyone[child], entry.kind == .child else { return nil }
        let placements = try await placements(where: [.equals("child", .text(child))], tenant: tenant)
        return ChildOverview(child: entry, placements: placements,
                             related: related.compactMap { kind, id in everyone[id].map { (kind, $0) } }.sorted { ($0.0.rawValue, $0.1.id) < ($1.0.rawValue, $1.1.id) },
                             consents: Self.consents(rows[1]))
    }

    static func consents(_ rows: [ReadModelRow]) -> [ConsentEntry] {
        rows.compactMap { row -> ConsentEntry? in
            guard let subject = row[0].text, let purpose = row[1].text, let from = row[2].text.flatMap({ try? LocalDate($0) }), let at = row[4].int else { return nil }
            return ConsentEntry(subject: subject, purpose: purpose, validFrom: from, givenBy: row[3].text, givenAt: Timestamp(rawValue: at))
        }
        .sorted { ($0.subject, $0.purpose) < ($1.subject, $1.purpose) }
    }

    // MARK: Consents in force

    /// Consents in force, for one subject, one purpose, or both.
    public func consents(subject: String? = nil, purpose: String? = nil, tenant: TenantID) async throws -> [ConsentEntry] {
        var conditions: [ReadModelCondition] = []
        if let subject { conditions.append(.equals("subject", .text(subject))) }
        if let purpose { conditions.append(.equals("purpose", .text(purpose))) }
        return Self.consents(try await store.read([ReadModelQuery(Self.people, People.consents, where: conditions)], tenant: tenant)[0])
    }
}
