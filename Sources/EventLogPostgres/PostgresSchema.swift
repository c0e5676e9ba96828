import EventLog
import Foundation
import Logging
import PostgresNIO

/// Versioned migrations of the PostgreSQL store, applied by `PostgresMigrator` as the schema's owner.
///
/// Never edit a registered migration: append the next one. Each is a list of single statements (the extended
/// query protocol runs one statement at a time).
///
/// Layout: everything lives in the schema `register`. Every key starts with `tenant_id`, the distribution column
/// for Citus (see docs/operations.md); no table references another across tenants.
public enum PostgresSchema {
    /// The register's own log.
    public static let defaultName = "register"

    struct Migration {
        let version: Int
        let name: String
        let statements: [String]
    }

    static let migrations: [Migration] = [eventLog, streamReads, manyStreamReads, appendStart]

    /// A migration's statements for the log in `schema`: the text is written for `register`, and every qualified
    /// name is moved to `schema`. The row-level security setting keeps its name ('register.tenant_id', quoted).
    static func statements(of migration: Migration, in schema: String) -> [String] {
        guard schema != defaultName else { return migration.statements }
        let qualified = try? NSRegularExpression(pattern: "(?<!')\\bregister\\.")
        return migration.statements.map { statement in
            qualified?.stringByReplacingMatches(in: statement, range: NSRange(statement.startIndex..., in: statement), withTemplate: "\(schema).") ?? statement
        }
    }

    /// The version this build reads and writes.
    static var currentVersion: Int { migrations.map(\.version).max() ?? 0 }

