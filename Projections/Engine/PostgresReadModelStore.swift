import EventLog
import EventLogPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Read models in the schema `register_readmodels` of the log's PostgreSQL database.
///
/// The tables are created by the schema's owner (`register db migrate`, or `serve` given the owner's URL): the
/// service's role only reads and writes rows. Every read-model table carries `tenant_id` first and is under the same
/// forced row-level security as the log, bound per transaction; `rm_state` holds checkpoints only (no personal data).
/// A batch is written as one `INSERT … ON CONFLICT` and one `DELETE` per table, its rows passed as one JSON
/// parameter (`jsonb_to_recordset`), so a batch of thousands of events costs a handful of round trips.
public final class PostgresReadModelStore: ReadModelStore, Service {
    public static let schema = "register_readmodels"
    let client: PostgresClient
    let logger: Logger
    private let started = Mutex(false)

    public init(url: PostgresConnectionURL, maximumConnections: Int = 8, logger: Logger) throws {
        self.logger = logger
        self.client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger)
    }

    public func run() async throws {
        started.withLock { $0 = true }
        await client.run()
    }

    // MARK: Schema

    /// Creates the state table and every projection's tables (both slots), with row-level security and the
    /// application role's privileges; idempotent. Run as the schema's owner.
    public static func migrate(ownerURL: PostgresConnectionURL, applicationRole: String, projections: [any Projection], logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration: ownerURL.connectionConfiguration(), id: 1, logger: logger)
        do {
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext('register_readmodels.migrations'))", logger: logger)
            for statement in statements(for: projections, applicationRole: applicationRole) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw ProjectionError(.storageFailure, "the read-model schema cannot be migrated: \(String(reflecting: error))")
        }
    }

    static func statements(for projections: [any Projection], applicationRole role: String) -> [String] {
        let s = schema
        var statements = [
            "CREATE SCHEMA IF NOT EXISTS \(s)",
            """
            CREATE TABLE IF NOT EXISTS \(s).rm_state (
                tenant_id text NOT NULL, projection text NOT NULL, version integer NOT NULL, slot text NOT NULL,
                role text NOT NULL, position bigint NOT NULL, updated_at_us bigint NOT NULL,
                failed_position bigint, failure text,
                PRIMARY KEY (tenant_id, projection, version, slot))
            """,
            "REVOKE ALL ON ALL TABLES IN SCHEMA \(s) FROM PUBLIC",
            "GRANT USAGE ON SCHEMA \(s) TO \"\(role)\"",
            "GRANT SELECT, INSERT, UPDATE ON \(s).rm_state TO \"\(role)\"",
        ]
        for projection in projections {
            for slot in [ReadModelSlot.a, .b] {
                for table in projection.tables {
                    let name = "\(s).\(physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name))"
                    let columns = table.columns.map { "\($0.name) \($0.type == .text ? "text" : "bigint")\($0.nullable ? "" : " NOT NULL")" }
                    let key = (["tenant_id"] + table.columns.prefix(table.keyCount).map(\.name)).joined(separator: ", ")
                    statements.append("CREATE TABLE IF NOT EXISTS \(name) (tenant_id text NOT NULL, \(columns.joined(separator: ", ")), PRIMARY KEY (\(key)))")
                    for (offset, index) in table.indexes.enumerated() {
                        let indexName = "\(physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name))_i\(offset + 1)"
                        statements.append("CREATE INDEX IF NOT EXISTS \(indexName) ON \(name) (tenant_id, \(index.joined(separator: ", ")))")
                    }
                    statements += [
                        "ALTER TABLE \(name) ENABLE ROW LEVEL SECURITY",
                        "ALTER TABLE \(name) FORCE ROW LEVEL SECURITY",
                        "DROP POLICY IF EXISTS tenant_isolation ON \(name)",
                        """
                        CREATE POLICY tenant_isolation ON \(name)
                            USING (tenant_id = current_setting('register.tenant_id', true))
                            WITH CHECK (tenant_id = current_setting('register.tenant_id', true))
                        """,
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON \(name) TO \"\(role)\"",
                    ]
                }
            }
        }
        return statements
    }

    public func prepare(_ projections: [any Projection]) async throws {
        // Usually called right after `run()` was scheduled: give the pool a moment to start rather than race it.
        for _ in 0..<500 where !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        let expected = projections.flatMap { projection in
            [ReadModelSlot.a, .b].flatMap { slot in
                projection.tables.map { "\(Self.schema).\(physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: $0.name))" }
            }
        } + ["\(Self.schema).rm_state"]
        var missing: [String] = []
        try await withClient { client in
            for name in expected {
                let rows = try await client.query("SELECT to_regclass(\(name)) IS NOT NULL", logger: self.logger)
                for try await exists in rows.decode(Bool.self) where !exists { missing.append(name) }
            }
        }
        if !missing.isEmpty {
            throw ProjectionError(.notPrepared, "the read-model tables \(missing.prefix(3).joined(separator: ", "))\(missing.count > 3 ? " …" : "") are missing; run `register db migrate` with the owner's URL")
        }
    }

    // MARK: State

    static let stateColumns = "tenant_id, projection, version, slot, role, position, updated_at_us, failed_position, failure"

    public func states(of tenant: TenantID?) async throws -> [ProjectionState] {
        try await withClient { client in
            let rows = if let tenant {
                try await client.query("SELECT \(unescaped: Self.stateColumns) FROM register_readmodels.rm_state WHERE tenant_id = \(tenant.rawValue) ORDER BY projection, version, slot", logger: self.logger)
            } else {
                try await client.query("SELECT \(unescaped: Self.stateColumns) FROM register_readmodels.rm_state ORDER BY tenant_id, projection, version, slot", logger: self.logger)
            }
            var states: [ProjectionState] = []
            for try await row in rows.decode((String, String, Int, String, String, Int64, Int64, Int64?, String?).self) {
                if let state = Self.state(row) { states.append(state) }
            }
            return states
        }
    }

    static func state(_ row: (String, String, Int, String, String, Int64, Int64, Int64?, String?)) -> ProjectionState? {
        guard let tenant = try? TenantID(row.0), let slot = ReadModelSlot(rawValue: row.3), let role = ProjectionState.Role(rawValue: row.4) else { return nil }
        return ProjectionState(tenant: tenant, projection: row.1, version: row.2, slot: slot, role: role, position: LogPosition(row.5),
                               updatedAt: Timestamp(rawValue: row.6), failedPosition: row.7.map { LogPosition($0) }, failure: row.8)
    }

    public func startGeneration(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, role: ProjectionState.Role, at time: Timestamp) async throws -> ProjectionState {
        try await inTransaction(tenant) { connection in
            if role == .building {
                for table in projection.tables {
                    let name = physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name)
                    try await connection.query("DELETE FROM register_readmodels.\(unescaped: name) WHERE tenant_id = \(tenant.rawValue)", logger: self.logger)
                }
                try await connection.query("""
                    INSERT INTO register_readmodels.rm_state (tenant_id, projection, version, slot, role, position, updated_at_us)
                    VALUES (\(tenant.rawValue), \(projection.name), \(projection.version), \(slot.rawValue), \(role.rawValue), 0, \(time.rawValue))
                    ON CONFLICT (tenant_id, projection, version, slot) DO UPDATE
                    SET role = EXCLUDED.role, position = 0, updated_at_us = EXCLUDED.updated_at_us, failed_position = NULL, failure = NULL
                    """, logger: self.logger)
            } else {
                // A first active generation never replaces one that another process started meanwhile.
                try await connection.query("""
                    INSERT INTO register_readmodels.rm_state (tenant_id, projection, version, slot, role, position, updated_at_us)
                    VALUES (\(tenant.rawValue), \(projection.name), \(projection.version), \(slot.rawValue), \(role.rawValue), 0, \(time.rawValue))
                    ON CONFLICT (tenant_id, projection, version, slot) DO NOTHING
                    """, logger: self.logger)
            }
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.stateColumns) FROM register_readmodels.rm_state
                WHERE tenant_id = \(tenant.rawValue) AND projection = \(projection.name) AND version = \(projection.version) AND slot = \(slot.rawValue)
                """, logger: self.logger)
            for try await row in rows.decode((String, String, Int, String, String, Int64, Int64, Int64?, String?).self) {
                if let state = Self.state(row) { return state }
            }
            throw ProjectionError(.storageFailure, "the projection state was not stored")
        }
    }

    public func commit(_ writes: ReadModelWrites, of projection: any Projection, tenant: TenantID, slot: ReadModelSlot,
                       from: LogPosition, to: LogPosition, at time: Timestamp) async throws {
        try await inTransaction(tenant) { connection in
            let moved = try await connection.query("""
                UPDATE register_readmodels.rm_state SET position = \(to.rawValue), updated_at_us = \(time.rawValue), failed_position = NULL, failure = NULL
                WHERE tenant_id = \(tenant.rawValue) AND projection = \(projection.name) AND version = \(projection.version) AND slot = \(slot.rawValue)
                  AND position = \(from.rawValue) AND role <> 'retired'
                RETURNING 1
                """, logger: self.logger)
            var count = 0
            for try await _ in moved { count += 1 }
            guard count == 1 else { throw ProjectionError(.moved, "the checkpoint of \(projection.name) for \(tenant) is no longer at \(from)") }
            for table in projection.tables {
                let (upserts, deletes) = writes.changes(of: table)
                let name = "register_readmodels.\(physicalTableName(projection: projection.name, version: projection.version, slot: slot, table: table.name))"
                let keyColumns = Array(table.columns.prefix(table.keyCount))
                if !deletes.isEmpty {
                    let record = keyColumns.map { "\($0.name) \($0.type == .text ? "text" : "bigint")" }.joined(separator: ", ")
                    let match = keyColumns.map { "t.\($0.name) = r.\($0.name)" }.joined(separator: " AND ")
                    var binds = PostgresBindings()
                    binds.append(tenant.rawValue)
                    binds.append(Self.json(deletes, columns: keyColumns))
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        DELETE FROM \(name) t USING jsonb_to_recordset($2::jsonb) AS r(\(record)) WHERE t.tenant_id = $1 AND \(match)
                        """, binds: binds), logger: self.logger)
                }
                if !upserts.isEmpty {
                    let record = table.columns.map { "\($0.name) \($0.type == .text ? "text" : "bigint")" }.joined(separator: ", ")
                    let columns = table.columns.map(\.name).joined(separator: ", ")
                    let key = (["tenant_id"] + keyColumns.map(\.name)).joined(separator: ", ")
                    let others = table.columns.dropFirst(table.keyCount).map { "\($0.name) = EXCLUDED.\($0.name)" }
                    let onConflict = others.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(others.joined(separator: ", "))"
                    var binds = PostgresBindings()
                    binds.append(tenant.rawValue)
                    binds.append(Self.json(upserts, columns: table.columns))
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        INSERT INTO \(name) (tenant_id, \(columns)) SELECT $1, \(columns) FROM jsonb_to_recordset($2::jsonb) AS r(\(record))
                        ON CONFLICT (\(key)) \(onConflict)
                        """, binds: binds), logger: self.logger)
                }
            }
        }
    }

    public func recordFailure(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot, at position: LogPosition, message: String,
                              time: Timestamp) async throws {
        try await inTransaction(tenant) { connection in
            try await connection.query("""
                UPDATE register_readmodels.rm_state SET failed_position = \(position.rawValue), failure = \(message), updated_at_us = \(time.rawValue)
                WHERE tenant_id = \(tenant.rawValue) AND projection = \(projection.name) AND version = \(projection.version) AND slot = \(slot.rawValue)
                  AND position = \(position.rawValue - 1) AND role <> 'retired'
                """, logger: self.logger)
        }
    }

    public func swap(_ projection: any Projection, tenant: TenantID, building slot: ReadModelSlot, at position: LogPosition, time: Timestamp) async throws {
        try await inTransaction(tenant) { connection in
            let swapped = try await connection.query("""
                UPDATE register_readmodels.rm_state SET role = 'active', updated_at_us = \(time.rawValue)
                WHERE tenant_id = \(tenant.rawValue) AND projection = \(projection.name) AND version = \(projection.version) AND slot = \(slot.rawValue)
                  AND role = 'building' AND position = \(position.rawValue)
                RETURNING 1
                """, logger: self.logger)
            var count = 0
            for try await _ in swapped { count += 1 }
            guard count == 1 else { throw ProjectionError(.moved, "the rebuild of \(projection.name) for \(tenant) is no longer at \(position)") }
            try await connection.query("""
                UPDATE register_readmodels.rm_state SET role = 'retired', updated_at_us = \(time.rawValue)
                WHERE tenant_id = \(tenant.rawValue) AND projection = \(projection.name) AND role = 'active'
                  AND NOT (version = \(projection.version) AND slot = \(slot.rawValue))
                """, logger: self.logger)
        }
    }

    // MARK: Reading

    public func read(_ queries: [ReadModelQuery], tenant: TenantID) async throws -> [[ReadModelRow]] {
        try await withClient { client in
            try await client.withConnection { connection in
                // One snapshot for the whole read, bound to the tenant.
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
                do {
                    try await connection.query("SELECT set_config('register.tenant_id', \(tenant.rawValue), true), set_config('jit', 'off', true)", logger: self.logger)
                    var active: [String: (Int, ReadModelSlot)] = [:]
                    let states = try await connection.query(
                        "SELECT projection, version, slot FROM register_readmodels.rm_state WHERE tenant_id = \(tenant.rawValue) AND role = 'active'", logger: self.logger)
                    for try await (projection, version, slot) in states.decode((String, Int, String).self) {
                        if let slot = ReadModelSlot(rawValue: slot) { active[projection] = (version, slot) }
                    }
                    var results: [[ReadModelRow]] = []
                    for query in queries {
                        results.append(try await self.run(query, active: active, tenant: tenant, on: connection))
                    }
                    try await connection.query("COMMIT", logger: self.logger)
                    return results
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            }
        }
    }

    private func run(_ query: ReadModelQuery, active: [String: (Int, ReadModelSlot)], tenant: TenantID, on connection: PostgresConnection) async throws -> [ReadModelRow] {
        let (version, slot) = try query.generation(in: active)
        let name = "register_readmodels.\(physicalTableName(projection: query.projection, version: version, slot: slot, table: query.table.name))"
        var sql = "SELECT \(query.table.columns.map(\.name).joined(separator: ", ")) FROM \(name) WHERE tenant_id = $1"
        var binds = PostgresBindings()
        binds.append(tenant.rawValue)
        func bind(_ value: ReadModelValue) -> String {
            switch value {
            case .null: binds.appendNull()
            case .int(let int): binds.append(int)
            case .text(let text): binds.append(text)
            }
            return "$\(binds.count)"
        }
        for condition in query.conditions {
            switch condition {
            case .equals(let column, let value):
                sql += " AND \(column) = \(bind(value))"
            case .oneOf(let column, let values):
                guard !values.isEmpty else { return [] }
                if values.allSatisfy({ $0.int != nil }) {
                    binds.append(values.compactMap(\.int))
                    sql += " AND \(column) = ANY($\(binds.count)::bigint[])"
                } else {
                    binds.append(values.compactMap(\.text))
                    sql += " AND \(column) = ANY($\(binds.count)::text[])"
                }
            case .between(let column, let low, let high):
                if let low { sql += " AND \(column) >= \(bind(low))" }
                if let high { sql += " AND \(column) <= \(bind(high))" }
            }
        }
        let types = query.table.columns.map(\.type)
        var rows: [ReadModelRow] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            let cells = row.makeRandomAccess()
            rows.append(try types.indices.map { index in
                switch types[index] {
                case .text: return try cells[index].decode(String?.self).map(ReadModelValue.text) ?? .null
                case .integer: return try cells[index].decode(Int64?.self).map(ReadModelValue.int) ?? .null
                }
            })
        }
        return rows
    }

    // MARK: Plumbing

    private func withClient<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        do {
            return try await body(client)
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "the read-model database failed: \(String(reflecting: error))")
        }
    }

    @discardableResult
    private func inTransaction<T: Sendable>(_ tenant: TenantID, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT set_config('register.tenant_id', \(tenant.rawValue), true), set_config('jit', 'off', true)", logger: self.logger)
                return try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? ProjectionError { throw inner }
            throw ProjectionError(.storageFailure, "the read-model transaction failed: \(String(reflecting: error))")
        } catch let error as ProjectionError {
            throw error
        } catch {
            throw ProjectionError(.storageFailure, "the read-model database failed: \(String(reflecting: error))")
        }
    }

    /// Rows as a JSON array of objects, for `jsonb_to_recordset`.
    static func json(_ rows: [[ReadModelValue]], columns: [ReadModelColumn]) -> String {
        var out = "["
        out.reserveCapacity(rows.count * columns.count * 24)
        for (rowIndex, row) in rows.enumerated() {
            if rowIndex > 0 { out += "," }
            out += "{"
            for (index, column) in columns.enumerated() {
                if index > 0 { out += "," }
                out += "\"\(column.name)\":"
                switch row[index] {
                case .null: out += "null"
                case .int(let int): out += String(int)
                case .text(let text): appendJSONString(text, to: &out)
                }
            }
            out += "}"
        }
        return out + "]"
    }

    static func appendJSONString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
