import EventLog
import Foundation
@testable import Register
import Testing

/// The pieces of monthly invoicing that need no database: references, the calendar, and a child's month by the
/// absence rules and the 11-month cap.
@Suite("Invoicing rules: references, operational days, absences, the 11-month cap")
struct InvoiceRulesTests {
    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }

    @Test("Finnish reference numbers (7-3-1) and their RF form, as DOMAIN.md gives them")
    func references() {
        #expect(ReferenceNumber.finnish(base: "617435") == "6174354")
        #expect(ReferenceNumber.international("6174354") == "RF416174354")
        #expect(ReferenceNumber.isValidFinnish("6174354"))
        #expect(!ReferenceNumber.isValidFinnish("6174355"))
        #expect(ReferenceNumber.finnish(base: "12") == nil)  // a reference has at least 4 digits with its check digit
        #expect(ReferenceNumber.finnish(base: "12a4") == nil)
        #expect(ReferenceNumber.international("6174355") == nil)
        // Every base gives a reference that validates, and its RF form is 97-checkable (ISO 7064).
        for base in ["100", "1234567890123456789", "9000000", "4711202411"] {
            let reference = try! #require(ReferenceNumber.finnish(base: base))
            #expect(ReferenceNumber.isValidFinnish(reference))
            let rf = try! #require(ReferenceNumber.international(reference))
            let rearranged = String(rf.dropFirst(4)) + "2715" + String(rf.dropFirst(2).prefix(2))
            #expect(rearranged.reduce(0) { ($0 * 10 + Int(String($1))!) % 97 } == 1)
        }
    }

    @Test("operational days: weekdays without the Finnish holidays (Easter, Ascension, Midsummer Eve, Christmas …)")
    func operationalDays() throws {
        let holidays2024 = BillingCalendar.holidays(of: 2024)
        for day in ["2024-03-29", "2024-04-01", "2024-05-09", "2024-06-21", "2024-12-06", "2024-12-24", "2024-12-25", "2024-12-26", "2024-01-06"] {
            #expect(holidays2024.contains(Self.date(day)), "\(day)")
        }
        #expect(BillingCalendar.easterSunday(2025) == Self.date("2025-04-20"))
        #expect(BillingCalendar.easterSunday(2026) == Self.date("2026-04-05"))
        // October 2024: 23 weekdays, no holiday. December 2024: 22 weekdays less 6th, 24th, 25th, 26th.
        #expect(BillingCalendar.operationalDays(in: try BillingMonth("2024-10")).count == 23)
        #expect(BillingCalendar.operationalDays(in: try BillingMonth("2024-12")).count == 18)
        #expect(try BillingMonth("2025-07").operatingYearStart == BillingMonth("2024-08"))
        #expect(try BillingMonth("2025-08").operatingYearStart == BillingMonth("2025-08"))
        #expect(try BillingMonth("2024-12").adding(months: 1) == BillingMonth("2025-01"))
        for bad in ["2024-13", "2024-1", "24-10", "2024-10-01", ""] { #expect(throws: ConfigurationValueError.self) { try BillingMonth(bad) } }
    }

    static let child = PersonID(UUID())
    static let october = try! BillingMonth("2024-10")

    /// A decision charging the child `fee` € from `from`.
    static func decision(_ fee: Int, from: String, until: String? = nil) -> (from: LocalDate, until: LocalDate?, decision: FeeDecision?) {
        let calculation = FeeCalculation(tableValidFrom: date("2024-08-01"), coefficientsValidFrom: date("2023-03-01"), familySize: 3, income: .maximumFee,
                                         incomeLimit: nil, baseFee: "\(fee)", baseCapped: false,
                                         children: [.init(child: child, order: 1, sharePercent: 100, share: "\(fee)", shareCapped: false, rounded: fee,
                                                          hoursPerWeek: 40, coefficientPercent: 100, afterCoefficient: fee, belowMinimum: false, fee: fee)],
                                         total: fee)
        let decision = FeeDecision(id: UUID(), validFrom: date(from), validUntil: until.map(date), status: .fee, calculation: calculation, payer: nil,
                                   reason: nil, recordedAt: .now(), position: .start)
        return (date(from), until.map(date), decision)
    }

    static func placement(_ arrangement: Arrangement = .municipal, from: String = "2024-08-01", until: String? = nil) -> Placement {
        Placement(id: UUID(), unit: "u", arrangement: arrangement, start: date(from), end: until.map(date),
                  serviceNeeds: [.init(from: date(from), serviceNeed: ServiceNeed(hoursPerWeek: 40))])
    }

    /// October 2024 with the given operational days (by index 0…22) absent.
    static func attendance(sick: Range<Int> = 0..<0, other: Range<Int> = 0..<0) -> AttendanceMonth {
        var month = AttendanceMonth(child: child, month: "2024-10")
        let days = BillingCalendar.operationalDays(in: october)
        for index in sick { month.days[days[index], default: .init()].absence = .sick }
        for index in other { month.days[days[index], default: .init()].absence = .planned }
        return month
    }

    static func charge(_ attendance: AttendanceMonth = attendance(), decisions: [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)] = [decision(81, from: "2024-08-01")],
                       placements: [Placement] = [placement()], before: Int = 0) -> InvoiceLine {
        Registry.charge(child, in: october, periods: decisions, placements: placements, attendance: attendance, chargedMonthsBefore: before)
    }

    @Test("each absence rule: more than 10 sick days halves, 10 do not; sick all month is free; absent all month halves")
    func absenceRules() {
        #expect(Self.charge().dueCents == 8_100)
        #expect(Self.charge().rule == .full)
        #expect(Self.charge(Self.attendance(sick: 0..<10)).dueCents == 8_100)
        let eleven = Self.charge(Self.attendance(sick: 0..<11))
        #expect(eleven.rule == .sickOverTenDays && eleven.dueCents == 4_050 && eleven.sickDays == 11)
        let allSick = Self.charge(Self.attendance(sick: 0..<23))
        #expect(allSick.rule == .sickWholeMonth && allSick.dueCents == 0)
        let allAway = Self.charge(Self.attendance(sick: 0..<5, other: 5..<23))
        #expect(allAway.rule == .absentWholeMonth && allAway.dueCents == 4_050)
        let holiday = Self.charge(Self.attendance(other: 0..<22))
        #expect(holiday.rule == .full && holiday.dueCents == 8_100, "one day present: the whole fee")
    }

    @Test("part months are prorated by operational days; a decision changing mid-month weighs each by its days; vouchers are not invoiced")
    func proration() {
        // Care from Monday 14 October: 14 of 23 operational days.
        let late = Self.charge(placements: [Self.placement(from: "2024-10-14")])
        #expect(late.rule == .partMonth && late.careDays == 14 && late.dueCents == (8_100 * 14 * 2 + 23) / 46)
        // 81 € until 15 October (11 operational days), 100 € after (12).
        let changed = Self.charge(decisions: [Self.decision(81, from: "2024-08-01", until: "2024-10-15"), Self.decision(100, from: "2024-10-16")])
        #expect(changed.dueCents == ((81 * 11 + 100 * 12) * 100 * 2 + 23) / 46)
        #expect(changed.monthlyFee == 100 && changed.decisions.count == 2)
        // Sickness counts against the days in care: sick on all 14 days of a part month is a month sick.
        #expect(Self.charge(Self.attendance(sick: 9..<23), placements: [Self.placement(from: "2024-10-14")]).dueCents == 0)
        #expect(Self.charge(placements: [Self.placement(.serviceVoucher)]).dueCents == 0)
        #expect(Self.charge(placements: [Self.placement(.purchasedService)]).dueCents == 8_100)
        #expect(Self.charge(placements: []).dueCents == 0)
    }

    @Test("at most 11 charged months in an operating year")
    func elevenMonths() {
        #expect(Self.charge(before: 10).dueCents == 8_100)
        let twelfth = Self.charge(before: 11)
        #expect(twelfth.rule == .elevenMonths && twelfth.dueCents == 0)
    }
}
