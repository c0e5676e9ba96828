import EventLog
import Foundation
import Synchronization

// Restriction of processing (O21; GDPR Art. 18): a restricted subject's data is kept but not processed — no
// disclosures, no feed deliveries, no changes except lifting the restriction — and only roles that handle subjects'
// requests (`subject-requests.manage`) read it; every other output shows the restriction instead of the data.
//
// The restrictions of a tenant are one stream (`restrictions/all`), so that every check — a command, a feed page, a
// list of a unit's children — is one small read of what was added since the last one, not a read per person.

/// Why processing is restricted (GDPR Art. 18(1)).
public enum RestrictionGrounds: String, Codable, Sendable, Hashable, CaseIterable {
    /// (a) the subject contests the accuracy, while it is verified.
    case accuracyContested = "accuracy-contested"
    /// (b) the processing is unlawful and the subject asks for restriction instead of erasure.
    case unlawfulProcessing = "unlawful-processing"
    /// (c) the subject needs the data for a legal claim the controller no longer needs it for.
    case legalClaims = "legal-claims"
    /// (d) the subject objected (Art. 21), while it is verified whose grounds override.
    case objection
}

/// Processing of a person's data was restricted. The reason is sealed under the person's key.
public struct ProcessingRestricted: RegisterEvent {
    public static let eventType = "ProcessingRestricted"
    public var person: PersonID
    public var grounds: RestrictionGrounds
    public var reason: Personal<String>
}

/// The restriction was lifted (the subject is told before, GDPR Art. 18(3)).
public struct ProcessingRestrictionLifted: RegisterEvent {
    public static let eventType = "ProcessingRestrictionLifted"
    public var person: PersonID
    public var reason: Personal<String>
}

/// Events a partner's feed passed over while their person's processing was restricted, so that the lift releases
/// them to that partner (O21: held, not lost). Positions and hashes of the person's own events only.
public struct FeedItemsHeld: RegisterEvent {
    public static let eventType = "FeedItemsHeld"
    public var recipient: String
    public var person: PersonID
    public var events: [HeldEvent]
    /// Held not because of a restriction in force but to wait for the lift at this position, where earlier events of
    /// the person are released: so the release is complete and in log order. Nil: held by the restriction in force.
    public var until: Int64?

    /// One stream per partner and person, so that a lift reads only that person's holds.
    public static func stream(recipient: String, person: PersonID) -> StreamRef { StreamRef(uncheckedType: "feed-held", id: "\(recipient).\(person)") }
}

public struct HeldEvent: Codable, Sendable, Hashable {
    public var position: Int64
    public var hash: String
}

public enum RestrictionStreams {
    /// Every restriction and lifting of a tenant, in order.
    public static let all = StreamRef(uncheckedType: "restrictions", id: "all")
}

/// A restriction in force.
public struct Restriction: Sendable, Hashable {
    public let grounds: RestrictionGrounds
    public let since: Timestamp
}

/// The restrictions in force per tenant, as far as the stream has been read.
final class RestrictionCache: Sendable {
    private let state = Mutex<[TenantID: (version: Int64, restrictions: [PersonID: Restriction])]>([:])

    func get(_ tenant: TenantID) -> (version: Int64, restrictions: [PersonID: Restriction]) {
        state.withLock { $0[tenant] ?? (0, [:]) }
    }

    func set(_ tenant: TenantID, _ value: (version: Int64, restrictions: [PersonID: Restriction])) {
        state.withLock { state in
            // Another task may have read further meanwhile: keep the newer.
            if (state[tenant]?.version ?? 0) <= value.version { state[tenant] = value }
        }
    }
}

extension Registry {
    /// The restrictions in force in the tenant: the cached state brought up to date with one read of the stream.
    public func restrictions(in tenant: TenantID) async throws -> [PersonID: Restriction] {
        try await restrictionState(in: tenant).restrictions
    }

    func restrictionState(in tenant: TenantID) async throws -> (version: Int64, restrictions: [PersonID: Restriction]) {
        let cached = restrictionCache.get(tenant)
        let events = try await store.readStream(RestrictionStreams.all, of: tenant, afterVersion: cached.version, limit: Self.page)
        return try await advanceRestrictions(cached, events, in: tenant)
    }

