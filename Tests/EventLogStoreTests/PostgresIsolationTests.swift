import EventLog
import EventLogPostgres
import Foundation
import TestSupport
import Testing

@Suite("PostgreSQL: tenant isolation and notifications", .enabled(if: PostgresTestServer.shouldRun, Comment(rawValue: PostgresTestServer.skipReason)))
struct PostgresIsolationTests {
    @Test("a session bound to tenant A cannot read or write tenant B's rows, even with hand-written SQL")
    func rowLevelSecurity() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            let a = Events.tenant(), b = Events.tenant()
            for tenant in [a, b] {
                let person = SyntheticPerson(1), guardian = SyntheticPerson(2)
                let payload = try await fixture.keyRing.seal(ChildRecorded.about(person, guardian: guardian), subjects: [person.subject, guardian.subject], in: tenant)
                _ = try await fixture.store.append([ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [person.subject, guardian.subject], payload: payload),
                                                    Events.event()], to: tenant, metadata: StoreFixture.metadata)
            }
            let database = try #require(fixture.postgres)
            try await SuperuserSession.run(database.appURL) { session in
                // Not bound to any tenant: nothing is visible.
                #expect(try await session.strings("SELECT count(*)::text FROM register.log_events") == ["0"])
                try await session.execute("SELECT set_config('register.tenant_id', '\(a)', false)")
                for table in ["log_events", "log_heads", "tenant_keys", "subject_keys"] {
                    #expect(try await session.strings("SELECT DISTINCT tenant_id FROM register.\(table)") == [a.rawValue], "\(table)")
                    #expect(try await session.strings("SELECT count(*)::text FROM register.\(table) WHERE tenant_id = '\(b)'") == ["0"], "\(table)")
                }
                // Moving B's head or appending a row as B is refused or finds nothing.
                #expect(try await session.strings("WITH m AS (UPDATE register.log_heads SET last_pos = last_pos WHERE tenant_id = '\(b)' RETURNING 1) SELECT count(*)::text FROM m") == ["0"])
                let insert = await #expect(throws: (any Error).self) {
                    try await session.execute("""
                        INSERT INTO register.log_events (tenant_id, pos, event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                            recorded_at_us, actor_user, actor_role, subjects, payload, prev_hash, hash)
                        VALUES ('\(b)', 99, gen_random_uuid(), 'child', 'x', 1, 'Forged', 1, 0, 'u', 'r', '{}', '\\x7b7d', '\\x00', '\\x00')
                        """)
                }
                #expect(String(reflecting: insert).contains("row-level security"))
            }
            // The tenant registry is shared by design (slugs only) and holds no personal data.
            #expect(try await fixture.store.read(b).count == 2)
            #expect(try await fixture.store.verifyChain(of: b).isIntact)
        }
    }

    @Test("the service refuses to run as a role that could bypass row-level security or the append-only rules")
    func refusesPrivilegedRoles() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            let database = try #require(fixture.postgres)
            for (url, reason) in [(database.superuser, "superuser"), (database.ownerURL, "owns tables")] {
                let store = try PostgresEventStore(url: url, maximumConnections: 2, logger: TestLogging.logger)
                let error = await #expect(throws: EventLogError.self) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await store.run() }
                        defer { group.cancelAll() }
                        try await store.checkSchema()
                    }
                }
                #expect(error?.code == .schemaMismatch)
                #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
            }
            // Nor will the migrator grant the application's rights to the owner itself.
            let migrator = try PostgresMigrator(ownerURL: database.ownerURL, applicationRole: PostgresTestServer.ownerRole, logger: TestLogging.logger)
            let refused = await #expect(throws: EventLogError.self) { try await migrator.migrate() }
            #expect(refused?.message.contains("is the schema owner") == true)
        }
    }

    @Test("the application role owns nothing and cannot bypass row-level security")
    func leastPrivilege() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            let database = try #require(fixture.postgres)
            try await SuperuserSession.run(database.superuser) { session in
                let attributes = try await session.strings("SELECT rolsuper::text || rolbypassrls::text FROM pg_roles WHERE rolname = '\(PostgresTestServer.appRole)'")
                #expect(attributes == ["falsefalse"])
                let owned = try await session.strings("""
                    SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'register' AND pg_get_userbyid(c.relowner) = '\(PostgresTestServer.appRole)'
                    """)
                #expect(owned.isEmpty)
                let forced = try await session.strings("""
                    SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'register' AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity ORDER BY 1
                    """)
                #expect(forced == ["log_events", "log_heads", "subject_keys", "tenant_keys"])
            }
        }
    }

    @Test("an append in another process wakes a subscriber through LISTEN/NOTIFY")
    func notificationsAcrossProcesses() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            let tenant = Events.tenant()
            // A second store on the same database stands in for another server process.
            let other = try PostgresEventStore(url: try #require(fixture.postgres).appURL, maximumConnections: 2, logger: TestLogging.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await other.run() }
                defer { group.cancelAll() }
                let clock = ContinuousClock()
                let received = Task {
                    var iterator = EventSubscription(store: fixture.store, tenant: tenant, after: .start, pollInterval: .seconds(60)).makeAsyncIterator()
                    return try await iterator.next()?.position
                }
                // Let the subscriber reach its wait, then append elsewhere: only NOTIFY can wake it before the 60 s poll.
                try await Task.sleep(for: .milliseconds(500))
                let started = clock.now
                _ = try await other.append([Events.event()], to: tenant, metadata: StoreFixture.metadata)
                #expect(try await received.value == LogPosition(1))
                #expect(clock.now - started < .seconds(20))
            }
        }
    }

    @Test("a notification names the appended event types: a subscriber of other types is not woken by it")
    func typedNotifications() async throws {
        try await StoreFixture.with(.postgres) { fixture in
            let tenant = Events.tenant()
            let other = try PostgresEventStore(url: try #require(fixture.postgres).appURL, maximumConnections: 2, logger: TestLogging.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await other.run() }
                defer { group.cancelAll() }
                let wakeups = fixture.store.wakeups
                let arrivals: Set<String> = ["ArrivalRecorded"]
                // The listener is connected once a notification of this tenant arrives at all.
                let any = wakeups.generation(of: tenant)
                _ = try await other.append([Events.event("AbsenceRecorded")], to: tenant, metadata: StoreFixture.metadata)
                let deadline = ContinuousClock.now + .seconds(20)
                while wakeups.generation(of: tenant) == any, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(wakeups.generation(of: tenant) != any, "no notification arrived")

                let seen = wakeups.generation(of: tenant, interest: arrivals)
                let all = wakeups.generation(of: tenant)
                _ = try await other.append([Events.event("AbsenceRecorded"), Events.event("DataDisclosed")], to: tenant, metadata: StoreFixture.metadata)
                while wakeups.generation(of: tenant) == all, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(wakeups.generation(of: tenant) != all, "no notification arrived")
                #expect(wakeups.generation(of: tenant, interest: arrivals) == seen, "woken by events of other types")

                _ = try await other.append([Events.event("ArrivalRecorded")], to: tenant, metadata: StoreFixture.metadata)
                await wakeups.wait(for: tenant, after: seen, interest: arrivals, timeout: .seconds(20))
                #expect(wakeups.generation(of: tenant, interest: arrivals) != seen, "not woken by its own type")
            }
        }
    }
}
