import Foundation

/// A calendar month, `YYYY-MM`: the unit of invoicing and settlement.
public struct BillingMonth: TextValue, Sendable, Hashable, Comparable {
    public let year: Int
    public let month: Int

    public init(year: Int, month: Int) throws(ConfigurationValueError) {
        guard (2000...2199).contains(year), (1...12).contains(month) else { throw ConfigurationValueError("a month is written YYYY-MM") }
        self.year = year
        self.month = month
    }

    public init(_ text: String) throws(ConfigurationValueError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let year = Int(parts[0]), let month = Int(parts[1]) else { throw ConfigurationValueError("a month is written YYYY-MM") }
        try self.init(year: year, month: month)
    }

    public init(containing date: LocalDate) {
        year = date.year
        month = date.month
    }

    public var description: String { "\(year)-" + (month < 10 ? "0\(month)" : "\(month)") }

    // The month's year (2000–2199) and month are checked on creation, so its days are always valid dates.
    public var first: LocalDate { try! LocalDate(year: year, month: month, day: 1) }
    public var last: LocalDate { try! LocalDate(year: year, month: month, day: LocalDate.days(inMonth: month, of: year)) }
    public var days: [LocalDate] { (first.dayNumber...last.dayNumber).map { try! LocalDate(dayNumber: $0) } }

    public func adding(months: Int) -> BillingMonth {
        let index = year * 12 + (month - 1) + months
        return (try? BillingMonth(year: index / 12, month: index % 12 + 1)) ?? self
    }

    /// The first month (August) of the operating year (1.8.–31.7.) this month belongs to.
    public var operatingYearStart: BillingMonth { (try? BillingMonth(year: month >= 8 ? year : year - 1, month: 8)) ?? self }

    public static func < (lhs: BillingMonth, rhs: BillingMonth) -> Bool { (lhs.year, lhs.month) < (rhs.year, rhs.month) }
}

/// Operational days: the days a daycare is open for every child, Monday to Friday except Finnish public holidays and
/// Midsummer Eve. The act's absence rules and the vouchers' proration count these.
public enum BillingCalendar {
    public static func operationalDays(in month: BillingMonth) -> [LocalDate] {
        let holidays = holidays(of: month.year)
        return month.days.filter { $0.isoWeekday <= 5 && !holidays.contains($0) }
    }

    /// New Year's Day, Epiphany, Good Friday, Easter Monday, May Day, Ascension Day, Midsummer Eve, Independence Day,
    /// Christmas Eve, Christmas Day and St Stephen's Day: the weekday holidays of the Finnish year (the others fall on
    /// weekends by definition).
    public static func holidays(of year: Int) -> Set<LocalDate> {
        let easter = easterSunday(year)
        // Midsummer Eve is the Friday between 19 and 25 June.
        let midsummerEve = (19...25).compactMap { try? LocalDate(year: year, month: 6, day: $0) }.first { $0.isoWeekday == 5 }
        var days: Set<LocalDate> = [easter.adding(days: -2), easter.adding(days: 1), easter.adding(days: 39)]
        for (month, day) in [(1, 1), (1, 6), (5, 1), (12, 6), (12, 24), (12, 25), (12, 26)] { days.insert(try! LocalDate(year: year, month: month, day: day)) }
        if let midsummerEve { days.insert(midsummerEve) }
        return days
    }

    /// Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm).
    static func easterSunday(_ year: Int) -> LocalDate {
        let a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4
        let f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30
        let i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1
        return try! LocalDate(year: year, month: month, day: day)
    }
}

/// Finnish payment references (DOMAIN.md "Invoicing").
public enum ReferenceNumber {
    /// The national reference: the base digits (3–19 of them) and a check digit from the weights 7, 3, 1 repeated
    /// from the right: `617435` → `6174354`.
    public static func finnish(base: String) -> String? {
        guard (3...19).contains(base.count), base.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let weights = [7, 3, 1]
        let sum = base.reversed().enumerated().reduce(0) { $0 + Int(String($1.element))! * weights[$1.offset % 3] }
        return base + String((10 - sum % 10) % 10)
    }

    /// Whether a national reference's check digit is right.
    public static func isValidFinnish(_ reference: String) -> Bool {
        reference.count >= 4 && finnish(base: String(reference.dropLast())) == reference
    }

    /// The international form (ISO 11649) of a national reference: `6174354` → `RF416174354`.
    public static func international(_ reference: String) -> String? {
        guard isValidFinnish(reference) else { return nil }
        // Move "RF00" to the end, letters as numbers (R = 27, F = 15), and take 98 − (that mod 97).
        let digits = reference + "271500"
        let remainder = digits.reduce(0) { ($0 * 10 + Int(String($1))!) % 97 }
        let check = 98 - remainder
        return "RF" + (check < 10 ? "0\(check)" : "\(check)") + reference
    }
}
