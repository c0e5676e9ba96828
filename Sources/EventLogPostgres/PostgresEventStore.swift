import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The hosted event store on PostgreSQL, through a postgres-nio connection pool.
///
/// It connects as the application role, which owns nothing and may only read and append. Every transaction first
/// binds itself to one tenant (`set_config('register.tenant_id', …, true)`); row-level security then hides and
/// protects every other tenant's rows. Appends to one tenant serialise on the tenant's head row
/// (`SELECT … FOR UPDATE`): a writer reads the head, inserts its batch and moves the head in one short
/// transaction, so positions are dense and commit in order, while different tenants append in parallel.
///
/// Run it as a `Service` (or call `run()` in a task): that runs the pool and the `LISTEN` connection that wakes
/// subscriptions when other processes append.
public final class PostgresEventStore: EventStore, Service {
    let client: PostgresClient
    let url: PostgresConnectionURL
    /// The schema holding this log's tables (`register`, or `register_access` for the access log).
    let schema: String
    /// The channel every append notifies, with the tenant id and the appended event types as payload
    /// (`notification(_:eventTypes:)`).
    var channel: String { "\(schema)_log" }

    /// A notification's payload: the tenant id, a space and the appended event types, comma-separated — or the tenant
    /// id alone (wake every subscriber of the tenant) when the types would not fit PostgreSQL's 8 000-byte payload.
    /// Neither a tenant id nor an event type contains a space or a comma.
    static func notification(_ tenant: TenantID, eventTypes: [String]) -> String {
        let types = Set(eventTypes).sorted().joined(separator: ",")
        return types.isEmpty || types.utf8.count > 7_000 ? tenant.rawValue : "\(tenant.rawValue) \(types)"
    }

    /// The tenant and event types of a notification's payload (types nil: all of the tenant's subscribers).
    static func notified(_ payload: String) -> (TenantID, Set<String>?)? {
        let parts = payload.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let tenant = try? TenantID(String(first)) else { return nil }
        return (tenant, parts.count == 2 ? Set(parts[1].split(separator: ",").map(String.init)) : nil)
    }
    let logger: Logger
    public let wakeups = LogWakeups()
    let versions = StreamVersionCache()
    /// Group commit of concurrent appends per tenant.
    let groups = AppendGroups()
    private let started = Mutex(false)

