import EventLog
import Foundation
import Register

/// The tenant configurations in force, read from the log (`TenantConfigured`) and cached briefly, so that a
/// `register tenant apply` by another process takes effect within seconds without a restart.
actor TenantDirectory {
    private let configurations: TenantConfigurations
    private var cache: [TenantID: (configuration: TenantConfiguration?, loadedAt: ContinuousClock.Instant)] = [:]
    let lifetime: Duration

    init(store: any EventStore, lifetime: Duration = .seconds(5)) {
        configurations = TenantConfigurations(store: store)
        self.lifetime = lifetime
    }

    /// The configuration in force, or nil for a tenant that was never configured.
    func configuration(of tenant: TenantID) async throws -> TenantConfiguration? {
        if let entry = cache[tenant], entry.loadedAt + lifetime > .now { return entry.configuration }
        let configuration = try await configurations.current(tenant).configuration
        cache[tenant] = (configuration, .now)
        return configuration
    }
}