    static let eventLog = Migration(version: 1, name: "event log, keys, row-level security, append-only triggers", statements: [
        """
        CREATE TABLE register.tenants (
            tenant_id text PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // The head row is the per-tenant append lock (SELECT … FOR UPDATE) and records the last position and hash.
        """
        CREATE TABLE register.log_heads (
            tenant_id text PRIMARY KEY REFERENCES register.tenants (tenant_id),
            last_pos bigint NOT NULL CHECK (last_pos >= 0),
            last_hash bytea NOT NULL CHECK (length(last_hash) = 32),
            last_recorded_at_us bigint NOT NULL
        )
        """,
        """
        CREATE TABLE register.log_events (
            tenant_id text NOT NULL,
            pos bigint NOT NULL CHECK (pos >= 1),
            event_id uuid NOT NULL,
            stream_type text NOT NULL,
            stream_id text NOT NULL,
            stream_version bigint NOT NULL CHECK (stream_version >= 1),
            event_type text NOT NULL,
            schema_version integer NOT NULL,
            recorded_at_us bigint NOT NULL,
            actor_user text NOT NULL,
            actor_role text NOT NULL,
            correlation_id uuid,
            causation_id uuid,
            subjects uuid[] NOT NULL,
            payload bytea NOT NULL,
            prev_hash bytea NOT NULL,
            hash bytea NOT NULL,
            PRIMARY KEY (tenant_id, pos),
            CONSTRAINT log_events_event_id UNIQUE (tenant_id, event_id),
            CONSTRAINT log_events_stream UNIQUE (tenant_id, stream_type, stream_id, stream_version)
        )
        """,
        """
        CREATE TABLE register.tenant_keys (
            tenant_id text PRIMARY KEY REFERENCES register.tenants (tenant_id),
            master_key_id text NOT NULL,
            wrapped_key bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // A shredded key keeps its row as a tombstone (no key, the time of shredding), so it is never re-created.
        """
        CREATE TABLE register.subject_keys (
            tenant_id text NOT NULL REFERENCES register.tenants (tenant_id),
            subject_id uuid NOT NULL,
            wrapped_key bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            shredded_at_us bigint,
            PRIMARY KEY (tenant_id, subject_id),
            CHECK ((wrapped_key IS NULL) = (shredded_at_us IS NOT NULL))
        )
        """,
        // Dead tuples of shredded keys are vacuumed away promptly.
        "ALTER TABLE register.subject_keys SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0)",

        // Append-only, enforced by the database for the application role and any other non-owner. The schema's
        // owner (and a superuser) could still disable triggers or drop policies: that is why the service never
        // connects as the owner, and why the hash chain and signed checkpoints exist.
        """
        CREATE FUNCTION register.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'register: % on % is refused: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        """
        CREATE FUNCTION register.check_head_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.last_pos < OLD.last_pos THEN
                RAISE EXCEPTION 'register: a log head only moves forward' USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """,
        """
        CREATE FUNCTION register.check_subject_key_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.shredded_at_us IS NOT NULL OR NEW.wrapped_key IS NOT NULL OR NEW.shredded_at_us IS NULL
               OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.subject_id IS DISTINCT FROM OLD.subject_id THEN
                RAISE EXCEPTION 'register: a subject key can only be shredded' USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """,
        "CREATE TRIGGER log_events_append_only BEFORE UPDATE OR DELETE ON register.log_events FOR EACH ROW EXECUTE FUNCTION register.refuse_change('the event log is append-only')",
        "CREATE TRIGGER log_events_no_truncate BEFORE TRUNCATE ON register.log_events FOR EACH STATEMENT EXECUTE FUNCTION register.refuse_change('the event log is append-only')",
        "CREATE TRIGGER log_heads_forward_only BEFORE UPDATE ON register.log_heads FOR EACH ROW EXECUTE FUNCTION register.check_head_update()",
        "CREATE TRIGGER log_heads_no_delete BEFORE DELETE ON register.log_heads FOR EACH ROW EXECUTE FUNCTION register.refuse_change('a log head is never removed')",
        "CREATE TRIGGER log_heads_no_truncate BEFORE TRUNCATE ON register.log_heads FOR EACH STATEMENT EXECUTE FUNCTION register.refuse_change('a log head is never removed')",
        "CREATE TRIGGER tenants_fixed BEFORE UPDATE OR DELETE ON register.tenants FOR EACH ROW EXECUTE FUNCTION register.refuse_change('tenants are never renamed or removed')",
        "CREATE TRIGGER tenants_no_truncate BEFORE TRUNCATE ON register.tenants FOR EACH STATEMENT EXECUTE FUNCTION register.refuse_change('tenants are never removed')",
        "CREATE TRIGGER tenant_keys_fixed BEFORE UPDATE OR DELETE ON register.tenant_keys FOR EACH ROW EXECUTE FUNCTION register.refuse_change('a tenant key is never replaced or removed')",
        "CREATE TRIGGER tenant_keys_no_truncate BEFORE TRUNCATE ON register.tenant_keys FOR EACH STATEMENT EXECUTE FUNCTION register.refuse_change('a tenant key is never removed')",
        "CREATE TRIGGER subject_keys_shred_only BEFORE UPDATE ON register.subject_keys FOR EACH ROW EXECUTE FUNCTION register.check_subject_key_update()",
        "CREATE TRIGGER subject_keys_no_delete BEFORE DELETE ON register.subject_keys FOR EACH ROW EXECUTE FUNCTION register.refuse_change('a subject key is shredded, never deleted')",
        "CREATE TRIGGER subject_keys_no_truncate BEFORE TRUNCATE ON register.subject_keys FOR EACH STATEMENT EXECUTE FUNCTION register.refuse_change('a subject key is shredded, never deleted')",
    ] + ["log_heads", "log_events", "tenant_keys", "subject_keys"].flatMap { table in
        // FORCE: the policy binds the table owner too; only superusers and BYPASSRLS roles are exempt.
        [
            "ALTER TABLE register.\(table) ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE register.\(table) FORCE ROW LEVEL SECURITY",
            """
            CREATE POLICY tenant_isolation ON register.\(table)
                USING (tenant_id = current_setting('register.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('register.tenant_id', true))
            """,
        ]
    })

    /// A stream read in one round trip: the function binds the tenant for row-level security and queries in the same
    /// (implicit) transaction, where a read through `BEGIN`, `set_config`, the query and `COMMIT` took four. Stream
    /// reads are the API's hot path (every command and every person shown reads one). SECURITY INVOKER: the policy
    /// applies to the caller as it would to the query itself.
    static let streamReads = Migration(version: 2, name: "stream reads in one round trip", statements: [
        """
        CREATE FUNCTION register.read_stream(p_tenant text, p_stream_type text, p_stream_id text, p_after bigint, p_limit integer)
        RETURNS SETOF register.log_events LANGUAGE plpgsql SECURITY INVOKER SET jit = off AS $$
        BEGIN
            PERFORM set_config('register.tenant_id', p_tenant, true);
            RETURN QUERY SELECT * FROM register.log_events e
                WHERE e.tenant_id = p_tenant AND e.stream_type = p_stream_type AND e.stream_id = p_stream_id AND e.stream_version > p_after
                ORDER BY e.stream_version LIMIT p_limit;
        END $$
        """,
    ])

    /// Several streams in one round trip (a child and the people linked to them, with the tenant's restrictions): each
    /// stream's events after its own version, at most `p_limit` of each, grouped by stream in version order.
    static let manyStreamReads = Migration(version: 3, name: "several stream reads in one round trip", statements: [
        """
        CREATE FUNCTION register.read_streams(p_tenant text, p_stream_types text[], p_stream_ids text[], p_after bigint[], p_limit integer)
        RETURNS SETOF register.log_events LANGUAGE plpgsql SECURITY INVOKER SET jit = off AS $$
        BEGIN
            PERFORM set_config('register.tenant_id', p_tenant, true);
            RETURN QUERY SELECT e.* FROM unnest(p_stream_types, p_stream_ids, p_after) WITH ORDINALITY AS r(stream_type, stream_id, after_version, n)
                CROSS JOIN LATERAL (
                    SELECT * FROM register.log_events l
                    WHERE l.tenant_id = p_tenant AND l.stream_type = r.stream_type AND l.stream_id = r.stream_id AND l.stream_version > r.after_version
                    ORDER BY l.stream_version LIMIT p_limit
                ) e
                ORDER BY r.n, e.stream_version;
        END $$
        """,
    ])

    /// The start of an append in one round trip: binds the transaction to the tenant (row-level security, JIT off for
    /// the rest of it), locks the tenant's head row and says which of the batch's event ids the log already holds —
    /// three statements before. No row when the tenant has no head yet (its first append creates it).
    /// Planned afresh on every call (`force_custom_plan`): with PL/pgSQL's cached generic plan (used from the sixth
    /// call on) appends slowed down minute by minute under load (the API's reads 1 584/s → 393/s within a minute).
    /// That plan scans the heads table, whose row every append updates; planned per call they hold steady.
    static let appendStart = Migration(version: 4, name: "the start of an append in one round trip", statements: [
        """
        CREATE FUNCTION register.begin_append(p_tenant text, p_event_ids uuid[])
        RETURNS TABLE (last_pos bigint, last_hash bytea, last_recorded_at_us bigint, known uuid[])
        LANGUAGE plpgsql SECURITY INVOKER SET plan_cache_mode = force_custom_plan AS $$
        BEGIN
            PERFORM set_config('register.tenant_id', p_tenant, true), set_config('jit', 'off', true);
            RETURN QUERY SELECT h.last_pos, h.last_hash, h.last_recorded_at_us,
                    ARRAY(SELECT e.event_id FROM register.log_events e WHERE e.tenant_id = p_tenant AND e.event_id = ANY(p_event_ids))
                FROM register.log_heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
        END $$
        """,
    ])

    /// Privileges of the application role: read and append the log, never change or remove it. Re-applied on every
    /// migration run, so a new application role gets exactly these.
    static func grants(to role: String, in schema: String) -> [String] {
        // Quoted, so that a name like current_user cannot be read as a keyword (names are also validated).
        let role = "\"\(role)\""
        return [
            "REVOKE ALL ON ALL TABLES IN SCHEMA \(schema) FROM PUBLIC",
            "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA \(schema) FROM PUBLIC",
            "GRANT USAGE ON SCHEMA \(schema) TO \(role)",
            "REVOKE ALL ON ALL TABLES IN SCHEMA \(schema) FROM \(role)",
            "GRANT SELECT ON \(schema).schema_migrations TO \(role)",
            "GRANT SELECT, INSERT ON \(schema).tenants TO \(role)",
            "GRANT SELECT, INSERT, UPDATE (last_pos, last_hash, last_recorded_at_us) ON \(schema).log_heads TO \(role)",
            "GRANT SELECT, INSERT ON \(schema).log_events TO \(role)",
            "GRANT SELECT, INSERT ON \(schema).tenant_keys TO \(role)",
            "GRANT SELECT, INSERT, UPDATE (wrapped_key, shredded_at_us) ON \(schema).subject_keys TO \(role)",
            "GRANT EXECUTE ON FUNCTION \(schema).read_stream(text, text, text, bigint, integer) TO \(role)",
            "GRANT EXECUTE ON FUNCTION \(schema).read_streams(text, text[], text[], bigint[], integer) TO \(role)",
            "GRANT EXECUTE ON FUNCTION \(schema).begin_append(text, uuid[]) TO \(role)",
        ]
    }

    /// Why a role may not be the application role, or nil: it must not be able to bypass row-level security or
    /// the append-only rules, which a superuser, a BYPASSRLS role or the tables' owner can.
    static func unsafeApplicationRole(_ role: String, owner: String?, schema: String, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = \(role)", logger: logger)
        var found = false
        for try await (superuser, bypass) in rows.decode((Bool, Bool).self) {
            found = true
            if superuser { return "role '\(role)' is a superuser" }
            if bypass { return "role '\(role)' can bypass row-level security (BYPASSRLS)" }
        }
        guard found else { return "role '\(role)' does not exist" }
        if let owner, owner == role { return "role '\(role)' is the schema owner" }
        let owned = try await connection.query("""
            SELECT count(*) FROM pg_tables WHERE schemaname = \(schema) AND tableowner = \(role)
            """, logger: logger)
        for try await count in owned.decode(Int64.self) where count > 0 {
            return "role '\(role)' owns tables of the \(schema) schema"
        }
        return nil
    }
}

/// Applies pending migrations as the schema's owner and grants the application role its privileges.
public struct PostgresMigrator: Sendable {
    public let ownerURL: PostgresConnectionURL
    public let applicationRole: String
    public let schema: String
    let logger: Logger

    /// - Parameters:
    ///   - ownerURL: connects as the role that owns (or will own) the `register` schema; never a superuser in production.
    ///   - applicationRole: the role the service connects as; it must exist (`ops/postgres` creates it).
    ///   - schema: the schema of the log's tables (default `register`).
    public init(ownerURL: PostgresConnectionURL, applicationRole: String, schema: String = PostgresSchema.defaultName, logger: Logger) throws(EventLogError) {
        guard Self.isValidRoleName(applicationRole), Self.isValidRoleName(schema) else {
            throw EventLogError(.invalidArgument, "role and schema names are 1–63 characters of a-z, 0-9 and '_', starting with a letter or '_'")
        }
        self.ownerURL = ownerURL
        self.applicationRole = applicationRole
        self.schema = schema
        self.logger = logger
    }

    /// Role names are interpolated into DDL (identifiers cannot be bound), so only a strict form is accepted.
    static func isValidRoleName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, (first >= 0x61 && first <= 0x7A) || first == 0x5F else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    /// Applies what is pending, in one transaction under an advisory lock (concurrent runs wait, then find nothing to do).
    /// - Returns: the versions applied now.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let connection = try await PostgresConnection.connect(configuration: ownerURL.connectionConfiguration(), id: 1, logger: logger)
        do {
            let applied = try await run(on: connection)
            try await connection.close()
            return applied
        } catch {
            try? await connection.close()
            throw Self.describe(error)
        }
    }

    private func run(on connection: PostgresConnection) async throws -> [Int] {
        let role = applicationRole
        var owner: String?
        for try await name in try await connection.query("SELECT current_user::text", logger: logger).decode(String.self) { owner = name }
        if let problem = try await PostgresSchema.unsafeApplicationRole(role, owner: owner, schema: schema, on: connection, logger: logger) {
            throw EventLogError(.schemaMismatch, "\(problem); the application role is a separate login without those rights (docs/operations.md shows how)")
        }
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(schema + ".migrations")))", logger: logger)
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS \(unescaped: schema).schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var done = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM \(unescaped: schema).schema_migrations", logger: logger).decode(Int.self) {
                done.insert(version)
            }
            if let newest = done.max(), newest > PostgresSchema.currentVersion {
                throw EventLogError(.schemaMismatch, "the database is at schema version \(newest), newer than this build's \(PostgresSchema.currentVersion); upgrade register")
            }
            var applied: [Int] = []
            for migration in PostgresSchema.migrations where !done.contains(migration.version) {
                logger.info("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                for statement in PostgresSchema.statements(of: migration, in: schema) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO \(unescaped: schema).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                applied.append(migration.version)
            }
            for statement in PostgresSchema.grants(to: role, in: schema) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    static func describe(_ error: any Error) -> any Error {
        if error is EventLogError { return error }
        return EventLogError(.storageFailure, "the migration failed: \(PostgresErrors.summary(of: error))", underlying: PostgresErrors.sanitized(error))
    }
}

/// A driver error reduced to what is safe to log: the server's message, SQLSTATE, constraint and table — never its
/// DETAIL, which can quote row contents ("Failing row contains (…)").
struct PostgresFailure: Error, CustomStringConvertible, CustomDebugStringConvertible {
    var summary: String
    var constraint: String?
    var table: String?
    var description: String { summary }
    var debugDescription: String {
        var text = summary
        if let table { text += " table=\(table)" }
        if let constraint { text += " constraint=\(constraint)" }
        return text
    }
}

enum PostgresErrors {
    /// The loggable form of a driver error (see `PostgresFailure`).
    static func sanitized(_ error: any Error) -> any Error {
        if error is EventLogError || error is PostgresFailure { return error }
        var failure = PostgresFailure(summary: summary(of: error))
        var inner = error
        if let transaction = error as? PostgresTransactionError, let closure = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            inner = closure
        }
        if let psql = inner as? PSQLError {
            failure.constraint = psql.serverInfo?[.constraintName]
            failure.table = psql.serverInfo?[.tableName]
        }
        return failure
    }

    /// The server's message and SQLSTATE, which name objects but never row contents; other errors by type only.
    static func summary(of error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + state
            }
            return "\(error.code)"
        }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return summary(of: inner) }
        }
        return "\(type(of: error))"
    }

    static func sqlState(of error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = error as? PostgresTransactionError, let inner = error.closureError ?? error.commitError { return sqlState(of: inner) }
        return nil
    }
}
