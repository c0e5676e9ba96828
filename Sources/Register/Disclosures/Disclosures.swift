import EventLog
import Foundation

/// A hand-over of personal data, recorded in the tenant's log before the data leaves (O10, O14): to whom, on what
/// basis, about whom, which fields, and the position and hash of every event whose data left. On the stream
/// `disclosure/<recipient>`. No personal data in it: subjects are ids, fields are names.
///
/// Stored compactly (schema version 2, `encode(to:)`): the events are grouped by event type and fields, each group
/// with parallel lists of positions, hashes and subjects (indexes into `subjects`). Version 1 listed every event as
/// an object with its type, subject and fields, about 200 bytes each: a partner catching up writes records of
/// thousands of events, and a hundred partners following one tenant wrote several times more disclosure bytes than
/// events; version 2 is about 80 bytes an event, most of it the hash. Both versions decode to the same value.
public struct DataDisclosed: RegisterEvent {
    public static let eventType = "DataDisclosed"
    public static let schemaVersion = 2
    /// The recipient's id in the tenant file (`guardian` for a subject's guardian, trustee or representative).
    public var recipient: String
    /// The person it went to, when the recipient is a person (`guardian`).
    public var recipientPerson: PersonID?
    /// The register whose data left (for a feed: the register whose regular recipient the partner is).
    public var register: String
    /// How it left: `feed` (a page of the recipient's event feed).
    public var channel: String
    /// The statute the disclosure rests on, or nil when it rests on consent.
    public var legalBasis: String?
    /// The consent purpose each subject's data depended on, for a recipient that depends on consent.
    public var consentPurpose: String?
    public var subjects: [PersonID]
    /// Every field that left in this hand-over (each event lists its own).
    public var fields: [FeedField]
    /// In position order once read back from the log.
    public var events: [DisclosedEvent]
    /// For a recipient that is a class of parties (the voucher producers): the one it went to (the producer's unit).
    public var recipientUnit: String?

    public init(recipient: String, recipientPerson: PersonID? = nil, register: String, channel: String, legalBasis: String?, consentPurpose: String?,
                subjects: [PersonID], fields: [FeedField], events: [DisclosedEvent], recipientUnit: String? = nil) {
        self.recipient = recipient
        self.recipientPerson = recipientPerson
        self.register = register
        self.channel = channel
        self.legalBasis = legalBasis
        self.consentPurpose = consentPurpose
        self.subjects = subjects
        self.fields = fields
        self.events = events
        self.recipientUnit = recipientUnit
    }

    enum CodingKeys: String, CodingKey {
        case recipient, recipientPerson, register, channel, legalBasis, consentPurpose, subjects, fields, recipientUnit
        /// Version 1: every event as an object.
        case events
        /// Version 2: the events grouped by type and fields; subjects named by index (`subjects`, then `otherSubjects`).
        case eventGroups, otherSubjects
    }

