import EventLog
import Foundation

/// Checks of the values people type in, each naming its field; applied before anything is sealed or written.
public enum Check {
    /// Free text of a person's record: trimmed, 1–`limit` characters, no control characters.
    static func text(_ value: String, field: String, limit: Int = 200) throws(DomainError) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .invalid(field, "\(field) is empty") }
        guard trimmed.count <= limit else { throw .invalid(field, "\(field) has at most \(limit) characters") }
        guard !trimmed.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) && $0 != "\n" }) else {
            throw .invalid(field, "\(field) contains control characters")
        }
        return trimmed
    }

    static func optionalText(_ value: String?, field: String, limit: Int = 200) throws(DomainError) -> String? {
        guard let value else { return nil }
        return try text(value, field: field, limit: limit)
    }

    /// A code: 1–64 lower-case letters, digits and hyphens (unit codes, consent purposes, recipients).
    public static func code(_ value: String, field: String) throws(DomainError) -> String {
        guard (1...64).contains(value.utf8.count),
              value.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
            throw .invalid(field, "\(field) is a code of lower-case letters, digits and hyphens")
        }
        return value
    }

    /// An ISO 639 language code (`fi`, `sv`, `smn`).
    static func language(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value else { return nil }
        guard (2...3).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else {
            throw .invalid(field, "\(field) is an ISO 639 language code such as fi, sv or en")
        }
        return value
    }

    static func phone(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value else { return nil }
        let allowed = Set("+0123456789 -()".unicodeScalars)
        guard (5...20).contains(value.count), value.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw .invalid(field, "\(field) is a telephone number of digits, spaces and +-()")
        }
        return value
    }

    static func email(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value else { return nil }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard value.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !value.unicodeScalars.contains(where: { CharacterSet.whitespacesAndNewlines.contains($0) || CharacterSet.controlCharacters.contains($0) }) else {
            throw .invalid(field, "\(field) is an e-mail address")
        }
        return value
    }

    static func address(_ value: PostalAddress?, field: String) throws(DomainError) -> PostalAddress? {
        guard let value else { return nil }
        let postalCode = value.postalCode
        guard postalCode.count == 5, postalCode.allSatisfy(\.isASCII), postalCode.allSatisfy(\.isNumber) else {
            throw .invalid("\(field).postalCode", "\(field).postalCode is five digits")
        }
        return PostalAddress(street: try text(value.street, field: "\(field).street"), postalCode: postalCode,
                             city: try text(value.city, field: "\(field).city", limit: 60))
    }

    static func name(_ value: PersonName, field: String) throws(DomainError) -> PersonName {
        PersonName(first: try text(value.first, field: "\(field).first", limit: 100), last: try text(value.last, field: "\(field).last", limit: 100))
    }

    static func serviceNeed(_ value: ServiceNeed, field: String) throws(DomainError) -> ServiceNeed {
        guard (1...60).contains(value.hoursPerWeek) else { throw .invalid("\(field).hoursPerWeek", "\(field).hoursPerWeek is between 1 and 60") }
        return value
    }

    /// Details of a new person: every field checked, the identity code validated and the birth date taken from it.
    static func details(_ details: PersonDetails, kind: PersonKind, today: Date) throws(DomainError) -> PersonDetails {
        var checked = details
        if let code = details.identityCode {
            let identity: IdentityCode
            do { identity = try IdentityCode(code, today: today) } catch {
                throw .invalid("details.identityCode", "details.identityCode is not a valid personal identity code (\(identityProblem(error)))")
            }
            checked.identityCode = identity.value
            if let given = details.birthDate, given != identity.birthLocalDate {
                throw .invalid("details.birthDate", "details.birthDate differs from the date in the identity code")
            }
            checked.birthDate = identity.birthLocalDate
        }
        if kind == .child, checked.birthDate == nil {
            throw .invalid("details.birthDate", "a child needs an identity code or a birth date")
        }
        if let birth = checked.birthDate, birth > LocalDate.today(at: today) {
            throw .invalid("details.birthDate", "details.birthDate is in the future")
        }
        checked.name = try name(details.name, field: "details.name")
        checked.address = try address(details.address, field: "details.address")
        checked.motherTongue = try language(details.motherTongue, field: "details.motherTongue")
        checked.serviceLanguage = try language(details.serviceLanguage, field: "details.serviceLanguage")
        checked.phone = try phone(details.phone, field: "details.phone")
        checked.email = try email(details.email, field: "details.email")
        checked.profession = try optionalText(details.profession, field: "details.profession", limit: 100)
        return checked
    }

    static func patch(_ patch: PersonDetailsPatch) throws(DomainError) -> PersonDetailsPatch {
        var checked = patch
        if let name = patch.name { checked.name = try Check.name(name, field: "name") }
        checked.address = try address(patch.address, field: "address")
        checked.motherTongue = try language(patch.motherTongue, field: "motherTongue")
        checked.serviceLanguage = try language(patch.serviceLanguage, field: "serviceLanguage")
        checked.phone = try phone(patch.phone, field: "phone")
        checked.email = try email(patch.email, field: "email")
        checked.profession = try optionalText(patch.profession, field: "profession", limit: 100)
        if patch.cleared?.contains(.name) == true { throw .invalid("cleared", "a name cannot be cleared") }
        guard !checked.fields.isEmpty else { throw .invalid("", "the change names no field") }
        return checked
    }

    static func identityProblem(_ problem: IdentityCode.Problem) -> String {
        switch problem {
        case .malformed: "not of the form DDMMYYCZZZQ"
        case .unknownCenturySign: "unknown century sign"
        case .impossibleDate: "no such date"
        case .futureDate: "a date in the future"
        case .invalidIndividualNumber: "individual number below 002"
        case .wrongCheckCharacter: "wrong check character"
        }
    }
}
