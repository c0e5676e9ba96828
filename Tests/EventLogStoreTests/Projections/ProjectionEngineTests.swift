import EventLog
import Foundation
import Projections
import PropertyBased
import Register
import TestSupport
import Synchronization
import Testing

/// The projection engine on real stores: incremental read models equal a rebuild, rebuilds are blue/green and
/// resumable, a poison event stops only its projection, and tenants never share rows.
@Suite("Projections: engine and rebuilds")
struct ProjectionEngineTests {
    static func configuration(_ tenant: TenantID) throws -> TenantConfiguration {
        var configuration = try TenantFile.load(RegistryTests.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
        configuration.id = tenant
        return configuration
    }

    @Test("for generated histories, read models followed batch by batch equal a rebuild from scratch", arguments: StoreKind.tested)
    func incrementalEqualsRebuild(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            await propertyCheck(count: kind == .sqlite ? 12 : 6, input: Gen.int(in: 0...1_000_000).array(of: 20...70), Gen.int(in: 1...7)) { operations, batch in
                do {
                    let tenant = Events.tenant()
                    var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try Self.configuration(tenant), seed: operations.first ?? 0)
                    // Small batches and catch-ups between commands: the incremental path crosses many batch boundaries.
                    let engine = fixture.engine(batchSize: batch)
                    for (index, operation) in operations.enumerated() {
                        try await generator.run(operation)
                        if index % 9 == 0 { try await fixture.catchUp(tenant, engine: engine) }
                    }
                    try await fixture.catchUp(tenant, engine: engine)
                    let incremental = try await fixture.snapshot(tenant)
                    #expect(incremental["people.people"]?.isEmpty == false, "the history registered people")
                    if generator.placements.count > 2 {
                        #expect(incremental["placements.placements"]?.count == generator.placements.count)
                    }

                    for projection in engine.projections {
                        let before = try #require(try await fixture.active(projection.name, tenant))
                        let outcome = try await fixture.engine().rebuild(projection, tenant: tenant)
                        #expect(outcome == .reached(try await fixture.log.store.head(of: tenant).position))
                        let after = try #require(try await fixture.active(projection.name, tenant))
                        #expect(after.slot == before.slot.other, "the rebuild was swapped in from the other slot")
                    }
                    let rebuilt = try await fixture.snapshot(tenant)
                    #expect(rebuilt == incremental)

                    // And the read models say what the domain says: each child's placements and consents in force.
                    for child in generator.children {
                        let record = try await fixture.registry.person(child, in: tenant)
                        let overview = try #require(try await fixture.queries.childOverview(child.description, tenant: tenant))
                        #expect(overview.placements.map(\.id).sorted() == record.placements.map { $0.id.lowercasedString }.sorted())
                        for placement in record.placements {
                            let entry = try #require(overview.placements.first { $0.id == placement.id.lowercasedString })
                            #expect(entry.start == placement.start && entry.end == placement.end && entry.unit == placement.unit)
                        }
                        #expect(Set(overview.consents.map(\.purpose)) == Set(record.consents.values.filter(\.inForce).map(\.purpose)))
                        #expect(overview.child.nonDisclosure == record.nonDisclosure)
                        #expect(overview.child.details == record.details)
                    }
                } catch {
                    Issue.record("the history failed: \(error)")
                }
            }
        }
    }

    @Test("reads keep answering during a rebuild; a rebuild killed half-way resumes from its checkpoint and ends equal", arguments: StoreKind.tested)
    func rebuildIsBlueGreenAndResumable(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try Self.configuration(tenant), seed: 7)
            for operation in 0..<160 { try await generator.run(operation * 7919) }
            try await fixture.catchUp(tenant, engine: fixture.engine())
            let before = try await fixture.snapshot(tenant)
            let attendance = AttendanceProjection()
            let head = try await fixture.log.store.head(of: tenant).position

            // Kill the rebuild after its second batch: the task is cancelled between batches.
            let engine = fixture.engine(batchSize: 3)
            let batches = Counter()
            let killed = Task {
                try await engine.rebuild(attendance, tenant: tenant) { _ in
                    if batches.increment() == 2 { withUnsafeCurrentTask { $0?.cancel() } }
                }
            }
            await #expect(throws: CancellationError.self) { _ = try await killed.value }
            let building = try #require(try await fixture.readModels.states(of: tenant).first { $0.projection == "attendance" && $0.role == .building })
            #expect(building.position > .start && building.position < head, "the shadow generation stopped part-way")
            #expect(try await fixture.snapshot(tenant) == before, "reads still come from the active generation, unchanged")

            // Resume: it starts from the checkpoint, and reads keep answering from the old generation while it runs.
            let startedAt = Counter()
            let resumed = Task {
                try await engine.rebuild(attendance, tenant: tenant) { progress in
                    if startedAt.value == 0 { startedAt.add(Int(progress.startedAt)) }
                }
            }
            var readsDuring = 0
            while try await fixture.readModels.states(of: tenant).contains(where: { $0.projection == "attendance" && $0.role == .building }) {
                #expect(try await fixture.snapshot(tenant) == before, "a read during the rebuild answers in full from the active generation")
                readsDuring += 1
            }
            #expect(try await resumed.value == .reached(head))
            #expect(startedAt.value == Int(building.position.rawValue), "the resumed rebuild started where the killed one stopped")
            #expect(readsDuring > 0)
            #expect(try await fixture.snapshot(tenant) == before, "the swapped-in generation equals the one it replaced")
            let states = try await fixture.readModels.states(of: tenant).filter { $0.projection == "attendance" }
            #expect(states.filter { $0.role == .active }.count == 1)
            #expect(states.contains { $0.role == .retired && $0.slot == building.slot.other })
        }
    }

    @Test("a poison event stops only its projection of its tenant, at its position, and after a fix it resumes there", arguments: StoreKind.tested)
    func poisonEvent(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind, projections: RegisterProjections.all) { fixture in
            let tenant = Events.tenant(), other = Events.tenant()
            for t in [tenant, other] {
                var generator = HistoryGenerator(registry: fixture.registry, tenant: t, configuration: try Self.configuration(t), seed: 3)
                for operation in 0..<80 { try await generator.run(operation * 104_729) }
            }
            let marks = try await fixture.log.store.read(tenant, after: .start, through: nil, limit: 10_000, filter: EventFilter(eventTypes: [ArrivalRecorded.eventType]))
            let poison = try #require(marks.dropFirst(2).first).position
            let broken = Poisoned(base: AttendanceProjection(), poison: poison, tenant: tenant)
            let engine = fixture.engine([PeopleProjection(), broken], batchSize: 50)
            let headOfTenant = try await fixture.log.store.head(of: tenant).position

            for t in [tenant, other] {
                for projection in engine.projections {
                    let state = try await fixture.readModels.startGeneration(of: projection, tenant: t, slot: .a, role: .active, at: .now())
                    let outcome = try await engine.catchUp(projection, tenant: t, slot: .a, from: state.position, through: try await fixture.log.store.head(of: t).position)
                    if t == tenant && projection.name == "attendance" {
                        guard case .failed(let at, let message) = outcome else { Issue.record("expected a failure, got \(outcome)"); continue }
                        #expect(at == poison)
                        #expect(message.contains("poison"))
                    } else {
                        #expect(outcome == .reached(try await fixture.log.store.head(of: t).position), "\(t) \(projection.name) goes on")
                    }
                }
            }
            let stopped = try #require(try await fixture.active("attendance", tenant))
            #expect(stopped.position == LogPosition(poison.rawValue - 1), "stopped just before the poison event, nothing skipped")
            #expect(stopped.failedPosition == poison)
            #expect(stopped.failure?.contains("poison") == true)

            // The fix: the same projection without the fault resumes from there and clears the failure.
            let fixed = try await fixture.engine().catchUp(AttendanceProjection(), tenant: tenant, slot: .a, from: stopped.position, through: headOfTenant)
            #expect(fixed == .reached(headOfTenant))
            let resumed = try #require(try await fixture.active("attendance", tenant))
            #expect(resumed.failedPosition == nil && resumed.position == headOfTenant)
        }
    }

    @Test("no read model of one tenant holds another tenant's rows", arguments: StoreKind.tested)
    func tenantsNeverShareRows(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let first = Events.tenant(), second = Events.tenant()
            var a = HistoryGenerator(registry: fixture.registry, tenant: first, configuration: try Self.configuration(first), seed: 11)
            var b = HistoryGenerator(registry: fixture.registry, tenant: second, configuration: try Self.configuration(second), seed: 11)
            for operation in 0..<60 {
                try await a.run(operation * 31)
                try await b.run(operation * 37)
            }
            let engine = fixture.engine()
            try await fixture.catchUp(first, engine: engine)
            let alone = try await fixture.snapshot(first)
            try await fixture.catchUp(second, engine: engine)
            #expect(try await fixture.snapshot(first) == alone, "the second tenant's projection added nothing to the first's read models")

            let firstIDs = Set(a.children.map(\.description) + a.guardians.map(\.description))
            let secondIDs = Set(b.children.map(\.description) + b.guardians.map(\.description))
            let firstRows = try await fixture.snapshot(first).values.joined().flatMap { $0.compactMap(\.text) }
            #expect(!firstRows.contains { secondIDs.contains($0) }, "no id of the second tenant's people in the first's rows")
            #expect(firstRows.contains { firstIDs.contains($0) })
            #expect(try await fixture.queries.childOverview(try #require(b.children.first).description, tenant: first) == nil,
                    "a child of another tenant is not found")
        }
    }
}

