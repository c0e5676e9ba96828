import EventLog
import Foundation

/// The register's commands and the reads they rest on: each command loads the streams it decides on, checks the
/// register's rules against them, and appends its events expecting those streams unchanged (retrying on a race).
///
/// Authorisation is not done here: the API checks the caller's permissions and units before calling.
public struct Registry: Sendable {
    public let store: any EventStore
    public let keyRing: KeyRing
    /// Folded person records of this registry's reads, kept in memory.
    let records = PersonRecordCache()
    /// Feed items built for one partner and reused for the others (positions are immutable within one log, so the
    /// cache belongs to the registry of that log, never to the process).
    let feedItems = FeedItemCache()
    /// The tenants' restrictions of processing (O21), read forward from where the last check left off.
    let restrictionCache = RestrictionCache()
    /// The clock commands read "today" from (tests pin it).
    public let now: @Sendable () -> Date

    public init(store: any EventStore, keyRing: KeyRing, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.keyRing = keyRing
        self.now = now
    }

    static let attempts = 4

    // MARK: Reads

    /// The person an identity code belongs to in this tenant, if any.
    public func person(withIdentityCode code: String, in tenant: TenantID) async throws -> PersonID? {
        let index = try await keyRing.blindIndex(code, kind: .identityCode, in: tenant)
        let claims = try await store.readStream(RegisterStreams.identity(index), of: tenant, afterVersion: 0, limit: 1)
        guard let claim = claims.first else { return nil }
        return try JSONDecoder().decode(IdentityCodeClaimed.self, from: claim.payload).person
    }

    /// A child's attendance in one month (`YYYY-MM`).
    public func attendance(of child: PersonID, month: String, in tenant: TenantID) async throws -> AttendanceMonth {
        let events = try await store.readStream(RegisterStreams.attendance(child, month: month), of: tenant)
        return try AttendanceMonth.fold(events, child: child, month: month)
    }

    // MARK: People

    /// Registers a person; a person whose identity code is already registered in the tenant is refused.
    /// - Parameter storesProtectedAddresses: false for a register that stores no address of a person under a
    ///   non-disclosure order (the tenant file's `protectedAddresses: not-stored`): such a person's address is dropped.
    @discardableResult
    public func register(_ kind: PersonKind, details: PersonDetails, nonDisclosure: Bool = false, source: DataSource, id: PersonID = .random(),
                         storesProtectedAddresses: Bool = true, in tenant: TenantID, by metadata: EventMetadata) async throws -> PersonID {
        var details = try Check.details(details, kind: kind, today: now())
        if nonDisclosure, !storesProtectedAddresses { details.address = nil }
        let personStream = RegisterStreams.person(id)
        for _ in 1...Self.attempts {
            var events: [ProposedEvent] = []
            var expecting: [StreamRef: ExpectedVersion] = [personStream: .noStream]
            if let code = details.identityCode {
                let index = try await keyRing.blindIndex(code, kind: .identityCode, in: tenant)
                if try await person(withIdentityCode: code, in: tenant) != nil {
                    throw DomainError(.conflict, "person-exists", "A person with this identity code is already in the register.", field: "details.identityCode")
                }
                let claim = try JSONEncoder().encode(IdentityCodeClaimed(person: id))
                events.append(ProposedEvent(stream: RegisterStreams.identity(index), eventType: IdentityCodeClaimed.eventType, subjects: [id], payload: claim))
                expecting[RegisterStreams.identity(index)] = .noStream
            }
            let payload = try await keyRing.seal(PersonRegistered(kind: kind, details: .clear(details, subject: id), nonDisclosure: nonDisclosure, source: source),
                                                 subjects: [id], in: tenant)
            events.insert(ProposedEvent(stream: personStream, eventType: PersonRegistered.eventType, subjects: [id], payload: payload), at: 0)
            do {
                _ = try await store.append(events, to: tenant, metadata: metadata, expecting: expecting)
                return id
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                if (try? await personStructure(id, in: tenant)) != nil {
                    throw DomainError(.conflict, "person-exists", "A person with this id is already in the register.", field: "id")
                }
            }
        }
        throw Self.contended()
    }

