import EventLog
import Foundation
import TestSupport
import Testing

@Suite("Conformance: concurrent writers and live subscribers")
struct ConcurrencyTests {
    /// 16 writers append to 4 tenants at once while one live subscriber per tenant follows its log: each subscriber
    /// must see every event of its tenant exactly once, in position order, with no gap — the guarantee projections
    /// and partner feeds rely on.
    // A lost event would leave a subscriber waiting for ever: the time limit turns that into a failure.
    @Test("16 concurrent writers, a subscriber per tenant: every event once, in order, no gaps", .timeLimit(.minutes(3)), arguments: StoreKind.tested)
    func writersAndSubscribers(kind: StoreKind) async throws {
        let writers = 16, batchesPerWriter = 12
        let tenants = (0..<4).map { Events.tenant("conc-\($0)-\(UUID().uuidString.prefix(6).lowercased())") }
        try await StoreFixture.with(kind, poolSize: 24) { fixture in
            let store = fixture.store
            // Each writer appends batches of 1–3 events; the expected total per tenant is known up front.
            let plan: [[(TenantID, [ProposedEvent])]] = (0..<writers).map { writer in
                (0..<batchesPerWriter).map { batch in
                    let tenant = tenants[(writer + batch) % tenants.count]
                    return (tenant, (0...(batch % 3)).map { _ in Events.event(note: "w\(writer)b\(batch)") })
                }
            }
            var expected: [TenantID: Set<UUID>] = [:]
            for (tenant, events) in plan.flatMap({ $0 }) { expected[tenant, default: []].formUnion(events.map(\.eventID)) }

            try await withThrowingTaskGroup(of: (TenantID, [RecordedEvent])?.self) { group in
                for tenant in tenants {
                    let total = expected[tenant]?.count ?? 0
                    group.addTask {
                        var seen: [RecordedEvent] = []
                        for try await event in EventSubscription(store: store, tenant: tenant, after: .start, batchSize: 7, pollInterval: .milliseconds(500)) {
                            seen.append(event)
                            if seen.count == total { break }
                        }
                        return (tenant, seen)
                    }
                }
                for batches in plan {
                    group.addTask {
                        for (tenant, events) in batches {
                            _ = try await store.append(events, to: tenant, metadata: StoreFixture.metadata)
                        }
                        return nil
                    }
                }
                var checked = 0
                for try await case let (tenant, seen)? in group {
                    #expect(seen.map(\.position.rawValue) == Array(1...Int64(seen.count)), "\(tenant): positions in order without gaps")
                    #expect(Set(seen.map(\.eventID)) == expected[tenant], "\(tenant): every event exactly once")
                    #expect(seen.count == expected[tenant]?.count)
                    #expect(seen.allSatisfy { $0.tenant == tenant })
                    checked += 1
                }
                #expect(checked == tenants.count)
            }
            for tenant in tenants {
                #expect(try await store.verifyChain(of: tenant).isIntact)
            }
        }
    }

    @Test("a subscriber that starts mid-log catches up, then follows appends as they commit", arguments: StoreKind.tested)
    func catchUpThenFollow(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            _ = try await fixture.store.append((0..<5).map { _ in Events.event() }, to: tenant, metadata: StoreFixture.metadata)
            let received = Received()
            let clock = ContinuousClock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // A long poll interval: only a wake-up can deliver the live events quickly.
                    for try await event in EventSubscription(store: fixture.store, tenant: tenant, after: LogPosition(2), pollInterval: .seconds(30)) {
                        let count = await received.add(event.position.rawValue)
                        if count == 6 { return }
                    }
                }
                while await received.positions.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
                let started = clock.now
                for _ in 0..<3 {
                    _ = try await fixture.store.append([Events.event()], to: tenant, metadata: StoreFixture.metadata)
                }
                try await group.next()
                #expect(clock.now - started < .seconds(10), "live events arrive on the wake-up, not on the 30 s poll")
            }
            #expect(await received.positions == [3, 4, 5, 6, 7, 8])
        }
    }
}

