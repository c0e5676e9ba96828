import EventLog
import Foundation

// What a feed item carries and whether it may leave: the rules a `FeedReader` page applies to each event (scope,
// consent, erasure, non-disclosure orders), and the item's data — plain, or shaped as the care-relationship records
// Kela reads. Kept apart from the paging, cursors and disclosure records in FeedReader.swift.

extension FeedReader {
    /// For a unit-scoped feed, whether this event is the unit's business: placements in its units, attendance on the
    /// days such a placement covers (and arrivals and departures at its units), and the child's details and consents
    /// only while such a placement is current or upcoming. A producer learns nothing of the child's time elsewhere.
    func inScope(_ event: RecordedEvent, _ feed: FeedDefinition, _ record: PersonRecord) throws -> Bool {
        guard let units = feed.units else { return true }
        let mine = record.placements.filter { units.contains($0.unit) }
        let decoder = Self.decoder
        switch event.eventType {
        case PlacementMade.eventType:
            return units.contains(try decoder.decode(PlacementMade.self, from: event.payload).unit)
        case PlacementEnded.eventType:
            let id = try decoder.decode(PlacementEnded.self, from: event.payload).placement
            return mine.contains { $0.id == id }
        case ServiceNeedChanged.eventType:
            let id = try decoder.decode(ServiceNeedChanged.self, from: event.payload).placement
            return mine.contains { $0.id == id }
        case ArrivalRecorded.eventType, DepartureRecorded.eventType:
            let mark = try decoder.decode(ArrivalRecorded.self, from: event.payload)
            return units.contains(mark.unit) && mine.contains { $0.covers(mark.date) }
        case CareTimeBooked.eventType:
            let date = try decoder.decode(CareTimeBooked.self, from: event.payload).date
            return mine.contains { $0.covers(date) }
        case AbsenceMarked.eventType:
            let date = try decoder.decode(AbsenceMarked.self, from: event.payload).date
            return mine.contains { $0.covers(date) }
        default:
            let today = LocalDate.today(at: registry.now())
            return mine.contains { $0.isCurrentOrUpcoming(on: today) }
        }
    }

    /// Whether the feed may carry this person's data now: in scope, consent in force, not erased.
    func allows(_ feed: FeedDefinition, _ record: PersonRecord) -> Bool {
        if record.isErased { return false }
        if let units = feed.units {
            guard record.kind == .child, record.placements.contains(where: { units.contains($0.unit) }) else { return false }
        }
        if let purpose = feed.consentPurpose, record.consents[purpose]?.inForce != true { return false }
        return true
    }

