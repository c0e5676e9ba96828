import EventLog
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps every tenant's read models following the log, for as long as the server runs.
///
/// Per tenant and projection, a supervisor makes sure a generation is active and follows it live (woken by the log's
/// wake-ups, polling once a second as a fallback). A new projection version found at start-up is rebuilt in the
/// background while the old version keeps serving; rebuilds requested over HTTP or left half-done by a killed process
/// run in the background too, at most `rebuildConcurrency` at a time. A projection that fails on an event stops there,
/// alone: other tenants and projections go on.
public final class ProjectionService: Service, Sendable {
    public let engine: ProjectionEngine
    let logger: Logger
    let limiter: ConcurrencyLimiter
    let rebuilds = Mutex<[String: Task<Void, Never>]>([:])
    /// How often a stopped (failed) projection looks again at its state, to pick up a rebuild done elsewhere.
    let failedRecheck: Duration
    let tenantDiscovery: Duration
    /// Logs that hold no register data (the platform's own accounts): nothing to project.
    let excludedTenants: Set<TenantID>

    public init(engine: ProjectionEngine, logger: Logger, excluding excludedTenants: Set<TenantID> = [], rebuildConcurrency: Int = 2,
                failedRecheck: Duration = .seconds(30), tenantDiscovery: Duration = .seconds(2)) {
        self.engine = engine
        self.excludedTenants = excludedTenants
        self.logger = logger
        self.limiter = ConcurrencyLimiter(rebuildConcurrency)
        self.failedRecheck = failedRecheck
        self.tenantDiscovery = tenantDiscovery
    }

