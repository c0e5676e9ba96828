import EventLog
import EventLogSQLite
import Foundation
import GRDB

/// The embedded store against raw SQLite doing the same inserts into a bare table, on the same disk and pragmas.
struct SQLiteBenchmarks {
    let directory: URL
    let workload: Workload
    let rounds: Int

    /// A bare table with the log's columns: no keys, indexes or triggers; WAL and synchronous=FULL like the store.
    func rawDatabase(_ name: String) throws -> DatabasePool {
        let pool = try DatabasePool(path: directory.appendingPathComponent(name).path)
        // As the store does: after opening, since GRDB sets WAL databases to NORMAL.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS raw_events (tenant_id TEXT, pos INTEGER, event_id BLOB, stream_type TEXT, stream_id TEXT,
                    stream_version INTEGER, event_type TEXT, schema_version INTEGER, recorded_at_us INTEGER, actor_user TEXT, actor_role TEXT,
                    correlation_id BLOB, causation_id BLOB, subjects BLOB, payload BLOB, prev_hash BLOB, hash BLOB)
                """)
        }
        return pool
    }

    /// The same C-API binding the store uses, so the baseline is as raw as the store's own insert.
    static func insertRaw(_ rows: [RawRow], _ db: Database) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, 'u-bench', 'bench', NULL, NULL, ?, ?, ?, ?)")
        let writer = SQLiteRowWriter(statement, in: db)
        for row in rows {
            writer.bind(1, row.tenant)
            writer.bind(2, row.position)
            writer.bind(3, row.eventID)
            writer.bind(4, row.streamType)
            writer.bind(5, row.streamID)
            writer.bind(6, row.streamVersion)
            writer.bind(7, row.eventType)
            writer.bind(8, row.recordedAt)
            writer.bind(9, [UInt8](repeating: 0, count: 16 * row.subjects.count))
            writer.bind(10, row.payload)
            writer.bind(11, row.previousHash)
            writer.bind(12, row.hash)
            try writer.step()
        }
    }

    /// Batches of 1 000 sealed events (the store validates, hashes, indexes and commits them) vs one-transaction
    /// INSERTs of the same rows into a bare table. Sealing happens before either clock starts (it is measured
    /// on its own in the breakdown).
    func batchAppend(store: SQLiteEventStore, keyRing: KeyRing, batches: Int, label: String) async throws -> (ours: Measurement, raw: Measurement) {
        let raw = try rawDatabase("raw-batch-\(workload.eventsPerStream).sqlite")
        let tenant = try TenantID("bench-batch")
        var ours: [Measurement] = [], baseline: [Measurement] = []
        var next = 0
        for round in 0..<rounds {
            var sealed: [[ProposedEvent]] = []
            for _ in 0..<batches {
                sealed.append(try await workload.batch(next..<next + 1_000, tenant: tenant, keyRing: keyRing))
                next += 1_000
            }
            let seconds = try await Stopwatch.time {
                for events in sealed { _ = try await store.append(events, to: tenant, metadata: Self.metadata) }
            }
            ours.append(Measurement(name: "SQLite batched append, \(label)", events: batches * 1_000, seconds: seconds))
            let prepared = sealed.enumerated().map { index, events in
                RawRow.rows(from: events, tenant: tenant.rawValue, start: Int64(round * batches + index) * 1_000)
            }
            let rawSeconds = try await Stopwatch.time {
                for rows in prepared {
                    try await raw.write { db in try Self.insertRaw(rows, db) }
                }
            }
            baseline.append(Measurement(name: "SQLite raw one-transaction INSERT", events: batches * 1_000, seconds: rawSeconds))
            log("  round \(round + 1): ours \(Int(ours.last!.eventsPerSecond))/s, raw \(Int(baseline.last!.eventsPerSecond))/s")
        }
        return (ours.median, baseline.median)
    }

    /// Single durable appends (each its own transaction, fsynced) vs raw BEGIN IMMEDIATE + INSERT + COMMIT.
    func singleAppend(store: SQLiteEventStore, keyRing: KeyRing, count: Int) async throws -> (ours: Measurement, raw: Measurement) {
        let raw = try rawDatabase("raw-single.sqlite")
        let tenant = try TenantID("bench-single")
        var ours: [Measurement] = [], baseline: [Measurement] = []
        for round in 0..<rounds {
            let events = try await workload.batch(round * count..<(round + 1) * count, tenant: tenant, keyRing: keyRing)
            let seconds = try await Stopwatch.time {
                for event in events { _ = try await store.append([event], to: tenant, metadata: Self.metadata) }
            }
            ours.append(Measurement(name: "SQLite single durable append", events: count, seconds: seconds))
            let rows = RawRow.rows(from: events, tenant: tenant.rawValue, start: Int64(round * count))
            let rawSeconds = try await Stopwatch.time {
                for row in rows {
                    try await raw.writeWithoutTransaction { db in
                        try db.inTransaction(.immediate) {
                            try Self.insertRaw([row], db)
                            return .commit
                        }
                    }
                }
            }
            baseline.append(Measurement(name: "SQLite raw BEGIN IMMEDIATE + INSERT + COMMIT", events: count, seconds: rawSeconds))
            log("  round \(round + 1): ours \(Int(ours.last!.eventsPerSecond))/s, raw \(Int(baseline.last!.eventsPerSecond))/s")
        }
        return (ours.median, baseline.median)
    }

    static let metadata = EventMetadata(actor: (try? Actor(userID: "u-bench", role: "bench")) ?? .system)
}
