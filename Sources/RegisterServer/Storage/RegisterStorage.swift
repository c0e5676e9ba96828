import EventLog
import EventLogPostgres
import EventLogSQLite
import Logging
import ServiceLifecycle

/// The opened log and key ring, plus the long-lived services the store needs running (the PostgreSQL pool and
/// its notification listener).
public struct RegisterStorage: Sendable {
    public let store: any EventStore
    public let keyRing: KeyRing
    /// Services to run for as long as the store is used.
    public let services: [any Service]
    /// Checks the store is usable once its services run (schema version, connectivity).
    let readiness: @Sendable () async throws -> Void

    /// Opens the configured store: SQLite migrates itself; PostgreSQL is migrated first when the owner's URL is
    /// configured, and otherwise must already be at this build's schema version.
    public static func open(_ configuration: RegisterConfiguration, logger: Logger) async throws -> RegisterStorage {
        let masterKey = try configuration.loadMasterKey(logger: logger)
        switch configuration.database {
        case .sqlite(let path):
            let store = try SQLiteEventStore(path: path)
            logger.info("opened the embedded database", metadata: ["database": "sqlite:\(path)"])
            return RegisterStorage(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), services: [], readiness: {})
        case .postgres(let url):
            if let admin = configuration.databaseAdmin {
                let applied = try await PostgresMigrator(ownerURL: admin, applicationRole: configuration.applicationRole, logger: logger).migrate()
                logger.info("database schema is current", metadata: ["applied": "\(applied)"])
            }
            let store = try PostgresEventStore(url: url, logger: logger)
            logger.info("connecting to PostgreSQL", metadata: ["database": "\(url)"])
            return RegisterStorage(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), services: [store],
                                   readiness: { try await store.checkSchema() })
        }
    }

    /// Runs `body` with the storage's services running, then stops them (for one-shot commands).
    public func whileRunning<T>(_ body: (RegisterStorage) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask { try await service.run() }
            }
            defer { group.cancelAll() }
            try await readiness()
            return try await body(self)
        }
    }

    /// Opens the configured store and runs `body` with it.
    public static func with<T>(_ configuration: RegisterConfiguration, logger: Logger, _ body: (RegisterStorage) async throws -> T) async throws -> T {
        try await open(configuration, logger: logger).whileRunning(body)
    }
}
