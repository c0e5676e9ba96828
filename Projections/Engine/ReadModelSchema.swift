import EventLog
import Foundation

/// A value in a read-model row. Dates are `YYYY-MM-DD` text (they sort), times are minutes since midnight,
/// flags are 0 or 1; personal fields are kept as the log's sealed text, never opened here.
public enum ReadModelValue: Sendable, Hashable {
    case null
    case int(Int64)
    case text(String)

    public var int: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public static func int(_ value: Int) -> ReadModelValue { .int(Int64(value)) }
    public static func optionalText(_ value: String?) -> ReadModelValue { value.map(ReadModelValue.text) ?? .null }
}

/// A row of a read-model table, in the order of the table's columns (the tenant column is implicit).
public typealias ReadModelRow = [ReadModelValue]

/// The type of a column.
public enum ReadModelColumnType: String, Sendable, Hashable {
    case text
    case integer
}

public struct ReadModelColumn: Sendable, Hashable {
    public let name: String
    public let type: ReadModelColumnType
    public let nullable: Bool

    public static func text(_ name: String, nullable: Bool = false) -> ReadModelColumn { .init(name: name, type: .text, nullable: nullable) }
    public static func integer(_ name: String, nullable: Bool = false) -> ReadModelColumn { .init(name: name, type: .integer, nullable: nullable) }
}

/// A read-model table as a projection declares it.
///
/// Every physical table starts with `tenant_id`, the first column of its primary key and of every index (the
/// distribution column on Citus); the declared key columns follow. The engine names the physical table after the
/// projection, its version and the blue/green slot, so two generations can live side by side during a rebuild.
public struct ReadModelTable: Sendable, Hashable {
    public let name: String
    public let columns: [ReadModelColumn]
    /// How many leading columns form the primary key (after the tenant).
    public let keyCount: Int
    /// Secondary indexes, each a list of column names (after the tenant).
    public let indexes: [[String]]

    public init(_ name: String, columns: [ReadModelColumn], keyCount: Int, indexes: [[String]] = []) {
        precondition(ReadModelTable.isIdentifier(name), "a table name is a lower-case identifier")
        precondition((1...columns.count).contains(keyCount), "a table has a primary key of 1…\(columns.count) columns")
        precondition(columns.allSatisfy { ReadModelTable.isIdentifier($0.name) && $0.name != "tenant_id" }, "column names are lower-case identifiers")
        precondition(columns.prefix(keyCount).allSatisfy { !$0.nullable }, "key columns are not nullable")
        precondition(indexes.allSatisfy { $0.allSatisfy { name in columns.contains { $0.name == name } } }, "indexes name declared columns")
        self.name = name
        self.columns = columns
        self.keyCount = keyCount
        self.indexes = indexes
    }

    public func index(of column: String) -> Int? { columns.firstIndex { $0.name == column } }

    /// Identifiers are interpolated into SQL (they cannot be bound): only `[a-z][a-z0-9_]*` is accepted.
    static func isIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...40).contains(bytes.count), let first = bytes.first, first >= 0x61, first <= 0x7A else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}

/// The writes of a batch of events to one projection's tables, coalesced by primary key: the last write of a key
/// wins, so a batch flushes as one upsert and one delete per table, in any order. Projections therefore write
/// whole rows and never read their tables while applying: what they need to combine (a departure with its
/// arrival, a placement with its later end) is combined when the read model is queried.
public struct ReadModelWrites: Sendable {
    struct TableChanges: Sendable {
        var upserts: [[ReadModelValue]: ReadModelRow] = [:]
        var deletes: Set<[ReadModelValue]> = []
    }

    var tables: [String: TableChanges] = [:]
    /// Events applied into these writes.
    public internal(set) var eventCount = 0

    public init() {}

    public var isEmpty: Bool { tables.values.allSatisfy { $0.upserts.isEmpty && $0.deletes.isEmpty } }

    /// Inserts or replaces a row.
    public mutating func upsert(_ table: ReadModelTable, _ row: ReadModelRow) {
        precondition(row.count == table.columns.count, "a row of \(table.name) has \(table.columns.count) values")
        let key = Array(row.prefix(table.keyCount))
        tables[table.name, default: .init()].deletes.remove(key)
        tables[table.name, default: .init()].upserts[key] = row
    }

    /// Removes the row with this primary key, if any.
    public mutating func delete(_ table: ReadModelTable, key: [ReadModelValue]) {
        precondition(key.count == table.keyCount, "a key of \(table.name) has \(table.keyCount) values")
        tables[table.name, default: .init()].upserts.removeValue(forKey: key)
        tables[table.name, default: .init()].deletes.insert(key)
    }

    func changes(of table: ReadModelTable) -> (upserts: [ReadModelRow], deletes: [[ReadModelValue]]) {
        guard let changes = tables[table.name] else { return ([], []) }
        return (Array(changes.upserts.values), Array(changes.deletes))
    }
}

/// A condition of a read-model query on one column.
public enum ReadModelCondition: Sendable {
    case equals(String, ReadModelValue)
    case oneOf(String, [ReadModelValue])
    /// Inclusive range; either bound may be absent.
    case between(String, ReadModelValue?, ReadModelValue?)

    var column: String {
        switch self {
        case .equals(let column, _), .oneOf(let column, _), .between(let column, _, _): column
        }
    }
}
