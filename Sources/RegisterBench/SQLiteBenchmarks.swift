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
    /// With `keyed`, the table gets the log's primary key and unique indexes (still no triggers, no head, no
    /// hashing): the share of the gap that the schema itself costs.
    func rawDatabase(_ name: String, keyed: Bool = false) throws -> DatabasePool {
        let pool = try DatabasePool(path: directory.appendingPathComponent(name).path)
        // As the store does: after opening, since GRDB sets WAL databases to NORMAL.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS raw_events (tenant_id TEXT, pos INTEGER, event_id BLOB, stream_type TEXT, stream_id TEXT,
                    stream_version INTEGER, event_type TEXT, schema_version INTEGER, recorded_at_us INTEGER, actor_user TEXT, actor_role TEXT,
                    correlation_id BLOB, causation_id BLOB, subjects BLOB, payload BLOB, prev_hash BLOB, hash BLOB
                    \(keyed ? ", PRIMARY KEY (tenant_id, pos)) WITHOUT ROWID" : ")")
                """)
            if keyed {
                try db.execute(sql: """
                    CREATE UNIQUE INDEX IF NOT EXISTS raw_event_id ON raw_events (tenant_id, event_id);
                    CREATE UNIQUE INDEX IF NOT EXISTS raw_stream ON raw_events (tenant_id, stream_type, stream_id, stream_version);
                    """)
            }
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
    func batchAppend(store: SQLiteEventStore, keyRing: KeyRing, batches: Int, label: String) async throws -> Comparison {
        let raw = try rawDatabase("raw-batch-\(workload.eventsPerStream).sqlite")
        let keyedRaw = try rawDatabase("raw-keyed-batch-\(workload.eventsPerStream).sqlite", keyed: true)
        let tenant = try TenantID("bench-batch")
        var comparison = Comparison()
        var next = 0
        for round in 0..<rounds {
            let sealed = try await workload.sealedBatches(batches, from: next, tenant: tenant, keyRing: keyRing)
            next += batches * 1_000
            let seconds = try await Stopwatch.time {
                for events in sealed { _ = try await store.append(events, to: tenant, metadata: Self.metadata) }
            }
            let prepared = RawRow.batches(from: sealed, tenant: tenant.rawValue, round: round)
            let rawSeconds = try await Stopwatch.time {
                for rows in prepared {
                    try await raw.write { db in try Self.insertRaw(rows, db) }
                }
            }
            let keyedSeconds = try await Stopwatch.time {
                for rows in prepared {
                    try await keyedRaw.write { db in try Self.insertRaw(rows, db) }
                }
            }
            comparison.add(ours: Measurement(name: "SQLite batched append, \(label)", events: batches * 1_000, seconds: seconds),
                           baseline: Measurement(name: "SQLite raw one-transaction INSERT", events: batches * 1_000, seconds: rawSeconds),
                           keyed: Measurement(name: "raw INSERT into a table with the log's keys", events: batches * 1_000, seconds: keyedSeconds))
        }
        return comparison
    }

    /// Single durable appends (each its own fsynced transaction) vs raw BEGIN IMMEDIATE + INSERT + COMMIT, in
    /// alternating chunks: an fsync's cost drifts over a run, and alternating keeps both sides on the same drift.
    func singleAppend(store: SQLiteEventStore, keyRing: KeyRing, count: Int, chunks: Int = 10) async throws -> Comparison {
        let raw = try rawDatabase("raw-single.sqlite")
        let tenant = try TenantID("bench-single")
        let perChunk = max(1, count / chunks)
        var comparison = Comparison()
        for chunk in 0..<chunks {
            let events = try await workload.batch(chunk * perChunk..<(chunk + 1) * perChunk, tenant: tenant, keyRing: keyRing)
            let seconds = try await Stopwatch.time {
                for event in events { _ = try await store.append([event], to: tenant, metadata: Self.metadata) }
            }
            let rows = RawRow.rows(from: events, tenant: tenant.rawValue, start: Int64(chunk * perChunk))
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
            comparison.add(ours: Measurement(name: "SQLite single durable append", events: perChunk, seconds: seconds),
                           baseline: Measurement(name: "SQLite raw BEGIN IMMEDIATE + INSERT + COMMIT", events: perChunk, seconds: rawSeconds))
        }
        return comparison
    }

    static let metadata = EventMetadata(actor: (try? Actor(userID: "u-bench", role: "bench")) ?? .system)
}
