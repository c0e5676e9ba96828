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
                let tenants: [TenantID]
                if let only { tenants = [only] } else { tenants = try await storage.store.tenants() }
                if tenants.isEmpty { print("no tenants in \(configuration.database)") }
                var broken = 0
                for tenant in tenants {
                    let head = try await storage.store.head(of: tenant)
                    let progress = Progress("verifying \(tenant)", total: Int(head.position.rawValue))
                    let result = try await storage.store.verifyChain(of: tenant) { progress.update($0) }
                    if head.position.rawValue > 50_000 { progress.finish(result.checked) }
                    if let failure = result.failure {
                        broken += 1
                        print("\(tenant): BROKEN at position \(failure.position): \(failure.reason) (\(result.checked) events verified before it)")
                    } else {
                        print("\(tenant): intact, \(result.checked) events, head \(result.verifiedHead.hash)")
                    }
                }
                return broken
            }
        }
        if broken > 0 { throw ExitCode(1) }
    }
}
