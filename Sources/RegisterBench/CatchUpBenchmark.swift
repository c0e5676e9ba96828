import EventLog
import Foundation

/// Reading one tenant's whole log from the start, as a projection rebuild or a new feed consumer does.
struct CatchUpBenchmark {
    let workload: Workload

    /// Appends `count` sealed events to `tenant` in batches of 1 000. Only the appends are timed: each batch is sealed
    /// first (sealing is measured on its own), as the peer's events are built before its clock runs.
    func seed(_ store: any EventStore, keyRing: KeyRing, tenant: TenantID, count: Int) async throws -> Measurement {
        var next = 0
        var seconds = 0.0
        let progressStep = max(count / 10, 1_000)
        while next < count {
            let size = min(1_000, count - next)
            let events = try await workload.batch(next..<next + size, tenant: tenant, keyRing: keyRing)
            seconds += try await Stopwatch.time {
                _ = try await store.append(events, to: tenant, metadata: SQLiteBenchmarks.metadata)
            }
            next += size
            if next % progressStep == 0 { log("  seeded \(next) of \(count)") }
        }
        return Measurement(name: "append in batches of 1 000 (the read log's seeding)", events: count, seconds: seconds)
    }

    /// Reads everything after position 0 in pages; with `open`, also decodes each payload and opens its sealed fields.
    func read(_ store: any EventStore, keyRing: KeyRing, tenant: TenantID, open: Bool, pageSize: Int = 5_000) async throws -> Measurement {
        var position = LogPosition.start
        var count = 0
        var opened = 0
        let seconds = try await Stopwatch.time {
            while true {
                let page = try await store.read(tenant, after: position, through: nil, limit: pageSize, filter: .all)
                guard let last = page.last else { break }
                if open {
                    for payload in try await keyRing.open(AttendanceRecorded.self, from: page) where payload.childName.value != nil {
                        opened += 1
                    }
                }
                count += page.count
                position = last.position
            }
        }
        if open, opened != count { throw BenchmarkFailure("opened \(opened) of \(count) payloads") }
        return Measurement(name: open ? "catch-up read, opening sealed fields" : "catch-up read, sealed as stored", events: count, seconds: seconds)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
