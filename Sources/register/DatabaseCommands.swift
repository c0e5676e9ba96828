import ArgumentParser
import EventLog
import EventLogPostgres
import Projections
import RegisterServer

/// `register db …`: schema management.
struct DatabaseCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Manage the database schema.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply pending migrations.",
            discussion: """
                PostgreSQL: connects with --database-admin (the schema owner) and grants the application role \
                (--app-role, default register_app) exactly what the service needs. SQLite migrates itself when opened; \
                this opens it.
                """)

        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            try await reportingFailures {
                switch configuration.database {
                case .sqlite:
                    try await RegisterStorage.with(configuration, logger: logger) { _ in }
                    print("\(configuration.database): schema is current")
                case .postgres:
                    guard let admin = configuration.databaseAdmin else {
                        throw ValidationError("migrating PostgreSQL needs --database-admin (or REGISTER_DATABASE_ADMIN): the schema owner's URL")
                    }
                    for schema in [PostgresSchema.defaultName, RegisterStorage.accessLogSchema] {
                        let applied = try await PostgresMigrator(ownerURL: admin, applicationRole: configuration.applicationRole, schema: schema, logger: logger).migrate()
                        print(applied.isEmpty ? "\(admin) \(schema): schema is current" : "\(admin) \(schema): applied migrations \(applied.map(String.init).joined(separator: ", "))")
                    }
                    try await PostgresReadModelStore.migrate(ownerURL: admin, applicationRole: configuration.applicationRole,
                                                             projections: RegisterProjections.all, logger: logger)
                    print("\(admin) \(PostgresReadModelStore.schema): the tables of \(RegisterProjections.all.map { "\($0.name) v\($0.version)" }.joined(separator: ", ")) are in place")
                }
            }
        }
    }
}
