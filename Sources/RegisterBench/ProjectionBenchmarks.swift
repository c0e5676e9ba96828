import EventLog
import Foundation
import Projections
import Register

// The projections' benchmarks: a rebuild of every read model of a tenant with a demo-like log, against the raw
// catch-up read rate of the same log in the same run; and the live lag from an append to its read-model
// visibility under a steady append rate.

/// Payloads with the JSON shape of the register's events (their memberwise initialisers are the domain's own),
/// so the projections decode them exactly as they decode what the `Registry` writes.
enum Mirror {
    struct PersonRegistered: Encodable {
        var kind: PersonKind
        var details: Personal<PersonDetails>
        var nonDisclosure: Bool
        var source: DataSource
    }

    struct RelationshipAdded: Encodable {
        var person: PersonID
        var relationship: RelationshipKind
        var source: DataSource
    }

    struct PlacementMade: Encodable {
        var placement: UUID
        var unit: String
        var arrangement: Arrangement
        var start: LocalDate
        var end: LocalDate?
        var serviceNeed: ServiceNeed
    }

    struct ConsentGiven: Encodable {
        var purpose: String
        var givenBy: PersonID?
        var validFrom: LocalDate
    }

    struct CareTimeBooked: Encodable {
        var date: LocalDate
        var start: LocalTime
        var end: LocalTime
    }

    struct Mark: Encodable {
        var date: LocalDate
        var time: LocalTime
        var unit: String
    }

    struct AbsenceMarked: Encodable {
        var date: LocalDate
        var kind: AbsenceKind
    }
}

/// A demo-like log, as `register demo` writes it but larger: families (a child, two guardians, their links, a
/// placement, a consent), then every operational day each child's booking, arrival and departure (or an absence).
/// Attendance dominates, as it does in a real register.
struct DemoLog {
    let tenant: TenantID
    let children: Int
    static let units = (1...20).map { "unit-\($0)" }
    static let start = try! LocalDate("2025-08-01")

    /// How many operational days give about `events` events with `children` children.
    static func days(for events: Int, children: Int) -> Int { max(1, (events - children * 7) / (children * 3)) }

