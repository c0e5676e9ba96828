import EventLog
import Foundation

/// One problem in a tenant file: where (a path into the document, and the line once known) and what.
extension TenantConfiguration {
    /// What is wrong with the units' operators given the other tenants known (loaded or applied together, or in force
    /// in the log): an operator's tenant must be known, a private daycare, with the operator's business id.
    public func operatorIssues(known: [TenantID: TenantConfiguration]) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        for (index, unit) in units.enumerated() {
            guard let operatedBy = unit.operatedBy, let tenant = operatedBy.tenant else { continue }
            let path: [ConfigurationIssue.PathComponent] = [.key("units"), .index(index), .key("operatedBy"), .key("tenant")]
            guard let other = known[tenant] else {
                issues.append(ConfigurationIssue(path, "no tenant \(tenant) is known here: apply its file first, or together with this one"))
                continue
            }
            if other.kind != .privateDaycare { issues.append(ConfigurationIssue(path, "\(tenant) is not a private daycare")) }
            if other.businessID != operatedBy.businessID {
                issues.append(ConfigurationIssue(path, "\(tenant) has business id \(other.businessID), not \(operatedBy.businessID)"))
            }
        }
        return issues
    }
}

public struct ConfigurationIssue: Sendable, Hashable, CustomStringConvertible {
    public enum PathComponent: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var path: [PathComponent]
    public var message: String
    public var line: Int?

    public init(_ path: [PathComponent], _ message: String, line: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
    }

    /// `units[2].code`
    public var pathText: String {
        path.reduce(into: "") { text, component in
            switch component {
            case .key(let key): text += text.isEmpty ? key : ".\(key)"
            case .index(let index): text += "[\(index)]"
            }
        }
    }

    public var description: String { pathText.isEmpty ? message : "\(pathText): \(message)" }
}

extension TenantConfiguration {
    /// Everything wrong with the configuration beyond its shape (which decoding already checked).
    public func validationIssues() -> [ConfigurationIssue] {
        var issues = IssueList()
        if id.rawValue == "platform" {
            issues.add([.key("id")], "the id platform is reserved for the platform's own operator accounts")
        }
        if let coefficient = occupancy?.underThreeCoefficient, !(1...3).contains(coefficient) {
            issues.add([.key("occupancy"), .key("underThreeCoefficient")], "the coefficient of a child under 3 is between 1 and 3")
        }
        issues.text(name, at: [.key("name")])
        issues.items += fees?.issues(at: [.key("fees")]) ?? []
        if let vouchers {
            issues.items += vouchers.issues(at: [.key("vouchers")])
            if regularRecipient(vouchers.settlementRecipient)?.1.legalBasis == nil {
                issues.add([.key("vouchers"), .key("settlementRecipient")], "names no regular recipient with a legal basis in the tenant's registers")
            }
        }
        if let recipient = fees?.invoicing?.exportRecipient, regularRecipient(recipient)?.1.legalBasis == nil {
            issues.add([.key("fees"), .key("invoicing"), .key("exportRecipient")], "names no regular recipient with a legal basis in the tenant's registers")
        }
        if let website, !website.hasPrefix("https://") {
            issues.add([.key("website")], "a website is an https:// address")
        }
        for (index, controller) in (jointControllers ?? []).enumerated() {
            issues.text(controller.name, at: [.key("jointControllers"), .index(index), .key("name")])
        }
        if contacts.isEmpty { issues.add([.key("contacts")], "name at least one official contact point") }
        for (index, contact) in contacts.enumerated() {
            issues.contact(contact, at: [.key("contacts"), .index(index)])
        }
        issues.contact(dataProtectionOfficer, at: [.key("dataProtectionOfficer")])
        if dataProtectionOfficer.email == nil && dataProtectionOfficer.phone == nil {
            issues.add([.key("dataProtectionOfficer")], "the data-protection officer needs an official e-mail address or phone number")
        }
        issues.unique(units.map(\.code), at: [.key("units")], field: "code")
        for (index, unit) in units.enumerated() {
            let path: [ConfigurationIssue.PathComponent] = [.key("units"), .index(index)]
            issues.slug(unit.code, at: path + [.key("code")])
            issues.text(unit.name, at: path + [.key("name")])
            issues.address(unit.address, at: path + [.key("address")])
            if unit.arrangements.isEmpty { issues.add(path + [.key("arrangements")], "name how children are placed here") }
            if let operatedBy = unit.operatedBy {
                if operatedBy.name.trimmingCharacters(in: .whitespaces).isEmpty || operatedBy.name.count > 200 {
                    issues.add(path + [.key("operatedBy"), .key("name")], "the operator's name, at most 200 characters")
                }
                if operatedBy.tenant == id { issues.add(path + [.key("operatedBy"), .key("tenant")], "a tenant's own units need no operator") }
            }
        }
        if registers.isEmpty { issues.add([.key("registers")], "a tenant keeps at least one register") }
        issues.unique(registers.map(\.id), at: [.key("registers")], field: "id")
        for (index, register) in registers.enumerated() {
            issues.register(register, at: [.key("registers"), .index(index)], units: Set(units.map(\.code)))
            // A recipient id names its disclosure stream: unique across the registers, and a code.
            for (recipientIndex, recipient) in register.recipients.enumerated() {
                let path: [ConfigurationIssue.PathComponent] = [.key("registers"), .index(index), .key("recipients"), .index(recipientIndex), .key("id")]
                if registers[..<index].contains(where: { $0.recipients.contains { $0.id == recipient.id } }) {
                    issues.add(path, "\(recipient.id) is already a recipient of another register; recipient ids are unique in the tenant")
                }
                issues.slug(recipient.id, at: path)
            }
        }
        if roles.isEmpty { issues.add([.key("roles")], "define the tenant's roles") }
        issues.unique(roles.map(\.id), at: [.key("roles")], field: "id")
        for (index, role) in roles.enumerated() {
            let path: [ConfigurationIssue.PathComponent] = [.key("roles"), .index(index)]
            issues.slug(role.id, at: path + [.key("id")])
            issues.text(role.name, at: path + [.key("name")])
            if role.permissions.isEmpty { issues.add(path + [.key("permissions")], "a role has at least one permission") }
            if Set(role.permissions).count != role.permissions.count { issues.add(path + [.key("permissions")], "a permission is listed twice") }
            if role.scope == .units, let broad = role.permissions.first(where: { [.tenantConfigure, .usersManage, .subjectRequestsManage].contains($0) }) {
                issues.add(path + [.key("permissions")], "a role limited to units cannot have \(broad.rawValue)")
            }
        }
        if !roles.contains(where: { $0.permissions.contains(.usersManage) }) {
            issues.add([.key("roles")], "some role must have users.manage, or nobody can give anyone access")
        }
        return issues.items
    }
}

