import EventLog
import EventLogSQLite
import Foundation

/// Where the time of a batched append goes: sealing, hashing, and the store's own work on pre-sealed events.
/// Printed with `--breakdown`; the numbers explain the ratios in the report.
struct Breakdown {
    let workload: Workload

    func run(store: any EventStore, keyRing: KeyRing, events count: Int) async throws -> [Measurement] {
        let tenant = try TenantID("bench-breakdown")
        var sealed: [ProposedEvent] = []
        let sealing = try await Stopwatch.time {
            sealed = try await workload.batch(0..<count, tenant: tenant, keyRing: keyRing)
        }
        let sample = RecordedEvent(tenant: tenant, position: LogPosition(1), eventID: UUID(), stream: sealed[0].stream, streamVersion: 1,
                                   eventType: sealed[0].eventType, schemaVersion: 1, recordedAt: .now(), actor: .system, correlationID: nil,
                                   causationID: nil, subjects: sealed[0].subjects, payload: sealed[0].payload, previousHash: .genesis, hash: .genesis)
        var digest = EventDigest.genesis
        let hashing = await Stopwatch.time {
            for index in 0..<count {
                var event = sample
                event.position = LogPosition(Int64(index + 1))
                event.previousHash = digest
                digest = HashChain.hash(of: event)
            }
        }
        let guarding = await Stopwatch.time {
            for event in sealed { _ = event.payload.withUnsafeBytes { PlaintextGuard.containsIdentityCode($0.bindMemory(to: UInt8.self)) } }
        }
        let appending = try await Stopwatch.time {
            var start = 0
            while start < count {
                _ = try await store.append(Array(sealed[start..<min(start + 1_000, count)]), to: tenant, metadata: SQLiteBenchmarks.metadata)
                start += 1_000
            }
        }
        let payloadBytes = sealed.map(\.payload.count).reduce(0, +) / max(1, count)
        log("  average sealed payload: \(payloadBytes) bytes")
        return [
            Measurement(name: "sealing (KeyRing.seal: JSON + AES-GCM per field)", events: count, seconds: sealing),
            Measurement(name: "hashing (HashChain.hash)", events: count, seconds: hashing),
            Measurement(name: "plaintext guard", events: count, seconds: guarding),
            Measurement(name: "append of pre-sealed batches of 1 000", events: count, seconds: appending),
        ]
    }
}
