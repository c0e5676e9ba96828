import EventLog
import Foundation
import GRDB

extension SQLiteEventStore {
    public func tenantKey(of tenant: TenantID) async throws -> StoredTenantKey? {
        try await read { db in try Self.loadTenantKey(of: tenant, db) }
    }

    public func insertTenantKey(_ key: StoredTenantKey, of tenant: TenantID) async throws -> StoredTenantKey {
        try await write { db in
            try Self.registerTenant(tenant, db)
            try db.execute(sql: "INSERT OR IGNORE INTO tenant_keys (tenant_id, master_key_id, wrapped_key, created_at_us) VALUES (?, ?, ?, ?)",
                           arguments: [tenant.rawValue, key.masterKeyID, key.wrapped, Timestamp.now().rawValue])
            guard let stored = try Self.loadTenantKey(of: tenant, db) else {
                throw EventLogError(.storageFailure, "the tenant key of \(tenant) was not stored")
            }
            return stored
        }
    }

    public func subjectKeys(_ subjects: [SubjectID], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        try await read { db in try Self.loadSubjectKeys(subjects, of: tenant, db) }
    }

    public func insertSubjectKeys(_ keys: [SubjectID: Data], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        try await write { db in
            try Self.registerTenant(tenant, db)
            let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO subject_keys (tenant_id, subject_id, wrapped_key, created_at_us) VALUES (?, ?, ?, ?)")
            let now = Timestamp.now().rawValue
            for (subject, wrapped) in keys {
                try statement.execute(arguments: [tenant.rawValue, StorageCoding.bytes(of: subject.uuid), wrapped, now])
            }
            return try Self.loadSubjectKeys(Array(keys.keys), of: tenant, db)
        }
    }

    public func allSubjectKeys(of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT subject_id, wrapped_key, shredded_at_us FROM subject_keys WHERE tenant_id = ?", arguments: [tenant.rawValue])
            var keys: [SubjectID: StoredSubjectKey] = [:]
            while let row = try rows.next() {
                if let (subject, key) = Self.subjectKey(from: row) { keys[subject] = key }
            }
            return keys
        }
    }

    public func shred(_ subject: SubjectID, in tenant: TenantID, recordedBy event: ProposedEvent, metadata: EventMetadata) async throws -> AppendResult {
        try AppendPlanning.validate([event], metadata: metadata)
        let result = try await write { db -> AppendResult in
            if let retry = try AppendPlanning.resolveRetry([event], existing: Self.existingEvents([event], in: tenant, db)) {
                return retry
            }
            try Self.registerTenant(tenant, db)
            let now = Timestamp.now().rawValue
            switch try Self.loadSubjectKeys([subject], of: tenant, db)[subject] {
            case .shredded?:
                throw EventLogError(.subjectErased, "subject \(subject) has already been erased")
            case .active?:
                try db.execute(sql: "UPDATE subject_keys SET wrapped_key = NULL, shredded_at_us = ? WHERE tenant_id = ? AND subject_id = ?",
                               arguments: [now, tenant.rawValue, StorageCoding.bytes(of: subject.uuid)])
            case nil:
                // A tombstone even without a key: nothing can be sealed for this subject from now on.
                try db.execute(sql: "INSERT INTO subject_keys (tenant_id, subject_id, wrapped_key, created_at_us, shredded_at_us) VALUES (?, ?, NULL, ?, ?)",
                               arguments: [tenant.rawValue, StorageCoding.bytes(of: subject.uuid), now, now])
            }
            return try Self.appendInTransaction([event], to: tenant, metadata: metadata, expecting: [:], versions: StreamVersionCache(), db).result
        }
        if !result.deduplicated {
            versions.forget(tenant)
            wakeups.signal(tenant)
            // Move the committed pages out of the WAL and truncate it, so the old key bytes do not linger there.
            // Best effort: a reader holding an old snapshot can keep the checkpoint from completing, and a background
            // checkpoint in progress (SQLiteCheckpointer) refuses it at once, hence a few tries.
            for _ in 0..<5 {
                if (try? await pool.writeWithoutTransaction({ db in try db.checkpoint(.truncate) })) != nil { break }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return result
    }

    static func loadTenantKey(of tenant: TenantID, _ db: Database) throws -> StoredTenantKey? {
        guard let row = try Row.fetchOne(db, sql: "SELECT master_key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", arguments: [tenant.rawValue]) else {
            return nil
        }
        return StoredTenantKey(masterKeyID: row[0], wrapped: row[1])
    }

    static func loadSubjectKeys(_ subjects: [SubjectID], of tenant: TenantID, _ db: Database) throws -> [SubjectID: StoredSubjectKey] {
        let statement = try db.cachedStatement(sql: "SELECT subject_id, wrapped_key, shredded_at_us FROM subject_keys WHERE tenant_id = ? AND subject_id = ?")
        var keys: [SubjectID: StoredSubjectKey] = [:]
        for subject in subjects {
            if let row = try Row.fetchOne(statement, arguments: [tenant.rawValue, StorageCoding.bytes(of: subject.uuid)]),
               let (found, key) = subjectKey(from: row) {
                keys[found] = key
            }
        }
        return keys
    }

    static func subjectKey(from row: Row) -> (SubjectID, StoredSubjectKey)? {
        guard let uuid = StorageCoding.uuid(from: row[0]) else { return nil }
        if let wrapped: Data = row[1] { return (SubjectID(uuid), .active(wrapped: wrapped)) }
        return (SubjectID(uuid), .shredded(at: Timestamp(rawValue: row[2] ?? 0)))
    }
}
