import EventLog
import Foundation

// The ECEC client fee of a family (act 1503/2016, DOMAIN.md "ECEC client fee"), in the act's order:
// base → sibling share by age order → round → service-need coefficient → round → minimum rule → the municipality's
// own alterations (`FeeAlteration`: the act lets a municipality charge less than it sets, never more).
//
// All arithmetic is in integers: income in cents, the percentage in basis points, and the exact intermediate values
// at a fixed scale, so that a fee never depends on floating-point rounding and every step can be shown exactly.

/// A family's income for the fee.
public enum FeeIncome: Codable, Sendable, Hashable {
    /// Gross earned and capital income of the family's adults per month, in cents.
    case monthly(cents: Int)
    /// No income data given, or the family accepts the maximum fee: the maximum fee applies.
    case maximumFee
}

/// A child of the family in care that the act charges for (municipal, purchased service or voucher placement).
public struct FeeChild: Codable, Sendable, Hashable {
    public var child: PersonID
    public var birthDate: LocalDate
    public var hoursPerWeek: Int

    public init(child: PersonID, birthDate: LocalDate, hoursPerWeek: Int) {
        self.child = child
        self.birthDate = birthDate
        self.hoursPerWeek = hoursPerWeek
    }
}

/// A fee computed, with every step: what a decision records so that every euro is explained by the log.
public struct FeeCalculation: Codable, Sendable, Hashable {
    public var tableValidFrom: LocalDate
    public var coefficientsValidFrom: LocalDate
    public var familySize: Int
    public var income: FeeIncome
    /// Euros a month; absent for a maximum fee, which needs no limit.
    public var incomeLimit: Int?
    /// The full-time fee of the youngest child before rounding, in euros, exact (trailing zeros dropped: "80.785").
    public var baseFee: String
    /// The base reached the maximum fee and was capped there.
    public var baseCapped: Bool
    /// Youngest first.
    public var children: [ChildFee]
    /// The month's fees together, euros.
    public var total: Int

    public struct ChildFee: Codable, Sendable, Hashable {
        public var child: PersonID
        /// 1 for the youngest child in care.
        public var order: Int
        /// 100, 40 or 20.
        public var sharePercent: Int
        /// The sibling share before rounding, euros ("32.314").
        public var share: String
        /// The second child's maximum capped the share.
        public var shareCapped: Bool
        public var rounded: Int
        public var hoursPerWeek: Int
        public var coefficientPercent: Int
        public var afterCoefficient: Int
        /// Below the minimum fee, so nothing is charged.
        public var belowMinimum: Bool
        /// The municipality's alterations that changed this fee, in the order applied; absent when none did.
        public var alterations: [AppliedAlteration]? = nil
        /// Euros a month.
        public var fee: Int
    }

    /// One of the municipality's alterations as it changed a child's fee.
    public struct AppliedAlteration: Codable, Sendable, Hashable {
        /// The municipality's decision it rests on, as the tenant file names it.
        public var decision: String
        public var before: Int
        public var after: Int

        public init(decision: String, before: Int, after: Int) {
            self.decision = decision
            self.before = before
            self.after = after
        }
    }
}

/// Why a fee cannot be computed.
public struct FeeCalculationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let description: String
}

public enum FeeCalculator {
    /// Exact values carry 10^6 sub-units per cent: the basis points (10^4) and the sibling percent (10^2).
    static let scale = 1_000_000

    /// The fees of a family's children in care on `day`.
    /// - Throws: `no-fee-table` when no table, or no coefficient steps, are in force that day; `no-income-limits`
    ///   for an income while the table in force lacks the ministry's limits (the maximum fee needs none); `family-size` for a family under 2 or no child in care.
    public static func calculate(familySize: Int, income: FeeIncome, children: [FeeChild], rules: FeeRules, on day: LocalDate) throws(FeeCalculationError) -> FeeCalculation {
        guard let table = rules.table(on: day) else { throw FeeCalculationError(code: "no-fee-table", description: "No fee table is in force on \(day).") }
        guard let coefficients = rules.coefficients(on: day) else {
            throw FeeCalculationError(code: "no-fee-table", description: "No service-need coefficients are in force on \(day).")
        }
        // The family's size counts its adults and minor children (the fee family decides who they are); here only
        // that it is a family.
        guard familySize >= 2, !children.isEmpty else {
            throw FeeCalculationError(code: "family-size", description: "A fee family has at least two members and a child in care.")
        }
        let maximum = table.maximumFee * 100 * scale
        let base: Int
        var limit: Int?
        switch income {
        case .maximumFee:
            base = maximum
        case .monthly(let cents):
            guard let familyLimit = table.incomeLimit(familySize: familySize) else {
                throw FeeCalculationError(code: "no-income-limits",
                                          description: "The fee table in force from \(table.validFrom) has no income limits yet; enter the ministry's figures in the tenant file.")
            }
            limit = familyLimit
            // cents × basis points = cents × 10^4; × 100 more for the sibling percent's scale.
            base = max(0, cents - familyLimit * 100) * table.percentage.basisPoints * 100
        }
        let cappedBase = min(base, maximum)
        let alterations = rules.alterations(on: day)
        // Youngest first; twins in a stable order.
        let ordered = children.sorted { ($0.birthDate, $0.child.description) > ($1.birthDate, $1.child.description) }
        var fees: [FeeCalculation.ChildFee] = []
        for (index, child) in ordered.enumerated() {
            let percent = index == 0 ? 100 : index == 1 ? 40 : 20
            var share = cappedBase / 100 * percent
            var capped = false
            if index == 1, share > table.secondChildMaximum * 100 * scale {
                share = table.secondChildMaximum * 100 * scale
                capped = true
            }
            let rounded = roundedEuros(share)
            let coefficient = coefficients.percent(forHoursPerWeek: child.hoursPerWeek)
            let after = (rounded * coefficient + 50) / 100
            let below = after < table.minimumFee
            var fee = below ? 0 : after
            var applied: [FeeCalculation.AppliedAlteration] = []
            for alteration in alterations {
                let before = fee
                fee = alteration.apply(to: fee)
                // Only what changed a fee is part of it: a cap above the fee changes no decision.
                if fee != before { applied.append(.init(decision: alteration.decision, before: before, after: fee)) }
            }
            fees.append(.init(child: child.child, order: index + 1, sharePercent: percent, share: euros(share), shareCapped: capped, rounded: rounded,
                              hoursPerWeek: child.hoursPerWeek, coefficientPercent: coefficient, afterCoefficient: after, belowMinimum: below,
                              alterations: applied.isEmpty ? nil : applied, fee: fee))
        }
        return FeeCalculation(tableValidFrom: table.validFrom, coefficientsValidFrom: coefficients.validFrom, familySize: familySize, income: income,
                              incomeLimit: limit, baseFee: euros(cappedBase), baseCapped: base >= maximum, children: fees,
                              total: fees.reduce(0) { $0 + $1.fee })
    }

    /// Whole euros, half up.
    static func roundedEuros(_ scaled: Int) -> Int {
        let perEuro = 100 * scale
        return (scaled + perEuro / 2) / perEuro
    }

    /// An exact scaled amount as euros with the decimals it needs (at most eight).
    static func euros(_ scaled: Int) -> String {
        let perEuro = 100 * scale
        var fraction = String(scaled % perEuro)
        fraction = String(repeating: "0", count: 8 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(scaled / perEuro)" + (fraction.isEmpty ? "" : ".\(fraction)")
    }
}
