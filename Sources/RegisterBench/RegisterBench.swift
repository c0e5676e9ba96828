import ArgumentParser
import EventLog
import EventLogPostgres
import EventLogSQLite
import Foundation
import Logging

/// `register-bench`: the event log's benchmarks, each side by side with a raw baseline measured in the same run.
/// `ops/bench/run` builds it in release mode, starts PostgreSQL and writes `docs/benchmarks.md`.
@main
struct RegisterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register-bench", abstract: "Benchmarks of the event log (release builds only).")

    @Option(help: "Directory for the SQLite files (the store's and the raw baselines').") var sqliteDir: String
    @Option(help: "PostgreSQL URL of the application role (omit to skip PostgreSQL).") var postgres: String?
    @Option(help: "PostgreSQL URL of the schema owner (migrations, raw COPY).") var postgresOwner: String?
    @Option(help: "Path of pgbench, for the concurrent-append baseline.") var pgbench: String?
    @Option(help: "JSON written by ops/bench/peer_eventsourcing.py in this run.") var peer: String?
    @Option(help: "Events in the catch-up read log.") var catchUpEvents = 1_000_000
    @Option(help: "Batches of 1 000 per round of the batched-append benchmark.") var batches = 50
    @Option(help: "Appends per round of the single durable append benchmark.") var singles = 1_000
    @Option(help: "Appends in all for the concurrent benchmark.") var concurrent = 16_000
    @Option(help: "Rounds per comparison (the median round counts).") var rounds = 3
    @Flag(help: "Only print where the time of a batched append goes (sealing, hashing, the store's work), on SQLite and PostgreSQL.") var breakdown = false

    func run() async throws {
        var logger = Logger(label: "register-bench")
        logger.logLevel = .warning
        let workload = Workload()
        var report = Report()
        let masterKey = MasterKey.generate()

        let directory = URL(fileURLWithPath: sqliteDir)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sqlite = try SQLiteEventStore(path: directory.appendingPathComponent("register.sqlite").path)
        let sqliteKeys = KeyRing(masterKey: masterKey, store: sqlite)
        let sqliteBench = SQLiteBenchmarks(directory: directory, workload: workload, rounds: rounds)
        if breakdown {
            for measurement in try await Breakdown(workload: workload).run(store: sqlite, keyRing: sqliteKeys, events: batches * 1_000) {
                print("SQLite      \(measurement.name): \(Int(measurement.eventsPerSecond)) events/s")
            }
            if let postgres {
                let store = try PostgresEventStore(url: try PostgresConnectionURL(postgres), maximumConnections: 4, logger: logger)
                if let postgresOwner {
                    try await PostgresMigrator(ownerURL: try PostgresConnectionURL(postgresOwner), applicationRole: store.applicationRole, logger: logger).migrate()
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await store.run() }
                    defer { group.cancelAll() }
                    try await store.checkSchema()
                    for measurement in try await Breakdown(workload: workload).run(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), events: batches * 1_000) {
                        print("PostgreSQL  \(measurement.name): \(Int(measurement.eventsPerSecond)) events/s")
                    }
                }
            }
            return
        }

        // Each comparison gets a fresh store file, as its raw baseline gets a fresh file.
        for spread in [1, 40] {
            let store = try SQLiteEventStore(path: directory.appendingPathComponent("batch-\(spread).sqlite").path)
            let bench = SQLiteBenchmarks(directory: directory, workload: workload.with(eventsPerStream: spread), rounds: rounds)
            log("SQLite: batched append (\(1_000 / spread) streams per batch) vs one-transaction INSERT")
            let result = try await bench.batchAppend(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), batches: batches, label: "\(1_000 / spread) streams per batch")
            report.compare(result.ours, with: result.raw, target: 0.6)
        }
        do {
            let store = try SQLiteEventStore(path: directory.appendingPathComponent("single.sqlite").path)
            log("SQLite: single durable appends vs BEGIN IMMEDIATE + INSERT + COMMIT")
            let result = try await sqliteBench.singleAppend(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), count: singles)
            report.compare(result.ours, with: result.raw, target: 0.8)
        }

        let catchUp = CatchUpBenchmark(workload: workload)
        let catchUpTenant = try TenantID("bench-catch-up")
        log("SQLite: seeding \(catchUpEvents) events for the catch-up read")
        report.note(try await catchUp.seed(sqlite, keyRing: sqliteKeys, tenant: catchUpTenant, count: catchUpEvents), store: "SQLite")
        report.note(try await catchUp.read(sqlite, keyRing: sqliteKeys, tenant: catchUpTenant, open: false), store: "SQLite")
        report.note(try await catchUp.read(sqlite, keyRing: KeyRing(masterKey: masterKey, store: sqlite), tenant: catchUpTenant, open: true), store: "SQLite")

        if let postgres, let postgresOwner {
            let appURL = try PostgresConnectionURL(postgres), ownerURL = try PostgresConnectionURL(postgresOwner)
            try await PostgresMigrator(ownerURL: ownerURL, applicationRole: appURL.username, logger: logger).migrate()
            let store = try PostgresEventStore(url: appURL, maximumConnections: 40, logger: logger)
            let keys = KeyRing(masterKey: masterKey, store: store)
            let bench = PostgresBenchmarks(appURL: appURL, adminURL: ownerURL, workload: workload, rounds: rounds, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                defer { group.cancelAll() }
                try await store.checkSchema()

                for spread in [1, 40] {
                    log("PostgreSQL: batched append (\(1_000 / spread) streams per batch) vs COPY")
                    let batch = try await bench.with(workload: workload.with(eventsPerStream: spread))
                        .batchAppend(store: store, keyRing: keys, batches: batches, label: "\(1_000 / spread) streams per batch")
                    report.compare(batch.ours, with: batch.raw, target: 0.6)
                }

                log("PostgreSQL: 32 concurrent single appends over 50 tenants vs pgbench")
                var oursRounds: [Measurement] = [], pgbenchRounds: [Measurement] = []
                for _ in 0..<rounds {
                    oursRounds.append(try await bench.concurrentAppends(store: store, keyRing: keys, total: concurrent))
                    if let pgbench {
                        pgbenchRounds.append(try bench.pgbench(path: pgbench, total: concurrent, sampleEvent: try await workload.event(0, tenant: catchUpTenant, keyRing: keys)))
                    }
                    log("  ours \(Int(oursRounds.last!.eventsPerSecond))/s (client CPU \(Int((oursRounds.last!.cpuSeconds ?? 0) * 1e6 / Double(oursRounds.last!.events))) µs/append), pgbench \(Int(pgbenchRounds.last?.eventsPerSecond ?? 0))/s (client CPU \(Int((pgbenchRounds.last?.cpuSeconds ?? 0) * 1e6 / Double(max(1, pgbenchRounds.last?.events ?? 1)))) µs/append)")
                }
                if pgbenchRounds.isEmpty {
                    report.note(oursRounds.median, store: "PostgreSQL")
                } else {
                    report.compare(oursRounds.median, with: pgbenchRounds.median, target: 0.8)
                }

                log("PostgreSQL: seeding \(catchUpEvents) events for the catch-up read")
                let seed = try await catchUp.seed(store, keyRing: keys, tenant: catchUpTenant, count: catchUpEvents)
                report.note(seed, store: "PostgreSQL")
                let sealedRead = try await catchUp.read(store, keyRing: keys, tenant: catchUpTenant, open: false)
                report.note(sealedRead, store: "PostgreSQL")
                report.note(try await catchUp.read(store, keyRing: KeyRing(masterKey: masterKey, store: store), tenant: catchUpTenant, open: true), store: "PostgreSQL")
                if let peer {
                    try report.peer(from: URL(fileURLWithPath: peer), ourAppend: seed, ourRead: sealedRead)
                }
            }
        }
        print(report.markdown)
    }
}
