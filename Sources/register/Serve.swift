import ArgumentParser
import Hummingbird
import Register
import RegisterServer

/// `register serve`: runs the HTTP service until SIGINT or SIGTERM, then shuts down gracefully.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service (SQLite under ./var/ unless --database says otherwise).")

    @OptionGroup var storage: StorageOptions

    @Option(help: ArgumentHelp("Address to listen on (REGISTER_HOST; default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on (REGISTER_PORT; default 8080).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Run retention every this many hours, first a minute after start; 0: never (REGISTER_RETENTION_INTERVAL_HOURS; default 24).",
                               valueName: "hours"))
    var retentionIntervalHours: Int?

    @Flag(help: "Before serving, apply Tenants/ and fill them with synthetic demo data (as `register demo`).")
    var demo = false

    @OptionGroup var demoOptions: DemoOptions

    func run() async throws {
        let configuration = try storage.configuration(host: host, port: port, retentionIntervalHours: retentionIntervalHours)
        let logger = CommandLogging.logger(level: configuration.logLevel)
        try await reportingFailures {
            if demo {
                try await RegisterStorage.with(configuration, logger: logger) { storage in try await demoOptions.fill(storage) }
            }
            let opened = try await RegisterStorage.open(configuration, logger: logger)
            try await buildApplication(configuration: configuration, storage: opened, logger: logger).runService()
        }
    }
}
