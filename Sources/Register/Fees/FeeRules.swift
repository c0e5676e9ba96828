import Foundation

// The ECEC client fee's rules as tenant data (act 1503/2016, O23): the ministry's fee tables with their validity, and
// the municipality's service-need coefficient steps. The arithmetic is in `FeeCalculator`.

/// A tenant's fee rules (`fees:` in the tenant file).
public struct FeeRules: Codable, Sendable, Hashable {
    /// The act's tables, each with the days it is in force; they may not overlap.
    public var tables: [FeeTable]
    /// The municipality's coefficients for part-time care, with the days they are in force.
    public var serviceNeedCoefficients: [ServiceNeedCoefficients]
    /// The municipality's own alterations to the act's fees (lower fees by its own decision), applied in this order
    /// after the minimum rule.
    public var alterations: [FeeAlteration]?
    /// How invoices are issued and exported; without it invoices are made but cannot be exported.
    public var invoicing: InvoicingSettings?

    /// The table in force on a day.
    public func table(on day: LocalDate) -> FeeTable? {
        tables.first { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }
    }

    /// The alterations in force on a day, in the order they apply.
    public func alterations(on day: LocalDate) -> [FeeAlteration] {
        (alterations ?? []).filter { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }
    }

    /// The coefficient steps in force on a day.
    public func coefficients(on day: LocalDate) -> ServiceNeedCoefficients? {
        serviceNeedCoefficients.first { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }
    }
}

/// One of the municipality's own alterations: the act lets a municipality charge lower fees than the act sets (never
/// higher), by its own decision. Each lowers every child's fee, after the act's minimum rule, in one of two ways.
public struct FeeAlteration: Codable, Sendable, Hashable {
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// The decision it rests on ("Kunnanvaltuusto 12.6.2026 § 45"), shown in every fee it changes. No personal data.
    public var decision: String
    /// Each fee is lowered by this share, to whole euros (half up).
    public var lowerByPercent: Percentage?
    /// Each child's fee is at most this many euros a month.
    public var maximumFee: Int?

    public init(validFrom: LocalDate, validUntil: LocalDate?, decision: String, lowerByPercent: Percentage? = nil, maximumFee: Int? = nil) {
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.decision = decision
        self.lowerByPercent = lowerByPercent
        self.maximumFee = maximumFee
    }

    /// A child's fee (euros) after this alteration.
    func apply(to fee: Int) -> Int {
        var result = fee
        if let percent = lowerByPercent { result = (fee * (10_000 - percent.basisPoints) + 5_000) / 10_000 }
        if let maximum = maximumFee { result = min(result, maximum) }
        return result
    }
}

/// The municipality's invoicing details (`fees.invoicing` in the tenant file).
public struct InvoicingSettings: Codable, Sendable, Hashable {
    /// The regular recipient (of one of the tenant's registers) that exports go to: the accounting office, on its
    /// legal basis. Each export is recorded as a disclosure to it.
    public var exportRecipient: String
    /// Days from the invoice date to the due date (default 14).
    public var paymentTermDays: Int?
    /// The account fees are paid to, for the Finvoice payment details.
    public var iban: String?
    public var bic: String?

    public var termDays: Int { paymentTermDays ?? 14 }

    /// Whether an IBAN's check digits are right (ISO 13616: mod 97 of the rearranged number is 1).
    static func isValidIBAN(_ iban: String) -> Bool {
        let compact = iban.replacingOccurrences(of: " ", with: "")
        guard (15...34).contains(compact.count), compact.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isUppercase) }) else { return false }
        let rearranged = compact.dropFirst(4) + compact.prefix(4)
        var remainder = 0
        for character in rearranged {
            let value = character.isNumber ? Int(String(character))! : Int(character.asciiValue! - 55)
            for digit in String(value) { remainder = (remainder * 10 + Int(String(digit))!) % 97 }
        }
        return remainder == 1
    }
}

