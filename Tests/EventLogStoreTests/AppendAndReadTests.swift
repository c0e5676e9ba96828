import EventLog
import Foundation
import TestSupport
import Testing

@Suite("Conformance: append and read")
struct AppendAndReadTests {
    @Test("the PostgreSQL server for the store suites is reachable", .enabled(if: PostgresTestServer.shouldRun, Comment(rawValue: PostgresTestServer.skipReason)))
    func postgresServerIsReachable() async throws {
        let names = try await SuperuserSession.run(PostgresTestServer.superuserURL()) { try await $0.strings("SELECT current_setting('server_version')") }
        #expect(names.first?.hasPrefix("15") == true)
    }

    @Test("a batch gets dense positions and reads back exactly", arguments: StoreKind.tested)
    func appendAndReadBack(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let stream = Events.stream()
            let batch = [Events.event("ChildEnrolled", stream: stream, note: "a"), Events.event("PlacementStarted", stream: stream, note: "b"),
                         Events.event("ChildNoted", note: "c")]
            let causation = UUID()
            let metadata = EventMetadata(actor: StoreFixture.actor, correlationID: UUID(), causationID: causation)
            let result = try await fixture.store.append(batch, to: tenant, metadata: metadata)
            #expect(result.positions.map(\.rawValue) == [1, 2, 3])
            #expect(result.streamVersions == [1, 2, 1])
            #expect(!result.deduplicated)

            let events = try await fixture.store.read(tenant)
            #expect(events.map(\.eventID) == batch.map(\.eventID))
            #expect(events.map(\.payload) == batch.map(\.payload))
            #expect(events.map(\.eventType) == ["ChildEnrolled", "PlacementStarted", "ChildNoted"])
            #expect(events.allSatisfy { $0.actor == StoreFixture.actor && $0.correlationID == metadata.correlationID && $0.causationID == causation })
            #expect(events[0].previousHash == .genesis)
            #expect(events[1].previousHash == events[0].hash)
            #expect(events.allSatisfy { HashChain.hash(of: $0) == $0.hash })

            let head = try await fixture.store.head(of: tenant)
            #expect(head.position == LogPosition(3))
            #expect(head.hash == events[2].hash)

            let streamEvents = try await fixture.store.readStream(stream, of: tenant)
            #expect(streamEvents.map(\.streamVersion) == [1, 2])
            #expect(try await fixture.store.tenants().contains(tenant))
        }
    }

    @Test("positions are dense per tenant and recorded times never go back", arguments: StoreKind.tested)
    func densePerTenant(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let a = Events.tenant(), b = Events.tenant()
            for round in 0..<5 {
                _ = try await fixture.store.append([Events.event(note: "a\(round)")], to: a, metadata: StoreFixture.metadata)
                _ = try await fixture.store.append([Events.event(note: "b\(round)"), Events.event()], to: b, metadata: StoreFixture.metadata)
            }
            let eventsA = try await fixture.store.read(a)
            let eventsB = try await fixture.store.read(b)
            #expect(eventsA.map(\.position.rawValue) == Array(1...5))
            #expect(eventsB.map(\.position.rawValue) == Array(1...10))
            #expect(eventsA.allSatisfy { $0.tenant == a })
            #expect(zip(eventsB, eventsB.dropFirst()).allSatisfy { $0.recordedAt <= $1.recordedAt })
            #expect(try await fixture.store.read(Events.tenant()).isEmpty)
        }
    }

    @Test("expected versions: a mismatch is a clear concurrency error and writes nothing", arguments: StoreKind.tested)
    func expectedVersions(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let stream = Events.stream()
            let store = fixture.store
            _ = try await store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .noStream])

            let error = await #expect(throws: EventLogError.self) {
                try await store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .noStream])
            }
            #expect(error?.code == .wrongExpectedVersion)
            #expect(error?.message.contains("is at version 1") == true)

            let stale = await #expect(throws: EventLogError.self) {
                try await store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .exact(5)])
            }
            #expect(stale?.code == .wrongExpectedVersion)
            let missing = await #expect(throws: EventLogError.self) {
                try await store.append([Events.event()], to: tenant, metadata: StoreFixture.metadata, expecting: [Events.stream(): .streamExists])
            }
            #expect(missing?.code == .wrongExpectedVersion)
            #expect(try await store.head(of: tenant).position == LogPosition(1))

            let next = try await store.append([Events.event(stream: stream), Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata,
                                              expecting: [stream: .exact(1)])
            #expect(next.streamVersions == [2, 3])
            _ = try await store.append([Events.event(stream: stream)], to: tenant, metadata: StoreFixture.metadata, expecting: [stream: .streamExists])
            #expect(try await store.readStream(stream, of: tenant).map(\.streamVersion) == [1, 2, 3, 4])
        }
    }

    @Test("a retried batch returns the original positions instead of duplicates", arguments: StoreKind.tested)
    func idempotentRetries(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let store = fixture.store
            let batch = [Events.event(), Events.event()]
            let first = try await store.append(batch, to: tenant, metadata: StoreFixture.metadata)
            _ = try await store.append([Events.event()], to: tenant, metadata: StoreFixture.metadata)
            let retry = try await store.append(batch, to: tenant, metadata: StoreFixture.metadata, expecting: [batch[0].stream: .noStream])
            #expect(retry.deduplicated)
            #expect(retry.positions == first.positions)
            #expect(try await store.head(of: tenant).position == LogPosition(3))

            let partial = await #expect(throws: EventLogError.self) {
                try await store.append([batch[0], Events.event()], to: tenant, metadata: StoreFixture.metadata)
            }
            #expect(partial?.code == .eventIDConflict)
            var reused = Events.event()
            reused.eventID = batch[1].eventID
            let conflict = await #expect(throws: EventLogError.self) {
                try await store.append([reused], to: tenant, metadata: StoreFixture.metadata)
            }
            #expect(conflict?.code == .eventIDConflict)
            #expect(conflict?.message.contains("position 2") == true)
            #expect(try await store.head(of: tenant).position == LogPosition(3))

            // The same event id in another tenant is another event.
            let other = try await store.append(batch, to: Events.tenant(), metadata: StoreFixture.metadata)
            #expect(!other.deduplicated)
        }
    }

    @Test("a failing event leaves none of its batch behind", arguments: StoreKind.tested)
    func atomicBatches(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let store = fixture.store
            let taken = Events.stream()
            _ = try await store.append([Events.event(stream: taken)], to: tenant, metadata: StoreFixture.metadata)
            let before = try await store.head(of: tenant)

            let duplicate = Events.event()
            let failingBatches: [([ProposedEvent], [StreamRef: ExpectedVersion], EventLogError.Code)] = [
                ([Events.event(), Events.event(), duplicate, duplicate], [:], .eventIDConflict),
                ([Events.event(), Events.event(), Events.event(stream: taken)], [taken: .noStream], .wrongExpectedVersion),
                ([Events.event(), ProposedEvent(stream: Events.stream(), eventType: "ChildNoted", payload: Data(#"{"hetu":"010101A900R"}"#.utf8))], [:], .personalDataInClear),
                ([Events.event(), ProposedEvent(stream: Events.stream(), eventType: "not a type", payload: Events.payload())], [:], .invalidArgument),
            ]
            // The database itself refuses the third row (its event id is taken by another stream's event) after two
            // rows of the batch were written inside the transaction: they must be rolled back with it.
            let existing = try #require(try await store.read(tenant).first)
            var reusing = Events.event()
            reusing.eventID = existing.eventID
            let midBatch = [Events.event(), Events.event(), reusing]
            let refused = await #expect(throws: EventLogError.self) {
                try await store.append(midBatch, to: tenant, metadata: StoreFixture.metadata)
            }
            #expect(refused?.code == .eventIDConflict)
            #expect(try await store.head(of: tenant) == before)
            for event in midBatch.prefix(2) {
                #expect(try await store.readStream(event.stream, of: tenant).isEmpty, "the rows written before the refused one are gone")
            }

            for (batch, expecting, code) in failingBatches {
                let error = await #expect(throws: EventLogError.self) {
                    try await store.append(batch, to: tenant, metadata: StoreFixture.metadata, expecting: expecting)
                }
                #expect(error?.code == code)
                #expect(try await store.head(of: tenant) == before)
                #expect(try await store.read(tenant).count == 1)
                for event in batch where event.stream != taken {
                    #expect(try await store.readStream(event.stream, of: tenant).isEmpty)
                }
            }
            #expect(try await store.verifyChain(of: tenant).isIntact)
        }
    }

    @Test("reads filter by event type, stream type and an upper bound", arguments: StoreKind.tested)
    func filteredReads(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let batch = (0..<12).map { index in
                Events.event(index % 3 == 0 ? "AbsenceRecorded" : "ArrivalRecorded", stream: Events.stream(index % 2 == 0 ? "child" : "unit"))
            }
            _ = try await fixture.store.append(batch, to: tenant, metadata: StoreFixture.metadata)
            let absences = try await fixture.store.read(tenant, filter: EventFilter(eventTypes: ["AbsenceRecorded"]))
            #expect(absences.map(\.position.rawValue) == [1, 4, 7, 10])
            let units = try await fixture.store.read(tenant, filter: EventFilter(streamTypes: ["unit"]))
            #expect(units.map(\.position.rawValue) == [2, 4, 6, 8, 10, 12])
            let both = try await fixture.store.read(tenant, filter: EventFilter(eventTypes: ["AbsenceRecorded"], streamTypes: ["unit"]))
            #expect(both.map(\.position.rawValue) == [4, 10])
            let window = try await fixture.store.read(tenant, after: LogPosition(3), through: LogPosition(6), limit: 100, filter: .all)
            #expect(window.map(\.position.rawValue) == [4, 5, 6])
            let limited = try await fixture.store.read(tenant, after: LogPosition(10), limit: 1)
            #expect(limited.map(\.position.rawValue) == [11])
        }
    }

    @Test("reads filter by the data subject an event names, with the other filters and limits", arguments: StoreKind.tested)
    func subjectReads(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let (a, b, c) = (SubjectID.random(), SubjectID.random(), SubjectID.random())
            let named: [[SubjectID]] = [[a], [b], [a, b], [], [c, a], [c]]
            let batch = named.enumerated().map { index, subjects in
                var event = Events.event(index % 2 == 0 ? "ArrivalRecorded" : "AbsenceRecorded")
                event.subjects = subjects
                return event
            }
            _ = try await fixture.store.append(batch, to: tenant, metadata: StoreFixture.metadata)
            #expect(try await fixture.store.read(tenant, filter: EventFilter(subject: a)).map(\.position.rawValue) == [1, 3, 5])
            #expect(try await fixture.store.read(tenant, filter: EventFilter(subject: c)).map(\.position.rawValue) == [5, 6])
            #expect(try await fixture.store.read(tenant, filter: EventFilter(eventTypes: ["ArrivalRecorded"], subject: b)).map(\.position.rawValue) == [3])
            #expect(try await fixture.store.read(tenant, after: LogPosition(1), limit: 1, filter: EventFilter(subject: a)).map(\.position.rawValue) == [3])
            #expect(try await fixture.store.read(tenant, filter: EventFilter(subject: .random())).isEmpty)
        }
    }

    @Test("several streams read at once: each after its own version, at most the limit of each, in request order, one tenant only", arguments: StoreKind.tested)
    func severalStreams(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant(), other = Events.tenant()
            let (a, b, empty) = (Events.stream(), Events.stream("unit"), Events.stream())
            // Interleaved, so that log order and stream order differ.
            let batch = (0..<9).map { Events.event(stream: $0 % 3 == 2 ? b : a, note: "n\($0)") }
            _ = try await fixture.store.append(batch, to: tenant, metadata: StoreFixture.metadata)
            _ = try await fixture.store.append([Events.event(stream: a)], to: other, metadata: StoreFixture.metadata)

            let read = try await fixture.store.readStreams([StreamRead(b), StreamRead(a, afterVersion: 2), StreamRead(empty)], of: tenant, limit: 100)
            #expect(read.map { $0.map(\.streamVersion) } == [[1, 2, 3], [3, 4, 5, 6], []])
            #expect(read[0].map(\.position.rawValue) == [3, 6, 9])
            #expect(read[1].allSatisfy { $0.stream == a && $0.tenant == tenant })

            // The limit holds per stream; the same stream may be asked for twice, after different versions.
            let limited = try await fixture.store.readStreams([StreamRead(a), StreamRead(b, afterVersion: 1), StreamRead(a, afterVersion: 5)], of: tenant, limit: 2)
            #expect(limited.map { $0.map(\.streamVersion) } == [[1, 2], [2, 3], [6]])
            #expect(try await fixture.store.readStreams([], of: tenant, limit: 10).isEmpty)
            // Another tenant's stream of the same name is its own.
            #expect(try await fixture.store.readStreams([StreamRead(a), StreamRead(b)], of: other, limit: 100).map(\.count) == [1, 0])
        }
    }

    @Test("a subscription of some event types is woken by appends of those, not by others", arguments: StoreKind.tested)
    func subscriptionsSleepThroughOtherTypes(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let clock = ContinuousClock()
            let began = clock.now
            // Polling once a minute: only a wake-up brings the event in time.
            let received = Task {
                var iterator = EventSubscription(store: fixture.store, tenant: tenant, after: .start, filter: EventFilter(eventTypes: ["AbsenceRecorded"]),
                                                 pollInterval: .seconds(60)).makeAsyncIterator()
                return (try await iterator.next()?.position, clock.now)
            }
            try await Task.sleep(for: .milliseconds(300))
            for _ in 0..<5 { _ = try await fixture.store.append([Events.event("ArrivalRecorded")], to: tenant, metadata: StoreFixture.metadata) }
            let wanted = clock.now
            _ = try await fixture.store.append([Events.event("AbsenceRecorded")], to: tenant, metadata: StoreFixture.metadata)
            let (position, at) = try await received.value
            #expect(position == LogPosition(6))
            #expect(at - began < .seconds(20), "the subscription was not woken")
            #expect(at >= wanted)
            // What the subscriber would wait on: unchanged by the other types.
            let seen = fixture.store.wakeups.generation(of: tenant, interest: ["AbsenceRecorded"])
            _ = try await fixture.store.append([Events.event("ArrivalRecorded")], to: tenant, metadata: StoreFixture.metadata)
            #expect(fixture.store.wakeups.generation(of: tenant, interest: ["AbsenceRecorded"]) == seen)
        }
    }

    @Test("a filtered subscription moves past events it does not want", arguments: StoreKind.tested)
    func filteredSubscription(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            func noise() -> [ProposedEvent] { (0..<30).map { _ in Events.event("ArrivalRecorded") } }
            _ = try await fixture.store.append(noise() + [Events.event("AbsenceRecorded")], to: tenant, metadata: StoreFixture.metadata)
            var iterator = EventSubscription(store: fixture.store, tenant: tenant, after: .start, filter: EventFilter(eventTypes: ["AbsenceRecorded"]),
                                             batchSize: 4, pollInterval: .milliseconds(200)).makeAsyncIterator()
            #expect(try await iterator.next()?.position == LogPosition(31))
            _ = try await fixture.store.append(noise() + [Events.event("AbsenceRecorded")], to: tenant, metadata: StoreFixture.metadata)
            #expect(try await iterator.next()?.position == LogPosition(62))
        }
    }
}
