import EventLog
import Foundation
import Synchronization

/// A person in a tenant's register is a data subject: their id is the subject id that seals their fields.
public typealias PersonID = SubjectID

/// The roles a person has in the register (O1).
public enum PersonKind: String, Codable, Sendable, Hashable, CaseIterable {
    case child
    case guardian
    case familyMember = "family-member"
    case trustee
    case representative
}

/// How one person is linked to a child: guardianship, a trustee, an authorised representative or another family member.
public enum RelationshipKind: String, Codable, Sendable, Hashable, CaseIterable {
    case guardian
    case trustee
    case representative
    case familyMember = "family-member"
}

/// Where a piece of data came from (O4).
public enum DataSource: String, Codable, Sendable, Hashable, CaseIterable {
    /// The family itself (an application, a notice).
    case client
    /// The population information system (DVV), through `register import population`.
    case populationRegister = "population-register"
    /// Recorded by staff in their work.
    case staff
    case kela
    case cooperatingBody = "cooperating-body"
    case producer
    /// Synthetic data from `register demo`.
    case demo
}

/// A person's name.
public struct PersonName: Codable, Sendable, Hashable {
    public var first: String
    public var last: String
    public init(first: String, last: String) {
        self.first = first
        self.last = last
    }
}

/// The personal details of a person, sealed as one field under the person's key.
///
/// Under a non-disclosure order (turvakielto) the fields `address`, `homeMunicipality`, `phone` and `email` are
/// protected (O15): see `ProtectedFields`.
public struct PersonDetails: Codable, Sendable, Hashable {
    public var identityCode: String?
    public var name: PersonName
    public var birthDate: LocalDate?
    public var address: PostalAddress?
    public var homeMunicipality: MunicipalityCode?
    public var motherTongue: String?
    public var serviceLanguage: String?
    public var phone: String?
    public var email: String?
    public var profession: String?

    public init(identityCode: String? = nil, name: PersonName, birthDate: LocalDate? = nil, address: PostalAddress? = nil,
                homeMunicipality: MunicipalityCode? = nil, motherTongue: String? = nil, serviceLanguage: String? = nil,
                phone: String? = nil, email: String? = nil, profession: String? = nil) {
        self.identityCode = identityCode
        self.name = name
        self.birthDate = birthDate
        self.address = address
        self.homeMunicipality = homeMunicipality
        self.motherTongue = motherTongue
        self.serviceLanguage = serviceLanguage
        self.phone = phone
        self.email = email
        self.profession = profession
    }
}

/// A change of some of a person's details: absent fields stay as they are; `cleared` names fields removed.
public struct PersonDetailsPatch: Codable, Sendable, Hashable {
    public var name: PersonName?
    public var address: PostalAddress?
    public var homeMunicipality: MunicipalityCode?
    public var motherTongue: String?
    public var serviceLanguage: String?
    public var phone: String?
    public var email: String?
    public var profession: String?
    public var cleared: [PersonField]?

    public init(name: PersonName? = nil, address: PostalAddress? = nil, homeMunicipality: MunicipalityCode? = nil, motherTongue: String? = nil,
                serviceLanguage: String? = nil, phone: String? = nil, email: String? = nil, profession: String? = nil, cleared: [PersonField]? = nil) {
        self.name = name
        self.address = address
        self.homeMunicipality = homeMunicipality
        self.motherTongue = motherTongue
        self.serviceLanguage = serviceLanguage
        self.phone = phone
        self.email = email
        self.profession = profession
        self.cleared = cleared
    }

    /// The fields this patch sets or clears, for the event's clear-text list of what changed.
    public var fields: [PersonField] {
        var fields: [PersonField] = []
        if name != nil { fields.append(.name) }
        if address != nil { fields.append(.address) }
        if homeMunicipality != nil { fields.append(.homeMunicipality) }
        if motherTongue != nil { fields.append(.motherTongue) }
        if serviceLanguage != nil { fields.append(.serviceLanguage) }
        if phone != nil { fields.append(.phone) }
        if email != nil { fields.append(.email) }
        if profession != nil { fields.append(.profession) }
        return (fields + (cleared ?? [])).sorted { $0.rawValue < $1.rawValue }
    }

    public func applied(to details: PersonDetails) -> PersonDetails {
        var details = details
        if let name { details.name = name }
        if let address { details.address = address }
        if let homeMunicipality { details.homeMunicipality = homeMunicipality }
        if let motherTongue { details.motherTongue = motherTongue }
        if let serviceLanguage { details.serviceLanguage = serviceLanguage }
        if let phone { details.phone = phone }
        if let email { details.email = email }
        if let profession { details.profession = profession }
        for field in cleared ?? [] {
            switch field {
            case .address: details.address = nil
            case .homeMunicipality: details.homeMunicipality = nil
            case .motherTongue: details.motherTongue = nil
            case .serviceLanguage: details.serviceLanguage = nil
            case .phone: details.phone = nil
            case .email: details.email = nil
            case .profession: details.profession = nil
            case .name: break
            }
        }
        return details
    }
}