    /// Brings a restrictions state forward by the events read after it (and the pages after those, while they come
    /// full), and caches the result.
    func advanceRestrictions(_ state: (version: Int64, restrictions: [PersonID: Restriction]), _ read: [RecordedEvent],
                             in tenant: TenantID) async throws -> (version: Int64, restrictions: [PersonID: Restriction]) {
        var (version, restrictions) = state
        for event in try await rest(of: RestrictionStreams.all, read, in: tenant) {
            version = event.streamVersion
            guard let person = event.subjects.first else { continue }
            switch event.eventType {
            case ProcessingRestricted.eventType:
                let restricted = try Self.plainDecoder.decode(RestrictionHeader.self, from: event.payload)
                restrictions[person] = Restriction(grounds: restricted.grounds ?? .objection, since: event.recordedAt)
            case ProcessingRestrictionLifted.eventType:
                restrictions.removeValue(forKey: person)
            default:
                break
            }
        }
        restrictionCache.set(tenant, (version, restrictions))
        return (version, restrictions)
    }

    /// The unsealed part of a restriction event (the reason stays sealed: it is not needed to decide).
    private struct RestrictionHeader: Decodable {
        var grounds: RestrictionGrounds?
    }

    static let plainDecoder = JSONDecoder()

    /// Refuses a change of a restricted person's data.
    /// - Returns: what the change's append expects of the restrictions stream, so that a restriction recorded between
    ///   this check and the append makes the change be decided again.
    @discardableResult
    func refuseRestricted(_ person: PersonID, in tenant: TenantID) async throws -> ExpectedVersion {
        try Self.refuseRestricted(person, try await restrictionState(in: tenant))
    }

    /// `refuseRestricted` on restrictions already read.
    static func refuseRestricted(_ person: PersonID, _ state: (version: Int64, restrictions: [PersonID: Restriction])) throws -> ExpectedVersion {
        if state.restrictions[person] != nil {
            throw DomainError(.rule, "restricted", "Processing of this person's data is restricted (O21): nothing changes until the restriction is lifted.")
        }
        return state.version == 0 ? .noStream : .exact(state.version)
    }

    /// Restricts the processing of a person's data.
    public func restrict(_ person: PersonID, grounds: RestrictionGrounds, reason: String, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        let record = try await personStructure(person, in: tenant)
        guard !record.isErased else { throw DomainError(.rule, "erased", "This person's data has been erased; there is nothing to restrict.") }
        try await changeRestriction(person, in: tenant, by: metadata) { restrictions in
            guard restrictions[person] == nil else { return nil }
            return (ProcessingRestricted.eventType, try await keyRing.seal(ProcessingRestricted(person: person, grounds: grounds, reason: .clear(reason, subject: person)),
                                                                           subjects: [person], in: tenant))
        }
    }

    /// Lifts a restriction in force.
    public func liftRestriction(of person: PersonID, reason: String, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        try await changeRestriction(person, in: tenant, by: metadata) { restrictions in
            guard restrictions[person] != nil else {
                throw DomainError(.notFound, "not-found", "Processing of this person's data is not restricted.")
            }
            return (ProcessingRestrictionLifted.eventType, try await keyRing.seal(ProcessingRestrictionLifted(person: person, reason: .clear(reason, subject: person)),
                                                                                  subjects: [person], in: tenant))
        }
    }

