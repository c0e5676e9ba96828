import Foundation
import Register
import Testing

@Suite("Personal identity codes")
struct IdentityCodeTests {
    static let today = ISO8601DateFormatter().date(from: "2026-11-24T12:00:00Z")!

    @Test("valid codes from the rules in force", arguments: [
        ("131052-308T", 1952, false), ("010594Y9032", 1994, true), ("020516C903K", 2016, true),
        ("010101A900R", 2001, true), ("311299-999E", 1999, true), ("010190-900P", 1990, true),
    ])
    func valid(code: String, year: Int, temporary: Bool) throws {
        let parsed = try IdentityCode(code, today: Self.today)
        #expect(parsed.birthDate.year == year)
        #expect(parsed.isTemporary == temporary)
        #expect(try IdentityCode(" \(code.lowercased()) ", today: Self.today).value == code)
    }

    @Test("invalid codes are refused with the reason", arguments: [
        ("131052-308U", IdentityCode.Problem.wrongCheckCharacter),
        ("131052Z308T", .unknownCenturySign),
        ("310252-308T", .impossibleDate),
        ("290223-900J", .impossibleDate),
        ("010130A900E", .futureDate),
        ("131052-001A", .invalidIndividualNumber),
        ("131052-30T", .malformed),
        ("1310523308T", .unknownCenturySign),
    ])
    func invalid(code: String, problem: IdentityCode.Problem) {
        #expect(throws: problem) { try IdentityCode(code, today: Self.today) }
    }

    @Test("leap days exist only in leap years")
    func leapDays() throws {
        // 29.2.2024 with individual number 900: check character from 290224900 mod 31.
        let digits = 290_224_900
        let check = Array("0123456789ABCDEFHJKLMNPRSTUVWXY")[digits % 31]
        #expect(try IdentityCode("290224A900\(check)", today: Self.today).birthDate.day == 29)
    }

    @Test("the code never shows in descriptions")
    func masked() throws {
        let code = try IdentityCode("010101A900R", today: Self.today)
        #expect(!"\(code)".contains("010101"))
        #expect(!String(reflecting: code).contains("010101"))
    }
}

@Suite("Calendar arithmetic of LocalDate")
struct LocalDateTests {
    @Test("day numbers round-trip over two centuries and agree with Foundation's calendar")
    func dayNumbers() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = try LocalDate("1900-01-01")
        for _ in 0..<(366 * 200) {
            let next = date.adding(days: 1)
            #expect(next.dayNumber == date.dayNumber + 1)
            date = next
        }
        #expect(date.year == 2100)
        for text in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-11-24", "2100-03-01"] {
            let local = try LocalDate(text)
            let foundation = calendar.date(from: DateComponents(year: local.year, month: local.month, day: local.day))!
            #expect(local.dayNumber == Int(foundation.timeIntervalSince1970 / 86_400), "\(text)")
            let weekday = calendar.component(.weekday, from: foundation)
            #expect(local.isoWeekday == (weekday == 1 ? 7 : weekday - 1), "\(text)")
        }
        #expect(throws: ConfigurationValueError.self) { try LocalDate("2026-02-29") }
        #expect(try LocalDate("2024-02-29").description == "2024-02-29")
        #expect(try LocalDate("2026-03-01").adding(days: -1) == (try LocalDate("2026-02-28")))
    }

    private static func instant(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text))
    }

    /// "Today" is remembered with its bounds between calls; asking across midnights and the changes of the clocks,
    /// forwards and back, must give the calendar's answer every time.
    @Test("the Finnish day, across midnight and both changes of the clocks, asked in any order")
    func today() throws {
        let cases: [(String, String)] = [
            ("2026-11-24T21:59:59Z", "2026-11-24"), ("2026-11-24T22:00:00Z", "2026-11-25"),  // UTC+2
            ("2026-03-28T21:59:59Z", "2026-03-28"), ("2026-03-28T22:00:00Z", "2026-03-29"),  // the 23-hour day
            ("2026-03-29T20:59:59Z", "2026-03-29"), ("2026-03-29T21:00:00Z", "2026-03-30"),  // UTC+3 from 29 March
            ("2026-10-24T20:59:59Z", "2026-10-24"), ("2026-10-24T21:00:00Z", "2026-10-25"),  // the 25-hour day
            ("2026-10-25T21:59:59Z", "2026-10-25"), ("2026-10-25T22:00:00Z", "2026-10-26"),
        ]
        for (text, expected) in cases + cases.reversed() + cases.shuffled() {
            #expect(LocalDate.today(at: try Self.instant(text)).description == expected, "at \(text)")
        }
    }
}
