import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register tenant …`: tenant configuration files and their application to the log.
struct TenantCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Validate tenant files and apply them to the log.",
        subcommands: [Validate.self, Apply.self, List.self])

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check tenant files without applying them; exits 1 listing every problem with its line.")

        @Argument(help: "Tenant files (Tenants/*.yaml).") var files: [String]

        func run() async throws {
            var failed = false
            for file in files {
                do {
                    let configuration = try TenantFile.load(URL(fileURLWithPath: file))
                    print("\(file): valid (\(configuration.id), \(configuration.units.count) units, \(configuration.registers.count) registers, \(configuration.roles.count) roles)")
                } catch {
                    failed = true
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a tenant file's configuration in the tenant's log (who, when, what changed).",
            discussion: "A file with any problem changes nothing. Applying an unchanged file records nothing.")

        @OptionGroup var storage: StorageOptions
        @Argument(help: "Tenant files (Tenants/*.yaml).") var files: [String]
        @Option(help: ArgumentHelp("The account id of who applies it (REGISTER_ACTOR): recorded in the event, so never a name.", valueName: "id"))
        var actor: String?
        @Option(help: "The role they act in.") var role = "platform-operator"

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            guard let actorID = actor ?? ProcessInfo.processInfo.environment["REGISTER_ACTOR"] else {
                throw ValidationError("say who applies the configuration: --actor ID (or REGISTER_ACTOR)")
            }
            let who: Actor
            do { who = try Actor(userID: actorID, role: role) } catch { throw ValidationError(error.message) }
            // Every file is validated before anything is applied: one bad file changes nothing.
            var loaded: [(String, TenantConfiguration)] = []
            for file in files {
                do { loaded.append((file, try TenantFile.load(URL(fileURLWithPath: file)))) } catch {
                    throw CommandFailure("\(error)")
                }
            }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let configurations = TenantConfigurations(store: storage.store)
                    // A unit's operator that is a tenant must be one here (applied before, or in this batch), and stays
                    // consistent when the operator's own file is applied again.
                    var known: [TenantID: TenantConfiguration] = [:]
                    for tenant in try await storage.store.tenants() where !loaded.contains(where: { $0.1.id == tenant }) {
                        known[tenant] = try await configurations.current(tenant).configuration
                    }
                    do { try TenantFile.checkOperators(loaded.map { (URL(fileURLWithPath: $0.0), $0.1) }, known: known) } catch {
                        throw CommandFailure("\(error)")
                    }
                    var all = known
                    for (_, tenant) in loaded { all[tenant.id] = tenant }
                    for (id, applied) in known {
                        let issues = applied.operatorIssues(known: all).filter { _ in applied.units.contains { unit in loaded.contains { $0.1.id == unit.operatedBy?.tenant } } }
                        if let issue = issues.first {
                            throw CommandFailure("\(id), as applied, names a tenant of these files as a unit's operator, and would no longer agree: \(issue)")
                        }
                    }
                    for (file, tenant) in loaded {
                        let changes = try await configurations.apply(tenant, file: URL(fileURLWithPath: file).lastPathComponent,
                                                                     metadata: EventMetadata(actor: who, correlationID: UUID()))
                        if changes.isEmpty {
                            print("\(tenant.id): unchanged")
                        } else {
                            print("\(tenant.id): applied; changed \(changes.joined(separator: ", "))")
                        }
                    }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenants whose configuration is in the log.")

        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let configurations = TenantConfigurations(store: storage.store)
                    for tenant in try await storage.store.tenants() {
                        let (current, version) = try await configurations.current(tenant)
                        guard let current else { continue }
                        print("\(tenant)\t\(current.name.fi)\tconfiguration version \(version)")
                    }
                }
            }
        }
    }
}
