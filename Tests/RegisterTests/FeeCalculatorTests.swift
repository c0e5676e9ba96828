import EventLog
import Foundation
import PropertyBased
import Register
import Testing

/// The ECEC client fee (act 1503/2016) as DOMAIN.md states it, on the tables shipped in the municipalities' tenant files.
@Suite("Client fees: the act's formula")
struct FeeCalculatorTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized
    static let rules: FeeRules = try! #require(try TenantFile.load(tenantsDirectory.appendingPathComponent("esimerkkila.yaml")).fees)
    static let day2024 = try! LocalDate("2025-01-15")

    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }

    /// Children in full-time care born a year apart, the first given the oldest.
    static func children(_ count: Int, hours: Int = 40) -> [FeeChild] {
        (0..<count).map { FeeChild(child: .random(), birthDate: date("2019-03-01").adding(days: 365 * $0), hoursPerWeek: hours) }
    }

    static func fees(familySize: Int = 3, income euros: Int?, children: [FeeChild], on day: LocalDate = day2024) throws -> FeeCalculation {
        try FeeCalculator.calculate(familySize: familySize, income: euros.map { .monthly(cents: $0 * 100) } ?? .maximumFee, children: children, rules: rules, on: day)
    }

    @Test("the worked example: 2024 figures, family of 3, 6 000 €/month → 81 €, 32 €, and 16 € which is below the minimum, so 0 €")
    func workedExample() throws {
        let children = Self.children(3)
        let calculation = try Self.fees(income: 6_000, children: children)
        #expect(calculation.incomeLimit == 5_245)
        #expect(calculation.baseFee == "80.785")
        #expect(calculation.children.map(\.fee) == [81, 32, 0])
        #expect(calculation.children.map(\.rounded) == [81, 32, 16])
        #expect(calculation.children.map(\.sharePercent) == [100, 40, 20])
        #expect(calculation.children.map(\.belowMinimum) == [false, false, true])
        #expect(calculation.children.map(\.child) == children.reversed().map(\.child), "the youngest first")
        #expect(calculation.total == 113)
    }

    @Test("the limits of the table: income at the limit, the minimum's edge, the cap, the second child's maximum, no income data")
    func boundaries() throws {
        let one = Self.children(1)
        #expect(try Self.fees(income: 5_245, children: one).children[0].fee == 0, "income exactly at the limit: nothing above it")
        // 0.107 × 276 = 29.532 → 30, the minimum: charged. 0.107 × 275 = 29.425 → 29: not charged.
        #expect(try Self.fees(income: 5_245 + 276, children: one).children[0].fee == 30)
        let below = try Self.fees(income: 5_245 + 275, children: one).children[0]
        #expect(below.rounded == 29 && below.belowMinimum && below.fee == 0)
        // 0.107 × 2 906.54… reaches 311: capped from there on.
        let capped = try Self.fees(income: 20_000, children: Self.children(3))
        #expect(capped.baseCapped && capped.baseFee == "311")
        #expect(capped.children.map(\.fee) == [311, 124, 62], "the second child's maximum caps 40 %: 124.4 → 124; the third 20 %: 62.2 → 62")
        #expect(capped.children[1].shareCapped && !capped.children[2].shareCapped)
        let exactly = try Self.fees(income: 5_245 + 2_907, children: one)
        #expect(exactly.children[0].fee == 311)
        #expect(try Self.fees(income: 5_245 + 2_900, children: one).children[0].fee == 310, "0.107 × 2 900 = 310.3")
        #expect(try Self.fees(income: nil, children: Self.children(2)).children.map(\.fee) == [311, 124], "no income data: the maximum fee")
        // A family of 8: the limit of 6 plus two further children.
        #expect(try Self.fees(familySize: 8, income: 9_000, children: one).incomeLimit == 7_376 + 2 * 275)
    }

    @Test("sibling order follows age, whatever order the children are given in")
    func siblingOrder() throws {
        let children = Self.children(3)
        let forwards = try Self.fees(income: 9_000, children: children)
        let shuffled = try Self.fees(income: 9_000, children: [children[1], children[2], children[0]])
        #expect(forwards == shuffled)
        #expect(forwards.children.map(\.child) == [children[2].child, children[1].child, children[0].child])
        #expect(forwards.children.map(\.order) == [1, 2, 3])
    }

    @Test("the service-need coefficient applies after rounding, then the minimum rule")
    func serviceNeed() throws {
        let expected = [(20, 60), (21, 70), (25, 70), (26, 85), (34, 85), (35, 100), (50, 100)]
        for (hours, percent) in expected {
            let calculation = try Self.fees(income: 8_000, children: Self.children(1, hours: hours))
            #expect(calculation.children[0].coefficientPercent == percent, "\(hours) h/week")
        }
        // 0.107 × 2 755 = 294.785 → 295; × 85 % = 250.75 → 251.
        let part = try Self.fees(income: 8_000, children: Self.children(1, hours: 30)).children[0]
        #expect(part.rounded == 295 && part.afterCoefficient == 251 && part.fee == 251)
        // 0.107 × 420 = 44.94 → 45; × 60 % = 27 → below 30: nothing.
        let small = try Self.fees(income: 5_245 + 420, children: Self.children(1, hours: 20)).children[0]
        #expect(small.rounded == 45 && small.afterCoefficient == 27 && small.belowMinimum && small.fee == 0)
    }

    @Test("the table in force on the day decides; a table without the ministry's limits says so")
    func tablesByDate() throws {
        let one = Self.children(1)
        #expect(try Self.fees(income: nil, children: one, on: Self.date("2024-07-31")).children[0].fee == 295)
        #expect(try Self.fees(income: nil, children: one, on: Self.date("2024-08-01")).children[0].fee == 311)
        #expect(try Self.fees(income: 6_000, children: one, on: Self.date("2024-07-31")).incomeLimit == 4_998)
        // The maximum fee needs no income limit, so it is charged while the ministry's limits are missing.
        #expect(try Self.fees(income: nil, children: one, on: Self.date("2026-08-01")).children[0].fee == 335)
        for (day, code) in [("2026-08-01", "no-income-limits"), ("2023-02-28", "no-fee-table")] {
            let error = #expect(throws: FeeCalculationError.self) { try Self.fees(income: 6_000, children: one, on: Self.date(day)) }
            #expect(error?.code == code)
        }
        let noChild = #expect(throws: FeeCalculationError.self) { try Self.fees(income: 6_000, children: []) }
        #expect(noChild?.code == "family-size")
    }

    @Test("the municipality's alterations come last: a percentage off, a lower cap, each in force on its own days and named in the fee")
    func alterations() throws {
        var rules = Self.rules
        rules.alterations = [
            FeeAlteration(validFrom: Self.date("2024-09-01"), validUntil: nil, decision: "Valtuusto 1/2024 § 1", lowerByPercent: try Percentage("10")),
            FeeAlteration(validFrom: Self.date("2024-10-01"), validUntil: Self.date("2024-12-31"), decision: "Valtuusto 2/2024 § 2", maximumFee: 250),
        ]
        func fees(_ day: String, income: FeeIncome = .maximumFee, familySize: Int = 4) throws -> FeeCalculation {
            try FeeCalculator.calculate(familySize: familySize, income: income, children: Self.children(3), rules: rules, on: Self.date(day))
        }
        // The maximum fee: 311 €, the second child's 124 €, the third 20 % of 311 € = 62 €.
        let before = try fees("2024-08-31")
        #expect(before.children.map(\.fee) == [311, 124, 62] && before.children.allSatisfy { $0.alterations == nil })
        // 10 % off, half up: 279.9 → 280, 111.6 → 112, 55.8 → 56.
        let lowered = try fees("2024-09-01")
        #expect(lowered.children.map(\.fee) == [280, 112, 56] && lowered.total == 448)
        #expect(lowered.children[0].alterations == [.init(decision: "Valtuusto 1/2024 § 1", before: 311, after: 280)])
        // Then the cap of 250 € a child, in the order the file gives.
        let capped = try fees("2024-10-15")
        #expect(capped.children.map(\.fee) == [250, 112, 56])
        #expect(capped.children[0].alterations?.map(\.after) == [280, 250] && capped.children[1].alterations?.map(\.after) == [112],
                "an alteration that changes nothing is not part of the fee")
        #expect(try fees("2025-01-01").children.map(\.fee) == [280, 112, 56], "the cap ended with 2024")
        // The act's minimum rule comes before the alterations: a fee under the minimum stays 0, and a fee lowered
        // under the minimum is charged as lowered (the municipality charges less, never nothing by accident).
        let worked = try fees("2024-09-01", income: .monthly(cents: 600_000), familySize: 3)
        #expect(worked.children.map(\.afterCoefficient) == [81, 32, 16] && worked.children.map(\.fee) == [73, 29, 0])
        #expect(worked.children[2].belowMinimum && worked.children[2].alterations == nil, "0 stays 0")
    }

    @Test("alterations are checked on load: one kind each, a decision named, a real reduction")
    func alterationValidation() throws {
        var configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
        configuration.fees?.alterations = [
            FeeAlteration(validFrom: Self.date("2025-01-01"), validUntil: Self.date("2024-12-31"), decision: "V 1", lowerByPercent: try Percentage("5"), maximumFee: 200),
            FeeAlteration(validFrom: Self.date("2025-01-01"), validUntil: nil, decision: " ", lowerByPercent: try Percentage("0")),
            FeeAlteration(validFrom: Self.date("2025-01-01"), validUntil: nil, decision: "V 3"),
        ]
        let issues = configuration.validationIssues().map(\.description)
        #expect(issues.contains { $0.hasPrefix("fees.alterations[0].validUntil") })
        #expect(issues.contains { $0.hasPrefix("fees.alterations[0]") && $0.contains("not both") })
        #expect(issues.contains { $0.hasPrefix("fees.alterations[1].decision") })
        #expect(issues.contains { $0.hasPrefix("fees.alterations[1].lowerByPercent") })
        #expect(issues.contains { $0.hasPrefix("fees.alterations[2]") && $0.contains("not both") })
        #expect(issues.count == 5, "\(issues)")
    }

    @Test("properties: never above the maximum, never lower for a higher income, and either nothing or at least the minimum")
    func properties() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...2_000_000), Gen.int(in: 0...300_000), Gen.int(in: 1...4), Gen.int(in: 10...50), Gen.int(in: 2...9)) {
            income, raise, count, hours, extra in
            let children = Self.children(count, hours: hours)
            let familySize = count + extra % 3 + 1
            guard let lower = try? FeeCalculator.calculate(familySize: familySize, income: .monthly(cents: income), children: children, rules: Self.rules, on: Self.day2024),
                  let higher = try? FeeCalculator.calculate(familySize: familySize, income: .monthly(cents: income + raise), children: children, rules: Self.rules,
                                                          on: Self.day2024) else {
                Issue.record("no fee for family of \(familySize)")
                return
            }
            for (low, high) in zip(lower.children, higher.children) {
                #expect(high.fee <= 311 && (high.order != 2 || high.fee <= 124))
                #expect(low.fee <= high.fee, "\(income) → \(income + raise) cents lowered a fee")
                #expect(high.fee == 0 || high.fee >= 30)
            }
            #expect(lower.total <= higher.total)
        }
    }

    @Test("fee rules are checked on load: overlapping tables, the act's limits on part-time shares, percentages")
    func validation() throws {
        var rules = Self.rules
        rules.tables.append(rules.tables[0])
        rules.serviceNeedCoefficients[0].steps[0].percent = 65
        var configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
        configuration.fees = rules
        let issues = configuration.validationIssues().map(\.description)
        #expect(issues.contains { $0.hasPrefix("fees.tables[3].validFrom") && $0.contains("overlaps") })
        #expect(issues.contains { $0.hasPrefix("fees.serviceNeedCoefficients[0].steps") && $0.contains("60 %") })
        #expect(try Percentage("10.7").basisPoints == 1_070 && Percentage("10.7").description == "10.7")
        #expect(try Percentage("0.05").basisPoints == 5)
        for bad in ["10,7", "10.", "10.755", "-1", "101", "abc"] {
            #expect(throws: ConfigurationValueError.self, "\(bad)") { try Percentage(bad) }
        }
    }
}
