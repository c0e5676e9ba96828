import EventLog
import Foundation
import Synchronization

/// Builds a recipient's feed pages from the log, and records each page that carries personal data as a disclosure
/// before it is handed over.
///
/// Rules, applied at delivery time (so they hold for older events not yet fetched too):
/// - only the recipient's event types and fields; items are built from the opened event, never its payload;
/// - a unit-scoped feed (`units`) carries only children with a placement in those units;
/// - a consent-dependent feed carries a subject's events only while the consent is in force (O8);
/// - protected fields of a person under a non-disclosure order leave only to a recipient entitled to them (O15);
/// - nothing of an erased subject leaves.
public struct FeedReader: Sendable {
    public let registry: Registry
    var store: any EventStore { registry.store }
    var keyRing: KeyRing { registry.keyRing }

    public init(registry: Registry) { self.registry = registry }

    /// Log positions one page scans at most.
    static let scanBudget: Int64 = 100_000

    public struct Page: Sendable {
        public let items: [FeedItem]
        /// Where the next page starts: past every event this page covered, delivered or not.
        public let next: FeedCursor
        /// The disclosure recorded for this page, when it carried anything.
        public let disclosure: LogPosition?
        /// Each item as JSON (sorted keys), to write into an answer without encoding it again.
        public let itemsJSON: [Data]
        /// Whether the page scanned up to the head as it was: when not (the scan budget ran out first), the next page
        /// has more to scan at once and a long poll should not wait for an append.
        public var reachedHead = true
    }

    /// A recipient with a feed, from the tenant's configuration.
    public struct Partner: Sendable {
        public let recipient: Recipient
        public let register: RegisterDefinition
        public var feed: FeedDefinition { recipient.feed! }

        public init?(_ id: String, in configuration: TenantConfiguration) {
            for register in configuration.registers {
                if let recipient = register.recipients.first(where: { $0.id == id && $0.feed != nil }) {
                    self.recipient = recipient
                    self.register = register
                    return
                }
            }
            return nil
        }
    }

