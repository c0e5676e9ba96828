import EventLog
import Foundation
import Logging
import Register
import ServiceLifecycle

/// Runs retention (O16–O18) for every tenant with a configuration in force: first a minute after the service
/// starts, then every `interval`. Each pass is what `register retention run` does; a pass cut short by a shutdown
/// is finished by the next (every step is recognised when repeated). Logs counts only, never who.
public struct RetentionService: Service {
    let storage: RegisterStorage
    let interval: Duration
    let firstDelay: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    public init(storage: RegisterStorage, interval: Duration, firstDelay: Duration = .seconds(60), logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.storage = storage
        self.interval = interval
        self.firstDelay = firstDelay
        self.logger = logger
        self.now = now
    }

    /// Who the scheduled run's events name.
    public static let metadata = EventMetadata(actor: try! Actor(userID: "retention-service", role: "system"))

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = firstDelay
            while !Task.isCancelled {
                do { try await Task.sleep(for: delay) } catch { return }
                await runOnce()
                delay = interval
            }
        }
    }

    /// One pass over every tenant.
    public func runOnce() async {
        let registry = Registry(store: storage.store, keyRing: storage.keyRing, now: now)
        let today = LocalDate.today(at: now())
        let tenants: [TenantID]
        do { tenants = try await storage.store.tenants().filter { $0 != Accounts.platformTenant } } catch {
            logger.warning("retention: cannot list the tenants", metadata: ["error": "\(error)"])
            return
        }
        for tenant in tenants where !Task.isCancelled {
            do {
                guard let configuration = try await TenantConfigurations(store: storage.store).current(tenant).configuration else { continue }
                var metadata = Self.metadata
                metadata.correlationID = UUID()
                let summary = try await registry.applyRetention(in: tenant, registers: configuration.registers, on: today, by: metadata)
                logger.info("retention pass", metadata: ["tenant": "\(tenant)", "anonymised": "\(summary.erased.count)", "kept": "\(summary.kept)",
                                                         "failed": "\(summary.failed.count)"])
            } catch {
                logger.warning("retention pass failed", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
            }
        }
    }
}
