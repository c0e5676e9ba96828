import Foundation

/// What a blind index is computed over; each kind has its own key and normalisation.
public struct BlindIndexKind: RawRepresentable, Hashable, Sendable, Codable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// A personal identity code, upper-cased and trimmed.
    public static let identityCode = BlindIndexKind(rawValue: "identity-code")
    /// One token of a name, lower-cased with diacritics kept (ä ≠ a in Finnish).
    public static let nameToken = BlindIndexKind(rawValue: "name-token")

    func normalise(_ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        switch self {
        case .identityCode: return trimmed.uppercased()
        case .nameToken: return trimmed.precomposedStringWithCanonicalMapping.lowercased()
        default: return trimmed
        }
    }
}

/// A keyed hash of a personal value: safe to store in clear and to compare, not reversible without the tenant key.
public struct BlindIndex: Hashable, Sendable, Codable, CustomStringConvertible {
    public let kind: BlindIndexKind
    /// 64 hexadecimal digits.
    public let digest: String
    public var description: String { "\(kind.rawValue):\(digest)" }
}