    /// Changes some of a person's details.
    /// - Parameter storesProtectedAddresses: false where no address of a person under a non-disclosure order is stored:
    ///   giving one is refused (`address-not-stored`).
    public func changeDetails(of id: PersonID, _ patch: PersonDetailsPatch, source: DataSource, reference: String? = nil,
                              storesProtectedAddresses: Bool = true, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let patch = try Check.patch(patch)
        try await execute(on: id, in: tenant, by: metadata) { record in
            try Self.refuseErased(record)
            if record.nonDisclosure, !storesProtectedAddresses, patch.address != nil {
                throw DomainError(.rule, "address-not-stored",
                                  "This register stores no address of a person under a non-disclosure order.", field: "address")
            }
            let changed = PersonDetailsChanged(change: .clear(patch, subject: id), fields: patch.fields, source: source, reference: reference)
            return [try await event(id, changed, subjects: [id], in: tenant)]
        }
    }

    /// Places or lifts a non-disclosure order. Where protected addresses are not stored, placing one also clears the
    /// address (its earlier events stay sealed in the log, and are shredded with the person).
    public func setNonDisclosure(of id: PersonID, to protected: Bool, source: DataSource, reference: String? = nil, storesProtectedAddresses: Bool = true,
                                 in tenant: TenantID, by metadata: EventMetadata) async throws {
        try await execute(on: id, in: tenant, by: metadata) { record in
            guard record.nonDisclosure != protected else { return [] }
            var events = [try await event(id, NonDisclosureChanged(nonDisclosure: protected, source: source, reference: reference), subjects: [id], in: tenant)]
            // The record here is unopened: whether an address is stored needs the opened details.
            if protected, !storesProtectedAddresses, try await person(id, in: tenant).details?.address != nil {
                let cleared = PersonDetailsPatch(cleared: [.address])
                events.append(try await event(id, PersonDetailsChanged(change: .clear(cleared, subject: id), fields: cleared.fields, source: source, reference: reference),
                                              subjects: [id], in: tenant))
            }
            return events
        }
    }

    /// Links a guardian, trustee, representative or family member to a child.
    public func addRelationship(_ kind: RelationshipKind, of person: PersonID, to child: PersonID, source: DataSource,
                                in tenant: TenantID, by metadata: EventMetadata) async throws {
        guard person != child else { throw DomainError.invalid("person", "a person cannot be linked to themselves") }
        let other = try await personStructure(person, in: tenant)
        try Self.refuseErased(other)
        if kind != .familyMember, other.kind == .child {
            throw DomainError(.rule, "not-an-adult", "A child cannot be another child's \(kind.rawValue).", field: "person")
        }
        try await execute(on: child, in: tenant, by: metadata) { record in
            try Self.requireChild(record)
            guard !record.isLinked(person, as: [kind]) else { return [] }
            return [try await event(child, RelationshipAdded(person: person, relationship: kind, source: source), subjects: [child, person], in: tenant)]
        }
    }

    public func endRelationship(_ kind: RelationshipKind, of person: PersonID, to child: PersonID, in tenant: TenantID, by metadata: EventMetadata) async throws {
        try await execute(on: child, in: tenant, by: metadata) { record in
            guard record.isLinked(person, as: [kind]) else {
                throw DomainError(.notFound, "not-found", "This person is not linked to the child as \(kind.rawValue).")
            }
            return [try await event(child, RelationshipEnded(person: person, relationship: kind), subjects: [child, person], in: tenant)]
        }
    }

    // MARK: Applications, placements, service needs

