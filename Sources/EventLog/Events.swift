import Foundation

/// An event to append: what happened, to which stream and which data subjects, with its payload already sealed.
///
/// Build payloads with `PayloadSealer` so that personal fields are sealed before the bytes exist;
/// the store additionally refuses payloads in which an identity code appears in clear.
public struct ProposedEvent: Sendable, Hashable {
    /// Client-supplied (or generated, time-ordered) id: a repeated id in a later append returns the original positions.
    public var eventID: UUID
    public var stream: StreamRef
    /// The event's name in the domain's words, e.g. `ChildEnrolled` (`[A-Z][A-Za-z0-9]*`, at most 100 characters).
    public var eventType: String
    /// The version of the payload's schema for this event type, from 1.
    public var schemaVersion: Int
    /// The data subjects the event concerns; every sealed field's subject must be among them.
    public var subjects: [SubjectID]
    /// The payload as JSON bytes with personal fields sealed.
    public var payload: Data
    /// Who caused this event, when it differs from the batch's metadata (a group commit of several requests' entries).
    public var metadata: EventMetadata?

    public init(eventID: UUID = .timeOrdered(), stream: StreamRef, eventType: String, schemaVersion: Int = 1, subjects: [SubjectID] = [], payload: Data,
                metadata: EventMetadata? = nil) {
        self.eventID = eventID
        self.stream = stream
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.subjects = subjects
        self.payload = payload
        self.metadata = metadata
    }
}

/// Who and what caused a batch of events: shared by every event of one append.
public struct EventMetadata: Sendable, Hashable {
    public var actor: Actor
    /// Ties together everything done for one request or job.
    public var correlationID: UUID?
    /// The event or command that caused this one.
    public var causationID: UUID?

    public init(actor: Actor, correlationID: UUID? = nil, causationID: UUID? = nil) {
        self.actor = actor
        self.correlationID = correlationID
        self.causationID = causationID
    }
}

/// What the caller expects a stream's version to be before the append (optimistic concurrency).
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must have at least one event.
    case streamExists
    /// The stream's last event must have exactly this version (versions start at 1).
    case exact(Int64)

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .streamExists: "stream exists"
        case .exact(let version): "version \(version)"
        }
    }

    func admits(current: Int64) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == 0
        case .streamExists: current > 0
        case .exact(let version): current == version
        }
    }
}

/// A SHA-256 digest in the hash chain.
public struct EventDigest: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// The previous hash of a tenant's first event: 32 zero bytes.
    public static let genesis = EventDigest(unchecked: [UInt8](repeating: 0, count: 32))

    public init(bytes: [UInt8]) throws(EventLogError) {
        guard bytes.count == 32 else { throw EventLogError(.invalidArgument, "a digest has 32 bytes") }
        self.bytes = bytes
    }

    /// For 32 bytes read back from a store.
    package init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// Parses 64 hexadecimal digits.
    public init(hex: String) throws(EventLogError) {
        guard let bytes = [UInt8](hexString: hex), bytes.count == 32 else {
            throw EventLogError(.invalidArgument, "a digest is 64 hexadecimal digits")
        }
        self.bytes = bytes
    }

    public var hex: String { bytes.hexString }
    public var description: String { hex }
}

/// An event as stored: its envelope, its sealed payload and its place in the hash chain.
public struct RecordedEvent: Sendable, Hashable {
    public var tenant: TenantID
    public var position: LogPosition
    public var eventID: UUID
    public var stream: StreamRef
    public var streamVersion: Int64
    public var eventType: String
    public var schemaVersion: Int
    public var recordedAt: Timestamp
    public var actor: Actor
    public var correlationID: UUID?
    public var causationID: UUID?
    public var subjects: [SubjectID]
    public var payload: Data
    public var previousHash: EventDigest
    public var hash: EventDigest

    public init(tenant: TenantID, position: LogPosition, eventID: UUID, stream: StreamRef, streamVersion: Int64, eventType: String,
                schemaVersion: Int, recordedAt: Timestamp, actor: Actor, correlationID: UUID?, causationID: UUID?,
                subjects: [SubjectID], payload: Data, previousHash: EventDigest, hash: EventDigest) {
        self.tenant = tenant
        self.position = position
        self.eventID = eventID
        self.stream = stream
        self.streamVersion = streamVersion
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.recordedAt = recordedAt
        self.actor = actor
        self.correlationID = correlationID
        self.causationID = causationID
        self.subjects = subjects
        self.payload = payload
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The last position and hash of a tenant's log (`position == .start` and the genesis hash when it is empty).
public struct LogHead: Sendable, Hashable {
    public var position: LogPosition
    public var hash: EventDigest
    /// When the last event was recorded; new events are never recorded earlier (the clock is kept monotonic per tenant).
    public var recordedAt: Timestamp

    public init(position: LogPosition, hash: EventDigest, recordedAt: Timestamp) {
        self.position = position
        self.hash = hash
        self.recordedAt = recordedAt
    }

    /// The head of an empty log.
    public static let empty = LogHead(position: .start, hash: .genesis, recordedAt: Timestamp(rawValue: 0))
}

/// The outcome of an append.
public struct AppendResult: Sendable, Hashable {
    /// The positions of the batch's events, in batch order.
    public var positions: [LogPosition]
    /// The stream version each event got, in batch order.
    public var streamVersions: [Int64]
    /// True when every event id was already in the log: nothing was written and these are the original positions.
    public var deduplicated: Bool

    public init(positions: [LogPosition], streamVersions: [Int64], deduplicated: Bool) {
        self.positions = positions
        self.streamVersions = streamVersions
        self.deduplicated = deduplicated
    }
}

/// Optional narrowing of a log read.
public struct EventFilter: Sendable, Hashable {
    /// Only these event types (all when nil).
    public var eventTypes: Set<String>?
    /// Only these stream types (all when nil).
    public var streamTypes: Set<String>?
    /// Only events that name this data subject (all when nil): the store filters, so a subject's request does not
    /// carry every other event's payload out of the database.
    public var subject: SubjectID?

    public init(eventTypes: Set<String>? = nil, streamTypes: Set<String>? = nil, subject: SubjectID? = nil) {
        self.eventTypes = eventTypes
        self.streamTypes = streamTypes
        self.subject = subject
    }

    /// Every event.
    public static let all = EventFilter()
    public var isAll: Bool { eventTypes == nil && streamTypes == nil && subject == nil }

    /// Whether an event passes the filter.
    public func matches(_ event: RecordedEvent) -> Bool {
        if let eventTypes, !eventTypes.contains(event.eventType) { return false }
        if let streamTypes, !streamTypes.contains(event.stream.type) { return false }
        if let subject, !event.subjects.contains(subject) { return false }
        return true
    }
}

/// The value of one hexadecimal digit (either case), or nil.
package func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

extension Array where Element == UInt8 {
    init?(hexString: String) {
        let chars = Array(hexString.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = hexNibble(chars[index]), let low = hexNibble(chars[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }

    /// Lower-case hexadecimal.
    package var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Data {
    /// Lower-case hexadecimal.
    package var hexString: String { [UInt8](self).hexString }
}
