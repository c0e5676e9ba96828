import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register vouchers …`: service-voucher settlement (O24).
struct VoucherCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vouchers", abstract: "Service vouchers: settle a month per producer (a preview unless --commit) and write its settlement material.",
        subcommands: [Settle.self])

    struct Settle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Settle a month for every producer (or one): value less co-payment, prorated by the care days producers recorded.",
            discussion: """
                Without --commit, a preview that records nothing. With --commit (allowed from the month's cut-off day, \
                vouchers.settlementCutOffDay of the following month), the month is frozen: recorded once, and what \
                changes later flows into the next month's settlement as corrections. A month frozen already is shown as \
                it was. With --output DIR, each producer's frozen month is written as DIR/<producer>-<month>.csv and \
                recorded as a disclosure to the producers (the files hold personal data: readable by their owner only).
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: ArgumentHelp("The month to settle (YYYY-MM).", valueName: "month")) var month: String
        @Option(help: ArgumentHelp("One producer's unit code (default: every unit that offers voucher care).", valueName: "unit")) var producer: String?
        @Flag(help: "Freeze the month (default: a preview that records nothing).") var commit = false
        @Option(help: ArgumentHelp("A directory to create for the settlement material (CSV per producer); needs the month frozen.", valueName: "dir"))
        var output: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let month = try parsedMonth(self.month)
            let metadata = commit || output != nil ? try actor.metadata(role: "voucher-officer") : EventMetadata(actor: try Actor(userID: "dry-run", role: "voucher-officer"))
            if let output, FileManager.default.fileExists(atPath: output) { throw ValidationError("--output \(output) exists already; name a new directory") }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    guard let tenantConfiguration = try await configurationInForce(tenant, storage: storage) else {
                        throw CommandFailure("the platform tenant holds no register; name a tenant of Tenants/")
                    }
                    guard let rules = tenantConfiguration.vouchers else { throw CommandFailure("tenant \(tenant) has no voucher rules (vouchers: in its tenant file)") }
                    let producers = tenantConfiguration.units.filter { $0.arrangements.contains(.serviceVoucher) }.map(\.code)
                    if let producer, !producers.contains(producer) { throw CommandFailure("\(producer) is not a unit of \(tenant) that offers voucher care") }
                    let registry = Registry(store: storage.store, keyRing: storage.keyRing)
                    if let output {
                        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                    }
                    print("\(tenant) \(month): cut-off \(rules.cutOff(of: month))\(commit ? "" : " (preview: nothing recorded)")")
                    for unit in producer.map({ [$0] }) ?? producers {
                        let settlement = try await registry.settleVouchers(producer: unit, month: month, rules: rules, feeRules: tenantConfiguration.fees,
                                                                           payee: tenantConfiguration.units.first { $0.code == unit }?.operatedBy,
                                                                           commit: commit, in: tenant, by: metadata)
                        let state = settlement.alreadyFrozen ? "frozen earlier" : settlement.position != nil ? "frozen now" : "preview"
                        let held = Dictionary(grouping: settlement.lines.filter { $0.status != .payable }, by: \.status).mapValues(\.count)
                        print("  \(unit): \(state), \(settlement.lines.count) lines, total \(euros(settlement.totalCents))"
                              + held.sorted { $0.key.rawValue < $1.key.rawValue }.map { ", \($0.value) \($0.key.rawValue)" }.joined())
                        if let output {
                            let export = try await registry.exportSettlement(producer: unit, month: month, configuration: tenantConfiguration, in: tenant, by: metadata)
                            let file = URL(fileURLWithPath: output).appendingPathComponent("\(unit)-\(month).csv")
                            try writePrivate(InvoiceDocuments.settlementCSV(producer: unit, payee: export.payee, month: month, rows: export.rows), to: file)
                            print("    written to \(file.path); recorded as a disclosure at position \(export.disclosure)"
                                  + (export.heldBack > 0 ? "; \(export.heldBack) lines of restricted children held back" : ""))
                        }
                    }
                }
            }
        }
    }
}