/// A projection that fails on one event of one tenant, as a bug in a projection would.
struct Poisoned: Projection {
    let base: any Projection
    let poison: LogPosition
    let tenant: TenantID
    var name: String { base.name }
    var version: Int { base.version }
    var eventTypes: Set<String> { base.eventTypes }
    var tables: [ReadModelTable] { base.tables }

    struct PoisonError: Error, CustomStringConvertible {
        var description: String { "poison event" }
    }

    func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws {
        try base.apply(event, to: &writes)
        if event.position == poison && event.tenant == tenant { throw PoisonError() }
    }
}

/// A thread-safe counter for callbacks.
final class Counter: Sendable {
    private let state = Mutex(0)
    @discardableResult func increment() -> Int { state.withLock { $0 += 1; return $0 } }
    func add(_ amount: Int) { state.withLock { $0 += amount } }
    var value: Int { state.withLock { $0 } }
}

extension ProjectionEngineTests {
    @Test("generated histories cover every event type the projections read")
    func generatorCoversEveryEventType() async throws {
        try await ProjectionFixture.with(.sqlite) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try Self.configuration(tenant), seed: 5)
            for operation in 0..<400 { try await generator.run(operation &* 2_654_435_761 >> 7) }
            let events = try await fixture.log.store.read(tenant, after: .start, through: nil, limit: 10_000, filter: .all)
            let types = Set(events.map(\.eventType))
            for projection in RegisterProjections.all {
                for type in projection.eventTypes {
                    #expect(types.contains(type), "\(type) appears in a generated history")
                }
            }
        }
    }
}

