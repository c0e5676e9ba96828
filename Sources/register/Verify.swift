import ArgumentParser
import EventLog
import Foundation
import RegisterServer

/// `register verify`: recomputes each tenant's hash chain and names the first position that does not match.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute the hash chain of one tenant or all; exits 1 and names the first bad position if any.")

    @OptionGroup var storage: StorageOptions

    @Option(help: "Only this tenant.")
    var tenant: String?

    func run() async throws {
        let configuration = try storage.configuration()
        let logger = CommandLogging.logger(level: configuration.logLevel)
        let only = try tenant.map(tenantID)
        let broken = try await reportingFailures {
            try await RegisterStorage.with(configuration, logger: logger) { storage in
                var broken = 0
                // The register's logs, then the access logs: both are chained the same way.
                for (store, label) in [(storage.store, ""), (storage.accessLog.store, " (access log)")] {
                    let tenants: [TenantID]
                    if let only { tenants = [only] } else { tenants = try await store.tenants() }
                    if tenants.isEmpty, label.isEmpty { print("no tenants in \(configuration.database)") }
                    for tenant in tenants {
                        let head = try await store.head(of: tenant)
                        let progress = Progress("verifying \(tenant)\(label)", total: Int(head.position.rawValue))
                        let result = try await store.verifyChain(of: tenant) { progress.update($0) }
                        if head.position.rawValue > 50_000 { progress.finish(result.checked) }
                        if let failure = result.failure {
                            broken += 1
                            print("\(tenant)\(label): BROKEN at position \(failure.position): \(failure.reason) (\(result.checked) events verified before it)")
                        } else if head.position > .start || label.isEmpty {
                            print("\(tenant)\(label): intact, \(result.checked) events, head \(result.verifiedHead.hash)")
                        }
                    }
                }
                return broken
            }
        }
        if broken > 0 { throw ExitCode(1) }
    }
}
