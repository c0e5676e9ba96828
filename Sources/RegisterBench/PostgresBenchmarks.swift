import EventLog
import EventLogPostgres
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The PostgreSQL store against raw COPY and against pgbench running the same SQL, on the same server.
struct PostgresBenchmarks {
    let appURL: PostgresConnectionURL
    let adminURL: PostgresConnectionURL
    let workload: Workload
    let rounds: Int
    let logger: Logger

    func withAdmin<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(host: adminURL.host, port: adminURL.port, username: adminURL.username,
                                                             password: adminURL.password, database: adminURL.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The same benchmarks with another workload.
    func with(workload: Workload) -> PostgresBenchmarks {
        PostgresBenchmarks(appURL: appURL, adminURL: adminURL, workload: workload, rounds: rounds, logger: logger)
    }

    /// Batches of 1 000 sealed events (validated, hashed, indexed, committed by the store) vs `COPY` of the same rows,
    /// encoded in advance, into a bare table, and into a table with the log's keys (no RLS, no triggers).
    /// Sealing happens before any clock starts.
    func batchAppend(store: PostgresEventStore, keyRing: KeyRing, batches: Int, label: String) async throws -> Comparison {
        let columns = """
            tenant_id text, pos bigint, event_id uuid, stream_type text, stream_id text,
            stream_version bigint, event_type text, schema_version integer, recorded_at_us bigint, actor_user text, actor_role text,
            correlation_id uuid, causation_id uuid, subjects uuid[], payload bytea, prev_hash bytea, hash bytea
            """
        try await withAdmin { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE TABLE IF NOT EXISTS bench_raw_events (\(columns))"), logger: logger)
            try await admin.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS bench_keyed_events (\(columns), PRIMARY KEY (tenant_id, pos), UNIQUE (tenant_id, event_id),
                    UNIQUE (tenant_id, stream_type, stream_id, stream_version))
                """), logger: logger)
        }
        let tenant = try TenantID("bench-batch-\(workload.eventsPerStream)")
        var comparison = Comparison()
        var next = 0
        for round in 0..<rounds {
            let sealed = try await workload.sealedBatches(batches, from: next, tenant: tenant, keyRing: keyRing)
            next += batches * 1_000
            let seconds = try await Stopwatch.time {
                for events in sealed { _ = try await store.append(events, to: tenant, metadata: SQLiteBenchmarks.metadata) }
            }
            let buffers = RawRow.batches(from: sealed, tenant: tenant.rawValue, round: round).map(Self.copyText)
            var copies: [Measurement] = []
            for (table, name) in [("bench_raw_events", "PostgreSQL raw COPY"), ("bench_keyed_events", "raw COPY into a table with the log's keys")] {
                let rawSeconds = try await withAdmin { admin in
                    try await Stopwatch.time {
                        for buffer in buffers {
                            try await admin.copyFrom(table: table, logger: logger) { writer in try await writer.write(buffer) }
                        }
                    }
                }
                copies.append(Measurement(name: name, events: batches * 1_000, seconds: rawSeconds))
            }
            comparison.add(ours: Measurement(name: "PostgreSQL batched append, \(label)", events: batches * 1_000, seconds: seconds),
                           baseline: copies[0], keyed: copies[1])
        }
        return comparison
    }

    /// COPY text format: tab-separated, `\N` for NULL, bytea as `\\x…`.
    static func copyText(_ rows: [RawRow]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for row in rows {
            let subjects = "{" + row.subjects.map(\.description).joined(separator: ",") + "}"
            buffer.writeString("\(row.tenant)\t\(row.position)\t\(row.eventID.uuidString)\t\(row.streamType)\t\(row.streamID)\t\(row.streamVersion)\t\(row.eventType)\t1\t\(row.recordedAt)\tu-bench\tbench\t\\N\t\\N\t\(subjects)\t")
            buffer.writeString("\\\\x" + row.payload.hexString + "\t\\\\x" + row.previousHash.hexString + "\t\\\\x" + row.hash.hexString + "\n")
        }
        return buffer
    }

    /// 32 concurrent single-event appends spread over 50 tenants. The events are sealed before the clock starts
    /// (sealing, and creating a key for each new subject, are measured on their own).
    func concurrentAppends(store: PostgresEventStore, keyRing: KeyRing, total: Int, writers: Int = 32, tenants: Int = 50) async throws -> Measurement {
        let ids = try (1...tenants).map { try TenantID("bench-c-\($0)") }
        let perWriter = total / writers
        var planned: [[(TenantID, ProposedEvent)]] = Array(repeating: [], count: writers)
        for (tenantIndex, tenant) in ids.enumerated() {
            let slots = (0..<writers * perWriter).filter { ($0 * 13 + $0 / perWriter * 7) % tenants == tenantIndex }
            let events = try await workload.batch(0..<slots.count, tenant: tenant, keyRing: keyRing)
            for (slot, event) in zip(slots, events) { planned[slot / perWriter].append((tenant, event)) }
        }
        let cpuBefore = CPUTime.used()
        let seconds = try await Stopwatch.time {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for work in planned {
                    group.addTask {
                        for (tenant, event) in work {
                            _ = try await store.append([event], to: tenant, metadata: SQLiteBenchmarks.metadata)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return Measurement(name: "PostgreSQL \(writers) concurrent single appends over \(tenants) tenants", events: planned.map(\.count).reduce(0, +),
                           seconds: seconds, cpuSeconds: CPUTime.used() - cpuBefore)
    }

    /// The same transaction as an append — tenant binding, head lock, look-ups, insert + head move + notify — run by
    /// pgbench with the same concurrency, as the application role.
    func pgbench(path: String, total: Int, writers: Int = 32, tenants: Int = 50, sampleEvent: ProposedEvent) throws -> Measurement {
        let payload = sampleEvent.payload.hexString
        let hash = String(repeating: "ab", count: 32)
        let script = """
            \\set t random(1, \(tenants))
            BEGIN;
            SELECT set_config('register.tenant_id', 'bench-c-' || :t, true);
            SELECT last_pos AS pos, last_recorded_at_us AS ts FROM register.log_heads WHERE tenant_id = 'bench-c-' || :t FOR UPDATE \\gset
            SELECT true, e.event_id, e.pos, e.stream_type, e.stream_id, e.stream_version, e.event_type FROM register.log_events e WHERE e.tenant_id = 'bench-c-' || :t AND e.event_id = ANY(ARRAY[gen_random_uuid()]) UNION ALL SELECT false, NULL, NULL, s.stream_type, s.stream_id, (SELECT max(v.stream_version) FROM register.log_events v WHERE v.tenant_id = 'bench-c-' || :t AND v.stream_type = s.stream_type AND v.stream_id = s.stream_id), NULL FROM unnest(ARRAY['child'], ARRAY[md5(random()::text)]) AS s (stream_type, stream_id);
            WITH inserted AS (INSERT INTO register.log_events (tenant_id, pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version, recorded_at_us, actor_user, actor_role, correlation_id, causation_id, subjects, payload, prev_hash, hash) VALUES ('bench-c-' || :t, :pos + 1, gen_random_uuid(), 'child', md5(random()::text), 1, 'AttendanceRecorded', 1, :ts, 'u-bench', 'bench', NULL, NULL, '{\(sampleEvent.subjects.map(\.description).joined(separator: ","))}', '\\x\(payload)', '\\x\(hash)', '\\x\(hash)') RETURNING 1), moved AS (UPDATE register.log_heads SET last_pos = :pos + 1, last_hash = '\\x\(hash)', last_recorded_at_us = :ts WHERE tenant_id = 'bench-c-' || :t RETURNING 1) SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved), pg_notify('register_log', 'bench-c-' || :t);
            COMMIT;

            """
        let scriptFile = FileManager.default.temporaryDirectory.appendingPathComponent("register-pgbench-\(UUID().uuidString).sql")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: scriptFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-n", "-f", scriptFile.path, "-c", String(writers), "-j", "2", "-t", String(total / writers),
                             "-h", appURL.host, "-p", String(appURL.port), "-U", appURL.username, appURL.database]
        if let password = appURL.password { process.environment = ["PGPASSWORD": password] }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let cpuBefore = CPUTime.used(children: true)
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let tps = Double(line.dropFirst("tps = ".count).prefix(while: { $0 != " " })) else {
            throw BenchmarkFailure("pgbench failed:\n\(text)")
        }
        let count = (total / writers) * writers
        return Measurement(name: "pgbench, same SQL and lock, \(writers) clients", events: count, seconds: Double(count) / tps,
                           cpuSeconds: CPUTime.used(children: true) - cpuBefore)
    }
}
