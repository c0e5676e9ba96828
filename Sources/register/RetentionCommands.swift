import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register retention …`: the retention rules of the tenant files applied to the log (O16–O18).
struct RetentionCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Plan (dry run) or run retention: anonymise the people whose retention periods have ended.",
        subcommands: [Plan.self, Run.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List each person and document class of a tenant: when it is due, under which rule, or why it is kept. Changes nothing.",
            discussion: """
                One line per person and document class that covers their records: the rule version (valid from), what \
                its period counts from, the anchor date, and the day it is due — or why it is kept (care not ended, \
                permanent, born on a sampling day, legal hold, restriction). A person is due when every class is due. \
                Output is tab-separated, or JSON with --json.
                """)

        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: ArgumentHelp("Plan as of this day (YYYY-MM-DD); default today in Finland.", valueName: "date")) var at: String?
        @Flag(help: "Only the people due on that day.") var dueOnly = false
        @Flag(help: "JSON instead of tab-separated lines.") var json = false

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let date: LocalDate
            if let at {
                do { date = try LocalDate(at) } catch { throw ValidationError("--at: \(error.message)") }
            } else {
                date = LocalDate.today()
            }
            let plan = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let registers = try await retentionRegisters(tenant, storage: storage)
                    return try await Registry(store: storage.store, keyRing: storage.keyRing).retentionPlan(in: tenant, registers: registers, on: date)
                }
            }
            let shown = dueOnly ? plan.filter { $0.isDue(on: date) } : plan
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(RetentionPlanReport(tenant: tenant.description, on: date, plan: shown)), as: UTF8.self))
                return
            }
            let due = plan.filter { $0.isDue(on: date) }.count, erased = plan.filter(\.erased).count
            print("# \(tenant) on \(date): \(plan.count) people, \(due) due, \(plan.count - due - erased) kept, \(erased) erased earlier")
            print("person\tkind\tverdict\tregister\tclass\trule\tfrom\tanchor\tuntil")
            for subject in shown {
                let verdict = RetentionPlanReport.verdict(subject, on: date)
                if subject.classes.isEmpty {
                    print("\(subject.person)\t\(subject.kind.rawValue)\t\(verdict)\t-\t-\t-\t-\t-\t-")
                }
                for entry in subject.classes {
                    let row = RetentionPlanReport.ClassRow(entry)
                    print("\(subject.person)\t\(subject.kind.rawValue)\t\(verdict)\t\(row.register)\t\(row.documentClass)\t\(row.rule)\t\(row.from)\t\(row.anchorDate ?? "-")\t\(row.until)")
                }
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Anonymise everyone due today: record the rule, keep anonymous statistics, shred the person's key.",
            discussion: """
                Without --tenant, every tenant with a configuration in force. Safe to run twice, and to stop half-way: \
                a person already done is recognised by the log. `register serve` runs the same once a day.
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant (default: every tenant).") var tenant: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let metadata = try actor.metadata(role: "platform-operator")
            let only = try tenant.map(tenantID)
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let registry = Registry(store: storage.store, keyRing: storage.keyRing)
                    var tenants = try await storage.store.tenants().filter { $0 != Accounts.platformTenant }
                    if let only { tenants = [only] }
                    var failed = false
                    for tenant in tenants {
                        let registers: [RegisterDefinition]
                        if only == nil {
                            guard let inForce = try await TenantConfigurations(store: storage.store).current(tenant).configuration else { continue }
                            registers = inForce.registers
                        } else {
                            registers = try await retentionRegisters(tenant, storage: storage)
                        }
                        var progress: Progress?
                        let summary = try await registry.applyRetention(in: tenant, registers: registers, on: LocalDate.today(), by: metadata) { done, due in
                            if progress == nil { progress = Progress("\(tenant): anonymising", total: due, unit: "people") }
                            progress?.update(done)
                        }
                        progress?.finish(summary.erased.count + summary.failed.count)
                        print("\(tenant): \(summary.erased.count) anonymised, \(summary.kept) kept, \(summary.alreadyErased) erased earlier, \(summary.failed.count) failed")
                        for (person, code) in summary.failed.sorted(by: { $0.key.description < $1.key.description }) {
                            print("  \(person): \(code) (left for the next run)")
                        }
                        failed = failed || !summary.failed.isEmpty
                    }
                    if failed { throw CommandFailure("some people were not anonymised; the next run tries them again") }
                }
            }
        }
    }
}

/// The registers of a tenant's configuration in force, or a clear failure.
func retentionRegisters(_ tenant: TenantID, storage: RegisterStorage) async throws -> [RegisterDefinition] {
    guard let configuration = try await configurationInForce(tenant, storage: storage) else {
        throw CommandFailure("the platform tenant holds no register; name a tenant of Tenants/")
    }
    return configuration.registers
}

