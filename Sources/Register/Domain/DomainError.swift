/// A refused command, with a stable code for clients and a detail safe to show (never personal data).
public struct DomainError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The input is malformed or out of range (HTTP 400); `field` names it.
        case invalid
        /// The person, placement or unit does not exist in this tenant (HTTP 404).
        case notFound
        /// It exists already, or changed under the caller (HTTP 409).
        case conflict
        /// Well-formed, but a rule of the register forbids it (HTTP 422).
        case rule
    }

    public let kind: Kind
    /// Stable, kebab-case: `placement-overlaps`, `not-placed` …
    public let code: String
    public let detail: String
    /// The input field at fault (`start`, `details.identityCode`), when there is one.
    public let field: String?

    public init(_ kind: Kind, _ code: String, _ detail: String, field: String? = nil) {
        self.kind = kind
        self.code = code
        self.detail = detail
        self.field = field
    }

    public var description: String { "\(code): \(detail)" }

    static func invalid(_ field: String, _ detail: String) -> DomainError {
        DomainError(.invalid, "invalid-field", detail, field: field)
    }

    static func personNotFound() -> DomainError {
        DomainError(.notFound, "not-found", "No such person in this register.")
    }
}
