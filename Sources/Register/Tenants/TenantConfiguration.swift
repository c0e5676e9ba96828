import EventLog
import Foundation

/// A controller's configuration: who it is, its units, its registers and their rules, and its roles.
///
/// Written by people in `Tenants/<id>.yaml`, validated on load, and applied with `register tenant apply`, which
/// records it in the tenant's log (`TenantConfigured`), so the log proves which rules were in force when.
/// It holds no private persons' data: contacts are roles with official addresses.
public struct TenantConfiguration: Codable, Sendable, Hashable {
    /// The slug used in URLs and as the log's tenant id.
    public var id: TenantID
    public var name: LocalizedText
    public var businessID: BusinessID
    public var kind: ControllerKind
    /// The municipality the controller is in (for a municipality, its own code).
    public var municipalityCode: MunicipalityCode
    public var website: String?
    /// Other controllers that share a register with this one (seed 002: Kuntien Tiera).
    public var jointControllers: [JointController]?
    /// Official contact points by role (registry office, unit director …), never a private person's name.
    public var contacts: [Contact]
    public var dataProtectionOfficer: Contact
    public var units: [Unit]
    public var registers: [RegisterDefinition]
    public var roles: [RoleDefinition]
    /// How occupancy is counted; defaults apply when absent.
    public var occupancy: OccupancyRules?
    /// The ECEC client fee tables and the municipality's service-need coefficients (O23); absent where the tenant
    /// charges no fees under the act (a private daycare sets its own).
    public var fees: FeeRules?
    public var vouchers: VoucherRules?
    /// Whether the addresses of people under a non-disclosure order are stored at all (`not-stored`: a register such as
    /// the service-voucher register of seed 002, which imports no protected address). Stored when absent.
    public var protectedAddresses: ProtectedAddresses?

    public var storesProtectedAddresses: Bool { protectedAddresses != .notStored }

    /// The coefficient a child under 3 counts with in a unit's occupancy.
    public var underThreeCoefficient: Double { occupancy?.underThreeCoefficient ?? OccupancyRules.defaultUnderThreeCoefficient }
}

/// How a unit's occupancy (*käyttöaste*) is counted.
public enum ProtectedAddresses: String, Codable, Sendable, Hashable {
    case stored
    case notStored = "not-stored"
}

public struct OccupancyRules: Codable, Sendable, Hashable {
    /// A child under 3 counts this many places (1.75 is the common Finnish practice, from the staffing ratio 1:4 against 1:7).
    public var underThreeCoefficient: Double?

    public static let defaultUnderThreeCoefficient = 1.75

    public init(underThreeCoefficient: Double? = nil) {
        self.underThreeCoefficient = underThreeCoefficient
    }
}

/// What kind of controller a tenant is.
public enum ControllerKind: String, Codable, Sendable, Hashable, CaseIterable {
    case municipality
    case privateDaycare = "private-daycare"
    case jointController = "joint-controller"
}

public struct JointController: Codable, Sendable, Hashable {
    public var name: LocalizedText
    public var businessID: BusinessID?
    /// What this controller answers for in the shared register.
    public var responsibilities: LocalizedText
}

/// An official contact point.
public struct Contact: Codable, Sendable, Hashable {
    /// What the contact is for, as a slug: `registry-office`, `unit-director`, `data-protection-officer` …
    public var role: String
    /// How the contact is addressed (`Kirjaamo`, `Päiväkodin johtaja`), not a person's name.
    public var title: LocalizedText
    public var email: String?
    public var phone: String?
    public var address: PostalAddress?
}

/// A place of care (*toimipaikka*).
public struct Unit: Codable, Sendable, Hashable {
    /// The unit's code within the tenant, a slug (`poco-joensuunraitti`).
    public var code: String
    public var name: LocalizedText
    public var kind: UnitKind
    public var address: PostalAddress
    /// How children are placed here.
    public var arrangements: [Arrangement]
    /// Who runs the unit when it is not the tenant itself: a service-voucher producer or a purchased-service provider.
    public var operatedBy: UnitOperator?
}

/// The company or association that runs a unit for the municipality (a voucher producer is paid to its business id).
/// It may be a tenant of this instance with a register of its own; the two stay apart: nothing of one tenant's log is
/// read into the other's, and the producer's staff work in the municipality's register with its producer role.
public struct UnitOperator: Codable, Sendable, Hashable {
    public var name: String
    public var businessID: BusinessID
    /// The operator's own tenant here, when it has one: checked when the files are loaded or applied together
    /// (a private daycare with the same business id).
    public var tenant: TenantID?
}