    /// A placement event as a care-relationship record (the `care-relationships` shape): what kind of record it is,
    /// from the placement as it stood before the event, and the child's identity when the feed carries it.
    ///
    /// - Returns: the item's data, and the person's events that supplied its identity fields with the fields each supplied.
    func careRelationship(of event: RecordedEvent, for feed: FeedDefinition, record: PersonRecord,
                          in tenant: TenantID) async throws -> ([String: FeedValue], [(RecordedEvent, [FeedField])])? {
        let decoder = Self.decoder
        var data: [String: FeedValue] = [:]
        let stream = try await store.readStream(event.stream, of: tenant)
        switch event.eventType {
        case PlacementMade.eventType:
            let made = try decoder.decode(PlacementMade.self, from: event.payload)
            data["record"] = .string(made.end == nil ? "started" : "fixed-term")
            data["placement"] = .string(made.placement.lowercasedString)
            data["unit"] = .string(made.unit)
            data["arrangement"] = .string(made.arrangement.rawValue)
            data["start"] = .string(made.start.description)
            if let end = made.end { data["end"] = .string(end.description) }
        case PlacementEnded.eventType:
            let ended = try decoder.decode(PlacementEnded.self, from: event.payload)
            // The placement as it stood before this event: its start, and the end this one replaces (if any).
            var start: LocalDate?, unit: String?, arrangement: Arrangement?, previousEnd: LocalDate?
            for earlier in stream where earlier.streamVersion < event.streamVersion {
                if earlier.eventType == PlacementMade.eventType, let made = try? decoder.decode(PlacementMade.self, from: earlier.payload),
                   made.placement == ended.placement {
                    (start, unit, arrangement, previousEnd) = (made.start, made.unit, made.arrangement, made.end)
                } else if earlier.eventType == PlacementEnded.eventType, let before = try? decoder.decode(PlacementEnded.self, from: earlier.payload),
                          before.placement == ended.placement {
                    previousEnd = before.end
                }
            }
            guard let start, let unit, let arrangement else { return nil }
            data["record"] = .string(previousEnd == nil ? "ended" : "correction")
            data["placement"] = .string(ended.placement.lowercasedString)
            data["unit"] = .string(unit)
            data["arrangement"] = .string(arrangement.rawValue)
            data["start"] = .string(start.description)
            data["end"] = .string(ended.end.description)
            if let previousEnd { data["originalEnd"] = .string(previousEnd.description) }
        default:
            return nil
        }
        // The child's identity as the register holds it now, and which events set it: the registration (identity
        // code, birth date, name) and the last change or rectification of the name.
        var sources: [(RecordedEvent, [FeedField])] = []
        if let details = record.details {
            if let code = details.identityCode { data["identityCode"] = .string(code) }
            data["name"] = .object(["first": .string(details.name.first), "last": .string(details.name.last)])
            if let birthDate = details.birthDate { data["birthDate"] = .string(birthDate.description) }
            var nameSetBy: RecordedEvent?
            for source in stream {
                switch source.eventType {
                case PersonRegistered.eventType:
                    nameSetBy = source
                    sources.append((source, [.identityCode, .birthDate].filter { feed.fields.contains($0) && data[$0.rawValue] != nil }))
                case PersonDetailsChanged.eventType where (try? decoder.decode(PersonDetailsChanged.self, from: source.payload))?.fields.contains(.name) == true,
                     PersonDetailsRectified.eventType where (try? decoder.decode(PersonDetailsRectified.self, from: source.payload))?.fields.contains(.name) == true:
                    nameSetBy = source
                default:
                    break
                }
            }
            if let nameSetBy, feed.fields.contains(.name) {
                if let index = sources.firstIndex(where: { $0.0.position == nameSetBy.position }) {
                    sources[index].1.append(.name)
                } else {
                    sources.append((nameSetBy, [.name]))
                }
            }
        }
        let allowed = Set(feed.fields.map(\.rawValue))
        return (data.filter { allowed.contains($0.key) }, sources)
    }

    /// Events whose data a non-disclosure order can hide (a person's details).
    static let detailEvents: Set<String> = [PersonRegistered.eventType, PersonDetailsChanged.eventType, PersonDetailsRectified.eventType]

    /// Plain (unsealed) payloads decode with one shared decoder: a decoder per event was a measurable share of a page.
    static let decoder = JSONDecoder()

    /// The item's data: the feed's fields that the event has, opened; protected fields only where allowed.
    func data(of event: RecordedEvent, for feed: FeedDefinition, record: PersonRecord) async throws -> [String: FeedValue]? {
        if !Self.detailEvents.contains(event.eventType) { return try data(of: event, for: feed, nonDisclosure: record.nonDisclosure) }
        var data: [String: FeedValue] = [:]
        func details(_ kind: PersonKind?, _ name: PersonName?, _ identityCode: String?, _ birthDate: LocalDate?, _ address: PostalAddress?,
                     _ municipality: MunicipalityCode?, _ motherTongue: String?, _ serviceLanguage: String?, _ phone: String?, _ email: String?) {
            if let kind { data["kind"] = .string(kind.rawValue) }
            if let name { data["name"] = .object(["first": .string(name.first), "last": .string(name.last)]) }
            if let identityCode { data["identityCode"] = .string(identityCode) }
            if let birthDate { data["birthDate"] = .string(birthDate.description) }
            if let address {
                data["address"] = .object(["street": .string(address.street), "postalCode": .string(address.postalCode), "city": .string(address.city)])
            }
            if let municipality { data["homeMunicipality"] = .string(municipality.description) }
            if let motherTongue { data["motherTongue"] = .string(motherTongue) }
            if let serviceLanguage { data["serviceLanguage"] = .string(serviceLanguage) }
            if let phone { data["phone"] = .string(phone) }
            if let email { data["email"] = .string(email) }
        }
        switch event.eventType {
        case PersonRegistered.eventType:
            let registered = try await keyRing.open(PersonRegistered.self, from: event)
            guard let d = registered.details.value else { return nil }
            details(registered.kind, d.name, d.identityCode, d.birthDate, d.address, d.homeMunicipality, d.motherTongue, d.serviceLanguage, d.phone, d.email)
        case PersonDetailsChanged.eventType:
            let changed = try await keyRing.open(PersonDetailsChanged.self, from: event)
            guard let p = changed.change.value else { return nil }
            details(nil, p.name, nil, nil, p.address, p.homeMunicipality, p.motherTongue, p.serviceLanguage, p.phone, p.email)
        case PersonDetailsRectified.eventType:
            // A rectification notice: the corrected values of the fields the partner receives.
            let rectified = try await keyRing.open(PersonDetailsRectified.self, from: event)
            guard let p = rectified.change.value else { return nil }
            details(nil, p.name, nil, nil, p.address, p.homeMunicipality, p.motherTongue, p.serviceLanguage, p.phone, p.email)
        default:
            return nil
        }
        return Self.allowed(data, feed, nonDisclosure: record.nonDisclosure)
    }