    func appendFamilies(_ store: any EventStore, keyRing: KeyRing) async throws -> [(child: PersonID, unit: String)] {
        var placed: [(PersonID, String)] = []
        let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "director"))
        var batch: [ProposedEvent] = []
        for index in 0..<children {
            let child = PersonID.random(), mother = PersonID.random(), father = PersonID.random()
            let unit = Self.units[index % Self.units.count]
            func person(_ id: PersonID, _ kind: PersonKind, _ first: String) async throws -> ProposedEvent {
                let details = PersonDetails(name: PersonName(first: first, last: "Benchmark\(index)"), birthDate: try LocalDate(year: kind == .child ? 2022 : 1990, month: 1 + index % 12, day: 1 + index % 28),
                                            homeMunicipality: try MunicipalityCode("999"), motherTongue: index % 9 == 0 ? "sv" : "fi")
                let payload = try await keyRing.seal(Mirror.PersonRegistered(kind: kind, details: .clear(details, subject: id), nonDisclosure: index % 50 == 0, source: .demo),
                                                     subjects: [id], in: tenant)
                return Self.event(RegisterStreams.person(id), "PersonRegistered", payload, subjects: [id])
            }
            batch.append(try await person(child, .child, "Lapsi"))
            batch.append(try await person(mother, .guardian, "Äiti"))
            batch.append(try await person(father, .guardian, "Isä"))
            for guardian in [mother, father] {
                batch.append(Self.event(RegisterStreams.person(child), "RelationshipAdded",
                                           try Self.json(Mirror.RelationshipAdded(person: guardian, relationship: .guardian, source: .demo)), subjects: [child, guardian]))
            }
            batch.append(Self.event(RegisterStreams.person(child), "PlacementMade",
                                       try Self.json(Mirror.PlacementMade(placement: UUID(), unit: unit, arrangement: .municipal, start: Self.start, end: nil,
                                                                                   serviceNeed: ServiceNeed(hoursPerWeek: 35))), subjects: [child]))
            batch.append(Self.event(RegisterStreams.person(child), "ConsentGiven",
                                       try Self.json(Mirror.ConsentGiven(purpose: "photo-permission", givenBy: mother, validFrom: Self.start)), subjects: [child, mother]))
            placed.append((child, unit))
            if batch.count >= 700 {
                _ = try await store.append(batch, to: tenant, metadata: metadata)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { _ = try await store.append(batch, to: tenant, metadata: metadata) }
        return placed
    }

    /// One operational day of every child: about three events each.
    func day(_ number: Int, of placed: [(child: PersonID, unit: String)]) throws -> [ProposedEvent] {
        var date = Self.start.adding(days: number + 2 * (number / 5))  // five operational days a week
        if date.isoWeekday > 5 { date = date.adding(days: 8 - date.isoWeekday) }
        var events: [ProposedEvent] = []
        events.reserveCapacity(placed.count * 3)
        for (index, (child, unit)) in placed.enumerated() {
            let stream = RegisterStreams.attendance(child, month: date.monthKey)
            if (index + number) % 23 == 0 {
                events.append(Self.event(stream, "AbsenceMarked", try Self.json(Mirror.AbsenceMarked(date: date, kind: .sick)), subjects: [child]))
                continue
            }
            events.append(Self.event(stream, "CareTimeBooked",
                                        try Self.json(Mirror.CareTimeBooked(date: date, start: try LocalTime(minutes: 450), end: try LocalTime(minutes: 990))), subjects: [child]))
            events.append(Self.event(stream, "ArrivalRecorded",
                                        try Self.json(Mirror.Mark(date: date, time: try LocalTime(minutes: 450 + index % 60), unit: unit)), subjects: [child]))
            events.append(Self.event(stream, "DepartureRecorded",
                                        try Self.json(Mirror.Mark(date: date, time: try LocalTime(minutes: 930 + index % 60), unit: unit)), subjects: [child]))
        }
        return events
    }

    static func event(_ stream: StreamRef, _ type: String, _ payload: Data, subjects: [SubjectID]) -> ProposedEvent {
        ProposedEvent(stream: stream, eventType: type, subjects: subjects, payload: payload)
    }

    static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Writes the whole log: families, then `days` operational days, in appends of at most 1 000 events.
    func seed(_ store: any EventStore, keyRing: KeyRing, days: Int) async throws -> Int {
        let placed = try await appendFamilies(store, keyRing: keyRing)
        let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "staff"))
        for number in 0..<days {
            let events = try day(number, of: placed)
            for start in stride(from: 0, to: events.count, by: 1_000) {
                _ = try await store.append(Array(events[start..<min(start + 1_000, events.count)]), to: tenant, metadata: metadata)
            }
            if number % max(1, days / 10) == 0 { log("  seeded day \(number + 1) of \(days)") }
        }
        return Int(try await store.head(of: tenant).position.rawValue)
    }
}

struct ProjectionBenchmarks {
    let engine: ProjectionEngine
    let keyRing: KeyRing

    /// The raw catch-up read of the tenant's whole log (sealed as stored), in pages of 5 000: the floor of a rebuild.
    func rawRead(_ tenant: TenantID) async throws -> Measurement {
        var position = LogPosition.start
        var count = 0
        let seconds = try await Stopwatch.time {
            while true {
                let page = try await engine.log.read(tenant, after: position, through: nil, limit: 5_000, filter: .all)
                guard let last = page.last else { break }
                count += page.count
                position = last.position
            }
        }
        return Measurement(name: "raw catch-up read of the whole log", events: count, seconds: seconds)
    }

    /// Rebuilds every projection of the tenant, one after the other (as `register projections rebuild` does).
    func rebuildAll(_ tenant: TenantID) async throws -> [Measurement] {
        var results: [Measurement] = []
        let events = Int(try await engine.log.head(of: tenant).position.rawValue)
        var total = 0.0
        for projection in engine.projections {
            let cpu = CPUTime.used()
            let seconds = try await Stopwatch.time {
                let outcome = try await engine.rebuild(projection, tenant: tenant, restart: true)
                guard case .reached = outcome else { throw BenchmarkFailure("the rebuild of \(projection.name) stopped: \(outcome)") }
            }
            total += seconds
            results.append(Measurement(name: "rebuild \(projection.name) (log positions scanned)", events: events, seconds: seconds, cpuSeconds: CPUTime.used() - cpu))
        }
        results.append(Measurement(name: "rebuild of every read model (sum)", events: events, seconds: total))
        return results
    }