/// The details a change can name.
public enum PersonField: String, Codable, Sendable, Hashable, CaseIterable {
    case name, address, homeMunicipality, motherTongue, serviceLanguage, phone, email, profession

    /// What a non-disclosure order hides: home municipality, place of residence, address and contact details
    /// (act 661/2009 § 36).
    public static let protected: Set<PersonField> = [.address, .homeMunicipality, .phone, .email]
}

/// How much care a child needs (*palveluntarve*).
public struct ServiceNeed: Codable, Sendable, Hashable {
    /// Hours of care per week, 1–60.
    public var hoursPerWeek: Int
    /// Care in the evening, at night or at weekends.
    public var shiftCare: Bool

    public init(hoursPerWeek: Int, shiftCare: Bool = false) {
        self.hoursPerWeek = hoursPerWeek
        self.shiftCare = shiftCare
    }

    private enum CodingKeys: String, CodingKey { case hoursPerWeek, shiftCare }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        hoursPerWeek = try container.decode(Int.self, forKey: .hoursPerWeek)
        shiftCare = try container.decodeIfPresent(Bool.self, forKey: .shiftCare) ?? false
    }
}

/// Why a child is away on a day.
public enum AbsenceKind: String, Codable, Sendable, Hashable, CaseIterable {
    case sick, planned, holiday, other
}

/// A time of day, `HH:MM`, in the unit's local time.
public struct LocalTime: TextValue, Sendable, Hashable, Comparable {
    public let minutes: Int

    /// A time from minutes since midnight (0…1439).
    public init(minutes: Int) throws(ConfigurationValueError) {
        try self.init(hour: minutes / 60, minute: minutes % 60)
    }

    public init(hour: Int, minute: Int) throws(ConfigurationValueError) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { throw ConfigurationValueError("a time is HH:MM between 00:00 and 23:59") }
        minutes = hour * 60 + minute
    }

    public init(_ text: String) throws(ConfigurationValueError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]) else {
            throw ConfigurationValueError("a time is written HH:MM")
        }
        try self.init(hour: hour, minute: minute)
    }

    public var description: String {
        let hour = minutes / 60, minute = minutes % 60
        return (hour < 10 ? "0\(hour)" : "\(hour)") + ":" + (minute < 10 ? "0\(minute)" : "\(minute)")
    }
    public static func < (lhs: LocalTime, rhs: LocalTime) -> Bool { lhs.minutes < rhs.minutes }
}

extension LocalDate {
    /// Built once: creating a calendar or a time zone costs far more than using one.
    private static let helsinki: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Helsinki") ?? .current
        return calendar
    }()

    /// The Finnish day last asked for, with its bounds: "today" is asked several times in every request, and the
    /// calendar's answer (time zone rules, components) cost about 1.5 % of the API's CPU.
    private static let lastDay = Mutex<(start: Date, end: Date, date: LocalDate)?>(nil)

    /// Today in Finland.
    public static func today(at instant: Date = Date()) -> LocalDate {
        if let day = lastDay.withLock({ $0 }), day.start <= instant, instant < day.end { return day.date }
        let parts = helsinki.dateComponents([.year, .month, .day], from: instant)
        // A calendar's own components are always a valid date.
        let date = try! LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
        // The day's bounds in Finnish time (23 or 25 hours long when the clocks change).
        let start = helsinki.startOfDay(for: instant)
        if let end = helsinki.date(byAdding: .day, value: 1, to: start) { lastDay.withLock { $0 = (start, end, date) } }
        return date
    }

    /// Days since 1970-01-01 (H. Hinnant's days-from-civil), so date arithmetic needs no calendar.
    public var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number (the inverse of `dayNumber`).
    public init(dayNumber: Int) throws(ConfigurationValueError) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        try self.init(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }

    /// The date `days` later (earlier when negative); itself when that leaves the supported years.
    public func adding(days: Int) -> LocalDate {
        (try? LocalDate(dayNumber: dayNumber + days)) ?? self
    }

    /// Monday 1 … Sunday 7 (1970-01-01 was a Thursday).
    public var isoWeekday: Int {
        ((dayNumber % 7 + 7) % 7 + 3) % 7 + 1
    }

    /// `YYYY-MM`, the month the date is in.
    public var monthKey: String { "\(year)-" + (month < 10 ? "0\(month)" : "\(month)") }

    /// Whole years from `self` to `date` (an age).
    public func years(until date: LocalDate) -> Int {
        var years = date.year - year
        if (date.month, date.day) < (month, day) { years -= 1 }
        return years
    }
}