public enum UnitKind: String, Codable, Sendable, Hashable, CaseIterable {
    case daycare
    case familyDaycare = "family-daycare"
    case groupFamilyDaycare = "group-family-daycare"
    case preschool
    case familyServicesOffice = "family-services-office"
}

/// How a child's care is arranged and paid (VARDA's *järjestämismuoto*).
public enum Arrangement: String, Codable, Sendable, Hashable, CaseIterable {
    /// jm01
    case municipal
    /// jm02
    case purchasedService = "purchased-service"
    /// jm03
    case serviceVoucher = "service-voucher"
    /// jm04–jm05
    case `private`
}

/// One register the tenant keeps, with everything its privacy notice promises.
public struct RegisterDefinition: Codable, Sendable, Hashable {
    public var id: String
    public var name: LocalizedText
    /// Which body of rules applies: the minor's disclosure ban (O9) and the 703/2023 retention periods apply to
    /// family services, not to ECEC.
    public var scope: RegisterScope
    public var purposes: [LocalizedText]
    public var legalBases: [LegalBasis]
    public var dataCategories: [DataCategory]
    public var sources: [LocalizedText]
    /// Regular recipients and on what basis they receive data (O7, O10).
    public var recipients: [Recipient]
    /// Retention rules, as data with validity dates (O16–O18).
    public var retention: [RetentionRule]
    /// Always false on this platform (O11); stated so the notice can say it.
    public var transfersOutsideEEA: Bool
    /// Always false (O11).
    public var marketing: Bool
    /// Always false (O12).
    public var automatedDecisions: Bool
}

public enum RegisterScope: String, Codable, Sendable, Hashable, CaseIterable {
    case ecec
    case serviceVoucher = "service-voucher"
    case familyServices = "family-services"
}

/// A GDPR Article 6 basis, with the statute that grounds it where there is one.
public struct LegalBasis: Codable, Sendable, Hashable {
    public var basis: GDPRBasis
    public var statute: String?
    public var description: LocalizedText?
}

public enum GDPRBasis: String, Codable, Sendable, Hashable, CaseIterable {
    case consent, contract
    case legalObligation = "legal-obligation"
    case vitalInterests = "vital-interests"
    case publicTask = "public-task"
    case legitimateInterests = "legitimate-interests"
}

public struct DataCategory: Codable, Sendable, Hashable {
    public var id: String
    public var description: LocalizedText
    /// Special categories (health, and in family services a parent's imprisonment: O3).
    public var special: Bool?
}

/// A regular recipient of the register's data.
public struct Recipient: Codable, Sendable, Hashable {
    public var id: String
    public var name: LocalizedText
    /// The statute that allows the disclosure; absent when it rests on consent.
    public var legalBasis: String?
    /// True when disclosure needs the subject's (or guardian's) consent.
    public var requiresConsent: Bool?
    /// The consent purpose a hand-over to it depends on (the feed's `consentPurpose` when it has a feed).
    public var consentPurpose: String?
    public var purpose: LocalizedText
    /// The event feed this recipient reads (`GET /v1/tenants/{tenant}/feeds/{id}`), if it reads one.
    public var feed: FeedDefinition?
}

/// What a recipient's feed carries: which events, which of their fields, about whom (docs/feeds.md).
/// Nothing else leaves: an item is built from the listed fields of the event, never the stored payload.
public struct FeedDefinition: Codable, Sendable, Hashable {
    /// The event types it receives (those in `FeedField.eventTypes`).
    public var events: [String]
    /// The fields it receives, where the events have them.
    public var fields: [FeedField]
    /// Only children placed (at any time) in these units, as a service-voucher producer; every subject when absent.
    public var units: [String]?
    /// The consent each subject's data depends on, for a recipient with `requiresConsent`: while none is in force, nothing
    /// of that subject leaves, older events not yet fetched included.
    public var consentPurpose: String?
    /// Whether the recipient is entitled to the protected fields (address, home municipality, phone, e-mail) of
    /// people under a non-disclosure order; without it they never leave.
    public var protectedData: Bool?
    /// How items are shaped: the events themselves (default), care-relationship records as the national ECEC
    /// repository reports them to Kela, or the statistics extract.
    public var shape: FeedShape?
    /// For the statistics extract: the period each item counts (`month` by default, or `year`).
    public var period: StatisticsPeriod?
    /// For the statistics extract: the first period it reports (the one that holds this date).
    public var from: LocalDate?

