import EventLog
import Foundation
import Register

// The register's read models. Each projection writes whole rows keyed by what the events name, and never reads:
// what must be combined (an arrival with its departure, a placement with its later end, a person's registration
// with later changes of details) is combined by `RegisterReadModels` when a read model is queried. Personal fields
// stay sealed exactly as the log holds them, so one shredded key reaches these tables too, and a rebuild never
// needs a key.

/// The register's projections, in the order they are run and listed.
public enum RegisterProjections {
    public static let all: [any Projection] = [PeopleProjection(), PlacementsProjection(), AttendanceProjection(), AnonymisedProjection()]
    /// One decoder for every event (it is Sendable, and creating one per event showed in rebuild profiles).
    static let decoder = JSONDecoder()
}

/// People, their sealed details, non-disclosure orders, links between people and consents in force.
public struct PeopleProjection: Projection {
    public init() {}
    public let name = "people"
    /// 2: applies rectifications (`PersonDetailsRectified`) as changes of details; the tables are v1's, so a v1
    /// generation keeps serving while v2 is built.
    public let version = 2
    public var servesVersions: Set<Int> { [1, 2] }
    public let eventTypes: Set<String> = [
        PersonRegistered.eventType, PersonDetailsChanged.eventType, PersonDetailsRectified.eventType, NonDisclosureChanged.eventType,
        RelationshipAdded.eventType, RelationshipEnded.eventType, ConsentGiven.eventType, ConsentWithdrawn.eventType,
    ]

    public static let people = ReadModelTable("people", columns: [.text("person"), .text("kind"), .integer("registered_at_us")], keyCount: 1)
    /// The sealed registration (`fields` = `*`) and every later sealed patch, in log order.
    public static let details = ReadModelTable("person_details", columns: [.integer("pos"), .text("person"), .text("sealed"), .text("fields")],
                                               keyCount: 1, indexes: [["person"]])
    public static let protection = ReadModelTable("protection", columns: [.text("person"), .integer("non_disclosure")], keyCount: 1)
    public static let relationships = ReadModelTable("relationships", columns: [.text("child"), .text("person"), .text("kind"), .integer("since_us")],
                                                     keyCount: 3, indexes: [["person"]])
    public static let consents = ReadModelTable("consents", columns: [
        .text("subject"), .text("purpose"), .text("valid_from"), .text("given_by", nullable: true), .integer("given_at_us"),
    ], keyCount: 2, indexes: [["purpose"]])

    public let tables = [people, details, protection, relationships, consents]

    public func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws {
        let person = event.stream.id
        let decoder = RegisterProjections.decoder
        switch event.eventType {
        case PersonRegistered.eventType:
            let registered = try decoder.decode(PersonRegistered.self, from: event.payload)
            writes.upsert(Self.people, [.text(person), .text(registered.kind.rawValue), .int(event.recordedAt.rawValue)])
            writes.upsert(Self.details, [.int(event.position.rawValue), .text(person), try sealed(registered.details), .text("*")])
            writes.upsert(Self.protection, [.text(person), .int(registered.nonDisclosure ? 1 : 0)])
        case PersonDetailsChanged.eventType:
            let changed = try decoder.decode(PersonDetailsChanged.self, from: event.payload)
            writes.upsert(Self.details, [.int(event.position.rawValue), .text(person), try sealed(changed.change),
                                         .text(changed.fields.map(\.rawValue).joined(separator: ","))])
        case PersonDetailsRectified.eventType:
            let rectified = try decoder.decode(PersonDetailsRectified.self, from: event.payload)
            writes.upsert(Self.details, [.int(event.position.rawValue), .text(person), try sealed(rectified.change),
                                         .text(rectified.fields.map(\.rawValue).joined(separator: ","))])
        case NonDisclosureChanged.eventType:
            let changed = try decoder.decode(NonDisclosureChanged.self, from: event.payload)
            writes.upsert(Self.protection, [.text(person), .int(changed.nonDisclosure ? 1 : 0)])
        case RelationshipAdded.eventType:
            let added = try decoder.decode(RelationshipAdded.self, from: event.payload)
            writes.upsert(Self.relationships, [.text(person), .text(added.person.description), .text(added.relationship.rawValue), .int(event.recordedAt.rawValue)])
        case RelationshipEnded.eventType:
            let ended = try decoder.decode(RelationshipEnded.self, from: event.payload)
            writes.delete(Self.relationships, key: [.text(person), .text(ended.person.description), .text(ended.relationship.rawValue)])
        case ConsentGiven.eventType:
            let given = try decoder.decode(ConsentGiven.self, from: event.payload)
            writes.upsert(Self.consents, [.text(person), .text(given.purpose), .text(given.validFrom.description),
                                          .optionalText(given.givenBy?.description), .int(event.recordedAt.rawValue)])
        case ConsentWithdrawn.eventType:
            let withdrawn = try decoder.decode(ConsentWithdrawn.self, from: event.payload)
            writes.delete(Self.consents, key: [.text(person), .text(withdrawn.purpose)])
        default:
            break
        }
    }

    private func sealed<Value>(_ field: Personal<Value>) throws -> ReadModelValue {
        guard let text = field.sealedText else { throw ProjectionError(.unknown, "a personal field of the event is not sealed") }
        return .text(text)
    }
}

/// Placements with their later ends and service needs.
public struct PlacementsProjection: Projection {
    public init() {}
    public let name = "placements"
    public let version = 1
    public let eventTypes: Set<String> = [PlacementMade.eventType, PlacementEnded.eventType, ServiceNeedChanged.eventType]

