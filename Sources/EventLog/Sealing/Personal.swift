import Crypto
import Foundation
import Synchronization

/// A personal field of an event payload (a name, an identity code, an address), sealed under its subject's key.
///
/// In memory it is either open (`.clear`), still sealed (read without keys), or erased (the subject's key was
/// shredded). In JSON it is always sealed: `{"$sealed": "v1.<subject>.<base64 of nonce‖ciphertext‖tag>"}`.
/// Encoding needs the subjects' keys (`PayloadSealer`); decoding opens it when keys are given (`PayloadOpener`).
public enum Personal<Value: Codable & Sendable>: Sendable {
    case clear(Value, subject: SubjectID)
    case sealed(SealedValue)
    case erased(SubjectID)

    /// The open value, or nil when sealed or erased.
    public var value: Value? {
        if case .clear(let value, _) = self { return value }
        return nil
    }

    /// Whose field this is.
    public var subject: SubjectID {
        switch self {
        case .clear(_, let subject), .erased(let subject): subject
        case .sealed(let sealed): sealed.subject
        }
    }

    /// True when the subject's key was shredded.
    public var isErased: Bool {
        if case .erased = self { return true }
        return false
    }
}

extension Personal: Equatable where Value: Equatable {}
extension Personal: Hashable where Value: Hashable {}

/// A sealed field as stored.
public struct SealedValue: Sendable, Hashable {
    public let subject: SubjectID
    /// AES-GCM combined form: 12-byte nonce, ciphertext, 16-byte tag.
    public let box: Data

    static let prefix = "v1."

    var text: String { "\(Self.prefix)\(subject).\(box.base64EncodedString())" }

    init(subject: SubjectID, box: Data) {
        self.subject = subject
        self.box = box
    }

    init?(text: String) {
        let parts = text.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let uuid = UUID(canonical: parts[1]),
              let box = Data(base64Encoded: String(parts[2])) else { return nil }
        self.subject = SubjectID(uuid)
        self.box = box
    }
}

extension SealedValue {
    private static let marker = Array(#""$sealed":"v1."#.utf8)

    /// The subjects whose keys seal fields of a JSON payload, found by scanning for sealed-value markers.
    /// The stores use it to refuse a sealed field whose subject the event does not name, and new personal data
    /// about a subject whose key has been shredded.
    package static func subjects(in payload: Data) -> Set<SubjectID> {
        var found = Set<SubjectID>()
        payload.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let marker = Self.marker
            let count = raw.count
            // `memchr` for the marker's `$` (rare in JSON, unlike its opening quote): this scan runs over every
            // payload appended, and disclosure records are long.
            var from = 1
            while from < count, let hit = memchr(base + from, Int32(UInt8(ascii: "$")), count - from) {
                let start = base.distance(to: UnsafeRawPointer(hit)) - 1
                from = start + 2
                guard start + marker.count + 36 <= count, marker.indices.allSatisfy({ raw[start + $0] == marker[$0] }) else { continue }
                let id = start + marker.count
                if let uuid = UUID.parse(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[id..<id + 36])) {
                    found.insert(SubjectID(uuid))
                }
                from = id + 36
            }
        }
        return found
    }
}

extension CodingUserInfoKey {
    /// Carries `SubjectKeys` into a payload's encoder or decoder.
    static let registerSubjectKeys = CodingUserInfoKey(rawValue: "register.subjectKeys")!
}

private enum SealedCodingKeys: String, CodingKey {
    case sealed = "$sealed"
}

