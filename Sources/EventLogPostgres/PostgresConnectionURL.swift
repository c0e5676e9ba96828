import EventLog
import Foundation
import NIOSSL
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…` URL, parsed once and validated.
///
/// TLS: `sslmode=disable`, `prefer` or `require` (`verify-full` is `require` with certificate checks, which is
/// what `require` does here). Without `sslmode`, loopback hosts connect without TLS and every other host
/// requires it, so a hosted database is never reached in clear by accident.
public struct PostgresConnectionURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode

    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public init(_ text: String) throws(EventLogError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw EventLogError(.invalidArgument, "a PostgreSQL URL looks like postgres://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty else { throw EventLogError(.invalidArgument, "the PostgreSQL URL has no host") }
        guard let user = components.user, !user.isEmpty else { throw EventLogError(.invalidArgument, "the PostgreSQL URL has no user") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw EventLogError(.invalidArgument, "the PostgreSQL URL has no database name") }
        self.host = host
        self.port = components.port ?? 5432
        // URLComponents has already percent-decoded user, password and path; decoding again would corrupt a
        // password that contains "%".
        self.username = user
        self.password = components.password
        self.database = database
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        switch mode {
        case nil:
            tlsMode = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) ? .disable : .require
        case "disable"?: tlsMode = .disable
        case "allow"?, "prefer"?: tlsMode = .prefer
        case "require"?, "verify-ca"?, "verify-full"?: tlsMode = .require
        case let other?:
            throw EventLogError(.invalidArgument, "unknown sslmode '\(other.prefix(20))' (use disable, prefer or require)")
        }
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
    }

    /// The full URL, password included: for handing to another process, never for logs.
    public var connectionString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        components.queryItems = [URLQueryItem(name: "sslmode", value: tlsMode.rawValue)]
        return components.string ?? description
    }

    /// The same server and credentials, another database.
    public func with(database: String) -> PostgresConnectionURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The same server and database, other credentials.
    public func with(username: String, password: String?) -> PostgresConnectionURL {
        var copy = self
        copy.username = username
        copy.password = password
        return copy
    }

    package func clientConfiguration(maximumConnections: Int) throws -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: try clientTLS())
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        return configuration
    }

    package func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    private func clientTLS() throws -> PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }
}
