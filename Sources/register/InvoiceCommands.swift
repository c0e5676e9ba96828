import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register invoices …`: the month's client-fee invoices (O23).
struct InvoiceCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoices", abstract: "Client-fee invoicing: run a month (dry by default) and export it to the accounting office.",
        subcommands: [Run.self, Export.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invoice every fee family of a tenant for a month. A dry run unless --commit.",
            discussion: """
                For each family: brings its fee decisions up to date with the log (incomes, family, placements, service \
                needs, the fee tables), charges the month by the absence rules and the cap of 11 months per operating \
                year, and corrects earlier months whose charge changed since they were billed (credit notes and \
                surcharges). Without --commit nothing is recorded and the totals show what would be. With --commit, \
                each family's invoices are recorded in one step: a run repeated or stopped half-way bills nothing twice.
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: ArgumentHelp("The month to invoice (YYYY-MM).", valueName: "month")) var month: String
        @Option(help: ArgumentHelp("The invoice date (YYYY-MM-DD); default today in Finland.", valueName: "date")) var date: String?
        @Flag(help: "Record the decisions and invoices (default: a dry run that records nothing).") var commit = false
        @Flag(help: "One line per family with documents: its customer number, document kinds and totals.") var list = false

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let month = try parsedMonth(self.month)
            let issued = try date.map(parsedDate) ?? LocalDate.today()
            // A dry run records nothing, so it needs no actor; a committed run records who ran it.
            let metadata = commit ? try actor.metadata(role: "billing") : EventMetadata(actor: try Actor(userID: "dry-run", role: "billing"))
            let summary = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    guard let tenantConfiguration = try await configurationInForce(tenant, storage: storage) else {
                        throw CommandFailure("the platform tenant holds no register; name a tenant of Tenants/")
                    }
                    guard let rules = tenantConfiguration.fees else { throw CommandFailure("tenant \(tenant) has no fee rules (fees: in its tenant file)") }
                    let registry = Registry(store: storage.store, keyRing: storage.keyRing)
                    var progress: Progress?
                    let summary = try await registry.runInvoicing(in: tenant, month: month, rules: rules, commit: commit, issuedOn: issued, by: metadata,
                                                                  each: { result in
                        guard list, !result.invoices.isEmpty || !result.pending.isEmpty else { return }
                        let documents = result.invoices.map { "\($0.kind.rawValue) \($0.number) \(euros($0.content?.totalCents ?? 0))" }
                        let pending = result.pending.map { "pending \($0.month) (\($0.reason))" }
                        print("\(result.number)\t" + (documents + pending).joined(separator: "; "))
                    }) { done, total in
                        if progress == nil { progress = Progress("\(tenant) \(month): invoicing", total: total, unit: "families") }
                        progress?.update(done)
                    }
                    progress?.finish(summary.families + summary.failed.values.reduce(0, +))
                    return summary
                }
            }
            print("\(tenant) \(month)\(commit ? "" : " (dry run: nothing recorded)"): \(summary.families) families, \(summary.decisions) new decisions, "
                  + "\(summary.invoices) invoices, \(summary.creditNotes) credit notes, \(summary.surcharges) surcharges, total \(euros(summary.totalCents))")
            for (reason, count) in summary.pending.sorted(by: { $0.key < $1.key }) {
                print("  \(count) families with months pending: \(reason)")
            }
            for (code, count) in summary.failed.sorted(by: { $0.key < $1.key }) {
                print("  \(count) families failed: \(code) (left for the next run)")
            }
            if !summary.failed.isEmpty { throw CommandFailure("some families were not invoiced; the next run tries them again") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a month's recorded invoices for the accounting office, as Finvoice 3.0 or CSV; recorded as a disclosure.",
            discussion: """
                The export goes to the recipient the tenant file names (fees.invoicing.exportRecipient), on its legal \
                basis; the disclosure naming every event whose data leaves is recorded before the files are written. \
                Finvoice: one message per invoice (INV01 invoices and surcharges, INV02 credit notes) in the directory \
                --output. CSV: one file, `;`-separated, comma decimals. Protected addresses (non-disclosure orders) \
                are left out. The files hold personal data: they are created readable by their owner only.
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: ArgumentHelp("The invoicing run's month (YYYY-MM).", valueName: "month")) var month: String
        @Option(help: "finvoice or csv.") var format: String
        @Option(help: ArgumentHelp("A directory (finvoice) or a file (csv) to create.", valueName: "path")) var output: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let month = try parsedMonth(self.month)
            guard let format = InvoiceExportFormat(rawValue: format) else { throw ValidationError("--format is finvoice or csv") }
            let metadata = try actor.metadata(role: "billing")
            let target = URL(fileURLWithPath: output)
            guard !FileManager.default.fileExists(atPath: target.path) else { throw ValidationError("--output \(output) exists already; name a new path") }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    guard let tenantConfiguration = try await configurationInForce(tenant, storage: storage) else {
                        throw CommandFailure("the platform tenant holds no register; name a tenant of Tenants/")
                    }
                    let registry = Registry(store: storage.store, keyRing: storage.keyRing)
                    let result = try await registry.exportInvoices(month: month, configuration: tenantConfiguration, in: tenant, by: metadata)
                    switch format {
                    case .csv:
                        try writePrivate(InvoiceDocuments.csv(result.invoices), to: target)
                    case .finvoice:
                        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                        for invoice in result.invoices {
                            try writePrivate(InvoiceDocuments.finvoice(invoice, seller: tenantConfiguration, sentAt: Date()),
                                             to: target.appendingPathComponent("\(invoice.number).xml"))
                        }
                    }
                    print("\(tenant) \(month): \(result.invoices.count) invoices exported as \(format.rawValue) to \(output); "
                          + "recorded as \(result.disclosures.count) disclosure record(s) at position(s) \(result.disclosures.map(\.description).joined(separator: ", "))")
                    for (reason, count) in result.heldBack.sorted(by: { $0.key < $1.key }) {
                        print("  \(count) invoices held back: \(reason)")
                    }
                }
            }
        }
    }
}

func parsedMonth(_ text: String) throws -> BillingMonth {
    do { return try BillingMonth(text) } catch { throw ValidationError("--month: \(error.message)") }
}

func parsedDate(_ text: String) throws -> LocalDate {
    do { return try LocalDate(text) } catch { throw ValidationError("--date: \(error.message)") }
}

func euros(_ cents: Int) -> String { FinnishAmount.text(cents: cents) + " €" }

/// Creates a file readable and writable by its owner only (exports carry personal data).
func writePrivate(_ data: Data, to url: URL) throws {
    guard FileManager.default.createFile(atPath: url.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
        throw CommandFailure("could not create \(url.path)")
    }
}