/// One of the act's fee tables. Amounts are whole euros a month, as the decree gives them.
public struct FeeTable: Codable, Sendable, Hashable {
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// The fee of the youngest child in full-time care at most.
    public var maximumFee: Int
    /// The second child's fee at most (40 % of the maximum).
    public var secondChildMaximum: Int
    /// A fee below this is not charged.
    public var minimumFee: Int
    /// The share of the income above the limit (10.7 %).
    public var percentage: Percentage
    /// The income limits for families of 2, 3, 4, 5 and 6; absent while the ministry has not published them, and then
    /// no fee can be computed for a day this table is in force.
    public var incomeLimits: [Int]?
    /// Added to the limit of a family of 6 for each further child.
    public var furtherChildIncrement: Int?

    /// The income limit of a family of `size` (2 or more), in euros.
    public func incomeLimit(familySize size: Int) -> Int? {
        guard let limits = incomeLimits, limits.count == 5, let increment = furtherChildIncrement, size >= 2 else { return nil }
        return size <= 6 ? limits[size - 2] : limits[4] + (size - 6) * increment
    }
}

/// The municipality's service-need coefficient steps: the first step whose `upToHoursPerWeek` covers the child's
/// weekly hours gives the share of the full-time fee; the last step has no bound.
public struct ServiceNeedCoefficients: Codable, Sendable, Hashable {
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var steps: [Step]

    public struct Step: Codable, Sendable, Hashable {
        /// Up to and including this many hours a week; absent on the last step.
        public var upToHoursPerWeek: Int?
        /// The share of the full-time fee, in whole percent.
        public var percent: Int
    }

    /// The share, in percent, for a child in care `hours` a week.
    public func percent(forHoursPerWeek hours: Int) -> Int {
        steps.first { $0.upToHoursPerWeek.map { hours <= $0 } ?? true }?.percent ?? 100
    }
}

/// A percentage with at most two decimals, written as text (`"10.7"`), kept as basis points so that fee arithmetic
/// stays in integers.
public struct Percentage: TextValue, Sendable, Hashable {
    /// Hundredths of a percent: 10.7 % is 1070.
    public let basisPoints: Int

    public init(_ text: String) throws(ConfigurationValueError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let digits = { (part: Substring) in !part.isEmpty && part.allSatisfy { $0.isASCII && $0.isNumber } }
        guard (1...2).contains(parts.count), digits(parts[0]), let whole = Int(parts[0]), whole <= 100,
              parts.count == 1 || (parts[1].count <= 2 && digits(parts[1])) else {
            throw ConfigurationValueError("a percentage is written like \"10.7\" (at most two decimals)")
        }
        let fraction = parts.count == 2 ? Int(parts[1].padding(toLength: 2, withPad: "0", startingAt: 0))! : 0
        basisPoints = whole * 100 + fraction
        guard basisPoints <= 10_000 else { throw ConfigurationValueError("a percentage is at most 100") }
    }

    public var description: String {
        let fraction = basisPoints % 100
        return "\(basisPoints / 100)" + (fraction == 0 ? "" : fraction % 10 == 0 ? ".\(fraction / 10)" : (fraction < 10 ? ".0\(fraction)" : ".\(fraction)"))
    }
}