private actor Received {
    var positions: [Int64] = []
    func add(_ position: Int64) -> Int {
        positions.append(position)
        return positions.count
    }
}

@Suite("Conformance: two processes on one database")
struct TwoProcessTests {
    /// Each store remembers stream versions as of the head it last wrote; an append by another process moves the head,
    /// and the remembered versions must then be discarded, or expected-version checks would pass on stale data.
    @Test("expected versions hold when another process appends to the same stream in between", arguments: StoreKind.tested)
    func interleavedAppends(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let stream = Events.stream()
            _ = try await fixture.store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .noStream])
            try await fixture.withSecondStore { other in
                _ = try await other.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .exact(1)])
                let stale = await #expect(throws: EventLogError.self) {
                    try await fixture.store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .exact(1)])
                }
                #expect(stale?.code == .wrongExpectedVersion)
                let next = try await fixture.store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .exact(2)])
                #expect(next.streamVersions == [3])
                let after = try await other.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata)
                #expect(after.streamVersions == [4])
                #expect(after.positions == [LogPosition(4)])
            }
            #expect(try await fixture.store.verifyChain(of: tenant).isIntact)
        }
    }
}

@Suite("Conformance: many concurrent appends to one tenant")
struct OneTenantConcurrencyTests {
    /// On PostgreSQL, concurrent appends of one tenant are group-committed; each must still be decided exactly as if
    /// it ran alone: its own expected versions, its own atomicity, idempotent retries, and one dense, chained log.
    @Test("64 concurrent appends: each keeps its expected versions and result; retries return the originals; the log is dense and chained",
          .timeLimit(.minutes(2)), arguments: StoreKind.tested)
    func concurrentAppends(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let contested = Events.stream()
            let earlier = [Events.event(), Events.event()]
            let original = try await fixture.store.append(earlier, to: tenant, metadata: StoreFixture.metadata)
            let store = fixture.store
            enum Kind: Sendable { case own, contested, retry }
            let outcomes = try await withThrowingTaskGroup(of: (Kind, Result<AppendResult, EventLogError>).self) { group in
                for index in 0..<64 {
                    let kind: Kind = index % 8 == 0 ? .contested : index % 8 == 1 ? .retry : .own
                    group.addTask {
                        let stream = kind == .contested ? contested : Events.stream()
                        let events = kind == .retry ? earlier : [Events.event(stream: stream), Events.event(stream: stream)]
                        do {
                            let result = try await store.append(events, to: tenant, metadata: StoreFixture.metadata,
                                                                expecting: kind == .retry ? [:] : [stream: .noStream])
                            return (kind, .success(result))
                        } catch let error as EventLogError {
                            return (kind, .failure(error))
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let contestedWins = outcomes.filter { $0.0 == .contested }.compactMap { try? $0.1.get() }
            #expect(contestedWins.count == 1, "exactly one append may create the contested stream")
            #expect(contestedWins.first?.streamVersions == [1, 2])
            for case (.contested, .failure(let error)) in outcomes { #expect(error.code == .wrongExpectedVersion) }
            for case (.retry, let result) in outcomes {
                let retried = try result.get()
                #expect(retried.deduplicated && retried.positions == original.positions, "a retry returns the original positions")
            }
            for case (.own, let result) in outcomes { #expect(try result.get().streamVersions == [1, 2]) }

            let head = try await fixture.store.head(of: tenant)
            let written = 2 + 2 * outcomes.filter { $0.0 != .retry && (try? $0.1.get()) != nil }.count
            #expect(head.position == LogPosition(Int64(written)), "positions are dense: every committed event once")
            let events = try await fixture.store.read(tenant, after: .start, limit: 1_000)
            #expect(events.map(\.position.rawValue) == Array(1...Int64(written)))
            for result in outcomes.compactMap({ try? $0.1.get() }) where !result.deduplicated {
                #expect(result.positions.count == 2 && result.positions[1].rawValue == result.positions[0].rawValue + 1, "an append's events stay together")
            }
            #expect(try await fixture.store.verifyChain(of: tenant).isIntact)
        }
    }
}
