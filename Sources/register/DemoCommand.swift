import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register demo`: the tenants of Tenants/ with synthetic families, so a newcomer sees a living system.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the tenant files and fill every tenant with synthetic families, placements and attendance.",
        discussion: """
            Every tenant gets demo accounts demo-<role> for each of its roles (unit roles in the first daycare unit), and \
            the platform gets demo-operator. The password is REGISTER_DEMO_PASSWORD, or a random one printed at the end. \
            Identity codes are in the test range (individual number 900–999). A tenant that already has demo accounts is \
            left alone, so running it again changes nothing. Not for production databases.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var options: DemoOptions

    func run() async throws {
        let configuration = try storage.configuration()
        let logger = CommandLogging.logger(level: configuration.logLevel)
        try await reportingFailures {
            try await RegisterStorage.with(configuration, logger: logger) { storage in
                try await options.fill(storage)
            }
        }
    }
}

struct DemoOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The directory of tenant files.", valueName: "dir")) var tenants = "Tenants"
    @Option(help: "Families per tenant.") var families = 10
    @Option(help: "Months of attendance before today.") var months = 2

    func fill(_ storage: RegisterStorage) async throws {
        guard (1...500).contains(families), (0...24).contains(months) else { throw ValidationError("--families is 1–500 and --months 0–24") }
        let files: [TenantConfiguration]
        do { files = try TenantFile.loadDirectory(URL(fileURLWithPath: tenants)) } catch { throw CommandFailure("\(error)") }
        let metadata = EventMetadata(actor: try Actor(userID: "demo", role: "platform-operator"), correlationID: UUID())
        let password = ProcessInfo.processInfo.environment["REGISTER_DEMO_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "demo-" + UUID().uuidString.lowercased().prefix(13)
        let accounts = Accounts(store: storage.store, keyRing: storage.keyRing)
        let configurations = TenantConfigurations(store: storage.store)
        var created: [String] = []
        if try await !accounts.usernameExists("demo-operator", in: Accounts.platformTenant) {
            try await accounts.addUser(username: "demo-operator", name: nil, title: nil, password: password, roles: [.init(role: Accounts.operatorRole)],
                                       configuration: nil, in: Accounts.platformTenant, by: metadata, cost: 10)
            created.append("platform: demo-operator")
        }
        for (index, tenant) in files.enumerated() {
            try await configurations.apply(tenant, file: "\(tenant.id).yaml", metadata: metadata)
            guard let firstRole = tenant.roles.first, try await !accounts.usernameExists("demo-\(firstRole.id)", in: tenant.id) else {
                print("\(tenant.id): already has demo data; left alone")
                continue
            }
            let unit = (tenant.units.first { $0.kind != .familyServicesOffice } ?? tenant.units.first)?.code
            for role in tenant.roles {
                let units = role.scope == .units ? unit.map { [$0] } : nil
                try await accounts.addUser(username: "demo-\(role.id)", name: nil, title: nil, password: password, roles: [.init(role: role.id, units: units)],
                                           configuration: tenant, in: tenant.id, by: metadata, cost: 10)
            }
            created.append("\(tenant.id): " + tenant.roles.map { "demo-\($0.id)" }.joined(separator: ", "))
            let generator = DemoData(registry: Registry(store: storage.store, keyRing: storage.keyRing), families: families, months: months)
            let summary = try await generator.generate(in: tenant, seed: UInt64(index + 1), by: metadata) { done, total in
                FileHandle.standardError.write(Data("\r\(tenant.id): family \(done)/\(total)".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print("\(tenant.id): \(summary.people) people, \(summary.placements) placements, \(summary.attendanceDays) days of attendance, "
                  + "\(summary.feeFamilies) fee families, \(summary.vouchers) vouchers")
        }
        if !created.isEmpty {
            print("demo accounts (password \(password)):")
            created.forEach { print("  \($0)") }
        }
    }
}
