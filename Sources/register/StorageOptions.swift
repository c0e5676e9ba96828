import ArgumentParser
import EventLog
import Foundation
import Projections
import Logging
import Register
import RegisterServer

/// The options every command that opens the log shares.
struct StorageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("sqlite:PATH or postgres://user:password@host:port/database (REGISTER_DATABASE).", valueName: "url"))
    var database: String?

    @Option(help: ArgumentHelp("PostgreSQL URL of the schema owner; when given, pending migrations are applied first (REGISTER_DATABASE_ADMIN).", valueName: "url"))
    var databaseAdmin: String?

    @Option(help: ArgumentHelp("The PostgreSQL role the service connects as (REGISTER_APP_ROLE).", valueName: "role"))
    var appRole: String?

    @Option(help: ArgumentHelp("File holding the base64 master key (REGISTER_MASTER_KEY_FILE). Without it and without REGISTER_MASTER_KEY, ./var/master.key is used and created if missing.", valueName: "path"))
    var masterKeyFile: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (REGISTER_LOG_LEVEL).", valueName: "level"))
    var logLevel: String?

    func configuration(host: String? = nil, port: Int? = nil, retentionIntervalHours: Int? = nil) throws -> RegisterConfiguration {
        do {
            return try RegisterConfiguration.resolve(database: database, databaseAdmin: databaseAdmin, applicationRole: appRole,
                                                     masterKeyFile: masterKeyFile, host: host, port: port, logLevel: logLevel,
                                                     retentionIntervalHours: retentionIntervalHours)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Logging to standard error, set up once per process.
enum CommandLogging {
    private static let bootstrap: Void = LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }

    static func logger(level: Logger.Level, label: String = "register") -> Logger {
        _ = bootstrap
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// Reports an operator-facing failure without a stack trace: the message, then exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension EventLogError {
    /// What the operator sees: the safe message, never the driver's internals.
    var commandFailure: CommandFailure { CommandFailure("\(code): \(message)") }
}

/// Runs a command body, turning log errors into one clear line.
func reportingFailures<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as EventLogError {
        throw error.commandFailure
    } catch let error as DomainError {
        throw CommandFailure("\(error.code): \(error.detail)")
    } catch let error as ProjectionError {
        throw CommandFailure("\(error.code.rawValue): \(error.message)")
    }
}

/// A tenant option's value, validated.
func tenantID(_ text: String) throws -> TenantID {
    do { return try TenantID(text) } catch { throw ValidationError(error.message) }
}
