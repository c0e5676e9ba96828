import EventLog
import Foundation

/// An event of the register domain: its type name and payload schema version in the log.
public protocol RegisterEvent: Codable, Sendable {
    static var eventType: String { get }
    static var schemaVersion: Int { get }
}

extension RegisterEvent {
    public static var schemaVersion: Int { 1 }
}

// The streams of the domain. A person's stream holds everything about them that is not daily attendance:
// their details, links to other people, applications, placements, service needs, consents and care information.
// Attendance goes to one stream per child and month, so that a day's write reads a short stream.
public enum RegisterStreams {
    public static func person(_ id: PersonID) -> StreamRef { StreamRef(uncheckedType: "person", id: id.description) }
    public static func attendance(_ child: PersonID, month: String) -> StreamRef { StreamRef(uncheckedType: "attendance", id: "\(child).\(month)") }
    /// Claims an identity code (by its blind index) for one person: a second registration of the same code
    /// finds the stream taken.
    public static func identity(_ index: BlindIndex) -> StreamRef { StreamRef(uncheckedType: "identity", id: index.digest) }
}

/// A person entered the register.
public struct PersonRegistered: RegisterEvent {
    public static let eventType = "PersonRegistered"
    public var kind: PersonKind
    public var details: Personal<PersonDetails>
    public var nonDisclosure: Bool
    public var source: DataSource
}

/// The claim of an identity code by a person, on the code's `identity/<blind index>` stream (no personal data).
public struct IdentityCodeClaimed: RegisterEvent {
    public static let eventType = "IdentityCodeClaimed"
    public var person: PersonID
}

/// Some of a person's details changed; `fields` says which (in clear, without values).
public struct PersonDetailsChanged: RegisterEvent {
    public static let eventType = "PersonDetailsChanged"
    public var change: Personal<PersonDetailsPatch>
    public var fields: [PersonField]
    public var source: DataSource
    /// For imports: which file (its SHA-256) and line.
    public var reference: String?
}

/// A non-disclosure order (turvakielto) was placed or lifted, as the population register says (O15).
public struct NonDisclosureChanged: RegisterEvent {
    public static let eventType = "NonDisclosureChanged"
    public var nonDisclosure: Bool
    public var source: DataSource
    public var reference: String?
}

/// Another person was linked to a child (on the child's stream; both are subjects).
public struct RelationshipAdded: RegisterEvent {
    public static let eventType = "RelationshipAdded"
    public var person: PersonID
    public var relationship: RelationshipKind
    public var source: DataSource
}

public struct RelationshipEnded: RegisterEvent {
    public static let eventType = "RelationshipEnded"
    public var person: PersonID
    public var relationship: RelationshipKind
}

/// An application for early childhood education and care.
public struct ApplicationSubmitted: RegisterEvent {
    public static let eventType = "ApplicationSubmitted"
    public var application: UUID
    public var preferredUnits: [String]
    public var desiredStart: LocalDate
    public var serviceNeed: ServiceNeed
    public var urgent: Bool
    public var source: DataSource
}

/// A child was placed in a unit.
public struct PlacementMade: RegisterEvent {
    public static let eventType = "PlacementMade"
    public var placement: UUID
    public var unit: String
    public var arrangement: Arrangement
    public var start: LocalDate
    public var end: LocalDate?
    public var serviceNeed: ServiceNeed
    public var application: UUID?
}

/// A placement's end date was set or moved.
public struct PlacementEnded: RegisterEvent {
    public static let eventType = "PlacementEnded"
    public var placement: UUID
    public var end: LocalDate
}

/// A placement's service need changes from a date on.
public struct ServiceNeedChanged: RegisterEvent {
    public static let eventType = "ServiceNeedChanged"
    public var placement: UUID
    public var from: LocalDate
    public var serviceNeed: ServiceNeed
}

/// A consent for a purpose (photo permission, disclosure to the school …) was given.
public struct ConsentGiven: RegisterEvent {
    public static let eventType = "ConsentGiven"
    public var purpose: String
    /// The guardian who gave it, when not the subject.
    public var givenBy: PersonID?
    public var validFrom: LocalDate
}

/// A consent was withdrawn: from now on nothing that depends on it happens (O8).
public struct ConsentWithdrawn: RegisterEvent {
    public static let eventType = "ConsentWithdrawn"
    public var purpose: String
    public var withdrawnBy: PersonID?
}

/// What the family itself tells about the child's care: allergies, diet, other notes. Health data: sealed.
public struct CareInformation: Codable, Sendable, Hashable {
    public var allergies: String?
    public var diet: String?
    public var notes: String?
    public init(allergies: String? = nil, diet: String? = nil, notes: String? = nil) {
        self.allergies = allergies
        self.diet = diet
        self.notes = notes
    }
}

public struct CareInformationRecorded: RegisterEvent {
    public static let eventType = "CareInformationRecorded"
    public var information: Personal<CareInformation>
    public var source: DataSource
}

// MARK: Attendance (stream attendance/<child>.<YYYY-MM>)

/// A booked care time (*hoitoaikavaraus*) for a day; a later booking of the same day replaces it.
public struct CareTimeBooked: RegisterEvent {
    public static let eventType = "CareTimeBooked"
    public var date: LocalDate
    public var start: LocalTime
    public var end: LocalTime
}

public struct ArrivalRecorded: RegisterEvent {
    public static let eventType = "ArrivalRecorded"
    public var date: LocalDate
    public var time: LocalTime
    public var unit: String
}

public struct DepartureRecorded: RegisterEvent {
    public static let eventType = "DepartureRecorded"
    public var date: LocalDate
    public var time: LocalTime
    public var unit: String
}

public struct AbsenceMarked: RegisterEvent {
    public static let eventType = "AbsenceMarked"
    public var date: LocalDate
    public var kind: AbsenceKind
}