    public init(events: [String], fields: [FeedField], units: [String]? = nil, consentPurpose: String? = nil, protectedData: Bool? = nil,
                shape: FeedShape? = nil, period: StatisticsPeriod? = nil, from: LocalDate? = nil) {
        self.events = events
        self.fields = fields
        self.units = units
        self.consentPurpose = consentPurpose
        self.protectedData = protectedData
        self.shape = shape
        self.period = period
        self.from = from
    }

    private enum CodingKeys: String, CodingKey {
        case events, fields, units, consentPurpose, protectedData, shape, period, from
    }

    /// A statistics extract lists no events or fields (it carries counts), so both may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        events = try container.decodeIfPresent([String].self, forKey: .events) ?? []
        fields = try container.decodeIfPresent([FeedField].self, forKey: .fields) ?? []
        units = try container.decodeIfPresent([String].self, forKey: .units)
        consentPurpose = try container.decodeIfPresent(String.self, forKey: .consentPurpose)
        protectedData = try container.decodeIfPresent(Bool.self, forKey: .protectedData)
        shape = try container.decodeIfPresent(FeedShape.self, forKey: .shape)
        period = try container.decodeIfPresent(StatisticsPeriod.self, forKey: .period)
        from = try container.decodeIfPresent(LocalDate.self, forKey: .from)
    }
}

/// The period one item of a statistics extract counts.
public enum StatisticsPeriod: String, Codable, Sendable, Hashable, CaseIterable {
    case month, year

    /// The first day of the period that holds `date`.
    public func start(of date: LocalDate) -> LocalDate {
        (try? LocalDate(year: date.year, month: self == .month ? date.month : 1, day: 1)) ?? date
    }

    /// The last day of the period that starts on `start`.
    public func end(startingOn start: LocalDate) -> LocalDate { next(after: start).adding(days: -1) }

    /// The first day of the period after the one that starts on `start`.
    public func next(after start: LocalDate) -> LocalDate {
        let (year, month) = self == .year || start.month == 12 ? (start.year + 1, 1) : (start.year, start.month + 1)
        return (try? LocalDate(year: year, month: month, day: 1)) ?? start
    }

    /// `2026-10` for a month, `2026` for a year.
    public func label(startingOn start: LocalDate) -> String { self == .month ? start.monthKey : "\(start.year)" }
}

/// The shape of a feed's items.
public enum FeedShape: String, Codable, Sendable, Hashable, CaseIterable {
    /// One item per event, of the event's type.
    case events
    /// One `CareRelationship` item per placement event: `started` (no end), `fixed-term` (an end from the start),
    /// `ended` (an end set later), `correction` (an end moved, with the original end), as VARDA reports to Kela.
    /// It reads `PlacementMade` and `PlacementEnded`.
    case careRelationships = "care-relationships"
    /// One `StatisticsExtract` item per closed period (a month or a year, from `from`): the counts of the statistics
    /// read model for national reporting — children by age group, arrangement, language and municipality, placements
    /// started and ended. Counts only: no person in it, so its pages are not disclosures of personal data.
    case statisticsExtract = "statistics-extract"
}

/// A field a feed item can carry.
public enum FeedField: String, Codable, Sendable, Hashable, CaseIterable {
    // People (PersonRegistered, PersonDetailsChanged)
    case kind, name, identityCode, birthDate, address, homeMunicipality, motherTongue, serviceLanguage, phone, email
    // Placements (PlacementMade, PlacementEnded, ServiceNeedChanged)
    case placement, unit, arrangement, start, end, serviceNeed
    // Attendance (CareTimeBooked, ArrivalRecorded, DepartureRecorded, AbsenceMarked)
    case date, time, absence
    // Consents (ConsentGiven, ConsentWithdrawn)
    case purpose
    // Care relationships (the `care-relationships` shape): started, ended, fixed-term or correction, and the end a
    // correction replaces
    case record, originalEnd
    // Invoices (InvoiceIssued): the number, dates, reference, rows and amounts an invoice export carries
    case invoice
    // Voucher settlements (SettlementFrozen): a producer's lines, values, co-payments and amounts
    case settlement

    /// The fields a non-disclosure order protects.
    public static let protected: Set<FeedField> = [.address, .homeMunicipality, .phone, .email]

    /// The event types a feed can carry.
    public static let eventTypes: Set<String> = [
        "PersonRegistered", "PersonDetailsChanged", "PersonDetailsRectified", "PlacementMade", "PlacementEnded", "ServiceNeedChanged",
        "CareTimeBooked", "ArrivalRecorded", "DepartureRecorded", "AbsenceMarked", "ConsentGiven", "ConsentWithdrawn",
    ]
}

