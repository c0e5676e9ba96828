import EventLog
import EventLogPostgres
import EventLogSQLite
import Foundation
import TestSupport
import Testing

/// The stores the conformance suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue == "sqlite" ? "SQLite" : "PostgreSQL" }

    /// SQLite always; PostgreSQL when a server is configured, and always under CI.
    static var tested: [StoreKind] { PostgresTestServer.shouldRun ? [.sqlite, .postgres] : [.sqlite] }
}

/// A fresh store of one kind, with a key ring under a random master key, and back-door access for tests that act
/// as an attacker or an administrator.
struct StoreFixture: Sendable {
    let kind: StoreKind
    let store: any EventStore
    let keyRing: KeyRing
    /// The SQLite database file (SQLite only).
    let sqlitePath: String?
    /// The test's database (PostgreSQL only).
    let postgres: PostgresTestDatabase?

    /// A second store on the same database, as another process would open it; runs `body` with it.
    func withSecondStore<T>(_ body: (any EventStore) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let other = try SQLiteEventStore(path: try #require(sqlitePath))
            let result = try await body(other)
            try other.close()
            return result
        case .postgres:
            let other = try PostgresEventStore(url: try #require(postgres).appURL, maximumConnections: 2, logger: TestLogging.logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await other.run() }
                defer { group.cancelAll() }
                return try await body(other)
            }
        }
    }

    /// A second log store beside this one, as the access log is kept: another SQLite file, or another schema of
    /// the same PostgreSQL database.
    func withSiblingStore<T>(schema: String = "register_access", _ body: (any EventStore) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let path = try #require(sqlitePath).replacingOccurrences(of: ".sqlite", with: "-access.sqlite")
            let sibling = try SQLiteEventStore(path: path)
            let result = try await body(sibling)
            try sibling.close()
            return result
        case .postgres:
            let database = try #require(postgres)
            try await PostgresMigrator(ownerURL: database.ownerURL, applicationRole: PostgresTestServer.appRole, schema: schema, logger: TestLogging.logger).migrate()
            let sibling = try PostgresEventStore(url: database.appURL, schema: schema, maximumConnections: 4, logger: TestLogging.logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await sibling.run() }
                defer { group.cancelAll() }
                try await sibling.checkSchema()
                return try await body(sibling)
            }
        }
    }

    static let actor = try! Actor(userID: "u-test", role: "registrar")
    static let metadata = EventMetadata(actor: actor, correlationID: UUID())

    /// Runs `body` with a new, empty store of `kind`, then removes it.
    static func with<T>(_ kind: StoreKind, poolSize: Int = 8, masterKey: MasterKey = .generate(), _ body: (StoreFixture) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-test-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("register.sqlite").path
            let store = try SQLiteEventStore(path: path)
            let fixture = StoreFixture(kind: kind, store: store, keyRing: KeyRing(masterKey: masterKey, store: store), sqlitePath: path, postgres: nil)
            let result = try await body(fixture)
            try store.close()
            return result
        case .postgres:
            let database = try await PostgresTestServer.createDatabase()
            let store = try PostgresEventStore(url: database.appURL, maximumConnections: poolSize, logger: TestLogging.logger)
            let fixture = StoreFixture(kind: kind, store: store, keyRing: KeyRing(masterKey: masterKey, store: store), sqlitePath: nil, postgres: database)
            do {
                let result = try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await store.run() }
                    defer { group.cancelAll() }
                    try await store.checkSchema()
                    return try await body(fixture)
                }
                try await database.drop()
                return result
            } catch {
                try? await database.drop()
                throw error
            }
        }
    }
}

/// Builders for test events.
enum Events {
    static func tenant(_ name: String = "t-\(UUID().uuidString.prefix(8).lowercased())") -> TenantID {
        try! TenantID(name)
    }

    static func stream(_ type: String = "child", _ id: String = UUID().uuidString.lowercased()) -> StreamRef {
        try! StreamRef(type: type, id: id)
    }

    /// A non-personal payload of roughly `size` bytes.
    static func payload(_ note: String = "note", size: Int = 0) -> Data {
        let padding = String(repeating: "x", count: max(0, size - 30))
        return Data(#"{"note":"\#(note)","pad":"\#(padding)"}"#.utf8)
    }

    static func event(_ type: String = "ChildNoted", stream: StreamRef = stream(), note: String = "note", id: UUID = UUID()) -> ProposedEvent {
        ProposedEvent(eventID: id, stream: stream, eventType: type, payload: payload(note))
    }
}