    @discardableResult
    public func submitApplication(for child: PersonID, preferredUnits: [String], desiredStart: LocalDate, serviceNeed: ServiceNeed, urgent: Bool,
                                  source: DataSource, configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws -> UUID {
        guard (1...5).contains(preferredUnits.count) else { throw DomainError.invalid("preferredUnits", "an application names 1 to 5 preferred units") }
        for (index, unit) in preferredUnits.enumerated() { _ = try Self.unit(unit, in: configuration, field: "preferredUnits[\(index)]") }
        let need = try Check.serviceNeed(serviceNeed, field: "serviceNeed")
        let id = UUID()
        try await execute(on: child, in: tenant, by: metadata) { record in
            try Self.requireChild(record)
            let submitted = ApplicationSubmitted(application: id, preferredUnits: preferredUnits, desiredStart: desiredStart, serviceNeed: need,
                                                 urgent: urgent, source: source)
            return [try await event(child, submitted, subjects: [child], in: tenant)]
        }
        return id
    }

    /// Places a child in a unit: the unit must offer the arrangement, the end may not precede the start, and the
    /// placement may not share a day with the child's other placements.
    @discardableResult
    public func place(_ child: PersonID, unit: String, arrangement: Arrangement, start: LocalDate, end: LocalDate?, serviceNeed: ServiceNeed,
                      application: UUID? = nil, configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws -> UUID {
        let definition = try Self.unit(unit, in: configuration, field: "unit")
        guard definition.arrangements.contains(arrangement) else {
            throw DomainError(.rule, "arrangement-not-offered", "Unit \(unit) does not offer the arrangement \(arrangement.rawValue).", field: "arrangement")
        }
        if let end, end < start { throw DomainError(.rule, "placement-dates", "A placement ends on or after its start.", field: "end") }
        let need = try Check.serviceNeed(serviceNeed, field: "serviceNeed")
        let id = UUID()
        try await execute(on: child, in: tenant, by: metadata) { record in
            try Self.requireChild(record)
            if let other = record.placements.first(where: { $0.overlaps(start: start, end: end) }) {
                throw DomainError(.rule, "placement-overlaps",
                                  "The child is already placed in \(other.unit) from \(other.start)\(other.end.map { " to \($0)" } ?? " on"); placements may not overlap.",
                                  field: "start")
            }
            if let application, !record.applications.contains(where: { $0.id == application }) {
                throw DomainError(.notFound, "not-found", "The child has no such application.", field: "application")
            }
            let made = PlacementMade(placement: id, unit: unit, arrangement: arrangement, start: start, end: end, serviceNeed: need, application: application)
            return [try await event(child, made, subjects: [child], in: tenant)]
        }
        return id
    }

    /// Sets or moves a placement's end; it may not precede the start nor reach into the child's next placement.
    public func endPlacement(_ placement: UUID, of child: PersonID, on end: LocalDate, in tenant: TenantID, by metadata: EventMetadata) async throws {
        try await execute(on: child, in: tenant, by: metadata) { record in
            let current = try Self.placement(placement, of: record)
            guard end >= current.start else { throw DomainError(.rule, "placement-dates", "A placement ends on or after its start (\(current.start)).", field: "end") }
            if record.placements.contains(where: { $0.id != placement && $0.overlaps(start: current.start, end: end) }) {
                throw DomainError(.rule, "placement-overlaps", "With this end the placement would overlap the child's next placement.", field: "end")
            }
            return [try await event(child, PlacementEnded(placement: placement, end: end), subjects: [child], in: tenant)]
        }
    }

    /// Changes a placement's service need from a date within it.
    public func changeServiceNeed(of placement: UUID, child: PersonID, from date: LocalDate, to need: ServiceNeed,
                                  in tenant: TenantID, by metadata: EventMetadata) async throws {
        let need = try Check.serviceNeed(need, field: "serviceNeed")
        try await execute(on: child, in: tenant, by: metadata) { record in
            let current = try Self.placement(placement, of: record)
            guard current.covers(date) else {
                throw DomainError(.rule, "outside-placement", "The change takes effect within the placement (from \(current.start)).", field: "from")
            }
            return [try await event(child, ServiceNeedChanged(placement: placement, from: date, serviceNeed: need), subjects: [child], in: tenant)]
        }
    }

    // MARK: Consents and the family's own information

    public func giveConsent(_ purpose: String, for person: PersonID, givenBy: PersonID?, validFrom: LocalDate? = nil,
                            in tenant: TenantID, by metadata: EventMetadata) async throws {
        let purpose = try Check.code(purpose, field: "purpose")
        try await execute(on: person, in: tenant, by: metadata) { record in
            try Self.refuseErased(record)
            if record.kind == .child, givenBy == nil {
                throw DomainError(.rule, "not-a-guardian", "A child's consent is given by a guardian, trustee or representative: name them.", field: "givenBy")
            }
            if let givenBy, !record.isLinked(givenBy, as: [.guardian, .trustee, .representative]) {
                throw DomainError(.rule, "not-a-guardian", "A consent for another person is given by their guardian, trustee or representative.", field: "givenBy")
            }
            if record.consents[purpose]?.inForce == true { return [] }
            let given = ConsentGiven(purpose: purpose, givenBy: givenBy, validFrom: validFrom ?? LocalDate.today(at: now()))
            return [try await event(person, given, subjects: [person] + (givenBy.map { [$0] } ?? []), in: tenant)]
        }
    }

    public func withdrawConsent(_ purpose: String, for person: PersonID, withdrawnBy: PersonID?, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let purpose = try Check.code(purpose, field: "purpose")
        // Withdrawing consent is the subject's right at any time (O8), a restriction of processing included.
        try await execute(on: person, in: tenant, by: metadata, whileRestricted: true) { record in
            guard record.consents[purpose]?.inForce == true else {
                throw DomainError(.notFound, "not-found", "No consent for \(purpose) is in force.", field: "purpose")
            }
            if let withdrawnBy, !record.isLinked(withdrawnBy, as: [.guardian, .trustee, .representative]) {
                throw DomainError(.rule, "not-a-guardian", "A consent for another person is withdrawn by their guardian, trustee or representative.", field: "withdrawnBy")
            }
            return [try await event(person, ConsentWithdrawn(purpose: purpose, withdrawnBy: withdrawnBy), subjects: [person] + (withdrawnBy.map { [$0] } ?? []), in: tenant)]
        }
    }

    public func recordCareInformation(_ information: CareInformation, for child: PersonID, source: DataSource,
                                      in tenant: TenantID, by metadata: EventMetadata) async throws {
        let checked = CareInformation(allergies: try Check.optionalText(information.allergies, field: "allergies", limit: 1000),
                                      diet: try Check.optionalText(information.diet, field: "diet", limit: 1000),
                                      notes: try Check.optionalText(information.notes, field: "notes", limit: 2000))
        try await execute(on: child, in: tenant, by: metadata) { record in
            try Self.requireChild(record)
            return [try await event(child, CareInformationRecorded(information: .clear(checked, subject: child), source: source), subjects: [child], in: tenant)]
        }
    }

    // MARK: Attendance

    public func bookCareTime(for child: PersonID, on date: LocalDate, from start: LocalTime, to end: LocalTime,
                             in tenant: TenantID, by metadata: EventMetadata, knowing known: PersonReading? = nil) async throws {
        guard start < end else { throw DomainError(.rule, "care-time-order", "A booked care time ends after it starts.", field: "end") }
        try await recordAttendance(of: child, on: date, in: tenant, by: metadata, knowing: known) { record, day in
            guard record.placement(on: date) != nil else { throw Self.notPlaced(date) }
            if day.absence != nil { throw DomainError(.rule, "absent-that-day", "The child is marked absent on \(date).", field: "date") }
            return (CareTimeBooked.eventType, try Self.encode(CareTimeBooked(date: date, start: start, end: end)))
        }
    }

    /// An arrival: only during a placement in that unit, not on a day marked absent, not while already present.
    public func recordArrival(of child: PersonID, on date: LocalDate, at time: LocalTime, unit: String,
                              in tenant: TenantID, by metadata: EventMetadata, knowing known: PersonReading? = nil) async throws {
        try await recordAttendance(of: child, on: date, in: tenant, by: metadata, knowing: known) { record, day in
            guard let placement = record.placement(on: date), placement.unit == unit else {
                throw DomainError(.rule, "not-placed", "The child has no placement in unit \(unit) on \(date).", field: "unit")
            }
            if day.absence != nil { throw DomainError(.rule, "absent-that-day", "The child is marked absent on \(date).", field: "date") }
            if let last = day.visits.last {
                guard let departure = last.departure else { throw DomainError(.rule, "already-present", "The child arrived at \(last.arrival) and has not left.", field: "time") }
                guard departure <= time else { throw DomainError(.rule, "attendance-order", "An arrival comes after the previous departure (\(departure)).", field: "time") }
            }
            return (ArrivalRecorded.eventType, try Self.encode(ArrivalRecorded(date: date, time: time, unit: unit)))
        }
    }

    /// A departure: after an arrival the same day, at or after its time.
    public func recordDeparture(of child: PersonID, on date: LocalDate, at time: LocalTime, in tenant: TenantID, by metadata: EventMetadata,
                                knowing known: PersonReading? = nil) async throws {
        try await recordAttendance(of: child, on: date, in: tenant, by: metadata, knowing: known) { _, day in
            guard let visit = day.visits.last, visit.departure == nil else {
                throw DomainError(.rule, "no-arrival", "The child has no arrival without a departure on \(date).", field: "date")
            }
            guard visit.arrival <= time else {
                throw DomainError(.rule, "attendance-order", "A departure comes after the arrival (\(visit.arrival)).", field: "time")
            }
            return (DepartureRecorded.eventType, try Self.encode(DepartureRecorded(date: date, time: time, unit: visit.unit)))
        }
    }

    /// An absence: during a placement, and not on a day the child attended.
    public func markAbsence(of child: PersonID, on date: LocalDate, kind: AbsenceKind, in tenant: TenantID, by metadata: EventMetadata,
                            knowing known: PersonReading? = nil) async throws {
        try await recordAttendance(of: child, on: date, in: tenant, by: metadata, knowing: known) { record, day in
            guard record.placement(on: date) != nil else { throw Self.notPlaced(date) }
            if day.isPresent { throw DomainError(.rule, "present-that-day", "The child attended on \(date); the day cannot be marked absent.", field: "date") }
            if day.absence == kind { return nil }
            return (AbsenceMarked.eventType, try Self.encode(AbsenceMarked(date: date, kind: kind)))
        }
    }

    /// Loads the child's record (placements) and the month's attendance, decides, and appends to the month's stream
    /// expecting both streams unchanged, so a placement ended meanwhile cannot slip past the rules.
    /// - Parameter known: what the caller just read of the child (`personReading`), to save reading it again on the
    ///   first attempt; with the day's month among its streams, read in the same snapshot, that attempt reads
    ///   nothing more. The append's expected versions still guard all three.
    private func recordAttendance(of child: PersonID, on date: LocalDate, in tenant: TenantID, by metadata: EventMetadata, knowing known: PersonReading?,
                                  decide: (PersonRecord, AttendanceMonth.AttendanceDay) throws -> (String, Data)?) async throws {
        guard date <= LocalDate.today(at: now()).adding(days: 366) else {
            throw DomainError.invalid("date", "date is more than a year ahead")
        }
        let stream = RegisterStreams.attendance(child, month: date.monthKey)
        for attempt in 1...Self.attempts {
            let first = attempt == 1 ? known.flatMap { $0.record.id == child ? $0 : nil } : nil
            let record: PersonRecord
            if let first { record = first.record } else { record = try await personStructure(child, in: tenant) }
            try Self.requireChild(record)
            try Self.refuseErased(record)
            let restrictions: ExpectedVersion
            let events: [RecordedEvent]
            if let first, let month = first.streams[stream] {
                // Read with the child, in the same snapshot.
                restrictions = try Self.refuseRestricted(child, (first.restrictionsVersion, first.restrictions))
                events = month
            } else {
                // The restrictions and the month in one read.
                let cached = restrictionCache.get(tenant)
                let pages = try await store.readStreams([StreamRead(RestrictionStreams.all, afterVersion: cached.version), StreamRead(stream)], of: tenant, limit: Self.page)
                restrictions = try Self.refuseRestricted(child, try await advanceRestrictions(cached, pages[0], in: tenant))
                events = try await rest(of: stream, pages[1], in: tenant)
            }
            let month = try AttendanceMonth.fold(events, child: child, month: date.monthKey, day: date)
            guard let (type, payload) = try decide(record, month.days[date] ?? .init()) else { return }
            do {
                _ = try await store.append([ProposedEvent(stream: stream, eventType: type, subjects: [child], payload: payload)], to: tenant, metadata: metadata,
                                           expecting: [stream: month.version == 0 ? .noStream : .exact(month.version),
                                                       RegisterStreams.person(child): .exact(record.version), RestrictionStreams.all: restrictions])
                return
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                // Someone changed the streams in between: decide again on what they wrote, a few times at most.
                continue
            }
        }
        throw Self.contended()
    }

    // MARK: Helpers

    /// Runs a command on one person's stream: load, decide, append expecting the version read; on a race, again.
    /// - Parameter whileRestricted: the command records the handling of the subject's own request (a refusal), which
    ///   a restriction of processing does not stop; every other change is refused while one is in force (O21).
    func execute(on id: PersonID, in tenant: TenantID, by metadata: EventMetadata, whileRestricted: Bool = false,
                         decide: (PersonRecord) async throws -> [ProposedEvent]) async throws {
        for _ in 1...Self.attempts {
            let record = try await personStructure(id, in: tenant)
            try Self.refuseErased(record)
            var expecting: [StreamRef: ExpectedVersion] = [RegisterStreams.person(id): .exact(record.version)]
            if !whileRestricted { expecting[RestrictionStreams.all] = try await refuseRestricted(id, in: tenant) }
            let events = try await decide(record)
            guard !events.isEmpty else { return }
            do {
                _ = try await store.append(events, to: tenant, metadata: metadata, expecting: expecting)
                return
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                // Someone changed the streams in between: decide again on what they wrote, a few times at most.
                continue
            }
        }
        throw Self.contended()
    }

    func event<Payload: RegisterEvent>(_ person: PersonID, _ payload: Payload, subjects: [PersonID], in tenant: TenantID) async throws -> ProposedEvent {
        ProposedEvent(stream: RegisterStreams.person(person), eventType: Payload.eventType, schemaVersion: Payload.schemaVersion, subjects: subjects,
                      payload: try await keyRing.seal(payload, subjects: subjects, in: tenant))
    }

    private static func encode<Payload: Encodable>(_ payload: Payload) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(payload)
    }

    static func requireChild(_ record: PersonRecord) throws(DomainError) {
        guard record.kind == .child else { throw DomainError(.rule, "not-a-child", "This applies to children only.") }
    }

    private static func refuseErased(_ record: PersonRecord) throws(DomainError) {
        guard !record.isErased else { throw DomainError(.rule, "erased", "This person's data has been erased; nothing new can be recorded.") }
    }

    private static func unit(_ code: String, in configuration: TenantConfiguration, field: String) throws(DomainError) -> Unit {
        guard let unit = configuration.units.first(where: { $0.code == code }) else {
            throw DomainError(.notFound, "unknown-unit", "The tenant has no unit \(code.prefix(64)).", field: field)
        }
        return unit
    }

    private static func placement(_ id: UUID, of record: PersonRecord) throws(DomainError) -> Placement {
        guard let placement = record.placements.first(where: { $0.id == id }) else {
            throw DomainError(.notFound, "not-found", "The child has no such placement.", field: "placement")
        }
        return placement
    }

    private static func notPlaced(_ date: LocalDate) -> DomainError {
        DomainError(.rule, "not-placed", "The child has no placement on \(date).", field: "date")
    }

    private static func contended() -> DomainError {
        DomainError(.conflict, "contended", "The record changed repeatedly while this change was being made; try again.")
    }
}
