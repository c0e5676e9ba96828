import EventLog
import Foundation

/// A read model built from a tenant's log: a name, a version, the event types it handles, its tables, and how one
/// event changes them.
///
/// Projections read the log and never write it, and they have no side effects: the engine may apply an event more
/// than once to a shadow generation during a rebuild, and only the checkpoint it commits with the writes decides
/// what counts. `apply` is a pure function of the event (no clock, no keys, no reads), which is what makes an
/// incremental read model equal to a rebuild from scratch.
public protocol Projection: Sendable {
    /// A stable name: a lower-case identifier, used in table names, the CLI and the API.
    var name: String { get }
    /// Bumped whenever the tables' shape or meaning changes; a new version is rebuilt from the log while the old one
    /// keeps serving.
    var version: Int { get }
    /// The event types it reads; others are never read from the store for it.
    var eventTypes: Set<String> { get }
    /// Its tables.
    var tables: [ReadModelTable] { get }
    /// Applies one event (of one of `eventTypes`) to the batch's writes. Throwing stops this projection of this
    /// tenant at the event's position until it is fixed.
    func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws
}

extension Projection {
    public func table(_ name: String) -> ReadModelTable? { tables.first { $0.name == name } }
}

/// A blue/green slot: each version of a projection has two sets of tables, one serving and one for a rebuild.
public enum ReadModelSlot: String, Sendable, Hashable, Codable {
    case a, b
    public var other: ReadModelSlot { self == .a ? .b : .a }
}

/// Where a projection of a tenant stands.
public struct ProjectionState: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        /// Serves reads and follows the log.
        case active
        /// Being rebuilt into shadow tables; swapped in when it has caught up.
        case building
        /// Swapped out; its rows are removed before the slot is built again.
        case retired
    }

    public let tenant: TenantID
    public let projection: String
    public let version: Int
    public let slot: ReadModelSlot
    public var role: Role
    /// Every event up to here has been applied (the checkpoint, committed with the writes).
    public var position: LogPosition
    public var updatedAt: Timestamp
    /// Set when applying the event at `failedPosition` failed; the runner stops there until it is fixed.
    public var failedPosition: LogPosition?
    public var failure: String?

    public init(tenant: TenantID, projection: String, version: Int, slot: ReadModelSlot, role: Role, position: LogPosition,
                updatedAt: Timestamp, failedPosition: LogPosition? = nil, failure: String? = nil) {
        self.tenant = tenant
        self.projection = projection
        self.version = version
        self.slot = slot
        self.role = role
        self.position = position
        self.updatedAt = updatedAt
        self.failedPosition = failedPosition
        self.failure = failure
    }
}

/// The physical name of a projection table in a version and slot: `rm_<projection>_v<version><slot>_<table>`.
public func physicalTableName(projection: String, version: Int, slot: ReadModelSlot, table: String) -> String {
    "rm_\(projection)_v\(version)\(slot.rawValue)_\(table)"
}