extension ProjectionEngineTests {
    @Test("read models hold personal details only sealed: no name or identity code in clear in their database", arguments: StoreKind.tested)
    func readModelsHoldNoPlaintext(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try Self.configuration(tenant), seed: 40)
            for operation in 0..<60 { try await generator.run(operation * 7_919) }
            try await fixture.catchUp(tenant, engine: fixture.engine())
            let names = try await generator.children.asyncMap { try await fixture.registry.person($0, in: tenant).details?.name.first }.compactMap { $0 }
            #expect(!names.isEmpty)
            let codes = (41...(40 + generator.children.count)).map { IdentityCodes.testCode(seed: $0) }
            let blobs: [(String, Data)]
            switch kind {
            case .sqlite:
                let path = SQLiteReadModelStore.path(besideLog: try #require(fixture.log.sqlitePath))
                blobs = [path, path + "-wal"].compactMap { file in FileManager.default.contents(atPath: file).map { (file, $0) } }
            case .postgres:
                blobs = [("pg_dump", try PlaintextScan.pgDump(try #require(fixture.log.postgres), schema: PostgresReadModelStore.schema))]
            }
            #expect(!blobs.isEmpty)
            for (name, data) in blobs {
                let bytes = [UInt8](data)
                #expect(bytes.count > 1_000, "\(name) holds the read models")
                #expect(!PlaintextGuard.containsIdentityCode(bytes), "\(name) holds an identity code in clear")
                for secret in names + codes {
                    #expect(!PlaintextScan.contains(bytes, Array(secret.utf8)), "\(name) holds \(secret) in clear")
                }
            }
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