    public func run() async throws {
        try await engine.readModels.prepare(engine.projections)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                var known = Set<TenantID>()
                while !Task.isCancelled {
                    do {
                        for tenant in try await self.engine.log.tenants() where !self.excludedTenants.contains(tenant) && known.insert(tenant).inserted {
                            for projection in self.engine.projections {
                                group.addTask { await self.supervise(projection, tenant: tenant) }
                            }
                        }
                    } catch {
                        self.logger.warning("cannot list the log's tenants", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: self.tenantDiscovery)
                }
                group.cancelAll()
            }
        }
        for task in rebuilds.withLock({ Array($0.values) }) { task.cancel() }
    }

    /// Starts rebuilds in the background (at most `rebuildConcurrency` at a time); a rebuild of the same tenant and
    /// projection that is already running is not started twice.
    /// - Returns: the tenant–projection pairs started.
    @discardableResult
    public func requestRebuild(tenants: [TenantID], projections names: [String]?) throws -> [(TenantID, String)] {
        let projections = try names.map { try $0.map(engine.projection(named:)) } ?? engine.projections
        var started: [(TenantID, String)] = []
        for tenant in tenants {
            for projection in projections {
                let key = "\(tenant)/\(projection.name)"
                let isNew = rebuilds.withLock { running in
                    if running[key] != nil { return false }
                    running[key] = Task {
                        defer { _ = self.rebuilds.withLock { $0.removeValue(forKey: key) } }
                        await self.runRebuild(projection, tenant: tenant, restart: true)
                    }
                    return true
                }
                if isNew { started.append((tenant, projection.name)) }
            }
        }
        return started
    }

    /// Whether a background rebuild of the tenant's projection is running in this process.
    public func isRebuilding(_ tenant: TenantID, _ projection: String) -> Bool {
        rebuilds.withLock { $0["\(tenant)/\(projection)"] != nil }
    }

    /// - Returns: whether the rebuild reached the head and was swapped in (a failure is logged).
    @discardableResult
    func runRebuild(_ projection: any Projection, tenant: TenantID, restart: Bool) async -> Bool {
        do {
            let outcome = try await limiter.run {
                try await self.engine.rebuild(projection, tenant: tenant, restart: restart)
            }
            if case .reached = outcome { return true }
        } catch is CancellationError {
        } catch {
            logger.error("rebuild failed", metadata: ["tenant": "\(tenant)", "projection": "\(projection.name)", "error": "\(error)"])
        }
        return false
    }

    /// Keeps one projection of one tenant current until cancelled.
    func supervise(_ projection: any Projection, tenant: TenantID) async {
        var backoff = Duration.milliseconds(200)
        var stoppedAt: ProjectionState?
        while !Task.isCancelled {
            do {
                let states = try await engine.readModels.states(of: tenant).filter { $0.projection == projection.name }
                guard let active = states.first(where: { $0.role == .active }) else {
                    // The tenant's first generation: built aside and swapped in at the head, like any rebuild.
                    let swapped = await runRebuild(projection, tenant: tenant, restart: false)
                    if !swapped { try await Task.sleep(for: failedRecheck) }
                    continue
                }
                if active.version > projection.version {
                    // A newer build has taken over (a rolling deploy): this older one neither follows nor rebuilds.
                    if stoppedAt != active {
                        logger.warning("a newer version of the projection is active; this build leaves it alone", metadata: [
                            "tenant": "\(tenant)", "projection": "\(projection.name)", "active": "\(active.version)", "this": "\(projection.version)",
                        ])
                        stoppedAt = active
                    }
                    try await Task.sleep(for: failedRecheck)
                    continue
                }
                if active.version < projection.version {
                    // A new version: build it while the old one serves what it has, if this build's queries can read its
                    // tables (`servesVersions`); it cannot follow: its code is gone.
                    logger.info("rebuilding a new projection version", metadata: [
                        "tenant": "\(tenant)", "projection": "\(projection.name)", "from": "\(active.version)", "to": "\(projection.version)",
                    ])
                    // A rebuild that stops at an event it cannot apply is tried again only after a while (the event
                    // is logged and in the status; retrying at once would only repeat the failure).
                    let swapped = await runRebuild(projection, tenant: tenant, restart: false)
                    try await Task.sleep(for: swapped ? backoff : failedRecheck)
                    continue
                }
                if states.contains(where: { $0.role == .building && $0.version == projection.version }), !isRebuilding(tenant, projection.name) {
                    // A rebuild left half-done by a killed process: finish it in the background.
                    let key = "\(tenant)/\(projection.name)"
                    rebuilds.withLock { running in
                        guard running[key] == nil else { return }
                        running[key] = Task {
                            defer { _ = self.rebuilds.withLock { $0.removeValue(forKey: key) } }
                            await self.runRebuild(projection, tenant: tenant, restart: false)
                        }
                    }
                }
                if let stoppedAt, stoppedAt == active {
                    // Still stopped where it failed: look again later (a rebuild elsewhere may swap in a good generation).
                    try await Task.sleep(for: failedRecheck)
                    continue
                }
                stoppedAt = nil
                switch try await follow(projection, tenant: tenant, from: active) {
                case .failed:
                    stoppedAt = try await engine.readModels.states(of: tenant).first {
                        $0.projection == projection.name && $0.version == active.version && $0.slot == active.slot
                    }
                case .moved:
                    break
                }
                backoff = .milliseconds(200)
            } catch is CancellationError {
                return
            } catch let error as ProjectionError where error.code == .moved {
                continue
            } catch {
                if Task.isCancelled { return }
                logger.warning("projection runner waits after an error", metadata: ["tenant": "\(tenant)", "projection": "\(projection.name)", "error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }

    enum FollowEnd { case failed, moved }

    /// Follows the log into the active generation until it fails or another runner moves it.
    func follow(_ projection: any Projection, tenant: TenantID, from state: ProjectionState) async throws -> FollowEnd {
        var position = state.position
        let wakeups = engine.log.wakeups
        // Woken by appends of the event types it handles, not by every disclosure record or other event it skips: a
        // hundred partners' feed pages would otherwise make it write its position a hundred times an append. What it
        // skips is passed over at the next of those, or within the second the wait lasts at most.
        let interest = projection.eventTypes
        var idle = 0
        while true {
            try Task.checkCancellation()
            let generation = wakeups.generation(of: tenant, interest: interest)
            let head = try await engine.log.head(of: tenant).position
            if head == position {
                // Quiet: every few seconds, make sure this generation is still the active one (a rebuild elsewhere may
                // have swapped another in, which must then be followed even if nothing is written for a while).
                idle += 1
                if idle % 5 == 0, try await engine.readModels.states(of: tenant).first(where: {
                    $0.projection == projection.name && $0.version == state.version && $0.slot == state.slot
                })?.role != .active {
                    return .moved
                }
            } else {
                idle = 0
            }
            if head > position {
                do {
                    switch try await engine.catchUp(projection, tenant: tenant, slot: state.slot, from: position, through: head) {
                    case .reached(let reached): position = reached
                    case .failed: return .failed
                    }
                } catch let error as ProjectionError where error.code == .moved {
                    return .moved
                }
                continue
            }
            await wakeups.wait(for: tenant, after: generation, interest: interest, timeout: .seconds(1))
        }
    }
}

/// Lets at most `limit` bodies run at once; the others wait their turn in order.
actor ConcurrencyLimiter {
    let limit: Int
    var running = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { self.limit = max(1, limit) }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if running >= limit {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            running += 1
        }
        defer {
            if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
