import EventLog
import Foundation

/// Where each generation of each projection stands against its tenant's log: the status view of the CLI and of
/// `GET /v1/platform/projections`, and the lag metrics.
public struct ProjectionStatus: Sendable, Hashable {
    public let state: ProjectionState
    /// The tenant's last position.
    public let head: LogPosition
    /// Log positions not yet passed over, when any of them is an event the projection handles; 0 when none is (a
    /// projection is woken only by the types it handles and passes over the rest at its next wake-up, so events it
    /// would skip are not lag).
    public let lagEvents: Int64
    /// How long the oldest event not yet applied has waited (0 when caught up).
    public let lagSeconds: Double
    /// Whether this build has the projection at this version (an older version's generation still serving after an upgrade does not).
    public let current: Bool
}

extension ProjectionEngine {
    /// The status of every generation (retired ones left out unless asked for), for one tenant or all.
    public func status(of tenant: TenantID? = nil, includingRetired: Bool = false, now: Timestamp = .now()) async throws -> [ProjectionStatus] {
        let states = try await readModels.states(of: tenant).filter { includingRetired || $0.role != .retired }
        var heads: [TenantID: LogHead] = [:]
        var result: [ProjectionStatus] = []
        for state in states {
            let head: LogHead
            if let known = heads[state.tenant] {
                head = known
            } else {
                head = try await log.head(of: state.tenant)
                heads[state.tenant] = head
            }
            let built = projections.first { $0.name == state.projection && $0.version == state.version }
            var lagSeconds = 0.0
            var lagEvents: Int64 = 0
            // The next event it would apply (any event, for a version this build does not have).
            let pending = EventFilter(eventTypes: built?.eventTypes)
            if head.position > state.position,
               let next = try await log.read(state.tenant, after: state.position, through: head.position, limit: 1, filter: pending).first {
                lagSeconds = max(0, Double(now.rawValue - next.recordedAt.rawValue) / 1_000_000)
                lagEvents = head.position.rawValue - state.position.rawValue
            }
            result.append(ProjectionStatus(state: state, head: head.position, lagEvents: lagEvents, lagSeconds: lagSeconds, current: built != nil))
        }
        return result
    }
}