    /// Appends to the restrictions stream expecting it unchanged since the decision (retrying on a race).
    private func changeRestriction(_ person: PersonID, in tenant: TenantID, by metadata: EventMetadata,
                                   decide: ([PersonID: Restriction]) async throws -> (String, Data)?) async throws {
        for _ in 1...Self.attempts {
            let (version, restrictions) = try await restrictionState(in: tenant)
            guard let (type, payload) = try await decide(restrictions) else { return }
            do {
                _ = try await store.append([ProposedEvent(stream: RestrictionStreams.all, eventType: type, subjects: [person], payload: payload)],
                                           to: tenant, metadata: metadata, expecting: [RestrictionStreams.all: .exact(version)])
                return
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        throw DomainError(.conflict, "contended", "The restrictions changed repeatedly meanwhile; try again.")
    }
}

/// One feed page's view of holds for its recipient: every person's restricted spans (read from `restrictions/all`
/// once per page, and only in tenants that have had restrictions), the recipient's hold records (read per person
/// when needed), and what the page holds back (nothing already held is recorded again, so a partner that repeats a
/// cursor writes nothing new).
struct HoldBook {
    struct Span {
        var restricted: LogPosition
        var lifted: LogPosition?
    }

    struct Key: Hashable {
        var person: PersonID
        var until: Int64?
    }

    let store: any EventStore
    let tenant: TenantID
    let recipient: String
    /// Per person, each restriction and its lift, in log order.
    private(set) var spans: [PersonID: [Span]] = [:]
    /// Where this page starts and the head it scans up to.
    private let start: LogPosition
    private let head: LogPosition
    /// Per person met in this page, the lifts ahead of it that release something of theirs to this recipient.
    private var liftsAhead: [PersonID: [LogPosition]] = [:]
    private var records: [PersonID: [(position: LogPosition, held: FeedItemsHeld)]] = [:]
    private var heldBack: [Key: [HeldEvent]] = [:]

    static func load(store: any EventStore, tenant: TenantID, recipient: String, restrictionsVersion: Int64, restricted: [PersonID: Restriction],
                     from start: LogPosition, head: LogPosition) async throws -> HoldBook {
        var book = HoldBook(store: store, tenant: tenant, recipient: recipient, start: start, head: head)
        guard restrictionsVersion > 0 else { return book }
        for event in try await store.readStream(RestrictionStreams.all, of: tenant) {
            guard let person = event.subjects.first else { continue }
            switch event.eventType {
            case ProcessingRestricted.eventType:
                book.spans[person, default: []].append(Span(restricted: event.position, lifted: nil))
            case ProcessingRestrictionLifted.eventType:
                if let last = book.spans[person]?.indices.last, book.spans[person]![last].lifted == nil { book.spans[person]![last].lifted = event.position }
            default:
                break
            }
        }
        return book
    }

    private init(store: any EventStore, tenant: TenantID, recipient: String, start: LogPosition, head: LogPosition) {
        self.store = store
        self.tenant = tenant
        self.recipient = recipient
        self.start = start
        self.head = head
    }

    /// The lift ahead that an event of `person` at `position` waits for: one this page has not reached that releases
    /// earlier events of the person to this recipient. Looked up only for people ever restricted, once per page.
    mutating func waitingLift(of person: PersonID, at position: LogPosition) async throws -> LogPosition? {
        guard let spans = spans[person] else { return nil }
        if liftsAhead[person] == nil {
            var lifts: [LogPosition] = []
            for span in spans {
                guard let lift = span.lifted, lift > start, lift <= head else { continue }
                if try await !releasable(person, at: lift).isEmpty { lifts.append(lift) }
            }
            liftsAhead[person] = lifts
        }
        return liftsAhead[person]?.first { $0 > position }
    }

    /// The recipient's hold records of a person, read once per page.
    private mutating func records(of person: PersonID) async throws -> [(position: LogPosition, held: FeedItemsHeld)] {
        if let known = records[person] { return known }
        let decoder = JSONDecoder()
        let read = try await store.readStream(FeedItemsHeld.stream(recipient: recipient, person: person), of: tenant).map {
            ($0.position, try decoder.decode(FeedItemsHeld.self, from: $0.payload))
        }
        records[person] = read
        return read
    }

    /// The positions the lift at `lift` releases: held during the restriction it ended, or held to wait for it.
    mutating func releasable(_ person: PersonID, at lift: LogPosition) async throws -> Set<Int64> {
        guard let span = spans[person]?.first(where: { $0.lifted == lift }) else { return [] }
        var positions = Set<Int64>()
        for (position, held) in try await records(of: person)
        where held.until == lift.rawValue || (held.until == nil && position > span.restricted && position < lift) {
            positions.formUnion(held.events.map(\.position).filter { $0 < lift.rawValue })
        }
        // And what this page held to wait for it, before reaching it.
        positions.formUnion((heldBack[Key(person: person, until: lift.rawValue)] ?? []).map(\.position))
        return positions
    }

    /// Holds an event of a person: under the restriction in force (`until` nil), or to wait for the lift at `until`.
    /// An event the recipient holds already in the same way is not held again.
    mutating func hold(_ event: RecordedEvent, of person: PersonID, until: LogPosition?) async throws {
        let key = Key(person: person, until: until?.rawValue)
        let since = spans[person]?.last?.restricted ?? .start
        let recorded = try await records(of: person).contains { position, held in
            held.until == key.until && (key.until != nil || position > since) && held.events.contains { $0.position == event.position.rawValue }
        }
        guard !recorded, !(heldBack[key]?.contains { $0.position == event.position.rawValue } ?? false) else { return }
        heldBack[key, default: []].append(HeldEvent(position: event.position.rawValue, hash: event.hash.hex))
    }

    /// The page's hold records, to append with its disclosure record.
    func proposals() throws -> [ProposedEvent] {
        try heldBack.sorted { ($0.key.person.description, $0.key.until ?? 0) < ($1.key.person.description, $1.key.until ?? 0) }.map { key, events in
            ProposedEvent(stream: FeedItemsHeld.stream(recipient: recipient, person: key.person), eventType: FeedItemsHeld.eventType, subjects: [key.person],
                          payload: try JSONEncoder().encode(FeedItemsHeld(recipient: recipient, person: key.person, events: events, until: key.until)))
        }
    }
}
