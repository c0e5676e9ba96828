import Foundation

// Service vouchers as tenant data (act 1048/2025 from 1.1.2026, O24): the municipality's value tables with their
// validity, the settlement's cut-off day and the recipient its material goes to.

/// A tenant's voucher rules (`vouchers:` in the tenant file).
public struct VoucherRules: Codable, Sendable, Hashable {
    public var valueTables: [VoucherValueTable]
    /// The day of the following month on which a month's settlement is frozen (1–28): what is recorded after it flows
    /// into the next month's settlement as corrections.
    public var settlementCutOffDay: Int
    /// The regular recipient (the producers) that settlement material is a disclosure to.
    public var settlementRecipient: String

    public func table(on day: LocalDate) -> VoucherValueTable? {
        valueTables.first { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }
    }

    /// The day a month's settlement is frozen: the cut-off day of the following month.
    public func cutOff(of month: BillingMonth) -> LocalDate {
        let next = month.adding(months: 1)
        return (try? LocalDate(year: next.year, month: next.month, day: settlementCutOffDay)) ?? next.first
    }
}

/// One of the municipality's voucher value tables: euros a month, by age and service need.
public struct VoucherValueTable: Codable, Sendable, Hashable {
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// The value for a child of three or more in full-time care, euros a month.
    public var baseValue: Int
    /// The higher value for a child under three (until the first day of the month after the third birthday; the
    /// birthday itself when it is the 1st), euros a month.
    public var underThreeValue: Int
    /// The value's share by the service need option (weekly hours), like the fee's coefficient steps.
    public var serviceNeedCoefficients: [ServiceNeedCoefficients.Step]

    func percent(forHoursPerWeek hours: Int) -> Int {
        serviceNeedCoefficients.first { $0.upToHoursPerWeek.map { hours <= $0 } ?? true }?.percent ?? 100
    }
}

public enum VoucherValue {
    /// The first day the base value applies instead of the under-3 value: the first day of the month after the third
    /// birthday, or the birthday itself when it falls on the 1st. (Born on 29 February: the third birthday is taken
    /// as 1 March, so the base value applies from that day.)
    public static func baseValueFrom(birth: LocalDate) -> LocalDate {
        let third = (try? LocalDate(year: birth.year + 3, month: birth.month, day: birth.day))
            ?? (try? LocalDate(year: birth.year + 3, month: 3, day: 1)) ?? birth
        return third.day == 1 ? third : BillingMonth(containing: third).adding(months: 1).first
    }

    /// A child's voucher value for a month in cents, on `day`'s table: the age value × the service need share × the
    /// assistance-need coefficient (percent, 100 = 1.0), rounded half up to the cent. Nil when no table is in force.
    public static func monthlyCents(on day: LocalDate, birth: LocalDate, hoursPerWeek: Int, assistancePercent: Int, rules: VoucherRules) -> Int? {
        guard let table = rules.table(on: day) else { return nil }
        let euros = day < baseValueFrom(birth: birth) ? table.underThreeValue : table.baseValue
        let scaled = euros * 100 * table.percent(forHoursPerWeek: hoursPerWeek) * assistancePercent
        return (scaled + 5_000) / 10_000
    }
}

extension VoucherRules {
    func issues(at path: [ConfigurationIssue.PathComponent]) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        func add(_ suffix: [ConfigurationIssue.PathComponent], _ message: String) { issues.append(ConfigurationIssue(path + suffix, message)) }
        if !(1...28).contains(settlementCutOffDay) { add([.key("settlementCutOffDay")], "a day of the month, 1–28") }
        for (index, table) in valueTables.enumerated() {
            let at: [ConfigurationIssue.PathComponent] = [.key("valueTables"), .index(index)]
            if let until = table.validUntil, until < table.validFrom { add(at + [.key("validUntil")], "ends before it starts") }
            if table.baseValue <= 0 || table.underThreeValue < table.baseValue {
                add(at, "values are positive, and the under-3 value is at least the base value")
            }
            let steps = table.serviceNeedCoefficients
            let bounds = steps.compactMap(\.upToHoursPerWeek)
            if steps.isEmpty || steps.last?.upToHoursPerWeek != nil || steps.dropLast().contains(where: { $0.upToHoursPerWeek == nil })
                || zip(bounds, bounds.dropFirst()).contains(where: { $0 >= $1 }) || steps.contains(where: { !(1...100).contains($0.percent) }) {
                add(at + [.key("serviceNeedCoefficients")], "steps have growing upToHoursPerWeek bounds, the last none, and shares of 1–100 percent")
            }
            for other in valueTables[..<index] where FeeRules.overlap(other.validFrom, other.validUntil, table.validFrom, table.validUntil) {
                add(at + [.key("validFrom")], "overlaps the table valid from \(other.validFrom)")
            }
        }
        return issues
    }
}