extension Personal: Codable {
    public func encode(to encoder: any Encoder) throws {
        let sealed: SealedValue
        switch self {
        case .sealed(let value):
            sealed = value
        case .erased(let subject):
            throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: "the field of erased subject \(subject) cannot be recorded again"))
        case .clear(let value, let subject):
            guard let keys = encoder.userInfo[.registerSubjectKeys] as? SubjectKeys else {
                throw EncodingError.invalidValue(subject, .init(codingPath: encoder.codingPath, debugDescription: "personal fields are encoded only by PayloadSealer"))
            }
            guard case .available(let key)? = keys[subject] else {
                throw EncodingError.invalidValue(subject, .init(codingPath: encoder.codingPath, debugDescription: "subject \(subject) is not among the event's subjects, or has been erased"))
            }
            let plain = try FieldCoding.encode(value)
            let box = try AES.GCM.seal(plain, using: key, nonce: RandomBytes.shared.nonce(), authenticating: FieldCoding.aad(keys.tenant, subject))
            guard let combined = box.combined else {
                throw EncodingError.invalidValue(subject, .init(codingPath: encoder.codingPath, debugDescription: "sealing failed"))
            }
            sealed = SealedValue(subject: subject, box: combined)
        }
        var container = encoder.container(keyedBy: SealedCodingKeys.self)
        try container.encode(sealed.text, forKey: .sealed)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: SealedCodingKeys.self)
        let text = try container.decode(String.self, forKey: .sealed)
        guard let sealed = SealedValue(text: text) else {
            throw DecodingError.dataCorruptedError(forKey: .sealed, in: container, debugDescription: "not a sealed value")
        }
        guard let keys = decoder.userInfo[.registerSubjectKeys] as? SubjectKeys else {
            self = .sealed(sealed)
            return
        }
        do {
            self = try Self.open(sealed, with: keys)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .sealed, in: container, debugDescription: "\(error)")
        }
    }

    static func open(_ sealed: SealedValue, with keys: SubjectKeys) throws -> Personal<Value> {
        switch keys[sealed.subject] {
        case .erased?:
            return .erased(sealed.subject)
        case .available(let key)?:
            let plain: Data
            do {
                plain = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed.box), using: key, authenticating: FieldCoding.aad(keys.tenant, sealed.subject))
            } catch {
                throw EventLogError(.invalidArgument, "a sealed field of subject \(sealed.subject) does not open: it was altered or belongs to another tenant")
            }
            return .clear(try FieldCoding.decode(Value.self, from: plain), subject: sealed.subject)
        case nil:
            // No key row at all: the key was never created, so nothing could have been sealed with it,
            // unless the row was removed behind the log's back. Either way the value is gone.
            return .erased(sealed.subject)
        }
    }
}

extension Personal {
    /// The stored text of a sealed field (`v1.<subject>.<base64>`), as a read model keeps it; nil unless sealed.
    public var sealedText: String? {
        if case .sealed(let sealed) = self { return sealed.text }
        return nil
    }

    /// A sealed field from its stored text; nil when the text is not one.
    public init?(sealedText: String) {
        guard let sealed = SealedValue(text: sealedText) else { return nil }
        self = .sealed(sealed)
    }

    /// This field opened with the subjects' keys (erased when its key was shredded); open or erased values are returned as they are.
    public func opened(with keys: SubjectKeys) throws -> Personal<Value> {
        guard case .sealed(let sealed) = self else { return self }
        return try Self.open(sealed, with: keys)
    }
}

enum FieldCoding {
    static func aad(_ tenant: TenantID, _ subject: SubjectID) -> Data {
        Data("register.field.v1|\(tenant.rawValue)|\(subject)".utf8)
    }

    // Strings (most personal fields) skip the JSON round trip: this is the hot path of a catch-up read.
    static func encode<Value: Encodable>(_ value: Value) throws -> Data {
        if let string = value as? String { return Data(string.utf8) }
        return try JSONEncoder().encode(value)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from data: Data) throws -> Value {
        if Value.self == String.self, let string = String(data: data, encoding: .utf8) as? Value { return string }
        return try JSONDecoder().decode(Value.self, from: data)
    }
}

/// Random bytes from the operating system's CSPRNG, read 4 KiB at a time instead of one system call per nonce or
/// id. Each byte is handed out once.
final class RandomBytes: Sendable {
    static let shared = RandomBytes()
    private static let refill = 4_096

    private struct Buffer: Sendable {
        var bytes: [UInt8] = []
        var offset = 0
    }

    private let state = Mutex(Buffer())

    /// Copies `count` (at most 64) fresh random bytes into `target`.
    func fill(_ target: UnsafeMutableRawBufferPointer) {
        state.withLock { buffer in
            if buffer.offset + target.count > buffer.bytes.count {
                buffer.bytes = [UInt8](repeating: 0, count: Self.refill)
                buffer.bytes.withUnsafeMutableBytes { Self.read(into: $0) }
                buffer.offset = 0
            }
            buffer.bytes.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[buffer.offset..<buffer.offset + target.count]))
            }
            buffer.offset += target.count
        }
    }

    /// A 96-bit AES-GCM nonce. Random nonces stay far below GCM's collision bound for the number of fields one
    /// subject key ever seals.
    func nonce() throws -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { fill($0) }
        return try AES.GCM.Nonce(data: bytes)
    }

    /// The kernel's CSPRNG, opened once.
    private static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    private static func read(into raw: UnsafeMutableRawBufferPointer) {
        var filled = 0
        if urandom >= 0 {
            while filled < raw.count {
                let result = Foundation.read(urandom, raw.baseAddress! + filled, raw.count - filled)
                if result > 0 { filled += result } else { break }
            }
        }
        // Fallback if /dev/urandom is unavailable: the standard library's system generator.
        var generator = SystemRandomNumberGenerator()
        while filled < raw.count {
            withUnsafeBytes(of: generator.next() as UInt64) { word in
                for byte in word where filled < raw.count {
                    raw[filled] = byte
                    filled += 1
                }
            }
        }
    }
}