    /// Events of one type that carried the same fields, as parallel lists.
    struct EventGroup: Codable {
        var eventType: String
        var fields: [FeedField]
        var positions: [Int64] = []
        var hashes: [String] = []
        /// Indexes into the record's `subjects` followed by its `otherSubjects`.
        var subjectIndexes: [Int] = []
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        recipient = try container.decode(String.self, forKey: .recipient)
        recipientPerson = try container.decodeIfPresent(PersonID.self, forKey: .recipientPerson)
        register = try container.decode(String.self, forKey: .register)
        channel = try container.decode(String.self, forKey: .channel)
        legalBasis = try container.decodeIfPresent(String.self, forKey: .legalBasis)
        consentPurpose = try container.decodeIfPresent(String.self, forKey: .consentPurpose)
        subjects = try container.decode([PersonID].self, forKey: .subjects)
        fields = try container.decode([FeedField].self, forKey: .fields)
        recipientUnit = try container.decodeIfPresent(String.self, forKey: .recipientUnit)
        if let events = try container.decodeIfPresent([DisclosedEvent].self, forKey: .events) {
            self.events = events
            return
        }
        let named = subjects + (try container.decodeIfPresent([PersonID].self, forKey: .otherSubjects) ?? [])
        var events: [DisclosedEvent] = []
        for group in try container.decode([EventGroup].self, forKey: .eventGroups) {
            guard group.hashes.count == group.positions.count, group.subjectIndexes.count == group.positions.count else {
                throw DecodingError.dataCorruptedError(forKey: .eventGroups, in: container, debugDescription: "an event group's lists differ in length")
            }
            for index in group.positions.indices {
                guard named.indices.contains(group.subjectIndexes[index]) else {
                    throw DecodingError.dataCorruptedError(forKey: .eventGroups, in: container, debugDescription: "an event group names a subject that is not listed")
                }
                events.append(DisclosedEvent(position: group.positions[index], hash: group.hashes[index], eventType: group.eventType,
                                             subject: named[group.subjectIndexes[index]], fields: group.fields))
            }
        }
        self.events = events.sorted { $0.position < $1.position }
    }

