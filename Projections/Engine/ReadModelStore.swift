import EventLog
import Foundation

/// Where read models live: tables of every projection (two blue/green slots per version) and their checkpoints.
///
/// The SQLite store keeps them in a database file of their own beside the log (its writer never waits for the log's);
/// the PostgreSQL store in the schema `register_readmodels` of the log's database, under the same row-level security.
public protocol ReadModelStore: Sendable {
    /// Makes the projections' tables usable: SQLite creates what is missing; PostgreSQL checks that `register db migrate`
    /// created them (the service's role creates nothing).
    func prepare(_ projections: [any Projection]) async throws

    /// The states of every projection of a tenant, or of every tenant.
    func states(of tenant: TenantID?) async throws -> [ProjectionState]

    /// Starts a generation of a projection in a slot, at position 0: as the tenant's first (active) generation, or as a
    /// rebuild (building), in which case the slot's leftover rows of the tenant are removed in the same transaction.
    func startGeneration(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, role: ProjectionState.Role, at time: Timestamp) async throws -> ProjectionState

    /// Commits a batch's writes and moves the generation's checkpoint from `from` to `to`, in one transaction.
    /// - Throws: `ProjectionError.moved` when the checkpoint is no longer at `from` or the generation was retired
    ///   (another runner got there first); nothing is written then.
    func commit(_ writes: ReadModelWrites, of projection: any Projection, tenant: TenantID, slot: ReadModelSlot,
                from: LogPosition, to: LogPosition, at time: Timestamp) async throws

    /// Records that applying the event at `position` failed, provided the generation stands right before it and is not
    /// retired (a stale runner cannot mark a generation that has moved on).
    func recordFailure(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, at position: LogPosition, message: String,
                       time: Timestamp) async throws

    /// Makes the building generation the active one and retires the previous active generation, atomically, provided the
    /// building checkpoint is at `position`.
    func swap(_ projection: any Projection, tenant: TenantID, building slot: ReadModelSlot, at position: LogPosition, time: Timestamp) async throws

    /// Reads rows of active generations, all queries in one snapshot.
    /// - Throws: `ProjectionError.notReady` when a projection has no active generation of a version its query can read
    ///   (the tenant's first build, or a new version whose tables differ, still being built).
    func read(_ queries: [ReadModelQuery], tenant: TenantID) async throws -> [[ReadModelRow]]
}

/// One query of a read: rows of a table of the active generation of a projection.
public struct ReadModelQuery: Sendable {
    public let projection: String
    /// The versions whose tables this query can read (`Projection.servesVersions`).
    public let versions: Set<Int>
    public let table: ReadModelTable
    public let conditions: [ReadModelCondition]

    public init(_ projection: any Projection, _ table: ReadModelTable, where conditions: [ReadModelCondition] = []) {
        precondition(conditions.allSatisfy { table.index(of: $0.column) != nil }, "conditions name columns of \(table.name)")
        self.projection = projection.name
        self.versions = projection.servesVersions
        self.table = table
        self.conditions = conditions
    }

    /// The active generation this query reads, or `notReady`.
    func generation(in active: [String: (Int, ReadModelSlot)]) throws(ProjectionError) -> (Int, ReadModelSlot) {
        guard let (version, slot) = active[projection], versions.contains(version) else {
            throw ProjectionError(.notReady, "the read model \(projection) is being built")
        }
        return (version, slot)
    }
}

/// Errors of the projection engine.
public struct ProjectionError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The checkpoint moved under this runner, or its generation was swapped out.
        case moved
        /// The read-model tables are missing or of another shape.
        case notPrepared = "not-prepared"
        /// A request named an unknown projection or tenant.
        case unknown
        /// The read model has no generation this build can serve yet (being built).
        case notReady = "not-ready"
        case storageFailure = "storage-failure"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
