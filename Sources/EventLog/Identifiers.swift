import Foundation

/// The controller whose register a log belongs to: a municipality, a private daycare, a joint controller.
///
/// A tenant id is a slug (`lohja`, `poco-sipoo`) because it appears in URLs, file names and log metadata;
/// it is never personal data. It is the first column of every key in every store.
public struct TenantID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The validated slug.
    public let rawValue: String

    /// Validates a slug: 1–63 characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
    public init(_ rawValue: String) throws(EventLogError) {
        guard Self.isValid(rawValue) else {
            throw EventLogError(.invalidArgument, "a tenant id is 1–63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit")
        }
        self.rawValue = rawValue
    }

    /// For values read back from a store, which validated them on the way in.
    package init(unchecked rawValue: String) { self.rawValue = rawValue }

    static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2D }
    }

    public var description: String { rawValue }
    public static func < (lhs: TenantID, rhs: TenantID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(raw) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A position in one tenant's log: 1, 2, 3 … without gaps, in commit order. `LogPosition.start` (0) is "before the first event".
public struct LogPosition: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// Before the first event: reading after it reads the whole log.
    public static let start = LogPosition(0)
    /// The position that follows this one.
    public var next: LogPosition { LogPosition(rawValue + 1) }
    public var description: String { String(rawValue) }
    public static func < (lhs: LogPosition, rhs: LogPosition) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The aggregate an event belongs to (a child's record, a placement, a tenant's configuration).
///
/// Stream type and id are stored in clear, so they must be opaque identifiers (UUIDs, codes), never a name
/// or an identity code; `PlaintextGuard` refuses identity-code-shaped ids.
public struct StreamRef: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The kind of aggregate, e.g. `child`, `placement`, `tenant`.
    public let type: String
    /// The aggregate's opaque id within its type.
    public let id: String

    /// Validates the type (`[A-Za-z][A-Za-z0-9_.-]{0,63}`) and the id (1–128 visible ASCII characters).
    public init(type: String, id: String) throws(EventLogError) {
        guard Self.isValidType(type) else {
            throw EventLogError(.invalidArgument, "a stream type starts with a letter and has at most 64 characters of letters, digits, '_', '.' and '-'")
        }
        guard Self.isValidID(id) else {
            throw EventLogError(.invalidArgument, "a stream id has 1–128 visible ASCII characters")
        }
        guard !PlaintextGuard.containsIdentityCode(Array(id.utf8)) else {
            throw EventLogError(.personalDataInClear, "a stream id must be opaque: it looks like a personal identity code")
        }
        self.type = type
        self.id = id
    }

    /// For values read back from a store, which validated them on the way in.
    package init(uncheckedType type: String, id: String) {
        self.type = type
        self.id = id
    }

    static func isValidType(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, first.isASCIILetter else { return false }
        return bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    static func isValidID(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        return (1...128).contains(bytes.count) && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    public var description: String { "\(type)/\(id)" }
}

/// A data subject (a child, a guardian) by an opaque id. Personal fields of events are sealed under the subject's key.
public struct SubjectID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let uuid: UUID
    public init(_ uuid: UUID) { self.uuid = uuid }
    /// A new random subject id.
    public static func random() -> SubjectID { SubjectID(UUID()) }

    /// Parses the canonical UUID text form.
    public init(_ text: String) throws(EventLogError) {
        guard let uuid = UUID(canonical: text) else { throw EventLogError(.invalidArgument, "a subject id is a UUID") }
        self.uuid = uuid
    }

    public var description: String { uuid.lowercasedString }
    /// The order of the text forms (fixed-width hex of the same bytes), compared without making them.
    public static func < (lhs: SubjectID, rhs: SubjectID) -> Bool {
        withUnsafeBytes(of: lhs.uuid.uuid) { left in
            withUnsafeBytes(of: rhs.uuid.uuid) { right in left.lexicographicallyPrecedes(right) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let uuid = UUID(canonical: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a subject id is a UUID")
        }
        self.uuid = uuid
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Who caused an event: a personal user account and the role it acted in (O5, O13).
///
/// Both are account identifiers, not names: a user's name and title live in the tenant's staff records.
public struct Actor: Hashable, Sendable, Codable, CustomStringConvertible {
    public let userID: String
    public let role: String

    /// Validates both as 1–128 visible ASCII characters that do not look like an identity code.
    public init(userID: String, role: String) throws(EventLogError) {
        for (name, value) in [("user id", userID), ("role", role)] {
            guard StreamRef.isValidID(value) else {
                throw EventLogError(.invalidArgument, "an actor's \(name) has 1–128 visible ASCII characters")
            }
            guard !PlaintextGuard.containsIdentityCode(Array(value.utf8)) else {
                throw EventLogError(.personalDataInClear, "an actor's \(name) must be an account id: it looks like a personal identity code")
            }
        }
        self.userID = userID
        self.role = role
    }

    /// The platform itself (migrations, imports, scheduled maintenance).
    public static let system = Actor(unchecked: "system", role: "system")

    /// For values read back from a store, which validated them on the way in.
    package init(unchecked userID: String, role: String) {
        self.userID = userID
        self.role = role
    }

    public var description: String { "\(userID) (\(role))" }
}

/// Microseconds since 1970-01-01T00:00:00Z: exact in both stores and in the hash chain, unlike `Date`.
public struct Timestamp: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(microsecondsSince1970: Int64) { rawValue = microsecondsSince1970 }
    public init(_ date: Date) { rawValue = Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The current time of this machine's clock.
    public static func now() -> Timestamp { Timestamp(Date()) }
    public var date: Date { Date(timeIntervalSince1970: Double(rawValue) / 1_000_000) }
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.rawValue < rhs.rawValue }

    /// ISO 8601 with microseconds, UTC.
    public var description: String {
        let seconds = rawValue >= 0 ? rawValue / 1_000_000 : (rawValue - 999_999) / 1_000_000
        let micros = rawValue - seconds * 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        // By hand: String(format:) goes through NSString and costs microseconds on every API answer.
        func padded(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2) + "T"
            + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2) + "." + padded(Int32(micros), 6) + "Z"
    }
}

extension UInt8 {
    var isASCIILetter: Bool { (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) }
    var isASCIIDigit: Bool { self >= 0x30 && self <= 0x39 }
}
