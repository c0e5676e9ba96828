import GRDB

/// Versioned migrations of the embedded store. Never edit a registered migration: add the next one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001-event-log", migrate: createEventLog)
        return migrator
    }

    private static func createEventLog(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE tenants (
                tenant_id TEXT NOT NULL PRIMARY KEY,
                created_at_us INTEGER NOT NULL
            ) WITHOUT ROWID;

            -- One row per tenant: the last position and hash. Appends serialise on the database's single writer.
            CREATE TABLE log_heads (
                tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants(tenant_id),
                last_pos INTEGER NOT NULL CHECK (last_pos >= 0),
                last_hash BLOB NOT NULL CHECK (length(last_hash) = 32),
                last_recorded_at_us INTEGER NOT NULL
            ) WITHOUT ROWID;

            -- WITHOUT ROWID: the rows are stored in (tenant_id, pos) order, which is the order every read wants,
            -- and no second B-tree is kept for the primary key.
            -- No foreign key to tenants here: a per-row check on the hottest insert buys nothing the head row
            -- (which does reference tenants, and exists before any event) does not already guarantee.
            CREATE TABLE log_events (
                tenant_id TEXT NOT NULL,
                pos INTEGER NOT NULL CHECK (pos >= 1),
                event_id BLOB NOT NULL CHECK (length(event_id) = 16),
                stream_type TEXT NOT NULL,
                stream_id TEXT NOT NULL,
                stream_version INTEGER NOT NULL CHECK (stream_version >= 1),
                event_type TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                recorded_at_us INTEGER NOT NULL,
                actor_user TEXT NOT NULL,
                actor_role TEXT NOT NULL,
                correlation_id BLOB,
                causation_id BLOB,
                subjects BLOB NOT NULL,
                payload BLOB NOT NULL,
                prev_hash BLOB NOT NULL,
                hash BLOB NOT NULL,
                PRIMARY KEY (tenant_id, pos)
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX log_events_event_id ON log_events (tenant_id, event_id);
            CREATE UNIQUE INDEX log_events_stream ON log_events (tenant_id, stream_type, stream_id, stream_version);

            -- The log is append-only: the database itself refuses changes, whoever asks.
            CREATE TRIGGER log_events_no_update BEFORE UPDATE ON log_events
            BEGIN SELECT RAISE(ABORT, 'register: the event log is append-only'); END;
            CREATE TRIGGER log_events_no_delete BEFORE DELETE ON log_events
            BEGIN SELECT RAISE(ABORT, 'register: the event log is append-only'); END;
            CREATE TRIGGER log_heads_no_delete BEFORE DELETE ON log_heads
            BEGIN SELECT RAISE(ABORT, 'register: a log head is never removed'); END;
            CREATE TRIGGER log_heads_forward_only BEFORE UPDATE ON log_heads
            WHEN NEW.tenant_id IS NOT OLD.tenant_id OR NEW.last_pos < OLD.last_pos
            BEGIN SELECT RAISE(ABORT, 'register: a log head only moves forward'); END;
            CREATE TRIGGER tenants_no_change BEFORE UPDATE ON tenants
            BEGIN SELECT RAISE(ABORT, 'register: tenants are never renamed'); END;
            CREATE TRIGGER tenants_no_delete BEFORE DELETE ON tenants
            BEGIN SELECT RAISE(ABORT, 'register: tenants are never removed'); END;

            -- Keys, wrapped: a tenant key under the master key (never stored here), a subject key under its tenant's key.
            CREATE TABLE tenant_keys (
                tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants(tenant_id),
                master_key_id TEXT NOT NULL,
                wrapped_key BLOB NOT NULL,
                created_at_us INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TRIGGER tenant_keys_no_update BEFORE UPDATE ON tenant_keys
            BEGIN SELECT RAISE(ABORT, 'register: a tenant key is never replaced'); END;
            CREATE TRIGGER tenant_keys_no_delete BEFORE DELETE ON tenant_keys
            BEGIN SELECT RAISE(ABORT, 'register: a tenant key is never removed'); END;

            -- A shredded key keeps its row as a tombstone (no key, the time of shredding), so it is never re-created.
            CREATE TABLE subject_keys (
                tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
                subject_id BLOB NOT NULL CHECK (length(subject_id) = 16),
                wrapped_key BLOB,
                created_at_us INTEGER NOT NULL,
                shredded_at_us INTEGER,
                PRIMARY KEY (tenant_id, subject_id),
                CHECK ((wrapped_key IS NULL) = (shredded_at_us IS NOT NULL))
            ) WITHOUT ROWID;
            CREATE TRIGGER subject_keys_shred_only BEFORE UPDATE ON subject_keys
            WHEN OLD.shredded_at_us IS NOT NULL OR NEW.wrapped_key IS NOT NULL OR NEW.shredded_at_us IS NULL
                 OR NEW.tenant_id IS NOT OLD.tenant_id OR NEW.subject_id IS NOT OLD.subject_id
            BEGIN SELECT RAISE(ABORT, 'register: a subject key can only be shredded'); END;
            CREATE TRIGGER subject_keys_no_delete BEFORE DELETE ON subject_keys
            BEGIN SELECT RAISE(ABORT, 'register: a subject key is shredded, never deleted'); END;
            """)
    }
}
