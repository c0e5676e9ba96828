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
    /// Bumped whenever the tables' shape or meaning changes; a new version is rebuilt from the log in the background
    /// (see `servesVersions` for what answers meanwhile).
    var version: Int { get }
    /// The event types it reads; others are never read from the store for it.
    var eventTypes: Set<String> { get }
    /// Its tables.
    var tables: [ReadModelTable] { get }
    /// The versions whose tables this build's queries can read (default: its own version; see the extension).
    var servesVersions: Set<Int> { get }
    /// Applies one event (of one of `eventTypes`) to the batch's writes. Throwing stops this projection of this
    /// tenant at the event's position until it is fixed.
    func apply(_ event: RecordedEvent, to writes: inout ReadModelWrites) throws
}

extension Projection {
    public func table(_ name: String) -> ReadModelTable? { tables.first { $0.name == name } }

    /// The versions whose tables this build's queries can read: its own, by default. A new version that changes only
    /// how events are applied (a fix) and keeps the tables' shape lists the previous version too, and then the old
    /// generation keeps serving while the new one is built; one that changes the tables does not, and its read
    /// models answer "not ready" until the new generation is swapped in.
    public var servesVersions: Set<Int> { [version] }
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
///
/// Names go into SQL as identifiers (they cannot be bound), so every part is checked, and the whole must fit
/// PostgreSQL's 63 bytes with room for an index suffix (`_i9`): PostgreSQL would silently truncate a longer one.
public func physicalTableName(projection: String, version: Int, slot: ReadModelSlot, table: String) -> String {
    let name = "rm_\(projection)_v\(version)\(slot.rawValue)_\(table)"
    precondition(ReadModelTable.isIdentifier(projection) && ReadModelTable.isIdentifier(table) && version > 0 && name.utf8.count <= 60,
                 "projection and table names are short lower-case identifiers: \(name)")
    return name
}