/// Collects issues; the checks shared by several parts of the file.
private struct IssueList {
    var items: [ConfigurationIssue] = []
    typealias Path = [ConfigurationIssue.PathComponent]

    mutating func add(_ path: Path, _ message: String) { items.append(ConfigurationIssue(path, message)) }

    mutating func text(_ text: LocalizedText, at path: Path) {
        if text.fi.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { add(path, "the Finnish text is empty") }
    }

    mutating func slug(_ value: String, at path: Path) {
        let bytes = Array(value.utf8)
        let valid = (1...63).contains(bytes.count) && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.first != 0x2D && bytes.last != 0x2D
        if !valid { add(path, "an id is 1–63 characters of a-z, 0-9 and '-'") }
    }

    mutating func unique(_ values: [String], at path: Path, field: String) {
        var seen = Set<String>()
        for (index, value) in values.enumerated() where !seen.insert(value).inserted {
            add(path + [.index(index), .key(field)], "'\(value)' is used twice")
        }
    }

    mutating func address(_ address: PostalAddress, at path: Path) {
        if address.street.isEmpty { add(path + [.key("street")], "the street is empty") }
        if address.city.isEmpty { add(path + [.key("city")], "the city is empty") }
        if address.postalCode.utf8.count != 5 || !address.postalCode.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            add(path + [.key("postalCode")], "a postal code is five digits")
        }
    }

    mutating func contact(_ contact: Contact, at path: Path) {
        slug(contact.role, at: path + [.key("role")])
        text(contact.title, at: path + [.key("title")])
        if let email = contact.email {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            if parts.count != 2 || parts[0].isEmpty || !parts[1].contains(".") || email.contains(where: \.isWhitespace) {
                add(path + [.key("email")], "not an e-mail address")
            }
        }
        if let phone = contact.phone, phone.isEmpty || !phone.allSatisfy({ $0.isNumber || " +()-".contains($0) }) {
            add(path + [.key("phone")], "a phone number has digits, spaces, +, ( ) and - only")
        }
        if let address = contact.address { self.address(address, at: path + [.key("address")]) }
        if contact.email == nil && contact.phone == nil && contact.address == nil {
            add(path, "a contact needs an e-mail address, a phone number or an address")
        }
    }

    mutating func register(_ register: RegisterDefinition, at path: Path, units knownUnits: Set<String>) {
        slug(register.id, at: path + [.key("id")])
        text(register.name, at: path + [.key("name")])
        for (field, count) in [("purposes", register.purposes.count), ("legalBases", register.legalBases.count),
                               ("dataCategories", register.dataCategories.count), ("sources", register.sources.count),
                               ("retention", register.retention.count)] where count == 0 {
            add(path + [.key(field)], "list at least one")
        }
        unique(register.dataCategories.map(\.id), at: path + [.key("dataCategories")], field: "id")
        unique(register.recipients.map(\.id), at: path + [.key("recipients")], field: "id")
        for (index, recipient) in register.recipients.enumerated() where recipient.id == ManualDisclosure.guardianRecipient {
            add(path + [.key("recipients"), .index(index), .key("id")], "guardian is reserved for hand-overs to a subject's guardian")
        }
        for (index, recipient) in register.recipients.enumerated() {
            guard let feed = recipient.feed else { continue }
            let at = path + [.key("recipients"), .index(index), .key("feed")]
            for type in feed.events where !FeedField.eventTypes.contains(type) {
                add(at + [.key("events")], "\(type) is not an event a feed carries (\(FeedField.eventTypes.sorted().joined(separator: ", ")))")
            }
            if feed.shape == .statisticsExtract {
                if !feed.events.isEmpty || !feed.fields.isEmpty {
                    add(at + [.key("events")], "a statistics extract carries counts: it lists no events or fields")
                }
                if feed.from == nil { add(at + [.key("from")], "a statistics extract names the date its first period holds (from)") }
                if feed.units != nil || feed.consentPurpose != nil || feed.protectedData != nil {
                    add(at, "a statistics extract carries no person: units, consentPurpose and protectedData do not apply")
                }
                continue
            }
            if feed.period != nil || feed.from != nil { add(at, "period and from belong to a statistics extract (shape: statistics-extract)") }
            if feed.events.isEmpty { add(at + [.key("events")], "a feed carries at least one event type") }
            if feed.shape == .careRelationships, !Set(feed.events).isSubset(of: ["PlacementMade", "PlacementEnded"]) {
                add(at + [.key("events")], "a care-relationships feed reads PlacementMade and PlacementEnded only")
            }
            if feed.fields.isEmpty { add(at + [.key("fields")], "a feed carries at least one field") }
            if recipient.requiresConsent == true, feed.consentPurpose == nil {
                add(at + [.key("consentPurpose")], "a recipient that depends on consent names the consent purpose its feed depends on (O8)")
            }
            for unit in feed.units ?? [] where !knownUnits.contains(unit) {
                add(at + [.key("units")], "\(unit) is not one of the tenant's units")
            }
        }
        for (index, recipient) in register.recipients.enumerated() where recipient.legalBasis == nil && recipient.requiresConsent != true {
            add(path + [.key("recipients"), .index(index)], "a recipient needs a legal basis, or requiresConsent: true (O7)")
        }
        if register.transfersOutsideEEA { add(path + [.key("transfersOutsideEEA")], "the platform transfers nothing outside the EU/EEA (O11)") }
        if register.marketing { add(path + [.key("marketing")], "the platform discloses nothing for marketing (O11)") }
        if register.automatedDecisions { add(path + [.key("automatedDecisions")], "the platform makes no automated decisions about people (O12)") }
        for (index, rule) in register.retention.enumerated() {
            let rulePath = path + [.key("retention"), .index(index)]
            slug(rule.documentClass, at: rulePath + [.key("documentClass")])
            switch (rule.period, rule.permanent == true) {
            case (nil, false): add(rulePath, "a retention rule has a period, or permanent: true")
            case (_?, true): add(rulePath, "a retention rule is either permanent or has a period, not both")
            case (_?, false) where rule.from == nil: add(rulePath + [.key("from")], "say what the period counts from")
            default: break
            }
            if let until = rule.validUntil, until < rule.validFrom { add(rulePath + [.key("validUntil")], "ends before it starts") }
            if let days = rule.keepPermanentlyIfBornOnDays, !days.allSatisfy({ (1...31).contains($0) }) {
                add(rulePath + [.key("keepPermanentlyIfBornOnDays")], "days of a month are 1–31")
            }
        }
        // Two rules for one document class may not be in force on the same day.
        for (index, rule) in register.retention.enumerated() {
            for other in register.retention[..<index] where other.documentClass == rule.documentClass {
                let overlaps = (other.validUntil.map { rule.validFrom <= $0 } ?? true) && (rule.validUntil.map { other.validFrom <= $0 } ?? true)
                if overlaps {
                    add(path + [.key("retention"), .index(index), .key("validFrom")], "overlaps another rule for '\(rule.documentClass)'")
                }
            }
        }
    }
}
