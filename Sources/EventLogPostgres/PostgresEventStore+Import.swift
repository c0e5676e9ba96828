import EventLog
import Foundation
import NIOCore
import PostgresNIO

extension PostgresEventStore {
    public func importLog(_ source: any LogImportSource, into tenant: TenantID) async throws -> LogImportSummary {
        guard source.tenant == tenant else {
            throw EventLogError(.importRejected, "the file holds the log of tenant \(source.tenant), not \(tenant); the hash chain binds a log to its tenant")
        }
        let owned = ImportSourceTransfer(source: source)
        // One transaction: a rejected line anywhere in the file rolls back all of it.
        let summary = try await inTenantTransaction(tenant) { connection in
            try await self.importInTransaction(owned.source, into: tenant, connection)
        }
        versions.forget(tenant)
        wakeups.signal(tenant)
        return summary
    }

    private func importInTransaction(_ source: any LogImportSource, into tenant: TenantID, _ connection: PostgresConnection) async throws -> LogImportSummary {
        let head = try await lockHead(of: tenant, connection)
        guard head.position == .start else {
            throw EventLogError(.importRejected, "tenant \(tenant) already has \(head.position) events here; a log is imported only into an empty tenant")
        }
        if let key = source.tenantKey {
            if let existing = try await loadTenantKey(of: tenant, connection) {
                guard existing == key else { throw EventLogError(.importRejected, "tenant \(tenant) already has a different key here") }
            } else {
                try await connection.query("""
                    INSERT INTO \(unescaped: self.schema).tenant_keys (tenant_id, master_key_id, wrapped_key) VALUES (\(tenant.rawValue), \(key.masterKeyID), \(key.wrapped))
                    """, logger: logger)
            }
        }
        let sourceKeys = source.subjectKeys
        let existingKeys = try await loadSubjectKeys(Array(sourceKeys.keys), of: tenant, connection)
        if let clash = existingKeys.first(where: { sourceKeys[$0.key] != $0.value }) {
            throw EventLogError(.importRejected, "subject \(clash.key) already has a different key here")
        }
        let newKeys = sourceKeys.filter { existingKeys[$0.key] == nil }.sorted { $0.key < $1.key }
        for chunk in stride(from: 0, to: newKeys.count, by: 5_000).map({ newKeys[$0..<min($0 + 5_000, newKeys.count)] }) {
            var subjects: [UUID] = [], wrapped: [ByteBuffer] = [], shredded: [Int64] = []
            for (subject, key) in chunk {
                subjects.append(subject.uuid)
                switch key {
                case .active(let bytes):
                    wrapped.append(ByteBuffer(bytes: bytes))
                    shredded.append(-1)
                case .shredded(let at):
                    wrapped.append(ByteBuffer())
                    shredded.append(at.rawValue)
                }
            }
            // Empty bytes and -1 stand for NULL in the bound arrays; NULLIF restores them.
            try await connection.query("""
                INSERT INTO \(unescaped: self.schema).subject_keys (tenant_id, subject_id, wrapped_key, shredded_at_us)
                SELECT \(tenant.rawValue), k.subject_id, NULLIF(k.wrapped_key, ''::bytea), NULLIF(k.shredded_at_us, -1)
                FROM unnest(\(subjects)::uuid[], \(wrapped)::bytea[], \(shredded)::bigint[]) AS k (subject_id, wrapped_key, shredded_at_us)
                """, logger: logger)
        }
        var last = LogHead.empty
        var count = 0
        while let batch = try source.nextBatch(limit: 1_000) {
            guard let final = batch.last else { continue }
            last = LogHead(position: final.position, hash: final.hash, recordedAt: final.recordedAt)
            try await insert(batch, movingHeadTo: last, of: tenant, connection)
            count += batch.count
        }
        return LogImportSummary(events: count, subjectKeys: sourceKeys.count, head: last)
    }
}
