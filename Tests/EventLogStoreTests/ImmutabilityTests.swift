import EventLog
import EventLogPostgres
import Foundation
import EventLogSQLite
import GRDB
import TestSupport
import Testing

@Suite("Conformance: immutability and tamper evidence")
struct ImmutabilityTests {
    @Test("the database refuses to change or remove logged events", arguments: StoreKind.tested)
    func databaseRefusesChanges(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            _ = try await fixture.store.append([Events.event(), Events.event()], to: tenant, metadata: StoreFixture.metadata)
            switch kind {
            case .sqlite:
                // Any connection to the file, not only the store's, meets the triggers.
                let queue = try DatabaseQueue(path: try #require(fixture.sqlitePath))
                for sql in ["UPDATE log_events SET payload = x'7b7d' WHERE pos = 1", "DELETE FROM log_events WHERE pos = 2",
                            "UPDATE log_heads SET last_pos = 0", "DELETE FROM tenants"] {
                    let error = #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: sql) } }
                    #expect(error?.message?.hasPrefix("register:") == true, "\(sql)")
                }
                try queue.close()
            case .postgres:
                let database = try #require(fixture.postgres)
                // The application role has no UPDATE, DELETE or TRUNCATE privilege on the log …
                for sql in ["UPDATE register.log_events SET payload = '\\x7b7d' WHERE pos = 1", "DELETE FROM register.log_events",
                            "TRUNCATE register.log_events", "DELETE FROM register.tenant_keys"] {
                    let error = await #expect(throws: (any Error).self) {
                        try await SuperuserSession.run(database.appURL) { session in
                            try await session.execute("SELECT set_config('register.tenant_id', '\(tenant)', false)")
                            try await session.execute(sql)
                        }
                    }
                    #expect(String(reflecting: error).contains("permission denied"), "\(sql)")
                }
                // … and the triggers refuse it to the owner as well.
                for sql in ["UPDATE register.log_events SET payload = '\\x7b7d' WHERE pos = 1", "DELETE FROM register.log_events", "TRUNCATE register.log_events"] {
                    let error = await #expect(throws: (any Error).self) {
                        try await SuperuserSession.run(database.ownerURL) { session in
                            try await session.execute("SELECT set_config('register.tenant_id', '\(tenant)', false)")
                            try await session.execute(sql)
                        }
                    }
                    #expect(String(reflecting: error).contains("append-only"), "\(sql)")
                }
            }
            #expect(try await fixture.store.read(tenant).count == 2)
            #expect(try await fixture.store.verifyChain(of: tenant).isIntact)
        }
    }

    @Test("tampering with a stored row is detected at its position", arguments: StoreKind.tested)
    func tamperingIsDetected(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant(), bystander = Events.tenant()
            _ = try await fixture.store.append((0..<9).map { _ in Events.event() }, to: tenant, metadata: StoreFixture.metadata)
            _ = try await fixture.store.append([Events.event()], to: bystander, metadata: StoreFixture.metadata)
            #expect(try await fixture.store.verifyChain(of: tenant).isIntact)

            try await Tampering.run(fixture, "UPDATE %log SET payload = %bytes WHERE tenant_id = '\(tenant)' AND pos = 6", bytes: Data(#"{"note":"forged"}"#.utf8))
            let result = try await fixture.store.verifyChain(of: tenant)
            #expect(result.failure?.position == LogPosition(6))
            #expect(result.checked == 5)
            #expect(try await fixture.store.verifyChain(of: bystander).isIntact)

            // Removing the newest events (the head row still says 4) is caught too.
            let truncated = Events.tenant()
            _ = try await fixture.store.append((0..<4).map { _ in Events.event() }, to: truncated, metadata: StoreFixture.metadata)
            try await Tampering.run(fixture, "DELETE FROM %log WHERE tenant_id = '\(truncated)' AND pos >= 3")
            let cut = try await fixture.store.verifyChain(of: truncated)
            #expect(cut.failure?.position == LogPosition(3))
            #expect(cut.failure?.reason.contains("missing") == true)
        }
    }

    @Test("a signed checkpoint of the head verifies, and stops verifying once history is rewritten", arguments: StoreKind.tested)
    func signedCheckpoints(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            _ = try await fixture.store.append((0..<4).map { _ in Events.event() }, to: tenant, metadata: StoreFixture.metadata)
            let key = try fixture.keyRing.masterKey.checkpointSigningKey()
            let checkpoint = try SignedCheckpoint.sign(try await fixture.store.head(of: tenant), of: tenant, with: key)
            #expect(try await fixture.store.verify(checkpoint) == nil)
            _ = try await fixture.store.append([Events.event()], to: tenant, metadata: StoreFixture.metadata)
            #expect(try await fixture.store.verify(checkpoint) == nil, "a later append does not invalidate an earlier checkpoint")

            let stranger = try SignedCheckpoint.sign(try await fixture.store.head(of: tenant), of: tenant, with: .init())
            #expect(try await fixture.store.verify(stranger, expectedPublicKey: checkpoint.publicKey) != nil)

            try await Tampering.run(fixture, "UPDATE %log SET hash = %bytes WHERE tenant_id = '\(tenant)' AND pos = 4", bytes: Data(repeating: 7, count: 32))
            let problem = try await fixture.store.verify(checkpoint)
            #expect(problem?.contains("different hash at position 4") == true)
        }
    }
}