    public static let placements = ReadModelTable("placements", columns: [
        .text("child"), .text("placement"), .text("unit"), .text("arrangement"), .text("start"), .text("planned_end", nullable: true),
        .integer("made_at_us"),
    ], keyCount: 2, indexes: [["unit"]])
    /// A placement's end as last set (`PlacementEnded`); it overrides the planned end.
    public static let ends = ReadModelTable("placement_ends", columns: [.text("child"), .text("placement"), .text("end_date"), .integer("ended_at_us")], keyCount: 2)
    public static let serviceNeeds = ReadModelTable("service_needs", columns: [
        .text("child"), .text("placement"), .text("from_date"), .integer("hours_per_week"), .integer("shift_care"),
    ], keyCount: 3)

    public let tables = [placements, ends, serviceNeeds]

    public func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws {
        let child = event.stream.id
        let decoder = RegisterProjections.decoder
        switch event.eventType {
        case PlacementMade.eventType:
            let made = try decoder.decode(PlacementMade.self, from: event.payload)
            let placement = made.placement.lowercasedString
            writes.upsert(Self.placements, [.text(child), .text(placement), .text(made.unit), .text(made.arrangement.rawValue), .text(made.start.description),
                                            .optionalText(made.end?.description), .int(event.recordedAt.rawValue)])
            writes.upsert(Self.serviceNeeds, [.text(child), .text(placement), .text(made.start.description), .int(made.serviceNeed.hoursPerWeek),
                                              .int(made.serviceNeed.shiftCare ? 1 : 0)])
        case PlacementEnded.eventType:
            let ended = try decoder.decode(PlacementEnded.self, from: event.payload)
            writes.upsert(Self.ends, [.text(child), .text(ended.placement.lowercasedString), .text(ended.end.description), .int(event.recordedAt.rawValue)])
        case ServiceNeedChanged.eventType:
            let changed = try decoder.decode(ServiceNeedChanged.self, from: event.payload)
            writes.upsert(Self.serviceNeeds, [.text(child), .text(changed.placement.lowercasedString), .text(changed.from.description),
                                              .int(changed.serviceNeed.hoursPerWeek), .int(changed.serviceNeed.shiftCare ? 1 : 0)])
        default:
            break
        }
    }
}

/// Booked care times, arrivals and departures, absences.
public struct AttendanceProjection: Projection {
    public init() {}
    public let name = "attendance"
    public let version = 1
    public let eventTypes: Set<String> = [CareTimeBooked.eventType, ArrivalRecorded.eventType, DepartureRecorded.eventType, AbsenceMarked.eventType]

    public static let careTimes = ReadModelTable("care_times", columns: [.text("child"), .text("day"), .integer("start_min"), .integer("end_min")], keyCount: 2)
    /// Arrivals and departures in log order; a day's visits pair them up (the domain allows only arrival, departure, arrival …).
    public static let marks = ReadModelTable("attendance_marks", columns: [
        .text("child"), .text("day"), .integer("pos"), .text("kind"), .integer("minute"), .text("unit"),
    ], keyCount: 3, indexes: [["unit", "day"]])
    public static let absences = ReadModelTable("absences", columns: [.text("child"), .text("day"), .text("kind")], keyCount: 2)

    public let tables = [careTimes, marks, absences]

    public func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws {
        guard let dot = event.stream.id.firstIndex(of: ".") else { throw ProjectionError(.unknown, "an attendance stream id is <child>.<YYYY-MM>") }
        let child = String(event.stream.id[..<dot])
        let decoder = RegisterProjections.decoder
        switch event.eventType {
        case CareTimeBooked.eventType:
            let booked = try decoder.decode(CareTimeBooked.self, from: event.payload)
            writes.upsert(Self.careTimes, [.text(child), .text(booked.date.description), .int(booked.start.minutes), .int(booked.end.minutes)])
        case ArrivalRecorded.eventType:
            let arrival = try decoder.decode(ArrivalRecorded.self, from: event.payload)
            writes.upsert(Self.marks, [.text(child), .text(arrival.date.description), .int(event.position.rawValue), .text("arrival"),
                                       .int(arrival.time.minutes), .text(arrival.unit)])
        case DepartureRecorded.eventType:
            let departure = try decoder.decode(DepartureRecorded.self, from: event.payload)
            writes.upsert(Self.marks, [.text(child), .text(departure.date.description), .int(event.position.rawValue), .text("departure"),
                                       .int(departure.time.minutes), .text(departure.unit)])
        case AbsenceMarked.eventType:
            let absence = try decoder.decode(AbsenceMarked.self, from: event.payload)
            writes.upsert(Self.absences, [.text(child), .text(absence.date.description), .text(absence.kind.rawValue)])
        default:
            break
        }
    }
}

/// What stays of anonymised children for statistics (`SubjectAnonymised`): birth month, mother tongue and home
/// municipality, no identity. The statistics read these when a child's details can no longer be opened, so counts
/// already reported do not change when a retention run or an erasure shreds a key.
public struct AnonymisedProjection: Projection {
    public init() {}
    public let name = "anonymised"
    public let version = 1
    public let eventTypes: Set<String> = [SubjectAnonymised.eventType]

    public static let statistics = ReadModelTable("anonymised_statistics", columns: [
        .text("person"), .text("birth_month", nullable: true), .text("mother_tongue", nullable: true), .text("municipality", nullable: true),
    ], keyCount: 1)

    public let tables = [statistics]

    public func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws {
        guard event.eventType == SubjectAnonymised.eventType else { return }
        let anonymised = try RegisterProjections.decoder.decode(SubjectAnonymised.self, from: event.payload)
        guard let statistics = anonymised.statistics else { return }
        writes.upsert(Self.statistics, [.text(anonymised.person.description), .optionalText(statistics.birthMonth),
                                        .optionalText(statistics.motherTongue), .optionalText(statistics.homeMunicipality)])
    }
}