/// How long one class of documents is kept, from which event, and what happens then.
public struct RetentionRule: Codable, Sendable, Hashable {
    public var documentClass: String
    public var period: RetentionPeriod?
    /// Kept for ever (statements and assessments in a child's plan; no period then).
    public var permanent: Bool?
    /// What the period counts from.
    public var from: RetentionAnchor?
    public var action: RetentionAction?
    /// Persons born on these days of a month are kept permanently (the archive's sampling rule: 8, 18, 28).
    public var keepPermanentlyIfBornOnDays: [Int]?
    /// Which of the platform's records about a person the class covers. Absent: all of them (every person of the
    /// register). Empty: the platform holds no documents of this class (they are kept elsewhere), so the rule keeps
    /// nothing here. A guardian or other family member counts as having a child's records (income statements and
    /// decisions name the family).
    public var records: [RetentionRecords]?
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var basis: LocalizedText?
}

/// The kinds of records the platform keeps about a person, which a retention rule's document class may cover.
public enum RetentionRecords: String, Codable, Sendable, Hashable, CaseIterable {
    /// The person's registration and details.
    case person
    case applications
    case placements
    case attendance
    case consents
    case careInformation = "care-information"
    /// Client fees: incomes, fee families, fee decisions and invoices (the payer's and the family's).
    case fees
    /// Service vouchers: voucher decisions, producers' service records and settlement lines.
    case vouchers
}

public enum RetentionAnchor: String, Codable, Sendable, Hashable, CaseIterable {
    case careEnded = "care-ended"
    case serviceEnded = "service-ended"
    case lastServiceEvent = "last-service-event"
    case caseClosed = "case-closed"
    case birth
    case death
    case recorded
}

public enum RetentionAction: String, Codable, Sendable, Hashable, CaseIterable {
    /// The subject's key is shredded: every sealed field becomes unreadable.
    case erase
    /// Personal fields are shredded, anonymous statistics stay.
    case anonymise
}

/// A role users can hold in the tenant, and what it may do.
public struct RoleDefinition: Codable, Sendable, Hashable {
    public var id: String
    public var name: LocalizedText
    public var permissions: [Permission]
    /// `units`: holders act only in the units they are assigned to (unit staff).
    public var scope: RoleScope

    public init(id: String, name: LocalizedText, permissions: [Permission], scope: RoleScope) {
        self.id = id
        self.name = name
        self.permissions = permissions
        self.scope = scope
    }
}

public enum RoleScope: String, Codable, Sendable, Hashable, CaseIterable {
    case tenant
    case units
}

/// What a role may do. Least privilege: a role has exactly the permissions listed, nothing by default.
public enum Permission: String, Codable, Sendable, Hashable, CaseIterable, Comparable {
    case tenantConfigure = "tenant.configure"
    case usersManage = "users.manage"
    case peopleRead = "people.read"
    case peopleWrite = "people.write"
    /// Seeing the address of a person under a non-disclosure order (turvakielto): authorities only.
    case peopleReadProtected = "people.read-protected"
    case applicationsRead = "applications.read"
    case applicationsWrite = "applications.write"
    case placementsRead = "placements.read"
    case placementsWrite = "placements.write"
    case attendanceRead = "attendance.read"
    case attendanceWrite = "attendance.write"
    /// Allergies, diet and other care notes the family gives: health data (a special category), so a permission of
    /// its own: the staff who care for the child, not billing.
    case careInformationRead = "care-information.read"
    case consentsRead = "consents.read"
    case consentsWrite = "consents.write"
    case feesRead = "fees.read"
    case feesWrite = "fees.write"
    /// Voucher decisions and settlements: the municipality's voucher officers.
    case vouchersRead = "vouchers.read"
    case vouchersWrite = "vouchers.write"
    /// Recording the services a producer gave (for the children placed with it): the producer's staff, unit-scoped.
    case voucherServicesWrite = "voucher-services.write"
    case socialCareRead = "social-care.read"
    case socialCareWrite = "social-care.write"
    case disclosuresRead = "disclosures.read"
    case disclosuresWrite = "disclosures.write"
    case accessLogRead = "access-log.read"
    case subjectRequestsManage = "subject-requests.manage"
    case retentionManage = "retention.manage"
    case statisticsRead = "statistics.read"

    public static func < (lhs: Permission, rhs: Permission) -> Bool { lhs.rawValue < rhs.rawValue }
}