/// Changes stored rows the way an attacker with database superuser rights would: behind the triggers' back.
enum Tampering {
    /// `%log` stands for the log table, `%bytes` for `bytes` as a literal.
    static func run(_ fixture: StoreFixture, _ template: String, bytes: Data = Data()) async throws {
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        switch fixture.kind {
        case .sqlite:
            let sql = template.replacingOccurrences(of: "%log", with: "log_events").replacingOccurrences(of: "%bytes", with: "x'\(hex)'")
            let queue = try DatabaseQueue(path: try #require(fixture.sqlitePath))
            try await queue.write { db in
                try db.execute(sql: "DROP TRIGGER IF EXISTS log_events_no_update; DROP TRIGGER IF EXISTS log_events_no_delete")
                try db.execute(sql: sql)
            }
            try queue.close()
        case .postgres:
            let sql = template.replacingOccurrences(of: "%log", with: "register.log_events").replacingOccurrences(of: "%bytes", with: "'\\x\(hex)'::bytea")
            try await SuperuserSession.run(try #require(fixture.postgres).superuser) { session in
                // A superuser bypasses row-level security and can switch triggers off for its session.
                try await session.execute("SET session_replication_role = replica")
                try await session.execute(sql)
            }
        }
    }
}

@Suite("SQLite: durability settings")
struct SQLiteDurabilityTests {
    /// GRDB puts WAL databases on synchronous=NORMAL after opening; the store must put its writer back on FULL,
    /// or a commit that returned could be lost in a power cut.
    @Test("the writer commits with synchronous=FULL")
    func synchronousFull() async throws {
        try await StoreFixture.with(.sqlite) { fixture in
            let store = try #require(fixture.store as? SQLiteEventStore)
            #expect(try await store.synchronousMode() == 2)
        }
    }

    /// Reads go through a memory map of the file (a feed's reads copied every page in otherwise, docs/benchmarks.md).
    @Test("connections read the file through a memory map")
    func memoryMapped() async throws {
        try await StoreFixture.with(.sqlite) { fixture in
            let store = try #require(fixture.store as? SQLiteEventStore)
            #expect(try await store.mappedSize() > 0)
        }
    }
}

@Suite("SQLite: WAL checkpoints")
struct SQLiteCheckpointTests {
    /// The store replaces SQLite's automatic checkpoint with its own (in the background, the writer finishing the tail).
    /// If that never checkpointed, or never let the WAL start over, the WAL file would grow with every commit: these
    /// 3 000 commits write well over 10 000 frames (40 MB) when nothing is copied back.
    @Test("the WAL stays short under a stream of commits, and every commit is kept")
    func walStaysShort() async throws {
        try await StoreFixture.with(.sqlite) { fixture in
            let tenant = Events.tenant()
            let stream = Events.stream()
            for round in 0..<3_000 {
                _ = try await fixture.store.append([Events.event(stream: stream, note: "n\(round)")], to: tenant, metadata: StoreFixture.metadata)
            }
            let wal = try #require(fixture.sqlitePath) + "-wal"
            let size = try #require(try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int)
            #expect(size < 16 << 20, "the WAL grew to \(size >> 20) MB")
            #expect(try await fixture.store.readStream(stream, of: tenant).count == 3_000)
            try await fixture.withSecondStore { other async throws in
                #expect(try await other.head(of: tenant).position.rawValue == 3_000)
            }
        }
    }
}
