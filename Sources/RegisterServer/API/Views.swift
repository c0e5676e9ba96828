import EventLog
import Foundation
import Register

/// A person as the API shows them: protected fields hidden from callers without `people.read-protected` when a
/// non-disclosure order is in force (O15), and nothing but the id and kind once erased.
struct PersonView: Encodable {
    var id: String
    var kind: PersonKind
    var erased: Bool
    var nonDisclosure: Bool
    /// True when protected fields were left out because of a non-disclosure order.
    var protectedFieldsHidden: Bool
    var details: PersonDetails?
    /// A restriction of processing in force (O21); the details are then shown only to roles that handle subjects'
    /// requests.
    var restriction: RestrictionView?
    var registeredAt: String
    var updatedAt: String

    /// - Parameter child: for a person shown as linked to a child, the child through whom the caller reaches them.
    init(_ record: PersonRecord, grants: Grants, today: LocalDate, through child: PersonRecord? = nil, restriction: Restriction? = nil) {
        id = record.id.description
        kind = record.kind
        erased = record.isErased
        nonDisclosure = record.nonDisclosure
        // people.read-protected must reach this very person: granted for another unit it unmasks nothing here.
        let hide = record.nonDisclosure && !grants.canReach(record, through: child, with: .peopleReadProtected, today: today)
        protectedFieldsHidden = hide && record.details != nil
        self.details = hide ? record.details?.withoutProtectedFields() : record.details
        self.restriction = restriction.map(RestrictionView.init)
        if restriction != nil, !grants.has(.subjectRequestsManage) { details = nil }
        registeredAt = record.registeredAt.description
        updatedAt = record.updatedAt.description
    }
}

/// A restriction of processing as every output shows it.
struct RestrictionView: Encodable {
    var grounds: RestrictionGrounds
    var since: String

    init(_ restriction: Restriction) {
        grounds = restriction.grounds
        since = restriction.since.description
    }
}

extension PersonDetails {
    /// These details without what a non-disclosure order protects (`PersonField.protected`): address, home
    /// municipality, phone and e-mail.
    func withoutProtectedFields() -> PersonDetails {
        var details = self
        details.address = nil
        details.homeMunicipality = nil
        details.phone = nil
        details.email = nil
        return details
    }
}

struct PlacementView: Encodable {
    var id: String
    var unit: String
    var arrangement: Arrangement
    var start: LocalDate
    var end: LocalDate?
    var serviceNeeds: [ServiceNeedView]

    struct ServiceNeedView: Encodable {
        var from: LocalDate
        var hoursPerWeek: Int
        var shiftCare: Bool
    }

    init(_ placement: Placement) {
        id = placement.id.lowercasedString
        unit = placement.unit
        arrangement = placement.arrangement
        start = placement.start
        end = placement.end
        serviceNeeds = placement.serviceNeeds.map { ServiceNeedView(from: $0.from, hoursPerWeek: $0.serviceNeed.hoursPerWeek, shiftCare: $0.serviceNeed.shiftCare) }
    }
}

/// A child's overview: the child, placements, the current service need, linked people, consents in force,
/// applications and the family's own care information.
struct ChildOverview: Encodable {
    var child: PersonView
    var placements: [PlacementView]
    var currentPlacement: String?
    var currentServiceNeed: PlacementView.ServiceNeedView?
    var relatedPeople: [Related]
    var consents: [ConsentView]
    var applications: [ApplicationView]
    var careInformation: CareInformation?

    struct Related: Encodable {
        var relationship: RelationshipKind
        var person: PersonView
    }

    struct ConsentView: Encodable {
        var purpose: String
        var validFrom: LocalDate
        var givenBy: String?
    }

    struct ApplicationView: Encodable {
        var id: String
        var preferredUnits: [String]
        var desiredStart: LocalDate
        var hoursPerWeek: Int
        var urgent: Bool
    }
}

struct AttendanceView: Encodable {
    var child: String
    var month: String
    var days: [Day]

    struct Day: Encodable {
        var date: LocalDate
        var booking: Booking?
        var visits: [Visit]
        var absence: AbsenceKind?
        var minutesPresent: Int
    }

    struct Booking: Encodable {
        var start: LocalTime
        var end: LocalTime
    }

    struct Visit: Encodable {
        var unit: String
        var arrival: LocalTime
        var departure: LocalTime?
    }

    init(_ month: AttendanceMonth) {
        child = month.child.description
        self.month = month.month
        days = month.days.keys.sorted().map { date in
            let day = month.days[date]!
            return Day(date: date, booking: day.booking.map { Booking(start: $0.start, end: $0.end) },
                       visits: day.visits.map { Visit(unit: $0.unit, arrival: $0.arrival, departure: $0.departure) },
                       absence: day.absence, minutesPresent: day.minutesPresent)
        }
    }
}

struct Created: Encodable {
    var id: String
}
