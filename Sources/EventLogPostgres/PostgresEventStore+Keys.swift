import EventLog
import Foundation
import NIOCore
import PostgresNIO

extension PostgresEventStore {
    public func tenantKey(of tenant: TenantID) async throws -> StoredTenantKey? {
        try await inTenantTransaction(tenant) { connection in try await self.loadTenantKey(of: tenant, connection) }
    }

    public func insertTenantKey(_ key: StoredTenantKey, of tenant: TenantID) async throws -> StoredTenantKey {
        try await inTenantTransaction(tenant) { connection in
            try await self.registerTenant(tenant, connection)
            try await connection.query("""
                INSERT INTO \(unescaped: self.schema).tenant_keys (tenant_id, master_key_id, wrapped_key) VALUES (\(tenant.rawValue), \(key.masterKeyID), \(key.wrapped))
                ON CONFLICT (tenant_id) DO NOTHING
                """, logger: self.logger)
            guard let stored = try await self.loadTenantKey(of: tenant, connection) else {
                throw EventLogError(.storageFailure, "the tenant key of \(tenant) was not stored")
            }
            return stored
        }
    }

    public func subjectKeys(_ subjects: [SubjectID], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        try await inTenantTransaction(tenant) { connection in try await self.loadSubjectKeys(subjects, of: tenant, connection) }
    }

    public func insertSubjectKeys(_ keys: [SubjectID: Data], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        let subjects = Array(keys.keys)
        let wrapped = subjects.map { ByteBuffer(bytes: keys[$0] ?? Data()) }
        return try await inTenantTransaction(tenant) { connection in
            try await self.registerTenant(tenant, connection)
            try await connection.query("""
                INSERT INTO \(unescaped: self.schema).subject_keys (tenant_id, subject_id, wrapped_key)
                SELECT \(tenant.rawValue), k.subject_id, k.wrapped_key FROM unnest(\(subjects.map(\.uuid))::uuid[], \(wrapped)::bytea[]) AS k (subject_id, wrapped_key)
                ON CONFLICT (tenant_id, subject_id) DO NOTHING
                """, logger: self.logger)
            return try await self.loadSubjectKeys(subjects, of: tenant, connection)
        }
    }

    public func allSubjectKeys(of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
        try await inTenantTransaction(tenant) { connection in
            let rows = try await connection.query("""
                SELECT subject_id, wrapped_key, shredded_at_us FROM \(unescaped: self.schema).subject_keys WHERE tenant_id = \(tenant.rawValue)
                """, logger: self.logger)
            return try await Self.subjectKeys(from: rows)
        }
    }

    public func shred(_ subject: SubjectID, in tenant: TenantID, recordedBy event: ProposedEvent, metadata: EventMetadata) async throws -> AppendResult {
        try AppendPlanning.validate([event], metadata: metadata)
        let result = try await inTenantTransaction(tenant) { connection -> AppendResult in
            // The head lock first: a shred serialises with the tenant's appends like any other append.
            _ = try await self.lockHead(of: tenant, connection)
            let existing = try await self.existingEvents([event.eventID], in: tenant, connection)
            if let retry = try AppendPlanning.resolveRetry([event], existing: existing) { return retry }
            let now = Timestamp.now().rawValue
            switch try await self.loadSubjectKeys([subject], of: tenant, connection)[subject] {
            case .shredded?:
                throw EventLogError(.subjectErased, "subject \(subject) has already been erased")
            case .active?:
                try await connection.query("""
                    UPDATE \(unescaped: self.schema).subject_keys SET wrapped_key = NULL, shredded_at_us = \(now)
                    WHERE tenant_id = \(tenant.rawValue) AND subject_id = \(subject.uuid)
                    """, logger: self.logger)
            case nil:
                // A tombstone even without a key: nothing can be sealed for this subject from now on.
                try await connection.query("""
                    INSERT INTO \(unescaped: self.schema).subject_keys (tenant_id, subject_id, wrapped_key, shredded_at_us) VALUES (\(tenant.rawValue), \(subject.uuid), NULL, \(now))
                    """, logger: self.logger)
            }
            return try await self.appendInTransaction([event], to: tenant, metadata: metadata, expecting: [:], useCache: false, connection).result
        }
        if !result.deduplicated {
            versions.forget(tenant)
            wakeups.signal(tenant)
        }
        return result
    }

    func loadTenantKey(of tenant: TenantID, _ connection: PostgresConnection) async throws -> StoredTenantKey? {
        let rows = try await connection.query("""
            SELECT master_key_id, wrapped_key FROM \(unescaped: self.schema).tenant_keys WHERE tenant_id = \(tenant.rawValue)
            """, logger: logger)
        for try await (masterKeyID, wrapped) in rows.decode((String, ByteBuffer).self) {
            return StoredTenantKey(masterKeyID: masterKeyID, wrapped: Data(wrapped.readableBytesView))
        }
        return nil
    }

    func loadSubjectKeys(_ subjects: [SubjectID], of tenant: TenantID, _ connection: PostgresConnection) async throws -> [SubjectID: StoredSubjectKey] {
        let rows = try await connection.query("""
            SELECT subject_id, wrapped_key, shredded_at_us FROM \(unescaped: self.schema).subject_keys
            WHERE tenant_id = \(tenant.rawValue) AND subject_id = ANY(\(subjects.map(\.uuid)))
            """, logger: logger)
        return try await Self.subjectKeys(from: rows)
    }

    static func subjectKeys(from rows: PostgresRowSequence) async throws -> [SubjectID: StoredSubjectKey] {
        var keys: [SubjectID: StoredSubjectKey] = [:]
        for try await (subject, wrapped, shreddedAt) in rows.decode((UUID, ByteBuffer?, Int64?).self) {
            if let wrapped {
                keys[SubjectID(subject)] = .active(wrapped: Data(wrapped.readableBytesView))
            } else {
                keys[SubjectID(subject)] = .shredded(at: Timestamp(rawValue: shreddedAt ?? 0))
            }
        }
        return keys
    }
}