    /// The item's data of an event with a plain payload (placements, attendance, consents): nothing in it is protected
    /// by a non-disclosure order, so the subject's record is not needed.
    func data(of event: RecordedEvent, for feed: FeedDefinition, nonDisclosure: Bool) throws -> [String: FeedValue]? {
        var data: [String: FeedValue] = [:]
        let decoder = Self.decoder
        switch event.eventType {
        case PlacementMade.eventType:
            let made = try decoder.decode(PlacementMade.self, from: event.payload)
            data["placement"] = .string(made.placement.lowercasedString)
            data["unit"] = .string(made.unit)
            data["arrangement"] = .string(made.arrangement.rawValue)
            data["start"] = .string(made.start.description)
            if let end = made.end { data["end"] = .string(end.description) }
            data["serviceNeed"] = .object(["hoursPerWeek": .int(made.serviceNeed.hoursPerWeek), "shiftCare": .bool(made.serviceNeed.shiftCare)])
        case PlacementEnded.eventType:
            let ended = try decoder.decode(PlacementEnded.self, from: event.payload)
            data["placement"] = .string(ended.placement.lowercasedString)
            data["end"] = .string(ended.end.description)
        case ServiceNeedChanged.eventType:
            let changed = try decoder.decode(ServiceNeedChanged.self, from: event.payload)
            data["placement"] = .string(changed.placement.lowercasedString)
            data["serviceNeed"] = .object(["from": .string(changed.from.description), "hoursPerWeek": .int(changed.serviceNeed.hoursPerWeek),
                                           "shiftCare": .bool(changed.serviceNeed.shiftCare)])
        case CareTimeBooked.eventType:
            let booked = try decoder.decode(CareTimeBooked.self, from: event.payload)
            data["date"] = .string(booked.date.description)
            data["time"] = .object(["start": .string(booked.start.description), "end": .string(booked.end.description)])
        case ArrivalRecorded.eventType, DepartureRecorded.eventType:
            let mark = try decoder.decode(ArrivalRecorded.self, from: event.payload)
            data["date"] = .string(mark.date.description)
            data["time"] = .string(mark.time.description)
            data["unit"] = .string(mark.unit)
        case AbsenceMarked.eventType:
            let absence = try decoder.decode(AbsenceMarked.self, from: event.payload)
            data["date"] = .string(absence.date.description)
            data["absence"] = .string(absence.kind.rawValue)
        case ConsentGiven.eventType:
            data["purpose"] = .string(try decoder.decode(ConsentGiven.self, from: event.payload).purpose)
        case ConsentWithdrawn.eventType:
            data["purpose"] = .string(try decoder.decode(ConsentWithdrawn.self, from: event.payload).purpose)
        default:
            return nil
        }
        return Self.allowed(data, feed, nonDisclosure: nonDisclosure)
    }

    /// The feed's fields only; protected fields of a person under a non-disclosure order only to an entitled recipient.
    static func allowed(_ data: [String: FeedValue], _ feed: FeedDefinition, nonDisclosure: Bool) -> [String: FeedValue] {
        var allowed = Set(feed.fields.map(\.rawValue))
        if nonDisclosure && feed.protectedData != true {
            allowed.subtract(FeedField.protected.map(\.rawValue))
        }
        return data.filter { allowed.contains($0.key) }
    }
}
