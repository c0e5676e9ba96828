import EventLog
import EventLogPostgres
import EventLogSQLite
import Logging
import Projections
import Register
import ServiceLifecycle

/// The opened register log, its key ring and the tenants' access logs, plus the long-lived services the stores need
/// running (PostgreSQL pools and notification listeners).
public struct RegisterStorage: Sendable {
    public let store: any EventStore
    public let keyRing: KeyRing
    /// The tenants' access logs (O14), in a log store of their own.
    public let accessLog: AccessLog
    /// The read models' tables and checkpoints: `register-readmodels.sqlite` beside the log, or the schema
    /// `register_readmodels` of the same PostgreSQL database.
    public let readModels: any ReadModelStore
    let logger: Logger
    /// Services to run for as long as the stores are used.
    public let services: [any Service]
    /// Checks the logs are usable once their services run (schema versions, connectivity, least privilege). The read
    /// models' tables are checked by the projection service as it starts (and by `register projections rebuild`), so
    /// one-shot commands that never touch them do not need them.
    let readiness: @Sendable () async throws -> Void

    /// The access log's database next to the register's: `register.sqlite` → `register-access.sqlite`, and on
    /// PostgreSQL the schema `register_access` of the same database.
    public static let accessLogSchema = "register_access"

    static func accessLogPath(for path: String) -> String {
        path.hasSuffix(".sqlite") ? String(path.dropLast(".sqlite".count)) + "-access.sqlite" : path + "-access"
    }

    /// Opens the configured stores: SQLite migrates itself; PostgreSQL is migrated first when the owner's URL is
    /// configured, and otherwise must already be at this build's schema version.
    public static func open(_ configuration: RegisterConfiguration, logger: Logger) async throws -> RegisterStorage {
        let masterKey = try configuration.loadMasterKey(logger: logger)
        switch configuration.database {
        case .sqlite(let path):
            let store = try SQLiteEventStore(path: path)
            let accessStore = try SQLiteEventStore(path: accessLogPath(for: path))
            let readModels = try SQLiteReadModelStore(path: SQLiteReadModelStore.path(besideLog: path))
            logger.info("opened the embedded database", metadata: ["database": "sqlite:\(path)", "accessLog": "sqlite:\(accessLogPath(for: path))",
                                                                   "readModels": "sqlite:\(readModels.path)"])
            return RegisterStorage(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), accessLog: AccessLog(store: accessStore),
                                   readModels: readModels, logger: logger, services: [], readiness: {})
        case .postgres(let url):
            if let admin = configuration.databaseAdmin {
                try await migrate(ownerURL: admin, applicationRole: configuration.applicationRole, logger: logger)
            }
            let store = try PostgresEventStore(url: url, logger: logger)
            let accessStore = try PostgresEventStore(url: url, schema: accessLogSchema, maximumConnections: 8, logger: logger)
            let readModels = try PostgresReadModelStore(url: url, maximumConnections: 8, logger: logger)
            logger.info("connecting to PostgreSQL", metadata: ["database": "\(url)"])
            return RegisterStorage(store: store, keyRing: KeyRing(masterKey: masterKey, store: store), accessLog: AccessLog(store: accessStore),
                                   readModels: readModels, logger: logger, services: [store, accessStore, readModels],
                                   readiness: {
                                       try await store.checkSchema()
                                       try await accessStore.checkSchema()
                                   })
        }
    }

    /// Migrates every schema of a PostgreSQL database as its owner: the log, the access log and the read models.
    public static func migrate(ownerURL admin: PostgresConnectionURL, applicationRole: String, logger: Logger) async throws {
        for schema in [PostgresSchema.defaultName, accessLogSchema] {
            let applied = try await PostgresMigrator(ownerURL: admin, applicationRole: applicationRole, schema: schema, logger: logger).migrate()
            logger.info("database schema is current", metadata: ["schema": "\(schema)", "applied": "\(applied)"])
        }
        try await PostgresReadModelStore.migrate(ownerURL: admin, applicationRole: applicationRole, projections: RegisterProjections.all, logger: logger)
        logger.info("read-model tables are current", metadata: ["schema": "\(PostgresReadModelStore.schema)"])
    }

    /// The projection engine over this storage's log and read models.
    public var projections: ProjectionEngine {
        ProjectionEngine(log: store, readModels: readModels, projections: RegisterProjections.all, logger: logger)
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

    /// Opens the configured stores and runs `body` with them.
    public static func with<T>(_ configuration: RegisterConfiguration, logger: Logger, _ body: (RegisterStorage) async throws -> T) async throws -> T {
        try await open(configuration, logger: logger).whileRunning(body)
    }
}
