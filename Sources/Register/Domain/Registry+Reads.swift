import EventLog
import Foundation

// Reading people. Folded records are kept in memory (`records`): a later load reads only the events after the kept
// version and folds those onto it, so a stream is always read to its end (another process's writes are seen) but
// each event is decoded and opened once. Reads that need several streams (a person, the tenant's restrictions, the
// people linked to them) ask the store for all of them at once: one snapshot on SQLite, one round trip on PostgreSQL.

extension Registry {
    /// A person with their details opened (or erased).
    /// - Throws: `not-found` when the tenant has no such person.
    public func person(_ id: PersonID, in tenant: TenantID) async throws -> PersonRecord {
        try await load(id, in: tenant, opening: true)
    }

    /// A person's record without opening sealed fields: enough for placements, links and rules.
    public func personStructure(_ id: PersonID, in tenant: TenantID) async throws -> PersonRecord {
        try await load(id, in: tenant, opening: false)
    }

    /// A person and the tenant's restrictions in force, read together; with `linked`, also every person the record
    /// links to (opened like the person), keyed by id.
    /// - Throws: `not-found` when the tenant has no such person.
    /// - Parameter streams: more streams to read whole in the same snapshot (an attendance write's month), in
    ///   `PersonReading.streams`.
    public func personReading(_ id: PersonID, in tenant: TenantID, opening: Bool = true, linked: Bool = false,
                              alongWith streams: [StreamRef] = []) async throws -> PersonReading {
        let key = PersonRecordCache.Key(tenant: tenant, person: id, opened: opening)
        let kept = records[key]
        let restrictionsBefore = restrictionCache.get(tenant)
        // The links the kept record knows are read along; a link added since is read after.
        let expectedLinks = linked ? Self.unique(kept?.relationships.map(\.person) ?? []) : []
        let keptLinks = expectedLinks.map { records[PersonRecordCache.Key(tenant: tenant, person: $0, opened: opening)] }
        let pages = try await store.readStreams(
            [StreamRead(RegisterStreams.person(id), afterVersion: kept?.version ?? 0), StreamRead(RestrictionStreams.all, afterVersion: restrictionsBefore.version)]
                + zip(expectedLinks, keptLinks).map { StreamRead(RegisterStreams.person($0), afterVersion: $1?.version ?? 0) }
                + streams.map { StreamRead($0) },
            of: tenant, limit: Self.page)
        let record = try await fold(id, in: tenant, opening: opening, kept: kept, events: try await rest(of: RegisterStreams.person(id), pages[0], in: tenant))
        let restrictions = try await advanceRestrictions(restrictionsBefore, pages[1], in: tenant)
        var people: [PersonID: PersonRecord] = [:]
        if linked {
            for (index, person) in expectedLinks.enumerated() {
                let events = try await rest(of: RegisterStreams.person(person), pages[2 + index], in: tenant)
                people[person] = try await fold(person, in: tenant, opening: opening, kept: keptLinks[index], events: events)
            }
            for link in record.relationships where people[link.person] == nil {
                people[link.person] = try await load(link.person, in: tenant, opening: opening)
            }
        }
        var along: [StreamRef: [RecordedEvent]] = [:]
        for (index, stream) in streams.enumerated() {
            along[stream] = try await rest(of: stream, pages[2 + expectedLinks.count + index], in: tenant)
        }
        return PersonReading(record: record, linked: people, restrictions: restrictions.restrictions, restrictionsVersion: restrictions.version,
                             streams: along)
    }

    /// The most events asked of one stream in one read.
    static let page = 1_000

    /// A stream's events from a first page on: the following pages while they come full.
    func rest(of stream: StreamRef, _ first: [RecordedEvent], in tenant: TenantID) async throws -> [RecordedEvent] {
        var events = first
        var full = first.count >= Self.page
        while full, let last = events.last {
            let page = try await store.readStream(stream, of: tenant, afterVersion: last.streamVersion, limit: Self.page)
            events += page
            full = page.count >= Self.page
        }
        return events
    }

    /// Reads a person's stream after the kept record and folds it.
    func load(_ id: PersonID, in tenant: TenantID, opening: Bool) async throws -> PersonRecord {
        let kept = records[PersonRecordCache.Key(tenant: tenant, person: id, opened: opening)]
        let stream = RegisterStreams.person(id)
        let first = try await store.readStream(stream, of: tenant, afterVersion: kept?.version ?? 0, limit: Self.page)
        return try await fold(id, in: tenant, opening: opening, kept: kept, events: try await rest(of: stream, first, in: tenant))
    }

    /// Folds a person's events read after `kept` onto it, and keeps the result (or drops it, when the key is shredded).
    private func fold(_ id: PersonID, in tenant: TenantID, opening: Bool, kept: PersonRecord?, events: [RecordedEvent]) async throws -> PersonRecord {
        let key = PersonRecordCache.Key(tenant: tenant, person: id, opened: opening)
        guard kept != nil || !events.isEmpty else { throw DomainError.personNotFound() }
        let keys = try await keyRing.openingKeys(for: [id] + events.flatMap(\.subjects), in: tenant)
        var record = events.isEmpty ? kept : try PersonRecord.fold(events, opener: PayloadOpener(keys: opening ? keys : nil), onto: kept)
        if case .erased? = keys[id] {
            // Shredded: nothing opened is kept, in memory either.
            records[key] = nil
            record?.isErased = true
            record?.details = nil
            guard let record else { throw DomainError.personNotFound() }
            return record
        }
        guard let record else { throw DomainError.personNotFound() }
        records[key] = record
        return record
    }

    static func unique(_ ids: [PersonID]) -> [PersonID] {
        var seen = Set<PersonID>()
        return ids.filter { seen.insert($0).inserted }
    }
}

/// A person, the people linked to them and the tenant's restrictions, as one read found them.
public struct PersonReading: Sendable {
    public let record: PersonRecord
    /// The people the record links to (only when asked for).
    public let linked: [PersonID: PersonRecord]
    /// The restrictions of processing in force (O21).
    public let restrictions: [PersonID: Restriction]
    /// The version of the restrictions stream they were read at: what a decision on them expects.
    public let restrictionsVersion: Int64
    /// The streams asked for along with the person, whole, from the same snapshot.
    public let streams: [StreamRef: [RecordedEvent]]
}
