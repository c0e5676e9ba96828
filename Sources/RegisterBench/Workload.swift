import EventLog
import Foundation

/// An attendance record as the domain will write it: ~300 bytes of JSON with two sealed personal fields.
struct AttendanceRecorded: Codable {
    var child: SubjectID
    var childName: Personal<String>
    var note: Personal<String>
    var unit: String
    var date: String
    var arrivedAt: String
    var leftAt: String
    var bookedHours: Double
}

/// Generates the benchmark's events: children spread over units, sealed under their own keys.
struct Workload: Sendable {
    let children: [SubjectID]
    let names: [String]
    /// Consecutive events of one child: 1 spreads a batch of 1 000 over 1 000 streams (the worst case for the
    /// stream index), 40 puts a batch on 25 streams (a unit's month of arrivals and departures).
    let eventsPerStream: Int

    init(children count: Int = 2_000, eventsPerStream: Int = 1) {
        children = (0..<count).map { _ in SubjectID.random() }
        names = (0..<count).map { "Lapsi\($0) Sukunimi\($0 % 97)" }
        self.eventsPerStream = eventsPerStream
    }

    /// The same children, another spread over streams.
    func with(eventsPerStream: Int) -> Workload {
        Workload(children: children, names: names, eventsPerStream: eventsPerStream)
    }

    private init(children: [SubjectID], names: [String], eventsPerStream: Int) {
        self.children = children
        self.names = names
        self.eventsPerStream = eventsPerStream
    }

    func payload(_ index: Int) -> AttendanceRecorded {
        let child = (index / eventsPerStream) % children.count
        let subject = children[child]
        return AttendanceRecorded(child: subject, childName: .clear(names[child], subject: subject), note: .clear("Hoitoaika 7-16, päiväunet", subject: subject),
                                  unit: "unit-\(child % 40)", date: "2026-11-\(10 + index % 18)", arrivedAt: "07:\(10 + index % 50)",
                                  leftAt: "16:\(10 + index % 40)", bookedHours: 8.5)
    }

    /// A sealed, ready-to-append event (sealing happens here, so callers that time it time the sealing too).
    func event(_ index: Int, tenant: TenantID, keyRing: KeyRing) async throws -> ProposedEvent {
        try await batch(index..<index + 1, tenant: tenant, keyRing: keyRing)[0]
    }

    /// `count` sealed batches of 1 000 events from index `start`, made before any clock starts.
    func sealedBatches(_ count: Int, from start: Int, tenant: TenantID, keyRing: KeyRing) async throws -> [[ProposedEvent]] {
        var batches: [[ProposedEvent]] = []
        for index in 0..<count {
            batches.append(try await batch(start + index * 1_000..<start + (index + 1) * 1_000, tenant: tenant, keyRing: keyRing))
        }
        return batches
    }

    /// Sealed events for a range of indexes, as the domain seals a command's events: keys loaded once per batch.
    func batch(_ range: Range<Int>, tenant: TenantID, keyRing: KeyRing) async throws -> [ProposedEvent] {
        let payloads = range.map(payload)
        let sealed = try await keyRing.seal(payloads, subjects: payloads.map(\.child), in: tenant)
        return try zip(payloads, sealed).map { payload, bytes in
            ProposedEvent(stream: try StreamRef(type: "child", id: payload.child.description), eventType: "AttendanceRecorded",
                          subjects: [payload.child], payload: bytes)
        }
    }
}

/// The raw-baseline form of an event: the same column values our store writes, prepared in advance.
struct RawRow: Sendable {
    let tenant: String
    let position: Int64
    let eventID: UUID
    let streamType: String
    let streamID: String
    let streamVersion: Int64
    let eventType: String
    let recordedAt: Int64
    let subjects: [SubjectID]
    let payload: Data
    let previousHash: Data
    let hash: Data

    /// Raw rows for a round of sealed batches, positioned after earlier rounds' rows, with each stream's versions
    /// counted up across the round (after `round * 1 000 000`), so a table with the log's unique keys accepts them.
    static func batches(from sealed: [[ProposedEvent]], tenant: String, round: Int) -> [[RawRow]] {
        var versions: [StreamRef: Int64] = [:]
        return sealed.enumerated().map { index, events in
            let numbered = events.map { event -> Int64 in
                let version = (versions[event.stream] ?? Int64(round * 1_000_000)) + 1
                versions[event.stream] = version
                return version
            }
            return rows(from: events, tenant: tenant, start: Int64(round * sealed.count + index) * 1_000, versions: numbered)
        }
    }

    /// Rows shaped like `events` (already sealed), with positions from `start` and random hashes.
    static func rows(from events: [ProposedEvent], tenant: String, start: Int64, versions: [Int64]? = nil) -> [RawRow] {
        events.enumerated().map { offset, event in
            RawRow(tenant: tenant, position: start + Int64(offset), eventID: event.eventID, streamType: event.stream.type, streamID: event.stream.id,
                   streamVersion: versions?[offset] ?? Int64(offset + 1), eventType: event.eventType, recordedAt: Timestamp.now().rawValue, subjects: event.subjects,
                   payload: event.payload, previousHash: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
                   hash: Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
        }
    }
}

/// One timed result.
struct Measurement: Codable, Sendable {
    var name: String
    var events: Int
    var seconds: Double
    /// CPU time the measured client spent (user + system), when measured.
    var cpuSeconds: Double?
    var eventsPerSecond: Double { Double(events) / seconds }
}

enum CPUTime {
    /// User + system CPU seconds of this process, or of its waited-for children.
    static func used(children: Bool = false) -> Double {
        var usage = rusage()
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

enum Stopwatch {
    static func time(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

extension Array where Element == Measurement {
    /// The median-rate measurement of several rounds: the machine is noisy, a single round can mislead.
    var median: Measurement {
        let sorted = self.sorted { $0.eventsPerSecond < $1.eventsPerSecond }
        return sorted[sorted.count / 2]
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
