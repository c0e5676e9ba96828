import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

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
    /// The channel every append notifies, with the tenant id as payload.
    static let channel = "register_log"

    let client: PostgresClient
    let url: PostgresConnectionURL
    let logger: Logger
    public let wakeups = LogWakeups()

    /// - Parameters:
    ///   - url: connects as the application role.
    ///   - maximumConnections: the pool's size; one more connection is held for `LISTEN`.
    public init(url: PostgresConnectionURL, maximumConnections: Int = 20, logger: Logger) throws {
        self.url = url
        self.logger = logger
        self.client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger)
    }

    /// Runs the pool and the notification listener until cancelled.
    public func run() async throws {
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
        let current = PostgresSchema.currentVersion
        let found: Int?
        do {
            let rows = try await client.query("SELECT max(version) FROM register.schema_migrations", logger: logger)
            var version: Int?
            for try await value in rows.decode(Int?.self) { version = value }
            found = version
        } catch {
            if PostgresErrors.sqlState(of: error) == "42P01" || PostgresErrors.sqlState(of: error) == "3F000" {
                throw EventLogError(.schemaMismatch, "the database has no register schema yet; run `register db migrate` with the owner's URL")
            }
            throw Self.storageError("the database cannot be reached", error)
        }
        guard let found, found == current else {
            let what = found.map { "is at schema version \($0)" } ?? "has no migrations applied"
            throw EventLogError(.schemaMismatch, "the database \(what), this build needs version \(current); run `register db migrate`")
        }
    }

    // MARK: Appending

    public func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion]) async throws -> AppendResult {
        try AppendPlanning.validate(events, metadata: metadata)
        let result = try await inTenantTransaction(tenant) { connection in
            try await self.appendInTransaction(events, to: tenant, metadata: metadata, expecting: expecting, connection)
        }
        if !result.deduplicated { wakeups.signal(tenant) }
        return result
    }

    func appendInTransaction(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                             _ connection: PostgresConnection) async throws -> AppendResult {
        let head = try await lockHead(of: tenant, connection)
        let streams = AppendPlanning.streams(of: events, expecting: expecting)
        let (existing, versions) = try await lookUp(events.map(\.eventID), streams: streams, in: tenant, connection)
        if let retry = try AppendPlanning.resolveRetry(events, existing: existing) { return retry }
        let plan = try AppendPlanning.plan(events, tenant: tenant, metadata: metadata, expecting: expecting, head: head, currentVersions: versions, now: .now())
        try await insert(plan.events, movingHeadTo: plan.head, of: tenant, connection)
        return plan.result
    }

    /// Takes the tenant's append lock (its head row, created on the tenant's first append) and reads the head.
    func lockHead(of tenant: TenantID, _ connection: PostgresConnection) async throws -> LogHead {
        for attempt in 0..<2 {
            let rows = try await connection.query("""
                SELECT last_pos, last_hash, last_recorded_at_us FROM register.log_heads WHERE tenant_id = \(tenant.rawValue) FOR UPDATE
                """, logger: logger)
            for try await (position, hash, recordedAt) in rows.decode((Int64, ByteBuffer, Int64).self) {
                return LogHead(position: LogPosition(position), hash: EventDigest(unchecked: Array(buffer: hash)), recordedAt: Timestamp(rawValue: recordedAt))
            }
            guard attempt == 0 else { break }
            try await registerTenant(tenant, connection)
            try await connection.query("""
                INSERT INTO register.log_heads (tenant_id, last_pos, last_hash, last_recorded_at_us)
                VALUES (\(tenant.rawValue), 0, \(Data(EventDigest.genesis.bytes)), 0) ON CONFLICT (tenant_id) DO NOTHING
                """, logger: logger)
        }
        throw EventLogError(.storageFailure, "the log head of \(tenant) could not be created")
    }

    func registerTenant(_ tenant: TenantID, _ connection: PostgresConnection) async throws {
        try await connection.query("INSERT INTO register.tenants (tenant_id) VALUES (\(tenant.rawValue)) ON CONFLICT (tenant_id) DO NOTHING", logger: logger)
    }

    /// One round trip for both checks an append needs under the lock: which event ids exist, and each stream's version.
    func lookUp(_ eventIDs: [UUID], streams: [StreamRef], in tenant: TenantID, _ connection: PostgresConnection) async throws -> ([UUID: ExistingEvent], [StreamRef: Int64]) {
        let rows = try await connection.query("""
            SELECT true, e.event_id, e.pos, e.stream_type, e.stream_id, e.stream_version, e.event_type
            FROM register.log_events e WHERE e.tenant_id = \(tenant.rawValue) AND e.event_id = ANY(\(eventIDs))
            UNION ALL
            SELECT false, NULL, NULL, s.stream_type, s.stream_id,
                   (SELECT max(v.stream_version) FROM register.log_events v
                    WHERE v.tenant_id = \(tenant.rawValue) AND v.stream_type = s.stream_type AND v.stream_id = s.stream_id), NULL
            FROM unnest(\(streams.map(\.type))::text[], \(streams.map(\.id))::text[]) AS s (stream_type, stream_id)
            """, logger: logger)
        var existing: [UUID: ExistingEvent] = [:]
        var versions: [StreamRef: Int64] = [:]
        for try await (isEvent, eventID, position, streamType, streamID, version, eventType) in rows.decode((Bool, UUID?, Int64?, String, String, Int64?, String?).self) {
            let stream = StreamRef(uncheckedType: streamType, id: streamID)
            if isEvent, let eventID, let position, let version, let eventType {
                existing[eventID] = ExistingEvent(position: LogPosition(position), stream: stream, streamVersion: version, eventType: eventType)
            } else if !isEvent, let version {
                versions[stream] = version
            }
        }
        return (existing, versions)
    }

    /// Inserts the rows, moves the head and notifies listeners: one statement, one round trip.
    func insert(_ events: [RecordedEvent], movingHeadTo head: LogHead, of tenant: TenantID, _ connection: PostgresConnection) async throws {
        let columns = InsertColumns(events)
        let rows = try await connection.query("""
            WITH inserted AS (
                INSERT INTO register.log_events (tenant_id, pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version,
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
                RETURNING 1
            ), moved AS (
                UPDATE register.log_heads SET last_pos = \(head.position.rawValue), last_hash = \(Data(head.hash.bytes)),
                    last_recorded_at_us = \(head.recordedAt.rawValue)
                WHERE tenant_id = \(tenant.rawValue)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved), pg_notify(\(Self.channel), \(tenant.rawValue))
            """, logger: logger)
        for try await (inserted, moved, _) in rows.decode((Int64, Int64, String).self) {
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
                SELECT \(unescaped: Self.columns) FROM register.log_events
                WHERE tenant_id = \(tenant.rawValue) AND pos > \(position.rawValue) AND pos <= \(upper)
                  AND (\(eventTypes == nil) OR event_type = ANY(\(eventTypes ?? [])))
                  AND (\(streamTypes == nil) OR stream_type = ANY(\(streamTypes ?? [])))
                ORDER BY pos LIMIT \(max(0, limit))
                """, logger: self.logger)
            return try await Self.events(from: rows, tenant: tenant)
        }
    }

    public func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int) async throws -> [RecordedEvent] {
        try await inTenantTransaction(tenant) { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.columns) FROM register.log_events
                WHERE tenant_id = \(tenant.rawValue) AND stream_type = \(stream.type) AND stream_id = \(stream.id) AND stream_version > \(afterVersion)
                ORDER BY stream_version LIMIT \(max(0, limit))
                """, logger: self.logger)
            return try await Self.events(from: rows, tenant: tenant)
        }
    }

    public func head(of tenant: TenantID) async throws -> LogHead {
        try await inTenantTransaction(tenant) { connection in
            let rows = try await connection.query("""
                SELECT last_pos, last_hash, last_recorded_at_us FROM register.log_heads WHERE tenant_id = \(tenant.rawValue)
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
            for try await id in try await client.query("SELECT tenant_id FROM register.tenants ORDER BY tenant_id", logger: logger).decode(String.self) {
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
    func inTenantTransaction<T: Sendable>(_ tenant: TenantID, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT set_config('register.tenant_id', \(tenant.rawValue), true)", logger: logger)
                return try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? EventLogError { throw inner }
            throw Self.storageError("the database transaction failed", error)
        } catch let error as EventLogError {
            throw error
        } catch {
            throw Self.storageError("the database failed", error)
        }
    }

    static func storageError(_ message: String, _ error: any Error) -> EventLogError {
        EventLogError(.storageFailure, "\(message): \(PostgresErrors.summary(of: error))", underlying: error)
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
            correlationIDs.append(event.correlationID?.uuidString ?? "")
            causationIDs.append(event.causationID?.uuidString ?? "")
            subjects.append("{" + event.subjects.map(\.description).joined(separator: ",") + "}")
            payloads.append(ByteBuffer(bytes: event.payload))
            previousHashes.append(ByteBuffer(bytes: event.previousHash.bytes))
            hashes.append(ByteBuffer(bytes: event.hash.bytes))
        }
    }
}
