import EventLog
import Foundation

/// Text in the languages a register serves: Finnish is required, Swedish and English optional.
///
/// In YAML either a plain string (Finnish) or a mapping `{fi: …, sv: …, en: …}`.
public struct LocalizedText: Codable, Sendable, Hashable {
    public var fi: String
    public var sv: String?
    public var en: String?

    public init(fi: String, sv: String? = nil, en: String? = nil) {
        self.fi = fi
        self.sv = sv
        self.en = en
    }

    /// The text in `language` ("fi", "sv", "en"), falling back to Finnish.
    public func text(in language: String) -> String {
        switch language {
        case "sv": sv ?? fi
        case "en": en ?? fi
        default: fi
        }
    }

    private enum CodingKeys: String, CodingKey { case fi, sv, en }

    public init(from decoder: any Decoder) throws {
        if let plain = try? decoder.singleValueContainer().decode(String.self) {
            self.init(fi: plain)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(fi: try container.decode(String.self, forKey: .fi), sv: try container.decodeIfPresent(String.self, forKey: .sv),
                  en: try container.decodeIfPresent(String.self, forKey: .en))
    }
}

/// A Finnish business id (*Y-tunnus*, `1234567-8`), with its check digit verified.
public struct BusinessID: TextValue, Sendable, Hashable {
    public let value: String

    public init(_ value: String) throws(ConfigurationValueError) {
        let bytes = Array(value.utf8)
        guard bytes.count == 9, bytes[7] == UInt8(ascii: "-"), bytes[0..<7].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              bytes[8] >= 0x30, bytes[8] <= 0x39 else {
            throw ConfigurationValueError("a business id is seven digits, a hyphen and a check digit (1234567-8)")
        }
        let weights = [7, 9, 10, 5, 8, 4, 2]
        let sum = zip(bytes[0..<7], weights).reduce(0) { $0 + Int($1.0 - 0x30) * $1.1 }
        let remainder = sum % 11
        guard remainder != 1, Int(bytes[8] - 0x30) == (remainder == 0 ? 0 : 11 - remainder) else {
            throw ConfigurationValueError("the business id's check digit is wrong")
        }
        self.value = value
    }

    public var description: String { value }

}

/// A municipality's three-digit code, leading zeros kept (Espoo is `049`).
public struct MunicipalityCode: TextValue, Sendable, Hashable {
    public let value: String

    public init(_ value: String) throws(ConfigurationValueError) {
        guard value.utf8.count == 3, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ConfigurationValueError("a municipality code is three digits, with leading zeros (Espoo is 049)")
        }
        self.value = value
    }

    public var description: String { value }

}

/// An official postal address (never a private person's).
public struct PostalAddress: Codable, Sendable, Hashable {
    public var street: String
    public var postalCode: String
    public var city: String

    public init(street: String, postalCode: String, city: String) {
        self.street = street
        self.postalCode = postalCode
        self.city = city
    }
}

/// A calendar date (`2026-08-01`), without time or zone.
public struct LocalDate: TextValue, Sendable, Hashable, Comparable {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) throws(ConfigurationValueError) {
        // Plain arithmetic rather than a Calendar: dates are decoded in every event that carries one.
        guard (1800...2200).contains(year), (1...12).contains(month), (1...Self.days(inMonth: month, of: year)).contains(day) else {
            throw ConfigurationValueError("not a calendar date")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init(_ text: String) throws(ConfigurationValueError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) else {
            throw ConfigurationValueError("a date is written YYYY-MM-DD")
        }
        try self.init(year: year, month: month, day: day)
    }

    /// The number of days in a month of the Gregorian calendar.
    public static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public var description: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))"
    }
    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day) }

}

/// A retention period as an ISO 8601 duration of years, months and days (`P10Y`, `P12M`, `P1Y6M`).
public struct RetentionPeriod: TextValue, Sendable, Hashable {
    public let years: Int
    public let months: Int
    public let days: Int

    public init(_ text: String) throws(ConfigurationValueError) {
        var years = 0, months = 0, days = 0
        var number = ""
        var seen = Set<Character>()
        guard text.first == "P", text.count > 1 else { throw ConfigurationValueError("a period is written like P10Y, P12M or P1Y6M") }
        for character in text.dropFirst() {
            if character.isNumber, character.isASCII {
                number.append(character)
                continue
            }
            guard let value = Int(number), ["Y", "M", "D"].contains(character), seen.insert(character).inserted else {
                throw ConfigurationValueError("a period is written like P10Y, P12M or P1Y6M")
            }
            switch character {
            case "Y": years = value
            case "M": months = value
            default: days = value
            }
            number = ""
        }
        guard number.isEmpty, years + months + days > 0 else { throw ConfigurationValueError("a period is written like P10Y, P12M or P1Y6M") }
        self.years = years
        self.months = months
        self.days = days
    }

    public var description: String {
        "P" + (years > 0 ? "\(years)Y" : "") + (months > 0 ? "\(months)M" : "") + (days > 0 ? "\(days)D" : "")
    }

}

/// A value written as text in a tenant file and validated when read: decoding refuses bad text with the reason.
public protocol TextValue: Codable, CustomStringConvertible {
    init(_ text: String) throws(ConfigurationValueError)
}

extension TextValue {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message, underlyingError: error))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a single configuration value is not acceptable.
public struct ConfigurationValueError: Error, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}