    /// Appends attendance at a steady rate while the projection service follows, and measures, for every append,
    /// the time from its commit to the moment the attendance read model's checkpoint covers it.
    func liveLag(_ tenant: TenantID, children: [(child: PersonID, unit: String)], eventsPerSecond: Int, seconds: Int, appendSize: Int = 10) async throws -> (p50: Double, p99: Double, max: Double, count: Int) {
        let service = ProjectionService(engine: engine, logger: engine.logger)
        let log = DemoLog(tenant: tenant, children: children.count)
        let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "staff"))
        var lags: [Double] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            defer { group.cancelAll() }
            // Let the service catch up with the seeded log first.
            let attendance = try engine.projection(named: "attendance")
            func checkpoint() async throws -> LogPosition {
                try await engine.readModels.states(of: tenant).first { $0.projection == attendance.name && $0.role == .active }?.position ?? .start
            }
            let head = try await engine.log.head(of: tenant).position
            while try await checkpoint() < head { try await Task.sleep(for: .milliseconds(50)) }

            let appendsPerSecond = eventsPerSecond / appendSize
            let interval = Duration.nanoseconds(1_000_000_000 / appendsPerSecond)
            var pending: [(LogPosition, ContinuousClock.Instant)] = []
            let pendingLock = PendingLog()
            // Appends start on a fixed schedule, each in its own task, as independent requests would: a slow commit
            // does not hold back the next append, so the rate stays steady (at most 64 in flight).
            let writer = Task {
                defer { Task { await pendingLock.finish() } }
                var day = 400
                var queue: [ProposedEvent] = []
                let clock = ContinuousClock()
                var next = clock.now
                let end = clock.now + .seconds(seconds)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var inFlight = 0
                    while clock.now < end {
                        if queue.count < appendSize {
                            queue += try log.day(day, of: children)
                            day += 1
                        }
                        let batch = Array(queue.prefix(appendSize))
                        queue.removeFirst(batch.count)
                        if inFlight >= 64 {
                            try await group.next()
                            inFlight -= 1
                        }
                        group.addTask {
                            let result = try await engine.log.append(batch, to: tenant, metadata: metadata)
                            await pendingLock.add(result.positions.last!, clock.now)
                        }
                        inFlight += 1
                        next = next + interval
                        if next > clock.now { try await Task.sleep(until: next, clock: clock) }
                    }
                    try await group.waitForAll()
                }
            }
            // The watcher: polls the checkpoint and stamps every append it now covers.
            while true {
                let (taken, done) = await pendingLock.take()
                if !taken.isEmpty {
                    pending += taken
                    pending.sort { $0.0 < $1.0 }
                }
                let covered = try await checkpoint()
                let now = ContinuousClock.now
                while let first = pending.first, first.0 <= covered {
                    let lag = now - first.1
                    lags.append(Double(lag.components.seconds) * 1_000 + Double(lag.components.attoseconds) / 1e15)
                    pending.removeFirst()
                }
                if done && pending.isEmpty { break }
                try await Task.sleep(for: .milliseconds(1))
            }
            try await writer.value
        }
        let sorted = lags.sorted()
        guard !sorted.isEmpty else { throw BenchmarkFailure("no append was measured") }
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)], sorted.last!, sorted.count)
    }
}

/// Appends handed from the writer to the watcher.
actor PendingLog {
    var items: [(LogPosition, ContinuousClock.Instant)] = []
    var done = false
    func add(_ position: LogPosition, _ at: ContinuousClock.Instant) { items.append((position, at)) }
    func finish() { done = true }
    func take() -> ([(LogPosition, ContinuousClock.Instant)], Bool) {
        defer { items.removeAll() }
        return (items, done)
    }
}
