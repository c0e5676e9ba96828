import EventLog
import Foundation
import GRDB

/// The embedded event store: one SQLite file in WAL mode with `synchronous=FULL`, through a GRDB `DatabasePool`
/// (one writer, concurrent readers on snapshots).
///
/// Appends run in `BEGIN IMMEDIATE` transactions on the single writer (concurrent ones grouped into one, see
/// `SQLiteGroupCommit`), so appends are serialised — per tenant and, in this store, across tenants too — and
/// positions commit in order. Readers never block the writer.
public final class SQLiteEventStore: EventStore {
    let pool: DatabasePool
    /// The database file.
    public let path: String
    public let wakeups = LogWakeups()
    let versions = StreamVersionCache()
    /// Group commit of concurrent appends, on the writer.
    let groups = SQLiteGroupCommit()
    /// Checkpoints the WAL off the writer (the writer's WAL hook holds it unretained: it lives as long as the store).
    private let checkpointer: SQLiteCheckpointer

    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    /// - Throws: `schemaMismatch` if the file was written by a newer build.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // Owner-only from the start (an existing file is left as it is); SQLite gives the WAL and shared-memory
        // files the same permissions.
        _ = try OwnerOnlyFile.create(path)
        var configuration = Configuration()
        // Other processes (the CLI next to a running server) may hold the write lock briefly.
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            // secure_delete=FAST: deleted content (a shredded key's wrapped bytes) is zeroed in the pages SQLite
            // writes anyway, without the extra I/O of ON.
            try db.execute(sql: "PRAGMA secure_delete = FAST")
            // Memory-mapped reads: a read transaction that starts after another connection has committed finds its
            // page cache invalidated and reads every page again; with the file mapped, the database's pages are
            // used where the kernel holds them instead of being copied in by a read(2) each. Under many feed
            // readers this copying was a fifth of all CPU (docs/benchmarks.md, Feeds). SQLite caps the size at its
            // compile-time maximum (2 GiB in Debian's build); a larger file is mapped up to that and read beyond it.
            // Only reads go through the map (SQLite writes with write(2)), so a commit's durability is unchanged.
            try db.execute(sql: "PRAGMA mmap_size = \(Self.mappedBytes)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // FULL: a commit is on disk (the WAL fsynced) before an append returns. Set on the writer after the pool
            // is open, because GRDB switches WAL databases to synchronous=NORMAL after `prepareDatabase` runs.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            checkpointer = try SQLiteCheckpointer(path: path)
            try pool.writeWithoutTransaction { db in checkpointer.install(on: db) }
            let migrator = SQLiteSchema.migrator
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw EventLogError(.schemaMismatch, "the database was written by a newer version of register; upgrade before opening it")
            }
            try migrator.migrate(pool)
        } catch let error as EventLogError {
            throw error
        } catch {
            throw EventLogError(.storageFailure, "the embedded database cannot be opened", underlying: error)
        }
    }

    /// How much of the file each connection maps (SQLite lowers it to its compile-time maximum).
    static let mappedBytes: Int64 = 1 << 40

    /// The writer connection's `synchronous` setting (2 is FULL).
    public func synchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The most of the file a connection maps, in bytes (0: reads copy every page in).
    public func mappedSize() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "PRAGMA mmap_size") ?? 0 }
    }

    /// Closes the database; later calls fail.
    public func close() throws {
        try pool.close()
        try checkpointer.close()
    }

    // MARK: Appending

    public func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion]) async throws -> AppendResult {
        let sealed = try AppendPlanning.validate(events, metadata: metadata)
        // Group commit on the writer: appends that arrive while one is being written are committed together.
        return try await groups.append(AppendGroups.Request(events: events, metadata: metadata, expecting: expecting, sealed: sealed),
                                       tenant: tenant, store: self)
    }

    /// Commits a group of appends in one transaction on the writer; see `SQLiteGroupCommit`.
    /// - Returns: per append, its result, or `.alone` when the group could not decide it (nothing of those written).
    func commitGroup(_ requests: [AppendGroups.Request], in tenant: TenantID, _ db: Database) -> [AppendGroups.Outcome] {
        let cache = versions
        do {
            let outcomes = try Self.transaction(db) { db in
                let head = try Self.headForAppend(of: tenant, db)
                let versions = try Self.currentVersions(AppendGroups.streams(of: requests), in: tenant, at: head, cache: cache, db)
                // Retries (event ids already in the log) are decided alone, where they get their original result.
                let known = try Self.existingEvents(requests.flatMap(\.events), in: tenant, db)
                let plan = AppendGroups.plan(requests, tenant: tenant, head: head, versions: versions, known: Set(known.keys), now: .now())
                guard !plan.rows.isEmpty else { return plan.outcomes }
                try Self.refuseErased(plan.sealed, in: tenant, db)
                try Self.insert(plan.rows, db)
                try Self.storeHead(plan.head, of: tenant, db)
                return plan.outcomes
            }
            AppendGroups.finish(outcomes, of: requests, tenant: tenant, versions: cache, wakeups: wakeups)
            return outcomes
        } catch {
            // The group failed as a whole: nothing of it was written; each append is decided on its own.
            return requests.map { _ in .alone }
        }
    }

    /// One append in its own transaction on the writer.
    func appendAlone(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                     sealed: Set<SubjectID>, _ db: Database) throws -> AppendResult {
        let versions = self.versions
        let attempt = try AppendPlanning.attempt(events) {
            try Self.transaction(db) { db in
                try Self.refuseErased(sealed, in: tenant, db)
                return try Self.appendInTransaction(events, to: tenant, metadata: metadata, expecting: expecting, versions: versions, db)
            }
        } existing: {
            try Self.mappingErrors("read") { try Self.existingEvents(events, in: tenant, db) }
        }
        return attempt.finish(tenant, events: events, versions: versions, wakeups: wakeups)
    }

    static func appendInTransaction(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion],
                                    versions cache: StreamVersionCache, _ db: Database) throws -> AppendOutcome {
        let head = try headForAppend(of: tenant, db)
        var versions = try currentVersions(AppendPlanning.streams(of: events, expecting: expecting), in: tenant, at: head, cache: cache, db)
        let plan = try AppendPlanning.plan(events, tenant: tenant, metadata: metadata, expecting: expecting, head: head,
                                           currentVersions: versions.filter { $0.value > 0 }, now: .now())
        do {
            try insert(plan.events, db)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE && (error.message ?? "").contains("log_events.event_id") {
            throw DuplicateEventID()
        }
        try storeHead(plan.head, of: tenant, db)
        for event in plan.events { versions[event.stream] = event.streamVersion }
        return AppendOutcome(result: plan.result, written: (head, plan.head, versions))
    }

    /// Refuses new sealed data about a subject whose key has been shredded (possible when the sealer loaded the
    /// key just before the shred, or in another process within its key cache's lifetime).
    static func refuseErased(_ subjects: Set<SubjectID>, in tenant: TenantID, _ db: Database) throws {
        guard !subjects.isEmpty else { return }
        let probe = SQLiteRowWriter(try db.cachedStatement(sql: "SELECT 1 FROM subject_keys WHERE tenant_id = ? AND subject_id = ? AND shredded_at_us IS NOT NULL"), in: db)
        for subject in subjects {
            probe.bind(1, tenant.rawValue)
            withUnsafeBytes(of: subject.uuid.uuid) { probe.bind(2, bytes: $0) }
            if try probe.producesRow() { throw AppendPlanning.erased(subject) }
        }
    }

    static func insert(_ events: [RecordedEvent], _ db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO log_events (tenant_id, pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                recorded_at_us, actor_user, actor_role, correlation_id, causation_id, subjects, payload, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let row = SQLiteRowWriter(statement, in: db)
        var subjects = [UInt8]()
        for event in events {
            row.bind(1, event.tenant.rawValue)
            row.bind(2, event.position.rawValue)
            row.bind(3, event.eventID)
            row.bind(4, event.stream.type)
            row.bind(5, event.stream.id)
            row.bind(6, event.streamVersion)
            row.bind(7, event.eventType)
            row.bind(8, Int64(event.schemaVersion))
            row.bind(9, event.recordedAt.rawValue)
            row.bind(10, event.actor.userID)
            row.bind(11, event.actor.role)
            row.bind(12, event.correlationID)
            row.bind(13, event.causationID)
            subjects.removeAll(keepingCapacity: true)
            for subject in event.subjects { withUnsafeBytes(of: subject.uuid.uuid) { subjects.append(contentsOf: $0) } }
            row.bind(14, subjects)
            row.bind(15, event.payload)
            row.bind(16, event.previousHash.bytes)
            row.bind(17, event.hash.bytes)
            try row.step()
        }
    }

    static func existingEvents(_ events: [ProposedEvent], in tenant: TenantID, _ db: Database) throws -> [UUID: ExistingEvent] {
        let statement = try db.cachedStatement(sql: """
            SELECT pos, stream_type, stream_id, stream_version, event_type, schema_version, subjects FROM log_events WHERE tenant_id = ? AND event_id = ?
            """)
        var found: [UUID: ExistingEvent] = [:]
        for event in events {
            if let row = try Row.fetchOne(statement, arguments: [tenant.rawValue, StorageCoding.bytes(of: event.eventID)]) {
                found[event.eventID] = ExistingEvent(position: LogPosition(row[0] as Int64), stream: StreamRef(uncheckedType: row[1], id: row[2]),
                                                     streamVersion: row[3], eventType: row[4], schemaVersion: row[5],
                                                     subjects: StorageCoding.subjects(from: row[6]))
            }
        }
        return found
    }

    /// The head an append continues from, registering the tenant on its first append.
    static func headForAppend(of tenant: TenantID, _ db: Database) throws -> LogHead {
        if let head = try loadHead(of: tenant, db) { return head }
        try registerTenant(tenant, db)
        return .empty
    }

    /// The last version of each stream at `head`: from the cache where it knows them, the rest read.
    static func currentVersions(_ streams: [StreamRef], in tenant: TenantID, at head: LogHead, cache: StreamVersionCache, _ db: Database) throws -> [StreamRef: Int64] {
        var (versions, missing) = cache.lookup(streams, in: tenant, at: head)
        if !missing.isEmpty {
            let statement = try db.cachedStatement(sql: "SELECT MAX(stream_version) FROM log_events WHERE tenant_id = ? AND stream_type = ? AND stream_id = ?")
            for stream in missing {
                versions[stream] = try Int64.fetchOne(statement, arguments: [tenant.rawValue, stream.type, stream.id]) ?? 0
            }
        }
        return versions
    }

    static func loadHead(of tenant: TenantID, _ db: Database) throws -> LogHead? {
        let statement = try db.cachedStatement(sql: "SELECT last_pos, last_hash, last_recorded_at_us FROM log_heads WHERE tenant_id = ?")
        guard let row = try Row.fetchOne(statement, arguments: [tenant.rawValue]) else { return nil }
        return LogHead(position: LogPosition(row[0] as Int64), hash: EventDigest(unchecked: [UInt8](row[1] as Data)), recordedAt: Timestamp(rawValue: row[2]))
    }

    static func storeHead(_ head: LogHead, of tenant: TenantID, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO log_heads (tenant_id, last_pos, last_hash, last_recorded_at_us) VALUES (?, ?, ?, ?)
            ON CONFLICT (tenant_id) DO UPDATE SET last_pos = excluded.last_pos, last_hash = excluded.last_hash,
                last_recorded_at_us = excluded.last_recorded_at_us
            """)
        try statement.execute(arguments: [tenant.rawValue, head.position.rawValue, Data(head.hash.bytes), head.recordedAt.rawValue])
    }

    static func registerTenant(_ tenant: TenantID, _ db: Database) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO tenants (tenant_id, created_at_us) VALUES (?, ?)", arguments: [tenant.rawValue, Timestamp.now().rawValue])
    }

    // MARK: Reading

    public func read(_ tenant: TenantID, after position: LogPosition, through: LogPosition?, limit: Int, filter: EventFilter) async throws -> [RecordedEvent] {
        var sql = "SELECT \(Self.columns) FROM log_events WHERE tenant_id = ? AND pos > ?"
        var arguments: StatementArguments = [tenant.rawValue, position.rawValue]
        if let through {
            sql += " AND pos <= ?"
            arguments += [through.rawValue]
        }
        if let types = filter.eventTypes {
            sql += " AND event_type IN (\(Array(repeating: "?", count: types.count).joined(separator: ",")))"
            arguments += StatementArguments(types.sorted())
        }
        if let types = filter.streamTypes {
            sql += " AND stream_type IN (\(Array(repeating: "?", count: types.count).joined(separator: ",")))"
            arguments += StatementArguments(types.sorted())
        }
        if let subject = filter.subject {
            // The subjects column is their 16-byte ids one after another; a match across two ids' bytes is possible in
            // principle, so the rows are checked again below (only by the subject: the rest the SQL decided).
            sql += " AND instr(subjects, ?) > 0"
            arguments += [StorageCoding.bytes(of: [subject])]
        }
        sql += " ORDER BY pos LIMIT ?"
        arguments += [max(0, limit)]
        let query = sql
        let bound = arguments
        // A page of the log can be long to read (a catch-up, a rebuild): off the calling thread.
        let events = try await readOffThread { db in
            let statement = try db.cachedStatement(sql: query)
            try statement.setArguments(bound)
            return try SQLiteRowWriter(statement, in: db).rows { Self.event(from: $0, tenant: tenant) }
        }
        guard let subject = filter.subject else { return events }
        let matching = events.filter { $0.subjects.contains(subject) }
        // A full page with a row dropped: the rest of the page comes from after it.
        if events.count == limit, matching.count < events.count, let last = events.last {
            return matching + (try await read(tenant, after: last.position, through: through, limit: limit - matching.count, filter: filter))
        }
        return matching
    }

    public func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int) async throws -> [RecordedEvent] {
        try await read { db in try Self.readStream(stream, of: tenant, afterVersion: afterVersion, limit: limit, db) }
    }

    public func readStreams(_ requests: [StreamRead], of tenant: TenantID, limit: Int) async throws -> [[RecordedEvent]] {
        try await read { db in
            try requests.map { try Self.readStream($0.stream, of: tenant, afterVersion: $0.afterVersion, limit: limit, db) }
        }
    }

    static func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int, _ db: Database) throws -> [RecordedEvent] {
        let statement = try db.cachedStatement(sql: """
            SELECT \(Self.columns) FROM log_events
            WHERE tenant_id = ? AND stream_type = ? AND stream_id = ? AND stream_version > ? ORDER BY stream_version LIMIT ?
            """)
        let query = SQLiteRowWriter(statement, in: db)
        query.bind(1, tenant.rawValue)
        query.bind(2, stream.type)
        query.bind(3, stream.id)
        query.bind(4, afterVersion)
        query.bind(5, Int64(max(0, limit)))
        return try query.rows { Self.event(from: $0, tenant: tenant) }
    }

    public func head(of tenant: TenantID) async throws -> LogHead {
        try await read { db in try Self.loadHead(of: tenant, db) ?? .empty }
    }

    public func tenants() async throws -> [TenantID] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT tenant_id FROM tenants ORDER BY tenant_id").map(TenantID.init(unchecked:))
        }
    }

    static let columns = """
        pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version, recorded_at_us, actor_user, actor_role,
        correlation_id, causation_id, subjects, payload, prev_hash, hash
        """

    /// The event on the row a statement of `columns` is on.
    static func event(from row: SQLiteColumns, tenant: TenantID) -> RecordedEvent {
        RecordedEvent(
            tenant: tenant, position: LogPosition(row.int64(0)), eventID: row.uuid(1) ?? UUID(uuid: UUID_NULL),
            stream: StreamRef(uncheckedType: row.text(2), id: row.text(3)), streamVersion: row.int64(4), eventType: row.text(5),
            schemaVersion: Int(row.int64(6)), recordedAt: Timestamp(rawValue: row.int64(7)), actor: Actor(unchecked: row.text(8), role: row.text(9)),
            correlationID: row.uuid(10), causationID: row.uuid(11),
            subjects: row.withBytes(12) { StorageCoding.subjects(from: $0) }, payload: row.data(13),
            previousHash: EventDigest(unchecked: row.bytes(14)), hash: EventDigest(unchecked: row.bytes(15)))
    }

    // MARK: Transactions

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction on the writer; any error rolls everything back.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.writeWithoutTransaction { db in try Self.transaction(db, body) }
        } catch {
            throw Self.storageError(error, "write")
        }
    }

    /// `body` in one `BEGIN IMMEDIATE` transaction of `db` (the writer), committed when it returns.
    static func transaction<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try mappingErrors("write") {
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            guard let result else { throw EventLogError(.storageFailure, "the transaction produced no result") }
            return result
        }
    }

    /// A short read (a stream, the head, keys) on a reader's snapshot, run on the calling thread: GRDB's asynchronous
    /// read would hand it to a reader's queue and back, two thread switches that cost more than such a read itself
    /// (docs/benchmarks.md). Long reads go through `readOffThread`, so that they never hold one of the few
    /// cooperative threads that serve every request.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try Self.mappingErrors("read") { try pool.read(body) }
    }

    /// A read that may take long (a page of the log), on a thread of its own. Not GRDB's asynchronous read: that
    /// one gives its reader connection back only after resuming on a cooperative thread, and with those threads
    /// blocked in short reads waiting for a free connection, nothing moved (a test run hung that way).
    func readOffThread<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Self.mappingErrors("read") { try self.pool.read(body) } })
            }
        }
    }

    static func mappingErrors<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw storageError(error, what)
        }
    }

    /// The log's own errors as they are; the database's as `storageFailure` (their text may quote data, so it is
    /// kept as the underlying error, never in the message).
    static func storageError(_ error: any Error, _ what: String) -> any Error {
        switch error {
        case is EventLogError, is DuplicateEventID: error
        default: EventLogError(.storageFailure, "the embedded database failed to \(what)", underlying: error)
        }
    }
}

private let UUID_NULL: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