    /// The next page after `cursor`: at most `limit` items, scanning at most up to the head as it is now.
    ///
    /// The page's disclosure record is appended expecting the restrictions as they were read, and the person record
    /// of each person whose consent the feed depends on or whose protected fields it carries: a restriction, a
    /// withdrawn consent or an order recorded meanwhile makes the append fail, and the page is made again on what is
    /// now in force, so nothing leaves on a decision that no longer holds.
    public func page(for partner: Partner, after cursor: FeedCursor, limit: Int, in tenant: TenantID, by metadata: EventMetadata) async throws -> Page {
        for _ in 1..<Self.attempts {
            do {
                return try await attemptPage(for: partner, after: cursor, limit: limit, in: tenant, by: metadata)
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        // The last attempt: its error, if any, is the caller's.
        return try await attemptPage(for: partner, after: cursor, limit: limit, in: tenant, by: metadata)
    }

    /// How many times a page is made when what it decided on changes meanwhile.
    static let attempts = 5

    /// The event types whose appends can put something into the partner's feed: a waiting feed is woken only by
    /// those (`LogWakeups`), not by every other partner's disclosure record. Nil for a statistics extract, which is
    /// built from the read models and reads no events.
    public static func interest(of partner: Partner) -> Set<String>? {
        partner.feed.shape == .statisticsExtract ? nil : scanned(partner.feed)
    }

    /// The event types a feed delivers. Rectifications (O20) reach every partner whose feed carries people's details:
    /// the partners that received a replaced value (the rectification names them, `notified`), and any that reads the
    /// history later, which gets the replaced value and its correction in log order.
    static func deliverable(_ feed: FeedDefinition) -> Set<String> {
        let carriesDetails = !Set(feed.events).isDisjoint(with: [PersonRegistered.eventType, PersonDetailsChanged.eventType])
            || (feed.shape == .careRelationships && feed.fields.contains(.name))
        return Set(feed.events).union(carriesDetails ? [PersonDetailsRectified.eventType] : [])
    }

    /// The event types a page scans: those it delivers, and the lifted restrictions that release what the feed held
    /// back meanwhile (`heldEvents`), at the lift's position.
    static func scanned(_ feed: FeedDefinition) -> Set<String> {
        deliverable(feed).union([ProcessingRestrictionLifted.eventType])
    }

    func attemptPage(for partner: Partner, after cursor: FeedCursor, limit: Int, in tenant: TenantID, by metadata: EventMetadata) async throws -> Page {
        let feed = partner.feed
        // A statistics extract is built from the read models, by the server; it reads no events.
        guard feed.shape != .statisticsExtract else { return Page(items: [], next: cursor, disclosure: nil, itemsJSON: []) }
        let filter = EventFilter(eventTypes: Self.deliverable(feed))
        let scanFilter = EventFilter(eventTypes: Self.scanned(feed))
        let head = try await store.head(of: tenant).position
        // A cursor inside a release scans from the lift again, skipping the release's items it already has.
        var position = cursor.within == nil ? cursor.position : LogPosition(cursor.position.rawValue - 1)
        var next: FeedCursor?
        var items: [FeedItem] = []
        var itemsJSON: [Data] = []
        var disclosed: [DisclosedEvent] = []
        var records: [PersonID: PersonRecord?] = [:]
        let signature = feed.fields.map(\.rawValue).joined(separator: ",")
        // A page scans at most `scanBudget` positions: a partner whose events are rare gets an empty page and a `next`
        // further on, rather than a request that reads the whole log.
        let stop = LogPosition(min(head.rawValue, position.rawValue + Self.scanBudget))
        // The subject's record is needed for a unit scope, a consent, the care-relationships shape, and a person's
        // details (a non-disclosure order hides protected fields). For any other event (attendance, placements of an
        // unscoped feed) only whether the subject is erased matters: the key ring answers that for a whole batch at
        // once, which spares a read of the person's stream per subject and page.
        let recordsNeeded = feed.units != nil || feed.consentPurpose != nil || feed.shape == .careRelationships
        // Nothing of a person whose processing is restricted leaves (O21), older events included.
        let (restrictionsVersion, restricted) = try await registry.restrictionState(in: tenant)
        // What this recipient's feed holds back for restricted people, and releases at their lifts (O21).
        var holds = try await HoldBook.load(store: store, tenant: tenant, recipient: partner.recipient.id, restrictionsVersion: restrictionsVersion,
                                            restricted: restricted, from: position, head: head)

        /// Delivers an event if the feed may carry it, reading the subject's record: the item and its disclosure.
        func deliver(_ event: RecordedEvent, subject: PersonID, cursor: FeedCursor) async throws {
            if records[subject] == nil { records[subject] = try await record(subject, in: tenant) }
            guard let record = records[subject] ?? nil, allows(feed, record), try inScope(event, feed, record) else { return }

            let shaped = feed.shape == .careRelationships && event.eventType != PersonDetailsRectified.eventType
            var sources: [(RecordedEvent, [FeedField])] = []
            let data: [String: FeedValue]
            if shaped {
                guard let (shapedData, identity) = try await careRelationship(of: event, for: feed, record: record, in: tenant) else { return }
                data = shapedData
                sources = identity
            } else {
                guard let plain = try await self.data(of: event, for: feed, record: record) else { return }
                data = plain
            }
            guard !data.isEmpty else { return }
            let item = FeedItem(cursor: cursor.text, position: event.position.rawValue, type: shaped ? "CareRelationship" : event.eventType,
                                recordedAt: event.recordedAt.description, subject: subject.description, data: data)
            items.append(item)
            itemsJSON.append(try Self.encoder.encode(item))
            let identityFields = Set(sources.flatMap(\.1))
            disclosed.append(DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: subject,
                                            fields: feed.fields.filter { data[$0.rawValue] != nil && !identityFields.contains($0) }))
            // A shaped item's identity fields came from the person's own events: those are disclosed too, so the
            // record names every event whose data left (and a rectification finds this partner).
            for (source, fields) in sources where !fields.isEmpty {
                if let index = disclosed.firstIndex(where: { $0.position == source.position.rawValue }) {
                    disclosed[index].fields = feed.fields.filter { disclosed[index].fields.contains($0) || fields.contains($0) }
                } else {
                    disclosed.append(DisclosedEvent(position: source.position.rawValue, hash: source.hash.hex, eventType: source.eventType, subject: subject,
                                                    fields: fields))
                }
            }
        }

        scan: while items.count < limit, position < stop {
            let upper = LogPosition(min(stop.rawValue, position.rawValue + 10_000))
            let wanted = limit - items.count
            let events = try await store.read(tenant, after: position, through: upper, limit: wanted, filter: scanFilter)
            let light = recordsNeeded ? [] : events.filter { !Self.detailEvents.contains($0.eventType) }.compactMap(Self.subject(of:))
            let keys = light.isEmpty ? nil : try await keyRing.openingKeys(for: light, in: tenant)
            for event in events {
                if items.count >= limit { break scan }
                if event.eventType == ProcessingRestrictionLifted.eventType {
                    // Resuming inside this release: its items up to `within` were delivered.
                    let resumed = event.position == cursor.position ? cursor.within : nil
                    if let person = event.subjects.first, restricted[person] != nil {
                        // Restricted again since: held on, to be released at the later lift.
                        for held in try await heldEvents(of: person, releasedAt: event.position, holds: &holds, filter: filter, in: tenant)
                        where resumed.map({ held.position > $0 }) ?? true {
                            try await holds.hold(held, of: person, until: nil)
                        }
                    } else if let person = event.subjects.first {
                        var done = resumed
                        for held in try await heldEvents(of: person, releasedAt: event.position, holds: &holds, filter: filter, in: tenant)
                        where done.map({ held.position > $0 }) ?? true {
                            if items.count >= limit {
                                // The page is full inside the release: the next page goes on within it.
                                next = done.map { FeedCursor(event.position, within: $0) } ?? FeedCursor(position)
                                break scan
                            }
                            try await deliver(held, subject: person, cursor: FeedCursor(event.position, within: held.position))
                            done = held.position
                        }
                    }
                    position = event.position
                    if items.count >= limit { break scan }
                    continue
                }
                position = event.position
                guard let subject = Self.subject(of: event) else { continue }
                if restricted[subject] != nil {
                    try await holds.hold(event, of: subject, until: nil)
                    continue
                }
                if let lift = try await holds.waitingLift(of: subject, at: event.position) {
                    // Earlier events of this person wait for the lift ahead: this one waits with them, so the release
                    // there is complete and in log order.
                    try await holds.hold(event, of: subject, until: lift)
                    continue
                }
                if let keys, !recordsNeeded, !Self.detailEvents.contains(event.eventType) {
                    if case .erased? = keys[subject] { continue }
                    // The same event with the same fields makes the same item for every partner: built once.
                    let key = FeedItemCache.Key(tenant: tenant, position: event.position.rawValue, fields: signature)
                    var entry = registry.feedItems.entry(key)
                    if entry == nil, let plain = try self.data(of: event, for: feed, nonDisclosure: false), !plain.isEmpty {
                        let item = FeedItem(cursor: FeedCursor(event.position).text, position: event.position.rawValue, type: event.eventType,
                                            recordedAt: event.recordedAt.description, subject: subject.description, data: plain)
                        let disclosedEvent = DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: subject,
                                                            fields: feed.fields.filter { plain[$0.rawValue] != nil })
                        let built = FeedItemCache.Entry(item: item, json: try Self.encoder.encode(item), disclosed: disclosedEvent)
                        registry.feedItems.store(key, built)
                        entry = built
                    }
                    if let entry {
                        items.append(entry.item)
                        itemsJSON.append(entry.json)
                        disclosed.append(entry.disclosed)
                    }
                    continue
                }
                try await deliver(event, subject: subject, cursor: FeedCursor(event.position))
            }
            if events.count < wanted { position = upper }
        }
        let after = next ?? FeedCursor(position)
        // What was held back is recorded with the page's disclosure, before the cursor moves past it.
        let holdEvents = try holds.proposals()
        var expecting: [StreamRef: ExpectedVersion] = [RestrictionStreams.all: restrictionsVersion == 0 ? .noStream : .exact(restrictionsVersion)]
        guard !items.isEmpty else {
            if !holdEvents.isEmpty { _ = try await store.append(holdEvents, to: tenant, metadata: metadata, expecting: expecting) }
            return Page(items: [], next: after, disclosure: nil, itemsJSON: [], reachedHead: position >= head)
        }
        let subjects = Set(disclosed.map(\.subject)).map { ($0.description, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        for subject in subjects {
            // Only where a change meanwhile could make the hand-over unlawful — a consent the feed depends on, or
            // protected fields (an order placed meanwhile) — so busy people's other changes do not redo pages.
            guard case let record?? = records[subject] else { continue }
            let carriesProtected = disclosed.contains { $0.subject == subject && $0.fields.contains(where: FeedField.protected.contains) }
            if feed.consentPurpose != nil || carriesProtected { expecting[RegisterStreams.person(subject)] = .exact(record.version) }
        }
        let leftFields = Set(disclosed.flatMap(\.fields))
        let fields = feed.fields.filter(leftFields.contains)
        let recorded = DataDisclosed(recipient: partner.recipient.id, register: partner.register.id, channel: "feed",
                                     legalBasis: partner.recipient.legalBasis, consentPurpose: feed.consentPurpose,
                                     subjects: subjects, fields: fields, events: disclosed)
        let result = try await store.append([ProposedEvent(stream: DisclosureStreams.recipient(partner.recipient.id), eventType: DataDisclosed.eventType,
                                                           schemaVersion: DataDisclosed.schemaVersion, subjects: subjects,
                                                           payload: try recorded.sortedJSON())] + holdEvents,
                                             to: tenant, metadata: metadata, expecting: expecting)
        var page = Page(items: items, next: after, disclosure: result.positions.first, itemsJSON: itemsJSON)
        // A full page may have stopped short of the head; one that is not full scanned up to where it had to stop.
        page.reachedHead = next == nil && items.count < limit && position >= head
        return page
    }

    /// The events of `person` that the recipient's feed held back for the lift at `lift`, each once, in log order:
    /// those its pages passed over during the restriction that the lift ended, and those held since to wait for it.
    func heldEvents(of person: PersonID, releasedAt lift: LogPosition, holds: inout HoldBook, filter: EventFilter, in tenant: TenantID) async throws -> [RecordedEvent] {
        let positions = try await holds.releasable(person, at: lift)
        // Read in runs of nearby positions rather than one by one.
        var held: [RecordedEvent] = []
        var remaining = positions.sorted()[...]
        while let first = remaining.first {
            let last = remaining.prefix { $0 < first + 1_000 }.last!
            let events = try await store.read(tenant, after: LogPosition(first - 1), through: LogPosition(last), limit: 1_000, filter: filter)
            held += events.filter { positions.contains($0.position.rawValue) && Self.subject(of: $0) == person }
            remaining = remaining.drop { $0 <= last }
        }
        return held
    }

    /// Sorted keys, slashes unescaped: the JSON every feed answer carries.
    public static let encoder = SortedJSONEncoder()

    /// Whose event it is: the person of a person stream, the child of an attendance stream.
    static func subject(of event: RecordedEvent) -> PersonID? {
        switch event.stream.type {
        case "person": return UUID(canonical: event.stream.id).map(PersonID.init)
        case "attendance":  // `<person>.<month>`, read without String's Character machinery (this runs per event per page)
            let id = event.stream.id
            return UUID(canonical: id[..<(id.utf8.firstIndex(of: UInt8(ascii: ".")) ?? id.endIndex)]).map(PersonID.init)
        default: return nil
        }
    }

    func record(_ subject: PersonID, in tenant: TenantID) async throws -> PersonRecord? {
        do {
            return try await registry.person(subject, in: tenant)
        } catch let error as DomainError where error.kind == .notFound {
            return nil
        }
    }
}

/// Feed items of plain events (attendance, placements, consents) built once and shared by every reader of one log
/// (`Registry.feedItems`): a hundred partners following the same events with the same fields would otherwise decode, build and
/// encode each event a hundred times. Keyed by tenant, position and the feed's fields; the rules (scope, consent,
/// erasure) are still decided per partner and page before an item is taken. Bounded: emptied when full.
public final class FeedItemCache: Sendable {
    struct Key: Hashable, Sendable {
        let tenant: TenantID
        let position: Int64
        let fields: String
    }

    struct Entry: Sendable {
        let item: FeedItem
        let json: Data
        let disclosed: DisclosedEvent
    }

    static let capacity = 50_000
    private let entries = Mutex<[Key: Entry]>([:])

    func entry(_ key: Key) -> Entry? { entries.withLock { $0[key] } }

    func store(_ key: Key, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
    }
}