extension FeeRules {
    /// What is wrong with the rules beyond their shape, each with its path under `fees`.
    func issues(at path: [ConfigurationIssue.PathComponent]) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        func add(_ suffix: [ConfigurationIssue.PathComponent], _ message: String) { issues.append(ConfigurationIssue(path + suffix, message)) }
        for (index, table) in tables.enumerated() {
            let at: [ConfigurationIssue.PathComponent] = [.key("tables"), .index(index)]
            if let until = table.validUntil, until < table.validFrom { add(at + [.key("validUntil")], "ends before it starts") }
            if table.maximumFee <= 0 || table.minimumFee <= 0 || table.minimumFee > table.maximumFee {
                add(at, "the minimum fee is positive and below the maximum fee")
            }
            if table.secondChildMaximum <= 0 || table.secondChildMaximum > table.maximumFee {
                add(at + [.key("secondChildMaximum")], "the second child's maximum is positive and at most the maximum fee")
            }
            if let limits = table.incomeLimits {
                if limits.count != 5 { add(at + [.key("incomeLimits")], "five income limits: families of 2, 3, 4, 5 and 6") }
                if zip(limits, limits.dropFirst()).contains(where: { $0 >= $1 }) || limits.contains(where: { $0 <= 0 }) {
                    add(at + [.key("incomeLimits")], "the limits grow with the family")
                }
                if (table.furtherChildIncrement ?? 0) <= 0 { add(at + [.key("furtherChildIncrement")], "the increment per further child is given with the limits") }
            }
            for other in tables[..<index] where Self.overlap(other.validFrom, other.validUntil, table.validFrom, table.validUntil) {
                add(at + [.key("validFrom")], "overlaps the table valid from \(other.validFrom)")
            }
        }
        for (index, coefficients) in serviceNeedCoefficients.enumerated() {
            let at: [ConfigurationIssue.PathComponent] = [.key("serviceNeedCoefficients"), .index(index)]
            let steps = coefficients.steps
            if steps.isEmpty || steps.last?.upToHoursPerWeek != nil || steps.dropLast().contains(where: { $0.upToHoursPerWeek == nil }) {
                add(at + [.key("steps")], "steps have growing upToHoursPerWeek bounds, and the last has none")
            }
            let bounds = steps.compactMap(\.upToHoursPerWeek)
            if zip(bounds, bounds.dropFirst()).contains(where: { $0 >= $1 }) || zip(steps, steps.dropFirst()).contains(where: { $0.percent > $1.percent }) {
                add(at + [.key("steps")], "bounds and shares grow step by step")
            }
            // The act: at most 20 hours a week is charged at most 60 %, 35 hours or more is full time.
            if coefficients.percent(forHoursPerWeek: 20) > 60 { add(at + [.key("steps")], "20 hours a week or less is charged at most 60 % (act 1503/2016 § 6)") }
            if coefficients.percent(forHoursPerWeek: 35) != 100 { add(at + [.key("steps")], "35 hours a week or more is charged in full") }
            if steps.contains(where: { !(1...100).contains($0.percent) }) { add(at + [.key("steps")], "a share is 1–100 percent") }
            for other in serviceNeedCoefficients[..<index] where Self.overlap(other.validFrom, other.validUntil, coefficients.validFrom, coefficients.validUntil) {
                add(at + [.key("validFrom")], "overlaps the steps valid from \(other.validFrom)")
            }
        }
        for (index, alteration) in (alterations ?? []).enumerated() {
            let at: [ConfigurationIssue.PathComponent] = [.key("alterations"), .index(index)]
            if let until = alteration.validUntil, until < alteration.validFrom { add(at + [.key("validUntil")], "ends before it starts") }
            if alteration.decision.trimmingCharacters(in: .whitespaces).isEmpty || alteration.decision.count > 200 {
                add(at + [.key("decision")], "names the municipality's decision (at most 200 characters)")
            }
            if (alteration.lowerByPercent == nil) == (alteration.maximumFee == nil) {
                add(at, "either lowerByPercent or maximumFee, not both")
            }
            if let percent = alteration.lowerByPercent, percent.basisPoints == 0 { add(at + [.key("lowerByPercent")], "lowers the fee by more than 0 %") }
            if let maximum = alteration.maximumFee, maximum < 0 { add(at + [.key("maximumFee")], "a maximum fee is 0 euros or more") }
        }
        if let invoicing {
            let at: [ConfigurationIssue.PathComponent] = [.key("invoicing")]
            if !(1...90).contains(invoicing.termDays) { add(at + [.key("paymentTermDays")], "a payment term is 1–90 days") }
            if let iban = invoicing.iban, !InvoicingSettings.isValidIBAN(iban) { add(at + [.key("iban")], "not a valid IBAN (check digits)") }
        }
        return issues
    }

    static func overlap(_ a: LocalDate, _ aUntil: LocalDate?, _ b: LocalDate, _ bUntil: LocalDate?) -> Bool {
        (aUntil.map { b <= $0 } ?? true) && (bUntil.map { a <= $0 } ?? true)
    }
}
