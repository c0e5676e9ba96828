import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register import …`: the adapter boundary for data from outside registers.
struct ImportCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Import updates from outside registers.", subcommands: [Population.self])

    struct Population: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a population-register update file (JSON Lines; docs/population-import.md).",
            discussion: """
                The whole file is checked first: any malformed line is reported with its number and nothing of the file \
                is applied. Then every change is recorded in one transaction, each event naming the population register \
                as its source and the file's SHA-256 and line as its reference. People the tenant's register does not \
                hold are counted and skipped. Importing the same file again changes nothing.
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Argument(help: "The JSON Lines file.") var file: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let metadata = try actor.metadata(role: "population-register-import")
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch { throw CommandFailure("cannot read \(file)") }
            let updates: [PopulationUpdate]
            do { updates = try PopulationFile.parse(data) } catch {
                throw CommandFailure("\(file): nothing was imported:\n\(error.description.split(separator: "\n").map { "  \(file):\($0.dropFirst(5))" }.joined(separator: "\n"))")
            }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let stores = try await configurationInForce(tenant, storage: storage)?.storesProtectedAddresses ?? true
                    let registry = Registry(store: storage.store, keyRing: storage.keyRing)
                    let summary = try await registry.importPopulation(updates, fileDigest: PopulationFile.digest(data), storesProtectedAddresses: stores,
                                                                      in: tenant, by: metadata)
                    print("\(tenant): \(summary.lines) lines; \(summary.peopleChanged) people changed (\(summary.events) events), \(summary.unchanged) unchanged, \(summary.notInRegister) not in the register")
                }
            }
        }
    }
}
