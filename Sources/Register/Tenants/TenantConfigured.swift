import EventLog
import Foundation

/// The event that records an applied tenant configuration: the whole configuration as it now stands, and which
/// parts changed, so the log shows which rules were in force at any moment.
public struct TenantConfigured: Codable, Sendable, Hashable {
    public static let eventType = "TenantConfigured"
    public static let schemaVersion = 1
    /// The stream of a tenant's configuration.
    public static func stream(of tenant: TenantID) -> StreamRef {
        StreamRef(uncheckedType: "tenant", id: tenant.rawValue)
    }

    public var configuration: TenantConfiguration
    /// Paths of what changed since the previous configuration (`units[1].address`); everything on the first apply.
    public var changes: [String]
    /// The file's name it was applied from.
    public var file: String?
}

/// Applying tenant configurations to the log.
public struct TenantConfigurations: Sendable {
    public let store: any EventStore
    public init(store: any EventStore) { self.store = store }

    /// The configuration currently in force for a tenant, and the stream version it is at (0 if never applied).
    public func current(_ tenant: TenantID) async throws -> (configuration: TenantConfiguration?, version: Int64) {
        let events = try await store.readStream(TenantConfigured.stream(of: tenant), of: tenant)
        guard let last = events.last(where: { $0.eventType == TenantConfigured.eventType }) else { return (nil, events.last?.streamVersion ?? 0) }
        let applied = try JSONDecoder().decode(TenantConfigured.self, from: last.payload)
        return (applied.configuration, events.last?.streamVersion ?? 0)
    }

    /// What applying `configuration` would change, without applying it.
    public func changes(_ configuration: TenantConfiguration) async throws -> [String] {
        let (current, _) = try await current(configuration.id)
        return try ConfigurationDiff.paths(from: current, to: configuration)
    }

    /// Records `configuration` as the tenant's configuration, if it differs from the one in force.
    /// - Returns: what changed (empty when nothing did, and then nothing is written).
    /// - Throws: `wrongExpectedVersion` if someone else applied a configuration in between.
    @discardableResult
    public func apply(_ configuration: TenantConfiguration, file: String?, metadata: EventMetadata) async throws -> [String] {
        let (current, version) = try await current(configuration.id)
        let changes = try ConfigurationDiff.paths(from: current, to: configuration)
        guard !changes.isEmpty else { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payload = try encoder.encode(TenantConfigured(configuration: configuration, changes: changes, file: file))
        let stream = TenantConfigured.stream(of: configuration.id)
        let event = ProposedEvent(stream: stream, eventType: TenantConfigured.eventType, schemaVersion: TenantConfigured.schemaVersion, payload: payload)
        _ = try await store.append([event], to: configuration.id, metadata: metadata, expecting: [stream: version == 0 ? .noStream : .exact(version)])
        return changes
    }
}

/// Which parts of a configuration differ, as paths: named lists (units, registers, roles …) are compared by id
/// or code, so reordering them is no change.
enum ConfigurationDiff {
    static func paths(from old: TenantConfiguration?, to new: TenantConfiguration) throws -> [String] {
        let newTree = try tree(new)
        guard let old else { return ["(all)"] }
        var paths: [String] = []
        compare(try tree(old), newTree, path: "", into: &paths)
        return paths
    }

    private static func tree(_ configuration: TenantConfiguration) throws -> Any {
        try JSONSerialization.jsonObject(with: try JSONEncoder().encode(configuration))
    }

    private static func identity(_ value: Any) -> String? {
        guard let object = value as? [String: Any] else { return nil }
        for key in ["id", "code", "documentClass", "role"] { if let id = object[key] as? String { return id } }
        return nil
    }

    /// A value's canonical JSON text, for comparing leaves and unkeyed lists.
    private static func canonical(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) {
            return String(decoding: data, as: UTF8.self)
        }
        return String(describing: value)
    }

    private static func compare(_ old: Any, _ new: Any, path: String, into paths: inout [String]) {
        switch (old, new) {
        case let (old as [String: Any], new as [String: Any]):
            for key in Set(old.keys).union(new.keys).sorted() {
                let child = path.isEmpty ? key : "\(path).\(key)"
                switch (old[key], new[key]) {
                case let (before?, after?): compare(before, after, path: child, into: &paths)
                case (nil, _?): paths.append("\(child) (added)")
                case (_?, nil): paths.append("\(child) (removed)")
                default: break
                }
            }
        case let (old as [Any], new as [Any]):
            let oldIDs = old.map(identity), newIDs = new.map(identity)
            if !oldIDs.contains(nil), !newIDs.contains(nil) {
                let before = Dictionary(zip(oldIDs.compactMap { $0 }, old), uniquingKeysWith: { first, _ in first })
                let after = Dictionary(zip(newIDs.compactMap { $0 }, new), uniquingKeysWith: { first, _ in first })
                for id in Set(before.keys).union(after.keys).sorted() {
                    let child = "\(path)[\(id)]"
                    switch (before[id], after[id]) {
                    case let (b?, a?): compare(b, a, path: child, into: &paths)
                    case (nil, _?): paths.append("\(child) (added)")
                    case (_?, nil): paths.append("\(child) (removed)")
                    default: break
                    }
                }
            } else if canonical(old) != canonical(new) {
                paths.append(path)
            }
        default:
            if canonical(old) != canonical(new) { paths.append(path) }
        }
    }
}
