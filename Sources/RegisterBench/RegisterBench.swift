import ArgumentParser
import EventLog
import EventLogPostgres
import EventLogSQLite
import Foundation
import Logging
import Projections
import Register
import RegisterServer

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
    @Option(help: "Single durable appends per side (in alternating chunks).") var singles = 1_000
    @Option(help: "Concurrent appends per side (in alternating rounds).") var concurrent = 16_000
    @Option(help: "Rounds of the batched and concurrent comparisons (the median ratio counts).") var rounds = 3
    @Flag(help: "Only print where the time of a batched append goes (sealing, hashing, the store's work), on SQLite and PostgreSQL.") var breakdown = false
    @Flag(help: "Only the projections' benchmarks: a rebuild of every read model against the raw catch-up read, and the live lag.") var projections = false
    @Option(help: "Events in the projections' demo-like log.") var projectionEvents = 1_000_000
    @Option(help: "Children in the projections' demo-like log.") var projectionChildren = 2_000
    @Option(help: "Seconds of steady appends for the live-lag measurement.") var lagSeconds = 20
    @Option(help: "Events per second appended for the live-lag measurement.") var lagRate = 2_000
    @Flag(help: "Only the feeds' benchmarks: append-to-delivery latency to SSE and long-poll partners, and one partner's catch-up.") var feeds = false
    @Option(help: "Partners following the feed in the latency measurement.") var feedPartners = 100
    @Option(help: "Events per second appended while the partners follow.") var feedRate = 1_000
    @Option(help: "Seconds of appends per latency measurement.") var feedSeconds = 20
    @Option(help: "Children whose attendance the latency measurement appends.") var feedChildren = 500
    @Option(help: "Events in the catch-up tenant.") var feedCatchUpEvents = 1_000_000
    @Option(help: "Loopback port for the benchmark's server.") var feedPort = 18_181
    @Flag(help: "Only the invoicing benchmark: a monthly invoicing run for a tenant with many fee families and a year of history.") var invoicing = false
    @Option(help: "Fee families in the invoicing tenant.") var invoicingFamilies = 10_000
    @Option(help: "The tenant file whose fee rules and units the invoicing benchmark uses.") var invoicingTenantFile = "Tenants/esimerkkila.yaml"

    func run() async throws {
        var logger = Logger(label: "register-bench")
        logger.logLevel = .warning
        let context = BenchContext(workload: Workload(), masterKey: .generate(), directory: URL(fileURLWithPath: sqliteDir), logger: logger)
        try FileManager.default.createDirectory(at: context.directory, withIntermediateDirectories: true)
        if breakdown {
            try await printBreakdown(context)
            return
        }
        if projections {
            print(try await runProjections(context))
            return
        }
        if feeds {
            print(try await runFeeds(context))
            return
        }
        if invoicing {
            print(try await runInvoicing(context))
            return
        }
        var report = Report()
        try await runSQLite(context, into: &report)
        if let postgres, let postgresOwner {
            try await runPostgres(context, appURL: try PostgresConnectionURL(postgres), ownerURL: try PostgresConnectionURL(postgresOwner), into: &report)
        }
        print(report.markdown)
    }

    func runSQLite(_ context: BenchContext, into report: inout Report) async throws {
        log("SQLite: where the time of an append goes")
        let breakdownStore = try context.sqliteStore("breakdown")
        for measurement in try await Breakdown(workload: context.workload).run(store: breakdownStore, keyRing: context.keyRing(breakdownStore), events: 20_000) {
            report.note(measurement, store: "SQLite")
        }
        // Each comparison gets a fresh store file, as its raw baseline gets a fresh file.
        for spread in [1, 40] {
            let store = try context.sqliteStore("batch-\(spread)")
            let bench = SQLiteBenchmarks(directory: context.directory, workload: context.workload.with(eventsPerStream: spread), rounds: rounds)
            log("SQLite: batched append (\(1_000 / spread) streams per batch) vs one-transaction INSERT")
            report.compare(try await bench.batchAppend(store: store, keyRing: context.keyRing(store), batches: batches, label: "\(1_000 / spread) streams per batch"), target: 0.6)
        }
        let single = try context.sqliteStore("single")
        log("SQLite: single durable appends vs BEGIN IMMEDIATE + INSERT + COMMIT")
        let singleBench = SQLiteBenchmarks(directory: context.directory, workload: context.workload, rounds: rounds)
        report.compare(try await singleBench.singleAppend(store: single, keyRing: context.keyRing(single), count: singles), target: 0.8)

        let catchUp = CatchUpBenchmark(workload: context.workload)
        let store = try context.sqliteStore("catch-up")
        let tenant = try TenantID("bench-catch-up")
        log("SQLite: seeding \(catchUpEvents) events for the catch-up read")
        report.note(try await catchUp.seed(store, keyRing: context.keyRing(store), tenant: tenant, count: catchUpEvents), store: "SQLite")
        report.note(try await catchUp.read(store, keyRing: context.keyRing(store), tenant: tenant, open: false), store: "SQLite")
        report.note(try await catchUp.read(store, keyRing: context.keyRing(store), tenant: tenant, open: true), store: "SQLite")
    }

    func runPostgres(_ context: BenchContext, appURL: PostgresConnectionURL, ownerURL: PostgresConnectionURL, into report: inout Report) async throws {
        try await PostgresMigrator(ownerURL: ownerURL, applicationRole: appURL.username, logger: context.logger).migrate()
        let store = try PostgresEventStore(url: appURL, maximumConnections: 40, logger: context.logger)
        let keys = context.keyRing(store)
        let bench = PostgresBenchmarks(appURL: appURL, adminURL: ownerURL, workload: context.workload, rounds: rounds, logger: context.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.checkSchema()

            for spread in [1, 40] {
                log("PostgreSQL: batched append (\(1_000 / spread) streams per batch) vs COPY")
                report.compare(try await bench.with(workload: context.workload.with(eventsPerStream: spread))
                    .batchAppend(store: store, keyRing: keys, batches: batches, label: "\(1_000 / spread) streams per batch"), target: 0.6)
            }

            log("PostgreSQL: 32 concurrent single appends over 50 tenants vs pgbench")
            let concurrentRounds = max(rounds, 4)
            var comparison = Comparison()
            for _ in 0..<concurrentRounds {
                let ours = try await bench.concurrentAppends(store: store, keyRing: keys, total: concurrent / concurrentRounds)
                if let pgbench {
                    let sample = try await context.workload.event(0, tenant: try TenantID("bench-sample"), keyRing: keys)
                    comparison.add(ours: ours, baseline: try bench.pgbench(path: pgbench, total: concurrent / concurrentRounds, sampleEvent: sample))
                } else {
                    report.note(ours, store: "PostgreSQL")
                }
            }
            if !comparison.ours.isEmpty { report.compare(comparison, target: 0.8) }

            let catchUp = CatchUpBenchmark(workload: context.workload)
            let tenant = try TenantID("bench-catch-up")
            log("PostgreSQL: seeding \(catchUpEvents) events for the catch-up read")
            let seed = try await catchUp.seed(store, keyRing: keys, tenant: tenant, count: catchUpEvents)
            report.note(seed, store: "PostgreSQL")
            let sealedRead = try await catchUp.read(store, keyRing: keys, tenant: tenant, open: false)
            report.note(sealedRead, store: "PostgreSQL")
            report.note(try await catchUp.read(store, keyRing: context.keyRing(store), tenant: tenant, open: true), store: "PostgreSQL")
            if let peer {
                try report.peer(from: URL(fileURLWithPath: peer), ourAppend: seed, ourRead: sealedRead)
            }
        }
    }

    /// The feeds' benchmarks against the real server on SQLite and (when configured) PostgreSQL, as Markdown tables.
    func runFeeds(_ context: BenchContext) async throws -> String {
        var latency: [String] = [], catchUp: [String] = []
        func run(_ name: String, _ database: DatabaseLocation, admin: PostgresConnectionURL?) async throws {
            var configuration = RegisterConfiguration(database: database, databaseAdmin: admin, applicationRole: admin == nil ? "register_app" : (try PostgresConnectionURL(postgres!)).username,
                                                      masterKey: .defaultFile(path: context.directory.appendingPathComponent("master.key").path),
                                                      port: feedPort, logLevel: .warning)
            // No scheduled retention pass in the middle of a measurement.
            configuration.retentionIntervalHours = 0
            let bench = FeedBenchmarks(configuration: configuration, logger: context.logger, partners: feedPartners, eventsPerSecond: feedRate,
                                       seconds: feedSeconds, children: feedChildren, catchUpEvents: feedCatchUpEvents)
            let rows = try await bench.run(storeName: name)
            latency += rows.latency
            catchUp.append(rows.catchUp)
        }
        try await run("SQLite", .sqlite(path: context.directory.appendingPathComponent("feeds.sqlite").path), admin: nil)
        if let postgres, let postgresOwner {
            try await run("PostgreSQL", .postgres(try PostgresConnectionURL(postgres)), admin: try PostgresConnectionURL(postgresOwner))
        }
        return """
            #### Append-to-delivery latency

            From the start of the append that wrote an event to the moment each partner's client has it, over every item every
            partner received; the writer appends attendance in appends of 10 events on a fixed schedule. Target: p99 below 50 ms.

            | store | partners | events/s appended | items delivered | p50 | p99 | max | target |
            |---|---|---:|---:|---:|---:|---:|---|
            \(latency.joined(separator: "\n"))

            #### Catch-up of one partner

            One partner reads the attendance feed of a tenant with a demo-like log from the start, in pages of 1 000 (each page
            recorded as a disclosure before it is answered), against the raw catch-up read of the same log in pages of 1 000.

            | store | log positions | items | time | items/s | raw read events/s | ratio |
            |---|---:|---:|---:|---:|---:|---:|
            \(catchUp.joined(separator: "\n"))
            """
    }

    /// The projections' benchmarks on SQLite and (when configured) PostgreSQL, as a Markdown table.
    func runProjections(_ context: BenchContext) async throws -> String {
        var lines = [
            "| store | measurement | events | seconds | events/s | vs raw read |",
            "|---|---|---:|---:|---:|---:|",
        ]
        var lagLines: [String] = []
        func run(_ name: String, _ store: any EventStore, _ readModels: any ReadModelStore) async throws {
            let tenant = try TenantID("bench-projections")
            let keyRing = context.keyRing(store)
            let demo = DemoLog(tenant: tenant, children: projectionChildren)
            log("\(name): seeding a demo-like log of about \(projectionEvents) events")
            let days = DemoLog.days(for: projectionEvents, children: projectionChildren)
            _ = try await demo.seed(store, keyRing: keyRing, days: days)
            try await readModels.prepare(RegisterProjections.all)
            let engine = ProjectionEngine(log: store, readModels: readModels, projections: RegisterProjections.all, logger: context.logger)
            let bench = ProjectionBenchmarks(engine: engine, keyRing: keyRing)
            log("\(name): raw catch-up read")
            let raw = try await bench.rawRead(tenant)
            log("\(name): rebuilding every read model")
            let rebuilds = try await bench.rebuildAll(tenant)
            for measurement in [raw] + rebuilds {
                let ratio = measurement.name == raw.name ? "1" : String(format: "%.2f", measurement.eventsPerSecond / raw.eventsPerSecond)
                let cpu = measurement.cpuSeconds.map { String(format: " (CPU %.1f s)", $0) } ?? ""
                lines.append("| \(name) | \(measurement.name) | \(measurement.events.formatted()) | \(String(format: "%.1f", measurement.seconds))\(cpu) | \(Int(measurement.eventsPerSecond).formatted()) | \(ratio) |")
            }
            log("\(name): live lag at \(lagRate) events/s for \(lagSeconds) s")
            let children = try await demo.appendFamilies(store, keyRing: keyRing)
            let lag = try await bench.liveLag(tenant, children: children, eventsPerSecond: lagRate, seconds: lagSeconds)
            lagLines.append("| \(name) | \(lagRate.formatted()) events/s in appends of 10, \(lagSeconds) s | \(lag.count.formatted()) | \(String(format: "%.1f", lag.p50)) | \(String(format: "%.1f", lag.p99)) | \(String(format: "%.1f", lag.max)) |")
        }
        let sqlite = try context.sqliteStore("projections")
        try await run("SQLite", sqlite, try SQLiteReadModelStore(path: context.directory.appendingPathComponent("projections-readmodels.sqlite").path))
        if let postgres, let postgresOwner {
            let appURL = try PostgresConnectionURL(postgres), ownerURL = try PostgresConnectionURL(postgresOwner)
            try await PostgresMigrator(ownerURL: ownerURL, applicationRole: appURL.username, logger: context.logger).migrate()
            try await PostgresReadModelStore.migrate(ownerURL: ownerURL, applicationRole: appURL.username, projections: RegisterProjections.all, logger: context.logger)
            let store = try PostgresEventStore(url: appURL, maximumConnections: 8, logger: context.logger)
            let readModels = try PostgresReadModelStore(url: appURL, maximumConnections: 8, logger: context.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                group.addTask { try await readModels.run() }
                defer { group.cancelAll() }
                try await store.checkSchema()
                try await run("PostgreSQL", store, readModels)
            }
        }
        return (lines + [
            "",
            "Live lag: from an append's commit to the attendance read model's checkpoint covering it (milliseconds).",
            "",
            "| store | load | appends measured | p50 ms | p99 ms | max ms |",
            "|---|---|---:|---:|---:|---:|",
        ] + lagLines).joined(separator: "\n")
    }

    func runInvoicing(_ context: BenchContext) async throws -> String {
        let configuration = try TenantFile.load(URL(fileURLWithPath: invoicingTenantFile))
        guard let rules = configuration.fees else { throw BenchmarkFailure("\(invoicingTenantFile) has no fee rules") }
        let bench = InvoicingBenchmarks(rules: rules, units: configuration.units.filter { $0.arrangements.contains(.municipal) }.map(\.code))
        var lines = ["| store | measurement | size | seconds | rate |", "|---|---|---|---:|---:|"]
        let sqlite = try context.sqliteStore("invoicing")
        lines += try await bench.run("SQLite", store: sqlite, keyRing: context.keyRing(sqlite), families: invoicingFamilies)
        if let postgres, let postgresOwner {
            let appURL = try PostgresConnectionURL(postgres), ownerURL = try PostgresConnectionURL(postgresOwner)
            try await PostgresMigrator(ownerURL: ownerURL, applicationRole: appURL.username, logger: context.logger).migrate()
            let store = try PostgresEventStore(url: appURL, maximumConnections: 8, logger: context.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                defer { group.cancelAll() }
                try await store.checkSchema()
                lines += try await bench.run("PostgreSQL", store: store, keyRing: context.keyRing(store), families: invoicingFamilies)
            }
        }
        return lines.joined(separator: "\n")
    }

    func printBreakdown(_ context: BenchContext) async throws {
        let store = try context.sqliteStore("breakdown")
        for measurement in try await Breakdown(workload: context.workload).run(store: store, keyRing: context.keyRing(store), events: batches * 1_000) {
            print("SQLite      \(measurement.name): \(Int(measurement.eventsPerSecond)) events/s")
        }
        guard let postgres else { return }
        let pgStore = try PostgresEventStore(url: try PostgresConnectionURL(postgres), maximumConnections: 4, logger: context.logger)
        if let postgresOwner {
            try await PostgresMigrator(ownerURL: try PostgresConnectionURL(postgresOwner), applicationRole: pgStore.applicationRole, logger: context.logger).migrate()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pgStore.run() }
            defer { group.cancelAll() }
            try await pgStore.checkSchema()
            for measurement in try await Breakdown(workload: context.workload).run(store: pgStore, keyRing: context.keyRing(pgStore), events: batches * 1_000) {
                print("PostgreSQL  \(measurement.name): \(Int(measurement.eventsPerSecond)) events/s")
            }
        }
    }
}

/// What every benchmark of one run shares.
struct BenchContext {
    let workload: Workload
    let masterKey: MasterKey
    let directory: URL
    let logger: Logger

    func sqliteStore(_ name: String) throws -> SQLiteEventStore {
        try SQLiteEventStore(path: directory.appendingPathComponent("\(name).sqlite").path)
    }

    /// A fresh key ring (an empty key cache) on a store.
    func keyRing(_ store: any EventStore) -> KeyRing {
        KeyRing(masterKey: masterKey, store: store)
    }
}
