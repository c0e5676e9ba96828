import EventLog
import Foundation

/// Where each generation of each projection stands against its tenant's log: the status view of the CLI and of
/// `GET /v1/platform/projections`, and the lag metrics.
public struct ProjectionStatus: Sendable, Hashable {
    public let state: ProjectionState
    /// The tenant's last position.
    public let head: LogPosition
    /// Events not yet applied.
    public var lagEvents: Int64 { max(0, head.rawValue - state.position.rawValue) }
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
            var lagSeconds = 0.0
            if head.position > state.position, let next = try await log.read(state.tenant, after: state.position, through: nil, limit: 1, filter: .all).first {
                lagSeconds = max(0, Double(now.rawValue - next.recordedAt.rawValue) / 1_000_000)
            }
            let current = projections.contains { $0.name == state.projection && $0.version == state.version }
            result.append(ProjectionStatus(state: state, head: head.position, lagSeconds: lagSeconds, current: current))
        }
        return result
    }
}
