import EventLog
import Foundation
import Projections
import Register
import TestSupport
import Testing

/// The service the server runs: it follows every tenant's log live, and rebuilds a new projection version found at
/// start-up in the background while the old version keeps serving.
@Suite("Projections: the live service")
struct ProjectionServiceTests {
    /// The people projection under another version number, as a release that changed it would ship.
    struct PeopleV2: Projection {
        let base = PeopleProjection()
        var name: String { base.name }
        var version: Int { base.version + 1 }
        var eventTypes: Set<String> { base.eventTypes }
        var tables: [ReadModelTable] { base.tables }
        func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws { try base.apply(event, to: &writes) }
    }

    func until(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the condition did not hold within 20 s", sourceLocation: sourceLocation)
    }

    @Test("the service follows new events live, and rebuilds a new version in the background, then swaps it in", arguments: StoreKind.tested)
    func followsAndUpgrades(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind, projections: RegisterProjections.all + [PeopleV2()]) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try ProjectionEngineTests.configuration(tenant), seed: 21)
            for operation in 0..<40 { try await generator.run(operation * 7_877) }

            // The current version runs and follows.
            let first = ProjectionService(engine: fixture.engine(), logger: TestLogging.logger, tenantDiscovery: .milliseconds(50))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                defer { group.cancelAll() }
                try await until {
                    let statuses = try await fixture.engine().status(of: tenant)
                    return statuses.count == RegisterProjections.all.count && statuses.allSatisfy { $0.lagEvents == 0 }
                }
                // A write while it runs shows up without anyone asking.
                for operation in 40..<60 { try await generator.run(operation * 7_877) }
                let head = try await fixture.log.store.head(of: tenant).position
                try await until {
                    let statuses = try await fixture.engine().status(of: tenant)
                    return statuses.count == RegisterProjections.all.count && statuses.allSatisfy { $0.state.position == head }
                }
            }
            let served = try await fixture.snapshot(tenant)

            // A release with people v2: the service rebuilds it while v1 serves, then swaps.
            let upgraded = ProjectionService(engine: fixture.engine([PeopleV2(), PlacementsProjection(), AttendanceProjection(), AnonymisedProjection()]), logger: TestLogging.logger,
                                             tenantDiscovery: .milliseconds(50))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await upgraded.run() }
                defer { group.cancelAll() }
                try await until { try await fixture.active("people", tenant)?.version == PeopleProjection().version + 1 }
            }
            let states = try await fixture.readModels.states(of: tenant).filter { $0.projection == "people" }
            #expect(states.contains { $0.version == PeopleProjection().version && $0.role == .retired })
            #expect(try await fixture.snapshot(tenant, [PeopleV2(), PlacementsProjection(), AttendanceProjection(), AnonymisedProjection()]) == served,
                    "the next version (same apply) holds the same rows")
        }
    }
}

extension ProjectionServiceTests {
    @Test("lag counts only positions among which is an event the projection handles", arguments: StoreKind.tested)
    func lagOfHandledEvents(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try ProjectionEngineTests.configuration(tenant), seed: 5)
            for operation in 0..<10 { try await generator.run(operation * 7_877) }
            let engine = fixture.engine()
            try await fixture.catchUp(tenant, engine: engine)
            let caughtUp = try await fixture.log.store.head(of: tenant).position
            #expect(try await engine.status(of: tenant).allSatisfy { $0.lagEvents == 0 && $0.lagSeconds == 0 })

            // Events no projection handles (a disclosure record, say): not lag, though nobody has passed over them.
            let handled = RegisterProjections.all.reduce(into: Set<String>()) { $0.formUnion($1.eventTypes) }
            #expect(!handled.contains("DataDisclosed"))
            _ = try await fixture.log.store.append([Events.event("DataDisclosed"), Events.event("DataDisclosed")], to: tenant, metadata: StoreFixture.metadata)
            var statuses = try await engine.status(of: tenant)
            #expect(statuses.count == RegisterProjections.all.count)
            #expect(statuses.allSatisfy { $0.state.position == caughtUp && $0.lagEvents == 0 })
            #expect(statuses.contains { $0.state.projection == "people" })

            // An event of a type the people projection handles (status only counts; nothing applies it here): that
            // projection lags by every position it has not passed over, the others do not.
            _ = try await fixture.log.store.append([Events.event(ConsentWithdrawn.eventType)], to: tenant, metadata: StoreFixture.metadata)
            let head = try await fixture.log.store.head(of: tenant).position
            statuses = try await engine.status(of: tenant)
            for status in statuses {
                let projection = try #require(RegisterProjections.all.first { $0.name == status.state.projection })
                let handles = projection.eventTypes.contains(ConsentWithdrawn.eventType)
                #expect(status.lagEvents == (handles ? head.rawValue - caughtUp.rawValue : 0), "\(status.state.projection)")
            }
        }
    }

    /// People v2 that keeps v1's tables and says so: its queries may read a v1 generation while v2 is built.
    struct PeopleV2ReadingV1: Projection {
        let base = PeopleProjection()
        var name: String { base.name }
        var version: Int { base.version + 1 }
        var servesVersions: Set<Int> { [base.version, base.version + 1] }
        var eventTypes: Set<String> { base.eventTypes }
        var tables: [ReadModelTable] { base.tables }
        func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws { try base.apply(event, to: &writes) }
    }

    @Test("a read model is not ready until a generation this build can read is swapped in; the first one is never served half-built",
          arguments: StoreKind.tested)
    func notReadyUntilBuilt(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind, projections: RegisterProjections.all + [PeopleV2()]) { fixture in
            let tenant = Events.tenant()
            var generator = HistoryGenerator(registry: fixture.registry, tenant: tenant, configuration: try ProjectionEngineTests.configuration(tenant), seed: 31)
            for operation in 0..<30 { try await generator.run(operation * 7_877) }
            let people = PeopleProjection()
            let query = ReadModelQuery(people, PeopleProjection.people)
            await #expect(throws: ProjectionError.self) { _ = try await fixture.readModels.read([query], tenant: tenant) }

            // The first build is a rebuild like any other: killed half-way, nothing is served yet.
            let engine = fixture.engine(batchSize: 2)
            let killed = Task {
                try await engine.rebuild(people, tenant: tenant) { _ in withUnsafeCurrentTask { $0?.cancel() } }
            }
            _ = try? await killed.value
            do {
                _ = try await fixture.readModels.read([query], tenant: tenant)
                Issue.record("a half-built first generation was served")
            } catch let error as ProjectionError {
                #expect(error.code == .notReady)
            }
            #expect(try await engine.rebuild(people, tenant: tenant) == .reached(try await fixture.log.store.head(of: tenant).position))
            #expect(try await fixture.readModels.read([query], tenant: tenant)[0].count == generator.children.count + generator.guardians.count)

            // A v2 whose queries cannot read v1 tables is not ready while v1 is active; one that can, reads v1.
            await #expect(throws: ProjectionError.self) { _ = try await fixture.readModels.read([ReadModelQuery(PeopleV2(), PeopleProjection.people)], tenant: tenant) }
            #expect(try await fixture.readModels.read([ReadModelQuery(PeopleV2ReadingV1(), PeopleProjection.people)], tenant: tenant)[0].count > 0)
        }
    }
}
