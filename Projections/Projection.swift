import EventLog

/// A read model built from a tenant's log: it declares what it handles and how to apply events to its tables.
///
/// The engine that runs projections per tenant, stores checkpoints with the read-model writes, follows the live
/// subscription and rebuilds blue/green is the projections issue's work; this is the contract it builds on.
/// Projections read the log and never write it.
public protocol Projection: Sendable {
    /// A stable name, used in table names and the CLI.
    static var name: String { get }
    /// Bumped whenever the read model's shape or meaning changes; a new version is rebuilt from the log.
    static var version: Int { get }
    /// The event types it reads; others are skipped without being decoded.
    static var eventTypes: Set<String> { get }
}