    /// - Parameters:
    ///   - url: connects as the application role.
    ///   - maximumConnections: the pool's size; one more connection is held for `LISTEN`.
    ///   - schema: the schema of this log's tables; several logs (the register, its access log) can share a database.
    public init(url: PostgresConnectionURL, schema: String = PostgresSchema.defaultName, maximumConnections: Int = 20, logger: Logger) throws {
        guard PostgresMigrator.isValidRoleName(schema) else {
            throw EventLogError(.invalidArgument, "a schema name is 1–63 characters of a-z, 0-9 and '_', starting with a letter or '_'")
        }
        self.url = url
        self.schema = schema
        self.logger = logger
        self.client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger)
    }

    /// The role this store connects as.
    public var applicationRole: String { url.username }

    /// Runs the pool and the notification listener until cancelled.
    public func run() async throws {
        started.withLock { $0 = true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listen() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Checks that the database has the schema version this build expects.
    /// - Throws: `schemaMismatch` naming what to do.
    public func checkSchema() async throws {
        // Called right after `run()` was scheduled: give it a moment to start the pool rather than race it.
        for _ in 0..<500 where !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        let current = PostgresSchema.currentVersion
        let found: Int?
        do {
            let rows = try await client.query("SELECT max(version) FROM \(unescaped: self.schema).schema_migrations", logger: logger)
            var version: Int?
            for try await value in rows.decode(Int?.self) { version = value }
            found = version
        } catch {
            if PostgresErrors.sqlState(of: error) == "42P01" || PostgresErrors.sqlState(of: error) == "3F000" {
                throw EventLogError(.schemaMismatch, "the database has no \(schema) schema yet; run `register db migrate` with the owner's URL")
            }
            throw Self.storageError("the database cannot be reached", error)
        }
        guard let found, found == current else {
            let what = found.map { "is at schema version \($0)" } ?? "has no migrations applied"
            throw EventLogError(.schemaMismatch, "the database \(what), this build needs version \(current); run `register db migrate`")
        }
        // Least privilege is checked, not assumed: a service that could bypass row-level security or the
        // append-only rules refuses to start.
        let problem = try await client.withConnection { connection in
            try await PostgresSchema.unsafeApplicationRole(self.url.username, owner: nil, schema: self.schema, on: connection, logger: self.logger)
        }
        if let problem {
            throw EventLogError(.schemaMismatch, "the service connects as \(problem); connect as the application role (docs/operations.md)")
        }
    }

    // MARK: Appending

    public func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion]) async throws -> AppendResult {
        let sealed = try AppendPlanning.validate(events, metadata: metadata)
        return try await groups.append(AppendGroups.Request(events: events, metadata: metadata, expecting: expecting, sealed: sealed), tenant: tenant) {
            try await appendAlone(events, to: tenant, metadata: metadata, expecting: expecting, sealed: sealed)
        } commitGroup: { [self] requests in
            await self.commitGroup(requests, in: tenant)
        }
    }

    /// One append in its own transaction.
    func appendAlone(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                     sealed: Set<SubjectID>) async throws -> AppendResult {
        let attempt = try await AppendPlanning.attempt(events) {
            // appendInTransaction starts with `lockHead`, which binds the tenant.
            try await inTenantTransaction(tenant, bindingFirst: false) { connection in
                try await self.appendInTransaction(events, to: tenant, metadata: metadata, expecting: expecting, refusingErased: sealed, connection)
            }
        } existing: {
            try await inTenantTransaction(tenant) { connection in
                try await self.existingEvents(events.map(\.eventID), in: tenant, connection)
            }
        }
        return attempt.finish(tenant, events: events, versions: versions, wakeups: wakeups)
    }

    func appendInTransaction(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                             refusingErased sealed: Set<SubjectID> = [], useCache: Bool = true, _ connection: PostgresConnection) async throws -> AppendOutcome {
        let head = try await lockHead(of: tenant, connection)
        var versions = try await currentVersions(AppendPlanning.streams(of: events, expecting: expecting), in: tenant, at: head,
                                                 useCache: useCache, connection)
        let plan = try AppendPlanning.plan(events, tenant: tenant, metadata: metadata, expecting: expecting, head: head,
                                           currentVersions: versions.filter { $0.value > 0 }, now: .now())
        do {
            try await insert(plan.events, movingHeadTo: plan.head, of: tenant, refusingErased: sealed, connection)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && error.serverInfo?[.constraintName] == "log_events_event_id" {
            throw DuplicateEventID()
        }
        for event in plan.events { versions[event.stream] = event.streamVersion }
        return AppendOutcome(result: plan.result, written: (head, plan.head, versions))
    }

    /// Takes the tenant's append lock (its head row, created on the tenant's first append) and reads the head.
    func lockHead(of tenant: TenantID, _ connection: PostgresConnection) async throws -> LogHead {
        try await beginAppend(of: tenant, checking: [], connection).head
    }

    /// Binds the transaction to the tenant, locks its head (creating it on the tenant's first append) and finds which
    /// of `eventIDs` the log already holds: one round trip (`begin_append`, migration 4). Callers that start with it
    /// need no separate binding (`inTenantTransaction(_:bindingFirst: false)`).
    func beginAppend(of tenant: TenantID, checking eventIDs: [UUID], _ connection: PostgresConnection) async throws -> (head: LogHead, known: Set<UUID>) {
        for attempt in 0..<2 {
            let rows = try await connection.query("""
                SELECT last_pos, last_hash, last_recorded_at_us, known FROM \(unescaped: self.schema).begin_append(\(tenant.rawValue), \(eventIDs))
                """, logger: logger)
            for try await (position, hash, recordedAt, known) in rows.decode((Int64, ByteBuffer, Int64, [UUID]).self) {
                return (LogHead(position: LogPosition(position), hash: EventDigest(unchecked: Array(buffer: hash)), recordedAt: Timestamp(rawValue: recordedAt)),
                        Set(known))
            }
            guard attempt == 0 else { break }
            // The function has bound the tenant even though it found no head.
            try await registerTenant(tenant, connection)
            try await connection.query("""
                INSERT INTO \(unescaped: self.schema).log_heads (tenant_id, last_pos, last_hash, last_recorded_at_us)
                VALUES (\(tenant.rawValue), 0, \(Data(EventDigest.genesis.bytes)), 0) ON CONFLICT (tenant_id) DO NOTHING
                """, logger: logger)
        }
        throw EventLogError(.storageFailure, "the log head of \(tenant) could not be created")
    }

    func registerTenant(_ tenant: TenantID, _ connection: PostgresConnection) async throws {
        try await connection.query("INSERT INTO \(unescaped: self.schema).tenants (tenant_id) VALUES (\(tenant.rawValue)) ON CONFLICT (tenant_id) DO NOTHING", logger: logger)
    }

    /// The last version of each stream at `head`: from the cache where it knows them, the rest read in one round trip.
    func currentVersions(_ streams: [StreamRef], in tenant: TenantID, at head: LogHead, useCache: Bool = true,
                         _ connection: PostgresConnection) async throws -> [StreamRef: Int64] {
        var (versions, missing) = useCache ? self.versions.lookup(streams, in: tenant, at: head) : ([:], streams)
        if !missing.isEmpty {
            versions.merge(try await streamVersions(missing, in: tenant, connection)) { _, read in read }
        }
        return versions
    }

    /// The last version of each stream (0 for streams that do not exist), in one round trip.
    func streamVersions(_ streams: [StreamRef], in tenant: TenantID, _ connection: PostgresConnection) async throws -> [StreamRef: Int64] {
        let rows = try await connection.query("""
            SELECT s.stream_type, s.stream_id,
                   (SELECT max(v.stream_version) FROM \(unescaped: self.schema).log_events v
                    WHERE v.tenant_id = \(tenant.rawValue) AND v.stream_type = s.stream_type AND v.stream_id = s.stream_id)
            FROM unnest(\(streams.map(\.type))::text[], \(streams.map(\.id))::text[]) AS s (stream_type, stream_id)
            """, logger: logger)
        var versions: [StreamRef: Int64] = [:]
        for try await (streamType, streamID, version) in rows.decode((String, String, Int64?).self) {
            versions[StreamRef(uncheckedType: streamType, id: streamID)] = version ?? 0
        }
        return versions
    }

    /// The events with these ids that are already in the log.
    func existingEvents(_ eventIDs: [UUID], in tenant: TenantID, _ connection: PostgresConnection) async throws -> [UUID: ExistingEvent] {
        let rows = try await connection.query("""
            SELECT event_id, pos, stream_type, stream_id, stream_version, event_type, schema_version, subjects FROM \(unescaped: self.schema).log_events
            WHERE tenant_id = \(tenant.rawValue) AND event_id = ANY(\(eventIDs))
            """, logger: logger)
        var existing: [UUID: ExistingEvent] = [:]
        for try await (eventID, position, streamType, streamID, version, eventType, schemaVersion, subjects)
            in rows.decode((UUID, Int64, String, String, Int64, String, Int32, [UUID]).self) {
            existing[eventID] = ExistingEvent(position: LogPosition(position), stream: StreamRef(uncheckedType: streamType, id: streamID),
                                              streamVersion: version, eventType: eventType, schemaVersion: Int(schemaVersion),
                                              subjects: subjects.map(SubjectID.init))
        }
        return existing
    }

    /// Inserts the rows, moves the head and notifies listeners: one statement, one round trip. Nothing is written if
    /// a subject in `sealed` has been erased (new sealed data about them is refused).
    func insert(_ events: [RecordedEvent], movingHeadTo head: LogHead, of tenant: TenantID, refusingErased sealed: Set<SubjectID> = [],
                _ connection: PostgresConnection) async throws {
        let columns = InsertColumns(events)
        let sealedSubjects = sealed.map(\.uuid)
        let rows = try await connection.query("""
            WITH erased AS (
                SELECT subject_id FROM \(unescaped: self.schema).subject_keys
                WHERE tenant_id = \(tenant.rawValue) AND subject_id = ANY(\(sealedSubjects)) AND shredded_at_us IS NOT NULL LIMIT 1
            ), inserted AS (
                INSERT INTO \(unescaped: self.schema).log_events (tenant_id, pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                    recorded_at_us, actor_user, actor_role, correlation_id, causation_id, subjects, payload, prev_hash, hash)
                SELECT \(tenant.rawValue), u.pos, u.event_id, u.stream_type, u.stream_id, u.stream_version, u.event_type, u.schema_version::integer,
                    u.recorded_at_us, u.actor_user, u.actor_role, NULLIF(u.correlation_id, '')::uuid, NULLIF(u.causation_id, '')::uuid,
                    u.subjects::uuid[], u.payload, u.prev_hash, u.hash
                FROM unnest(\(columns.positions)::bigint[], \(columns.eventIDs)::uuid[], \(columns.streamTypes)::text[], \(columns.streamIDs)::text[],
                            \(columns.streamVersions)::bigint[], \(columns.eventTypes)::text[], \(columns.schemaVersions)::bigint[],
                            \(columns.recordedAt)::bigint[], \(columns.actorUsers)::text[], \(columns.actorRoles)::text[],
                            \(columns.correlationIDs)::text[], \(columns.causationIDs)::text[], \(columns.subjects)::text[],
                            \(columns.payloads)::bytea[], \(columns.previousHashes)::bytea[], \(columns.hashes)::bytea[])
                    AS u (pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version, recorded_at_us, actor_user,
                          actor_role, correlation_id, causation_id, subjects, payload, prev_hash, hash)
                WHERE NOT EXISTS (SELECT 1 FROM erased)
                RETURNING 1
            ), moved AS (
                UPDATE \(unescaped: self.schema).log_heads SET last_pos = \(head.position.rawValue), last_hash = \(Data(head.hash.bytes)),
                    last_recorded_at_us = \(head.recordedAt.rawValue)
                WHERE tenant_id = \(tenant.rawValue) AND NOT EXISTS (SELECT 1 FROM erased)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved), (SELECT subject_id FROM erased),
                   pg_notify(\(self.channel), \(Self.notification(tenant, eventTypes: events.map(\.eventType))))
            """, logger: logger)
        for try await (inserted, moved, erased, _) in rows.decode((Int64, Int64, UUID?, String).self) {
            if let erased { throw AppendPlanning.erased(SubjectID(erased)) }
            guard inserted == events.count, moved == 1 else {
                throw EventLogError(.storageFailure, "the append to \(tenant) wrote \(inserted) of \(events.count) events and \(moved) head rows")
            }
        }
    }

    // MARK: Reading

    public func read(_ tenant: TenantID, after position: LogPosition, through: LogPosition?, limit: Int, filter: EventFilter) async throws -> [RecordedEvent] {
        let upper = through?.rawValue ?? Int64.max
        let eventTypes = filter.eventTypes.map { Array($0).sorted() }
        let streamTypes = filter.streamTypes.map { Array($0).sorted() }
        return try await inTenantTransaction(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM \(unescaped: self.schema).log_events
                WHERE tenant_id = \(tenant.rawValue) AND pos > \(position.rawValue) AND pos <= \(upper)
                  AND (\(eventTypes == nil) OR event_type = ANY(\(eventTypes ?? [])))
                  AND (\(streamTypes == nil) OR stream_type = ANY(\(streamTypes ?? [])))
                  AND (\(filter.subject == nil) OR \(filter.subject?.uuid ?? UUID()) = ANY(subjects))
                ORDER BY pos LIMIT \(max(0, limit))
                """, logger: self.logger)
            return try await Self.events(from: rows, tenant: tenant)
        }
    }

    public func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int) async throws -> [RecordedEvent] {
        // One round trip: `read_stream` binds the tenant and queries in one statement (migration 2).
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM \(unescaped: self.schema).read_stream(\(tenant.rawValue), \(stream.type), \(stream.id), \(afterVersion), \(Int32(clamping: max(0, limit))))
                """, logger: logger)
            return try await Self.events(from: rows, tenant: tenant)
        } catch let error as EventLogError {
            throw error
        } catch {
            throw Self.storageError("the database failed", error)
        }
    }

    public func readStreams(_ requests: [StreamRead], of tenant: TenantID, limit: Int) async throws -> [[RecordedEvent]] {
        // One round trip (migration 3) for the first request of each stream; the rows come back grouped by stream, so
        // a stream asked for again (after another version) is read on its own.
        var seen = Set<StreamRef>()
        let first = requests.filter { seen.insert($0.stream).inserted }
        guard !first.isEmpty else { return [] }
        var byStream: [StreamRef: [RecordedEvent]] = [:]
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM \(unescaped: self.schema).read_streams(\(tenant.rawValue), \(first.map(\.stream.type)),
                    \(first.map(\.stream.id)), \(first.map(\.afterVersion)), \(Int32(clamping: max(0, limit))))
                """, logger: logger)
            for event in try await Self.events(from: rows, tenant: tenant) { byStream[event.stream, default: []].append(event) }
        } catch let error as EventLogError {
            throw error
        } catch {
            throw Self.storageError("the database failed", error)
        }
        var answered = Set<StreamRef>()
        var results: [[RecordedEvent]] = []
        for request in requests {
            if answered.insert(request.stream).inserted {
                results.append(byStream[request.stream] ?? [])
            } else {
                results.append(try await readStream(request.stream, of: tenant, afterVersion: request.afterVersion, limit: limit))
            }
        }
        return results
    }

    public func head(of tenant: TenantID) async throws -> LogHead {
        try await inTenantTransaction(tenant) { connection in
            let rows = try await connection.query("""
                SELECT last_pos, last_hash, last_recorded_at_us FROM \(unescaped: self.schema).log_heads WHERE tenant_id = \(tenant.rawValue)
                """, logger: self.logger)
            for try await (position, hash, recordedAt) in rows.decode((Int64, ByteBuffer, Int64).self) {
                return LogHead(position: LogPosition(position), hash: EventDigest(unchecked: Array(buffer: hash)), recordedAt: Timestamp(rawValue: recordedAt))
            }
            return .empty
        }
    }

    public func tenants() async throws -> [TenantID] {
        do {
            var tenants: [TenantID] = []
            for try await id in try await client.query("SELECT tenant_id FROM \(unescaped: self.schema).tenants ORDER BY tenant_id", logger: logger).decode(String.self) {
                tenants.append(TenantID(unchecked: id))
            }
            return tenants
        } catch {
            throw Self.storageError("the tenants could not be listed", error)
        }
    }

    static let columns = """
        pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version, recorded_at_us, actor_user, actor_role, \
        correlation_id, causation_id, subjects, payload, prev_hash, hash
        """

    static func events(from rows: PostgresRowSequence, tenant: TenantID) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        for try await (position, eventID, streamType, streamID, streamVersion, eventType, schemaVersion, recordedAt, actorUser, actorRole,
                       correlationID, causationID, subjects, payload, previousHash, hash)
            in rows.decode((Int64, UUID, String, String, Int64, String, Int32, Int64, String, String, UUID?, UUID?, [UUID], ByteBuffer, ByteBuffer, ByteBuffer).self) {
            events.append(RecordedEvent(
                tenant: tenant, position: LogPosition(position), eventID: eventID, stream: StreamRef(uncheckedType: streamType, id: streamID),
                streamVersion: streamVersion, eventType: eventType, schemaVersion: Int(schemaVersion), recordedAt: Timestamp(rawValue: recordedAt),
                actor: Actor(unchecked: actorUser, role: actorRole), correlationID: correlationID, causationID: causationID,
                subjects: subjects.map(SubjectID.init), payload: Data(payload.readableBytesView),
                previousHash: EventDigest(unchecked: Array(buffer: previousHash)), hash: EventDigest(unchecked: Array(buffer: hash))))
        }
        return events
    }

    // MARK: Transactions

    /// Runs `body` in one transaction bound to `tenant` by row-level security; any error rolls it back.
    /// - Parameter bindingFirst: false when `body` starts with `beginAppend` or `lockHead`, which bind the tenant in
    ///   the same round trip (until then row-level security shows the transaction nothing).
    func inTenantTransaction<T: Sendable>(_ tenant: TenantID, bindingFirst: Bool = true, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                // Binds the transaction to the tenant for row-level security. JIT off: these are short OLTP statements
                // whose cost estimates can cross the JIT threshold on a young table, and compiling would cost more than running.
                if bindingFirst {
                    try await connection.query("SELECT set_config('register.tenant_id', \(tenant.rawValue), true), set_config('jit', 'off', true)", logger: logger)
                }
                return try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? EventLogError { throw inner }
            if let inner = error.closureError as? DuplicateEventID { throw inner }
            throw Self.storageError("the database transaction failed", error)
        } catch let error as EventLogError {
            throw error
        } catch {
            throw Self.storageError("the database failed", error)
        }
    }

    static func storageError(_ message: String, _ error: any Error) -> EventLogError {
        EventLogError(.storageFailure, "\(message): \(PostgresErrors.summary(of: error))", underlying: PostgresErrors.sanitized(error))
    }
}

/// The batch as column arrays for `unnest`, bound in binary.
struct InsertColumns {
    var positions: [Int64] = [], eventIDs: [UUID] = [], streamTypes: [String] = [], streamIDs: [String] = []
    var streamVersions: [Int64] = [], eventTypes: [String] = [], schemaVersions: [Int64] = [], recordedAt: [Int64] = []
    var actorUsers: [String] = [], actorRoles: [String] = [], correlationIDs: [String] = [], causationIDs: [String] = []
    var subjects: [String] = [], payloads: [ByteBuffer] = [], previousHashes: [ByteBuffer] = [], hashes: [ByteBuffer] = []

    init(_ events: [RecordedEvent]) {
        for event in events {
            positions.append(event.position.rawValue)
            eventIDs.append(event.eventID)
            streamTypes.append(event.stream.type)
            streamIDs.append(event.stream.id)
            streamVersions.append(event.streamVersion)
            eventTypes.append(event.eventType)
            schemaVersions.append(Int64(event.schemaVersion))
            recordedAt.append(event.recordedAt.rawValue)
            actorUsers.append(event.actor.userID)
            actorRoles.append(event.actor.role)
            // Arrays cannot hold NULLs through the binary binding here; '' stands for NULL and NULLIF restores it.
            correlationIDs.append(event.correlationID?.lowercasedString ?? "")
            causationIDs.append(event.causationID?.lowercasedString ?? "")
            subjects.append("{" + event.subjects.map(\.description).joined(separator: ",") + "}")
            payloads.append(ByteBuffer(bytes: event.payload))
            previousHashes.append(ByteBuffer(bytes: event.previousHash.bytes))
            hashes.append(ByteBuffer(bytes: event.hash.bytes))
        }
    }
}
