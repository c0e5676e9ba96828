import EventLog
import Foundation

/// A Finnish personal identity code (*henkilötunnus*, `DDMMYYCZZZQ`), validated.
///
/// Valid means: the shape, a century sign (`+` 1800s; `-`, `Y`, `X`, `W`, `V`, `U` 1900s; `A`–`F` 2000s),
/// a real calendar date not in the future, an individual number 002–999 (900–999 are temporary and test codes),
/// and the check character. The value is personal data: it is sealed before it is stored and never logged;
/// `description` masks it.
public struct IdentityCode: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The code as written, upper case.
    public let value: String
    /// The date of birth the code encodes.
    public let birthLocalDate: LocalDate
    /// The same date as calendar components.
    public var birthDate: DateComponents { DateComponents(year: birthLocalDate.year, month: birthLocalDate.month, day: birthLocalDate.day) }
    /// Individual numbers 900–999: temporary codes, and the only ones test data may use.
    public let isTemporary: Bool

    public enum Problem: Error, Equatable, Sendable {
        case malformed, unknownCenturySign, impossibleDate, futureDate, invalidIndividualNumber, wrongCheckCharacter
    }

    /// Validates `text` (surrounding whitespace ignored, letters in any case) against the calendar as of `today`.
    public init(_ text: String, today: Date = Date()) throws(Problem) {
        let code = text.trimmingCharacters(in: .whitespaces).uppercased()
        let bytes = Array(code.utf8)
        guard bytes.count == 11, bytes[0..<6].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[7..<10].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .malformed
        }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) } }
        let century: Int
        switch bytes[6] {
        case UInt8(ascii: "+"): century = 1800
        case UInt8(ascii: "-"), UInt8(ascii: "Y"), UInt8(ascii: "X"), UInt8(ascii: "W"), UInt8(ascii: "V"), UInt8(ascii: "U"): century = 1900
        case UInt8(ascii: "A")...UInt8(ascii: "F"): century = 2000
        default: throw .unknownCenturySign
        }
        guard let date = try? LocalDate(year: century + number(4..<6), month: number(2..<4), day: number(0..<2)) else { throw .impossibleDate }
        guard date <= LocalDate.today(at: today) else { throw .futureDate }
        let individual = number(7..<10)
        guard individual >= 2 else { throw .invalidIndividualNumber }
        guard bytes[10] == PlaintextGuard.checkCharacters[(number(0..<6) * 1000 + individual) % 31] else { throw .wrongCheckCharacter }
        value = code
        birthLocalDate = date
        isTemporary = individual >= 900
    }

    /// Masked: identity codes never reach logs or error messages.
    public var description: String { "IdentityCode(***)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["value": "***"]) }
}