    /// Version 2 (see the type's documentation).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(recipient, forKey: .recipient)
        try container.encodeIfPresent(recipientPerson, forKey: .recipientPerson)
        try container.encode(register, forKey: .register)
        try container.encode(channel, forKey: .channel)
        try container.encodeIfPresent(legalBasis, forKey: .legalBasis)
        try container.encodeIfPresent(consentPurpose, forKey: .consentPurpose)
        try container.encode(subjects, forKey: .subjects)
        try container.encode(fields, forKey: .fields)
        try container.encodeIfPresent(recipientUnit, forKey: .recipientUnit)
        let (groups, others) = grouped()
        try container.encode(groups, forKey: .eventGroups)
        if !others.isEmpty { try container.encode(others, forKey: .otherSubjects) }
    }

    /// The events grouped by type and fields (in order of first appearance), and the subjects they name that
    /// `subjects` does not list.
    func grouped() -> (groups: [EventGroup], others: [PersonID]) {
        var indexes: [PersonID: Int] = [:]
        for (index, subject) in subjects.enumerated() where indexes[subject] == nil { indexes[subject] = index }
        var others: [PersonID] = []
        var groups: [EventGroup] = []
        var groupIndexes: [String: Int] = [:]
        for event in events {
            let key = ([event.eventType] + event.fields.map(\.rawValue)).joined(separator: " ")
            let at: Int
            if let found = groupIndexes[key] {
                at = found
            } else {
                at = groups.count
                groupIndexes[key] = at
                groups.append(EventGroup(eventType: event.eventType, fields: event.fields))
            }
            let subjectIndex: Int
            if let found = indexes[event.subject] {
                subjectIndex = found
            } else {
                subjectIndex = subjects.count + others.count
                indexes[event.subject] = subjectIndex
                others.append(event.subject)
            }
            groups[at].positions.append(event.position)
            groups[at].hashes.append(event.hash)
            groups[at].subjectIndexes.append(subjectIndex)
        }
        return (groups, others)
    }

    /// The payload as `SortedJSONEncoder` writes it, byte for byte, with the event groups written out directly: a
    /// busy feed's records list thousands of events, and the general encoder spent a tenth of a hundred partners'
    /// CPU on their lists of numbers and hashes. Falls back to the encoder for anything the direct path does not
    /// write (subjects outside `subjects`, a name or hash with characters that JSON would escape).
    public func sortedJSON() throws -> Data {
        let (groups, others) = grouped()
        func plain(_ text: String) -> Bool {
            text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }
        }
        guard others.isEmpty,
              groups.allSatisfy({ plain($0.eventType) && $0.fields.allSatisfy { plain($0.rawValue) } && $0.hashes.allSatisfy(plain) }) else {
            return try SortedJSONEncoder().encode(self)
        }
        var shell = self
        shell.events = []
        var payload = try SortedJSONEncoder().encode(shell)
        // `"eventGroups":[]` cannot occur inside an encoded string (its quotes would be escaped): this is the key.
        guard let range = payload.range(of: Data(#""eventGroups":[]"#.utf8)) else { return try SortedJSONEncoder().encode(self) }
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 80 + groups.count * 100)
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        func strings(_ values: [String]) {
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                append(value)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "]"))
        }
        func numbers<N: BinaryInteger>(_ values: [N]) {
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(String(value))
            }
            out.append(UInt8(ascii: "]"))
        }
        append(#""eventGroups":["#)
        for (index, group) in groups.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            // Keys in sorted order, as the encoder writes them.
            append(#"{"eventType":""#)
            append(group.eventType)
            append(#"","fields":"#)
            strings(group.fields.map(\.rawValue))
            append(#","hashes":"#)
            strings(group.hashes)
            append(#","positions":"#)
            numbers(group.positions)
            append(#","subjectIndexes":"#)
            numbers(group.subjectIndexes)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        payload.replaceSubrange(range, with: out)
        return payload
    }
}

/// One event whose data left, as the log holds it.
public struct DisclosedEvent: Codable, Sendable, Hashable {
    public var position: Int64
    /// The event's hash (hex): the disclosure names exactly the event the chain verifies.
    public var hash: String
    public var eventType: String
    public var subject: PersonID
    /// The fields of this event that left (after scope, consent and non-disclosure rules).
    public var fields: [FeedField]

    public init(position: Int64, hash: String, eventType: String, subject: PersonID, fields: [FeedField]) {
        self.position = position
        self.hash = hash
        self.eventType = eventType
        self.subject = subject
        self.fields = fields
    }
}

public enum DisclosureStreams {
    public static func recipient(_ id: String) -> StreamRef { StreamRef(uncheckedType: "disclosure", id: id) }
}

/// An opaque, stable position in a feed: the log position everything up to which the feed has covered.
public struct FeedCursor: Sendable, Hashable {
    /// Everything up to and including this position has been delivered — unless `within` is set.
    public let position: LogPosition
    /// Inside the release at `position` (a lifted restriction's held events, delivered there): the release's items
    /// up to this original position were delivered, the rest of it and the positions after `position` were not.
    public let within: LogPosition?

    public init(_ position: LogPosition, within: LogPosition? = nil) {
        self.position = position
        self.within = within
    }

    /// `f1:` and the position (and `/` and the position within a release), base64url-encoded: opaque to partners,
    /// stable across restarts and stores.
    public var text: String { Self.base64URL(Array("f1:\(position.rawValue)\(within.map { "/\($0.rawValue)" } ?? "")".utf8)) }

    /// Base64url without padding; written out because every item of every page has a cursor, and Foundation's
    /// encoder with three replacements was a measurable share of a page.
    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 2 < bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)], alphabet[Int(value & 63)]]
            index += 3
        }
        if index + 1 == bytes.count {
            let value = UInt32(bytes[index]) << 16
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)]]
        } else if index + 2 == bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(value >> 18 & 63)], alphabet[Int(value >> 12 & 63)], alphabet[Int(value >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    public init?(text: String) {
        guard let decoded = Self.decode(text, prefix: "f1:") else { return nil }
        let parts = decoded.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let value = Int64(parts[0]), value >= 0 else { return nil }
        position = LogPosition(value)
        if parts.count == 2 {
            // A release's items are events before the lift that releases them.
            guard value > 0, let inner = Int64(parts[1]), inner >= 0, inner < value else { return nil }
            within = LogPosition(inner)
        } else {
            within = nil
        }
    }

    /// The text after `prefix` of a base64url cursor, or nil when it is not one.
    static func decode(_ text: String, prefix: String) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard text.count <= 64, let data = Data(base64Encoded: base64), let decoded = String(data: data, encoding: .utf8), decoded.hasPrefix(prefix) else {
            return nil
        }
        return String(decoded.dropFirst(prefix.count))
    }
}

