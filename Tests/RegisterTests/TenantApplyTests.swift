import EventLog
import EventLogSQLite
import Foundation
import Register
import Testing

@Suite("Applying tenant configurations")
struct TenantApplyTests {
    static let operatorActor = try! Actor(userID: "op-1", role: "platform-operator")

    static func withStore(_ body: (SQLiteEventStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-tenants-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteEventStore(path: directory.appendingPathComponent("register.sqlite").path)
        try await body(store)
        try store.close()
    }

    @Test("apply records the configuration with who and what changed; an unchanged file records nothing")
    func applyRecordsChanges() async throws {
        try await Self.withStore { store in
            let configurations = TenantConfigurations(store: store)
            var poco = try TenantFile.load(TenantFileTests.tenantsDirectory.appendingPathComponent("poco-sipoo.yaml"))
            let metadata = EventMetadata(actor: Self.operatorActor)

            #expect(try await configurations.apply(poco, file: "poco-sipoo.yaml", metadata: metadata) == ["(all)"])
            #expect(try await configurations.apply(poco, file: "poco-sipoo.yaml", metadata: metadata).isEmpty)

            poco.units[0].address.street = "Uusi katu 1"
            poco.roles.reverse()
            let changes = try await configurations.apply(poco, file: "poco-sipoo.yaml", metadata: metadata)
            #expect(changes == ["units[poco-joensuunraitti].address.street"], "reordering roles is no change")

            let events = try await store.readStream(TenantConfigured.stream(of: poco.id), of: poco.id)
            #expect(events.count == 2)
            #expect(events.allSatisfy { $0.eventType == "TenantConfigured" && $0.actor == Self.operatorActor })
            let (current, version) = try await configurations.current(poco.id)
            #expect(current == poco)
            #expect(version == 2)
        }
    }
}
