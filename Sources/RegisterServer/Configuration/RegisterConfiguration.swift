import EventLog
import EventLogPostgres
import Foundation
import Logging

/// Where the log lives.
public enum DatabaseLocation: Sendable, CustomStringConvertible {
    /// The embedded default: one SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL database, reached as the application role.
    case postgres(PostgresConnectionURL)

    /// The embedded default, under `./var/`.
    public static let defaultValue = "sqlite:./var/register.sqlite"

    /// Parses `sqlite:PATH` or a `postgres://` URL.
    public init(_ text: String) throws(EventLogError) {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw EventLogError(.invalidArgument, "sqlite: needs a file path, e.g. sqlite:./var/register.sqlite") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresConnectionURL(text))
        } else {
            throw EventLogError(.invalidArgument, "a database is sqlite:PATH or postgres://user:password@host:port/database")
        }
    }

    /// Safe to log: PostgreSQL passwords are masked.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url.description
        }
    }
}

/// Where the master key comes from.
public enum MasterKeySource: Sendable, Equatable {
    /// `REGISTER_MASTER_KEY`: base64 of 32 bytes, passed in by the platform's secret store.
    case environment
    /// A key file given explicitly: it must exist.
    case file(path: String)
    /// Nothing given: the development default file, created (owner-only) if missing.
    case defaultFile(path: String)

    public static let defaultPath = "./var/master.key"
}

/// The settings every command shares. Each can be given as a flag or in the environment under the same name
/// (`--database` ↔ `REGISTER_DATABASE`); a flag wins over the environment, the environment over the default.
public struct RegisterConfiguration: Sendable {
    public var database: DatabaseLocation
    /// The schema owner's URL, for migrations (PostgreSQL only).
    public var databaseAdmin: PostgresConnectionURL?
    /// The role the service connects as; migrations grant it its privileges.
    public var applicationRole: String
    public var masterKey: MasterKeySource
    public var host: String
    public var port: Int
    public var logLevel: Logger.Level
    /// How often `register serve` runs retention (O16–O18), in hours; 0 turns the scheduled run off.
    public var retentionIntervalHours = 24

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 8080
    public static let defaultApplicationRole = "register_app"

    public init(database: DatabaseLocation = .sqlite(path: "./var/register.sqlite"), databaseAdmin: PostgresConnectionURL? = nil,
                applicationRole: String = defaultApplicationRole, masterKey: MasterKeySource = .defaultFile(path: MasterKeySource.defaultPath),
                host: String = defaultHost, port: Int = defaultPort, logLevel: Logger.Level = .info) {
        self.database = database
        self.databaseAdmin = databaseAdmin
        self.applicationRole = applicationRole
        self.masterKey = masterKey
        self.host = host
        self.port = port
        self.logLevel = logLevel
    }

    /// Resolves flags (nil when not given) against the environment and the defaults.
    public static func resolve(database: String?, databaseAdmin: String?, applicationRole: String?, masterKeyFile: String?, host: String?, port: Int?,
                               logLevel: String?, retentionIntervalHours: Int? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws(EventLogError) -> RegisterConfiguration {
        func value(_ flag: String?, _ name: String) -> String? {
            if let flag { return flag }
            if let env = environment[name], !env.isEmpty { return env }
            return nil
        }
        var configuration = RegisterConfiguration()
        configuration.database = try DatabaseLocation(value(database, "REGISTER_DATABASE") ?? DatabaseLocation.defaultValue)
        if let admin = value(databaseAdmin, "REGISTER_DATABASE_ADMIN") {
            configuration.databaseAdmin = try PostgresConnectionURL(admin)
        }
        configuration.applicationRole = value(applicationRole, "REGISTER_APP_ROLE") ?? defaultApplicationRole
        if let file = value(masterKeyFile, "REGISTER_MASTER_KEY_FILE") {
            configuration.masterKey = .file(path: file)
        } else if environment["REGISTER_MASTER_KEY"].map({ !$0.isEmpty }) == true {
            configuration.masterKey = .environment
        }
        configuration.host = value(host, "REGISTER_HOST") ?? defaultHost
        if let port {
            configuration.port = port
        } else if let text = environment["REGISTER_PORT"], !text.isEmpty {
            guard let parsed = Int(text), (0...65_535).contains(parsed) else {
                throw EventLogError(.invalidArgument, "REGISTER_PORT is a port number (0–65535)")
            }
            configuration.port = parsed
        }
        guard (0...65_535).contains(configuration.port) else { throw EventLogError(.invalidArgument, "--port is a port number (0–65535)") }
        if let level = value(logLevel, "REGISTER_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw EventLogError(.invalidArgument, "a log level is one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = parsed
        }
        if let hours = retentionIntervalHours {
            configuration.retentionIntervalHours = hours
        } else if let text = environment["REGISTER_RETENTION_INTERVAL_HOURS"], !text.isEmpty {
            guard let parsed = Int(text) else { throw EventLogError(.invalidArgument, "REGISTER_RETENTION_INTERVAL_HOURS is a whole number of hours (0: off)") }
            configuration.retentionIntervalHours = parsed
        }
        guard (0...8_760).contains(configuration.retentionIntervalHours) else {
            throw EventLogError(.invalidArgument, "the retention interval is 0 (off) to 8760 hours")
        }
        return configuration
    }

    /// Loads the master key, creating the development key file when no key was given at all.
    public func loadMasterKey(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) throws(EventLogError) -> MasterKey {
        switch masterKey {
        case .environment:
            return try MasterKey(base64: environment["REGISTER_MASTER_KEY"] ?? "")
        case .file(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw EventLogError(.keyUnavailable, "the master key file \(path) does not exist")
            }
            return try MasterKey.load(fileAt: path)
        case .defaultFile(let path):
            let (key, created) = try MasterKey.loadOrCreate(fileAt: path)
            if created {
                logger.warning("created a new master key file, readable only by its owner; production passes REGISTER_MASTER_KEY or --master-key-file instead",
                               metadata: ["file": "\(path)", "keyID": "\(key.id)"])
            }
            return key
        }
    }
}
