import EventLog
import Foundation
@testable import Register
import Testing

/// Voucher values (act 1048/2025) on the demo municipality's table: the under-3 value until the first day of the month
/// after the third birthday (the birthday itself when it is the 1st), service-need shares, the assistance coefficient,
/// and a settlement line's proration.
@Suite("Service vouchers: values and settlement lines")
struct VoucherValueTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized
    static let rules: VoucherRules = try! #require(try TenantFile.load(tenantsDirectory.appendingPathComponent("esimerkkila.yaml")).vouchers)
    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }

    @Test("the under-3 value lasts until the first day of the month after the third birthday, or the birthday itself on the 1st")
    func thirdBirthday() {
        #expect(VoucherValue.baseValueFrom(birth: Self.date("2023-05-20")) == Self.date("2026-06-01"))
        #expect(VoucherValue.baseValueFrom(birth: Self.date("2023-06-01")) == Self.date("2026-06-01"), "born on the 1st: from the birthday")
        #expect(VoucherValue.baseValueFrom(birth: Self.date("2023-06-02")) == Self.date("2026-07-01"))
        #expect(VoucherValue.baseValueFrom(birth: Self.date("2023-12-31")) == Self.date("2027-01-01"))
        #expect(VoucherValue.baseValueFrom(birth: Self.date("2020-02-29")) == Self.date("2023-03-01"))
        func value(_ day: String, birth: String, hours: Int = 40, assistance: Int = 100) -> Int? {
            VoucherValue.monthlyCents(on: Self.date(day), birth: Self.date(birth), hoursPerWeek: hours, assistancePercent: assistance, rules: Self.rules)
        }
        #expect(value("2026-05-31", birth: "2023-06-01") == 160_000)
        #expect(value("2026-06-01", birth: "2023-06-01") == 105_000)
        #expect(value("2026-06-30", birth: "2023-06-02") == 160_000)
        #expect(value("2026-07-01", birth: "2023-06-02") == 105_000)
        #expect(value("2026-07-01", birth: "2023-06-02", hours: 20) == 63_000, "20 hours a week: 60 %")
        #expect(value("2026-07-01", birth: "2023-06-02", hours: 30, assistance: 150) == 133_875, "85 % × 1.5")
        #expect(value("2025-12-31", birth: "2023-06-02") == nil, "no table before 2026")
        #expect(Self.rules.cutOff(of: try! BillingMonth("2026-12")) == Self.date("2027-01-10"))
    }

    static let child = PersonRecord(id: PersonID(UUID()), kind: .child, details: PersonDetails(name: PersonName(first: "A", last: "B"), birthDate: date("2022-01-15")),
                                    isErased: false, nonDisclosure: false, version: 1, registeredAt: .now(), updatedAt: .now())

    static func fee(_ euros: Int, status: FeeDecisionStatus = .fee) -> [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)] {
        let calculation = FeeCalculation(tableValidFrom: date("2026-08-01"), coefficientsValidFrom: date("2017-03-01"), familySize: 2, income: .maximumFee,
                                         incomeLimit: nil, baseFee: "\(euros)", baseCapped: true,
                                         children: [.init(child: child.id, order: 1, sharePercent: 100, share: "\(euros)", shareCapped: false, rounded: euros,
                                                          hoursPerWeek: 40, coefficientPercent: 100, afterCoefficient: euros, belowMinimum: false, fee: euros)],
                                         total: euros)
        return [(date("2026-08-01"), nil, FeeDecision(id: UUID(), validFrom: date("2026-08-01"), validUntil: nil, status: status,
                                                     calculation: status == .fee ? calculation : nil, payer: nil, reason: status == .pending ? "no-income-limits" : nil,
                                                     recordedAt: .now(), position: .start))]
    }

    @Test("a settlement line: value less co-payment, prorated by the days the producer recorded of the days the voucher covers")
    func lines() throws {
        let august = try BillingMonth("2026-08")  // 21 operational days
        var voucher = Voucher(id: UUID(), producer: "p", validFrom: Self.date("2026-08-01"), validUntil: nil, hoursPerWeek: 40, assistancePercent: 100)
        let unrecorded = try #require(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(335), rules: Self.rules))
        #expect(unrecorded.status == .notRecorded && unrecorded.dueCents == 0 && unrecorded.operationalDays == 21)
        voucher.services[august] = 21
        let full = try #require(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(335), rules: Self.rules))
        #expect(full.status == .payable && full.valueCents == 105_000 && full.coPaymentCents == 33_500 && full.dueCents == 71_500)
        voucher.services[august] = 11
        #expect(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(335), rules: Self.rules)?.dueCents == (71_500 * 11 * 2 + 21) / 42)
        // A voucher from Monday 17 August: 11 of 21 days covered, value and co-payment for those days.
        var late = Voucher(id: UUID(), producer: "p", validFrom: Self.date("2026-08-17"), validUntil: nil, hoursPerWeek: 40, assistancePercent: 100)
        late.services[august] = 11
        let part = try #require(Registry.settlementLine(child: Self.child, voucher: late, month: august, fees: Self.fee(335), rules: Self.rules))
        #expect(part.coveredDays == 11 && part.valueCents == (105_000 * 11 * 2 + 21) / 42 && part.coPaymentCents == (33_500 * 11 * 2 + 21) / 42)
        #expect(part.dueCents == part.valueCents - part.coPaymentCents)
        // A pending fee decision holds the line; no fee decided at all is 0 € co-payment.
        #expect(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(0, status: .pending), rules: Self.rules)?.status == .noFeeDecision)
        #expect(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: [], rules: Self.rules)?.status == .noFeeDecision)
        #expect(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(0, status: .noFee), rules: Self.rules)?.coPaymentCents == 0)
        // The co-payment never exceeds the value.
        voucher.hoursPerWeek = 20
        voucher.services[august] = 21
        let small = try #require(Registry.settlementLine(child: Self.child, voucher: voucher, month: august, fees: Self.fee(700), rules: Self.rules))
        #expect(small.coPaymentCents == small.valueCents && small.dueCents == 0)
        #expect(Registry.settlementLine(child: Self.child, voucher: late, month: try BillingMonth("2026-07"), fees: [], rules: Self.rules) == nil)
    }
}
