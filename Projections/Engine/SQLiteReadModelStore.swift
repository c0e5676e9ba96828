import EventLog
import Foundation
import GRDB

/// Read models in an SQLite file of their own (`register.sqlite` → `register-readmodels.sqlite`), so projection
/// writes never wait for the log's writer or hold it up.
///
/// `synchronous=NORMAL` (not the log's FULL): a checkpoint commits with its writes, so a commit lost to a power cut
/// loses both together and the runner applies those events again from the log.
public final class SQLiteReadModelStore: ReadModelStore {
    let pool: DatabasePool
    public let path: String

    public init(path: String) throws {
        self.path = path
        _ = try OwnerOnlyFile.create(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            // A rebuild's batch touches pages all over its tables: a 64 MiB page cache keeps them (and the trees'
            // inner pages) in memory between batches, and checkpointing the WAL every 32 MiB rather than every 4 MiB
            // writes a page that several batches changed back to the file once.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS rm_state (
                        tenant_id TEXT NOT NULL, projection TEXT NOT NULL, version INTEGER NOT NULL, slot TEXT NOT NULL,
                        role TEXT NOT NULL, position INTEGER NOT NULL, updated_at_us INTEGER NOT NULL,
                        failed_position INTEGER, failure TEXT,
                        PRIMARY KEY (tenant_id, projection, version, slot)) WITHOUT ROWID
                    """)
            }
        } catch {
            throw ProjectionError(.storageFailure, "the read-model database \(path) cannot be opened: \(error)")
        }
    }

    /// The read models' file beside a log file.
    public static func path(besideLog path: String) -> String {
        path.hasSuffix(".sqlite") ? String(path.dropLast(".sqlite".count)) + "-readmodels.sqlite" : path + "-readmodels"
    }

    public func close() throws { try pool.close() }

    public func prepare(_ projections: [any Projection]) async throws {
        try await write { db in
            for projection in projections {
                for slot in [ReadModelSlot.a, .b] {
                    for statement in ReadModelDDL.sqlite(projection, slot: slot) { try db.execute(sql: statement) }
                }
            }
        }
    }

    public func states(of tenant: TenantID?) async throws -> [ProjectionState] {
        try await pool.read { db in
            let sql = "SELECT tenant_id, projection, version, slot, role, position, updated_at_us, failed_position, failure FROM rm_state"
            let rows = if let tenant {
                try Row.fetchAll(db, sql: sql + " WHERE tenant_id = ? ORDER BY projection, version, slot", arguments: [tenant.rawValue])
            } else {
                try Row.fetchAll(db, sql: sql + " ORDER BY tenant_id, projection, version, slot")
            }
            return rows.compactMap(Self.state)
        }
    }

    static func state(_ row: Row) -> ProjectionState? {
        guard let tenant = try? TenantID(row[0] as String), let slot = ReadModelSlot(rawValue: row[3]), let role = ProjectionState.Role(rawValue: row[4]) else { return nil }
        return ProjectionState(tenant: tenant, projection: row[1], version: row[2], slot: slot, role: role, position: LogPosition(row[5] as Int64),
                               updatedAt: Timestamp(rawValue: row[6]), failedPosition: (row[7] as Int64?).map { LogPosition($0) }, failure: row[8])
    }

    public func startGeneration(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, role: ProjectionState.Role, at time: Timestamp) async throws -> ProjectionState {
        try await write { db in
            if role == .building {
                for table in projection.tables {
                    let name = physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name)
                    try db.execute(sql: "DELETE FROM \(name) WHERE tenant_id = ?", arguments: [tenant.rawValue])
                }
            }
            // A first active generation never replaces one that another process started meanwhile; a rebuild starts over.
            try db.execute(sql: """
                INSERT OR \(role == .building ? "REPLACE" : "IGNORE") INTO rm_state (tenant_id, projection, version, slot, role, position, updated_at_us)
                VALUES (?, ?, ?, ?, ?, 0, ?)
                """, arguments: [tenant.rawValue, projection.name, projection.version, slot.rawValue, role.rawValue, time.rawValue])
            let row = try Row.fetchOne(db, sql: """
                SELECT tenant_id, projection, version, slot, role, position, updated_at_us, failed_position, failure FROM rm_state
                WHERE tenant_id = ? AND projection = ? AND version = ? AND slot = ?
                """, arguments: [tenant.rawValue, projection.name, projection.version, slot.rawValue])
            guard let state = row.flatMap(Self.state) else { throw ProjectionError(.storageFailure, "the projection state was not stored") }
            return state
        }
    }

    public func commit(_ writes: ReadModelWrites, of projection: any Projection, tenant: TenantID, slot: ReadModelSlot,
                       from: LogPosition, to: LogPosition, at time: Timestamp) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE rm_state SET position = ?, updated_at_us = ?, failed_position = NULL, failure = NULL
                WHERE tenant_id = ? AND projection = ? AND version = ? AND slot = ? AND position = ? AND role <> 'retired'
                """, arguments: [to.rawValue, time.rawValue, tenant.rawValue, projection.name, projection.version, slot.rawValue, from.rawValue])
            guard db.changesCount == 1 else {
                throw ProjectionError(.moved, "the checkpoint of \(projection.name) for \(tenant) is no longer at \(from)")
            }
            for table in projection.tables {
                let (upserts, deletes) = writes.changes(of: table)
                let name = physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name)
                if !deletes.isEmpty {
                    let condition = table.columns.prefix(table.keyCount).map { "\($0.name) = ?" }.joined(separator: " AND ")
                    let statement = try db.cachedStatement(sql: "DELETE FROM \(name) WHERE tenant_id = ? AND \(condition)")
                    for key in deletes { try statement.execute(arguments: Self.arguments(tenant, key)) }
                }
                if !upserts.isEmpty {
                    let columns = (["tenant_id"] + table.columns.map(\.name)).joined(separator: ", ")
                    let marks = Array(repeating: "?", count: table.columns.count + 1).joined(separator: ", ")
                    let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(name) (\(columns)) VALUES (\(marks))")
                    for row in upserts { try statement.execute(arguments: Self.arguments(tenant, row)) }
                }
            }
        }
    }

    public func recordFailure(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, at position: LogPosition, message: String,
                              time: Timestamp) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE rm_state SET failed_position = ?, failure = ?, updated_at_us = ?
                WHERE tenant_id = ? AND projection = ? AND version = ? AND slot = ? AND position = ? AND role <> 'retired'
                """, arguments: [position.rawValue, message, time.rawValue, tenant.rawValue, projection.name, projection.version, slot.rawValue,
                                 position.rawValue - 1])
        }
    }

    public func swap(_ projection: any Projection, tenant: TenantID, building slot: ReadModelSlot, at position: LogPosition, time: Timestamp) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE rm_state SET role = 'active', updated_at_us = ?
                WHERE tenant_id = ? AND projection = ? AND version = ? AND slot = ? AND role = 'building' AND position = ?
                """, arguments: [time.rawValue, tenant.rawValue, projection.name, projection.version, slot.rawValue, position.rawValue])
            guard db.changesCount == 1 else {
                throw ProjectionError(.moved, "the rebuild of \(projection.name) for \(tenant) is no longer at \(position)")
            }
            try db.execute(sql: """
                UPDATE rm_state SET role = 'retired', updated_at_us = ?
                WHERE tenant_id = ? AND projection = ? AND role = 'active' AND NOT (version = ? AND slot = ?)
                """, arguments: [time.rawValue, tenant.rawValue, projection.name, projection.version, slot.rawValue])
        }
    }

    public func read(_ queries: [ReadModelQuery], tenant: TenantID) async throws -> [[ReadModelRow]] {
        do {
            return try await pool.read { db in
                var active: [String: (Int, ReadModelSlot)] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT projection, version, slot FROM rm_state WHERE tenant_id = ? AND role = 'active'", arguments: [tenant.rawValue]) {
                    if let slot = ReadModelSlot(rawValue: row[2]) { active[row[0]] = (row[1], slot) }
                }
                return try queries.map { query in
                    let (version, slot) = try query.generation(in: active)
                    let name = physicalTableName(projection: query.projection, version: version, slot: slot, table: query.table.name)
                    var sql = "SELECT \(query.table.columns.map(\.name).joined(separator: ", ")) FROM \(name) WHERE tenant_id = ?"
                    var arguments: [ReadModelValue] = [.text(tenant.rawValue)]
                    for condition in query.conditions {
                        switch condition {
                        case .equals(let column, let value):
                            sql += " AND \(column) = ?"
                            arguments.append(value)
                        case .oneOf(let column, let values):
                            guard !values.isEmpty else { return [] }
                            sql += " AND \(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))"
                            arguments += values
                        case .between(let column, let low, let high):
                            if let low {
                                sql += " AND \(column) >= ?"
                                arguments.append(low)
                            }
                            if let high {
                                sql += " AND \(column) <= ?"
                                arguments.append(high)
                            }
                        }
                    }
                    let statement = try db.cachedStatement(sql: sql)
                    let types = query.table.columns.map(\.type)
                    return try Row.fetchAll(statement, arguments: Self.arguments(nil, arguments)).map { row in
                        types.indices.map { index in Self.value(row[index] as DatabaseValue) }
                    }
                }
            }
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "the read models cannot be read: \(error)")
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "the read-model database failed: \(error)")
        }
    }

    static func arguments(_ tenant: TenantID?, _ values: [ReadModelValue]) -> StatementArguments {
        var databaseValues: [DatabaseValue] = []
        databaseValues.reserveCapacity(values.count + 1)
        if let tenant { databaseValues.append(tenant.rawValue.databaseValue) }
        for value in values {
            switch value {
            case .null: databaseValues.append(.null)
            case .int(let int): databaseValues.append(int.databaseValue)
            case .text(let text): databaseValues.append(text.databaseValue)
            }
        }
        return StatementArguments(databaseValues)
    }

    static func value(_ value: DatabaseValue) -> ReadModelValue {
        switch value.storage {
        case .null: .null
        case .int64(let int): .int(int)
        case .double(let double): .int(Int64(double))
        case .string(let text): .text(text)
        case .blob(let data): .text(String(decoding: data, as: UTF8.self))
        }
    }
}

/// The tables' definitions in each dialect.
enum ReadModelDDL {
    static func sqlite(_ projection: any Projection, slot: ReadModelSlot) -> [String] {
        projection.tables.flatMap { table -> [String] in
            let name = physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name)
            let columns = table.columns.map { "\($0.name) \($0.type == .text ? "TEXT" : "INTEGER")\($0.nullable ? "" : " NOT NULL")" }
            let key = (["tenant_id"] + table.columns.prefix(table.keyCount).map(\.name)).joined(separator: ", ")
            return ["CREATE TABLE IF NOT EXISTS \(name) (tenant_id TEXT NOT NULL, \(columns.joined(separator: ", ")), PRIMARY KEY (\(key))) WITHOUT ROWID"]
                + table.indexes.enumerated().map { offset, index in
                    "CREATE INDEX IF NOT EXISTS \(name)_i\(offset + 1) ON \(name) (tenant_id, \(index.joined(separator: ", ")))"
                }
        }
    }
}