/// A position in a statistics extract: the first day of the last period delivered (nil: none yet).
public struct StatisticsCursor: Sendable, Hashable {
    public let last: LocalDate?

    public init(last: LocalDate?) { self.last = last }

    /// `s1:` and the date (or `-`), base64url-encoded like the event feeds' cursors.
    public var text: String { FeedCursor.base64URL(Array("s1:\(last?.description ?? "-")".utf8)) }

    public init?(text: String) {
        guard let value = FeedCursor.decode(text, prefix: "s1:") else { return nil }
        if value == "-" {
            last = nil
        } else if let date = try? LocalDate(value) {
            last = date
        } else {
            return nil
        }
    }
}

/// A value in a feed item.
public indirect enum FeedValue: Encodable, Sendable, Hashable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case object([String: FeedValue])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// One event as a feed carries it: only the recipient's fields, opened, never the stored payload.
public struct FeedItem: Encodable, Sendable, Hashable {
    public let cursor: String
    public let position: Int64
    public let type: String
    public let recordedAt: String
    /// The person the event is about (a child, for placements and attendance); absent in a statistics extract.
    public let subject: String?
    public let data: [String: FeedValue]

    public init(cursor: String, position: Int64, type: String, recordedAt: String, subject: String?, data: [String: FeedValue]) {
        self.cursor = cursor
        self.position = position
        self.type = type
        self.recordedAt = recordedAt
        self.subject = subject
        self.data = data
    }
}

/// A recorded disclosure, as read back from the log.
public struct DisclosureRecord: Sendable {
    public let position: LogPosition
    public let recordedAt: Timestamp
    /// Who recorded it: the partner's token for a feed page.
    public let actor: Actor
    public let disclosure: DataDisclosed
}

/// Reading disclosures back: a subject's, or one with the exact events behind it.
///
/// A subject's disclosures are found by a read of the log filtered by event type and subject in the database (no
/// other record leaves it): the database still passes over every disclosure record of the tenant, which an index
/// of subjects could spare when tenants disclose many millions of times.
public struct DisclosureRecords: Sendable {
    public let store: any EventStore

    public init(store: any EventStore) { self.store = store }

    /// Every disclosure that carried data of `subject`, in log order.
    public func disclosures(of subject: PersonID, in tenant: TenantID) async throws -> [DisclosureRecord] {
        var found: [DisclosureRecord] = []
        var position = LogPosition.start
        let decoder = JSONDecoder()
        while true {
            let events = try await store.read(tenant, after: position, through: nil, limit: 5_000,
                                              filter: EventFilter(eventTypes: [DataDisclosed.eventType], subject: subject))
            for event in events {
                found.append(DisclosureRecord(position: event.position, recordedAt: event.recordedAt, actor: event.actor,
                                              disclosure: try decoder.decode(DataDisclosed.self, from: event.payload)))
            }
            guard events.count == 5_000, let last = events.last else { break }
            position = last.position
        }
        return found
    }

    /// The disclosure at a position, with the events it names as the log holds them now; nil when there is none there.
    public func disclosure(at position: LogPosition, in tenant: TenantID) async throws -> (DisclosureRecord, [RecordedEvent])? {
        guard position > .start, let event = try await store.read(tenant, after: LogPosition(position.rawValue - 1), through: position, limit: 1, filter: .all).first,
              event.eventType == DataDisclosed.eventType else { return nil }
        let disclosure = try JSONDecoder().decode(DataDisclosed.self, from: event.payload)
        var events: [RecordedEvent] = []
        for disclosed in disclosure.events {
            if let original = try await store.read(tenant, after: LogPosition(disclosed.position - 1), through: LogPosition(disclosed.position), limit: 1, filter: .all).first {
                events.append(original)
            }
        }
        return (DisclosureRecord(position: event.position, recordedAt: event.recordedAt, actor: event.actor, disclosure: disclosure), events)
    }
}
