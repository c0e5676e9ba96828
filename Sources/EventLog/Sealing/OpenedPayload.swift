import Crypto
import Foundation

/// A JSON value: an event's payload as a tree, for showing an event without knowing its type (a data subject's
/// access report shows every event about them, of every type and schema version).
public indirect enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension KeyRing {
    /// An event's payload as a JSON tree with `subject`'s sealed fields opened, for showing that subject their data.
    ///
    /// Another person's sealed field becomes `{"$otherPerson": true}` (never opened), a field of a shredded key
    /// `{"$erased": true}`. An opened value is its JSON when structured (an address, a name), otherwise its text.
    public func openedPayload(of event: RecordedEvent, for subject: SubjectID) async throws -> JSONValue {
        let tree = try JSONDecoder().decode(JSONValue.self, from: event.payload)
        let keys = try await openingKeys(for: [subject], in: event.tenant)
        return try Self.open(tree, subject: subject, keys: keys)
    }

    /// A sealed field as a read model keeps it (its stored text), opened for `subject` like `openedPayload`; text
    /// that is not a sealed field is returned as it is.
    public func openedValue(_ text: String, for subject: SubjectID, in tenant: TenantID) async throws -> JSONValue {
        guard SealedValue(text: text) != nil else { return .string(text) }
        return try Self.open(.object(["$sealed": .string(text)]), subject: subject, keys: try await openingKeys(for: [subject], in: tenant))
    }

    private static func open(_ value: JSONValue, subject: SubjectID, keys: SubjectKeys) throws -> JSONValue {
        switch value {
        case .object(let fields):
            if fields.count == 1, case .string(let text)? = fields["$sealed"], let sealed = SealedValue(text: text) {
                guard sealed.subject == subject else { return .object(["$otherPerson": .bool(true)]) }
                guard case .available(let key)? = keys[subject] else { return .object(["$erased": .bool(true)]) }
                let plain: Data
                do {
                    plain = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed.box), using: key, authenticating: FieldCoding.aad(keys.tenant, subject))
                } catch {
                    throw EventLogError(.invalidArgument, "a sealed field of subject \(subject) does not open: it was altered or belongs to another tenant")
                }
                // Structured values are sealed as JSON, text as its bytes (FieldCoding).
                if let first = plain.first, [UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\"")].contains(first),
                   let structured = try? JSONDecoder().decode(JSONValue.self, from: plain) {
                    return structured
                }
                return .string(String(decoding: plain, as: UTF8.self))
            }
            return .object(try fields.mapValues { try open($0, subject: subject, keys: keys) })
        case .array(let values):
            return .array(try values.map { try open($0, subject: subject, keys: keys) })
        default:
            return value
        }
    }
}
