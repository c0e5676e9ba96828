import EventLog
import EventLogPostgres
import Projections
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server `ops/test` starts, reached through `REGISTER_TEST_POSTGRES_URL` (a superuser on loopback).
///
/// Without the URL the PostgreSQL cases are left out and `PostgresAvailability` reports them as skipped;
/// under CI (`CI=true`) they always run, so a missing server fails the run instead of passing it quietly.
public enum PostgresTestServer {
    public static let urlText = ProcessInfo.processInfo.environment["REGISTER_TEST_POSTGRES_URL"]
    public static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    public static var shouldRun: Bool { urlText != nil || isCI }
    public static let skipReason = "PostgreSQL suites skipped: REGISTER_TEST_POSTGRES_URL is not set (ops/test starts a server and sets it)"

    public static let ownerRole = "register_owner"
    public static let appRole = "register_app"

    public static func superuserURL() throws -> PostgresConnectionURL {
        guard let urlText else {
            throw EventLogError(.invalidArgument, "REGISTER_TEST_POSTGRES_URL is not set but CI=true: PostgreSQL tests must run under CI (use ops/test)")
        }
        return try PostgresConnectionURL(urlText)
    }

    /// A new, migrated database for one test, with the owner and application roles the service uses.
    public static func createDatabase() async throws -> PostgresTestDatabase {
        let superuser = try superuserURL()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        try await SuperuserSession.run(superuser) { session in
            for role in [ownerRole, appRole] {
                // Tests create roles concurrently; whoever loses the race finds the role there.
                try await session.execute("""
                    DO $$ BEGIN CREATE ROLE \(role) LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$
                    """)
            }
            try await session.execute("CREATE DATABASE \(name) OWNER \(ownerRole)")
        }
        let database = PostgresTestDatabase(name: String(name), superuser: superuser.with(database: String(name)))
        // Both logs the service uses, the register's and the access log's, and the read models' tables (as `register db migrate` does).
        for schema in ["register", "register_access"] {
            try await PostgresMigrator(ownerURL: database.ownerURL, applicationRole: appRole, schema: schema, logger: TestLogging.logger).migrate()
        }
        try await PostgresReadModelStore.migrate(ownerURL: database.ownerURL, applicationRole: appRole, projections: RegisterProjections.all, logger: TestLogging.logger)
        return database
    }
}

/// One test's database.
public struct PostgresTestDatabase: Sendable {
    public let name: String
    /// A superuser connected to this database (bypasses row-level security; can disable triggers).
    public let superuser: PostgresConnectionURL
    public var ownerURL: PostgresConnectionURL { superuser.with(username: PostgresTestServer.ownerRole, password: nil) }
    public var appURL: PostgresConnectionURL { superuser.with(username: PostgresTestServer.appRole, password: nil) }

    public func drop() async throws {
        let server = try PostgresTestServer.superuserURL()
        try await SuperuserSession.run(server) { try await $0.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }
}

/// A single connection for setup and for acting behind the application's back in tests.
public struct SuperuserSession {
    public let connection: PostgresConnection

    public static func run<T>(_ url: PostgresConnectionURL, _ body: (SuperuserSession) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.username, password: url.password,
                                                             database: url.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 99, logger: TestLogging.logger)
        do {
            let result = try await body(SuperuserSession(connection: connection))
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs SQL written by the test itself (never from input).
    public func execute(_ sql: String) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger)
    }

    /// The first column of every row, as text.
    public func strings(_ sql: String) async throws -> [String] {
        var values: [String] = []
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).decode(String.self) {
            values.append(value)
        }
        return values
    }
}

public enum TestLogging {
    public static let logger: Logger = {
        var logger = Logger(label: "register.tests")
        logger.logLevel = .error
        return logger
    }()
}
