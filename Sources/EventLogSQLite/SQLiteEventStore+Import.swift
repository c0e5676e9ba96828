import EventLog
import Foundation
import GRDB

extension SQLiteEventStore {
    public func importLog(_ source: any LogImportSource, into tenant: TenantID) async throws -> LogImportSummary {
        guard source.tenant == tenant else {
            throw EventLogError(.importRejected, "the file holds the log of tenant \(source.tenant), not \(tenant); the hash chain binds a log to its tenant")
        }
        // The source is pulled synchronously inside one write transaction: a rejected line rolls back all of it.
        let owned = ImportSourceTransfer(source: source)
        let summary: LogImportSummary
        do {
            summary = try await pool.writeWithoutTransaction { db -> LogImportSummary in
                var summary: LogImportSummary?
                try db.inTransaction(.immediate) {
                    summary = try Self.importInTransaction(owned.source, into: tenant, db)
                    return .commit
                }
                guard let summary else { throw EventLogError(.storageFailure, "the import produced no result") }
                return summary
            }
        } catch let error as EventLogError {
            throw error
        } catch {
            throw EventLogError(.storageFailure, "the embedded database failed during the import", underlying: error)
        }
        versions.forget(tenant)
        wakeups.signal(tenant)
        return summary
    }

    private static func importInTransaction(_ source: any LogImportSource, into tenant: TenantID, _ db: Database) throws -> LogImportSummary {
        if let head = try loadHead(of: tenant, db), head.position > .start {
            throw EventLogError(.importRejected, "tenant \(tenant) already has \(head.position) events here; a log is imported only into an empty tenant")
        }
        try registerTenant(tenant, db)
        let now = Timestamp.now().rawValue
        if let key = source.tenantKey {
            if let existing = try loadTenantKey(of: tenant, db) {
                guard existing == key else {
                    throw EventLogError(.importRejected, "tenant \(tenant) already has a different key here")
                }
            } else {
                try db.execute(sql: "INSERT INTO tenant_keys (tenant_id, master_key_id, wrapped_key, created_at_us) VALUES (?, ?, ?, ?)",
                               arguments: [tenant.rawValue, key.masterKeyID, key.wrapped, now])
            }
        }
        let existingKeys = try loadSubjectKeys(Array(source.subjectKeys.keys), of: tenant, db)
        if let clash = existingKeys.first(where: { source.subjectKeys[$0.key] != $0.value }) {
            throw EventLogError(.importRejected, "subject \(clash.key) already has a different key here")
        }
        let keyStatement = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO subject_keys (tenant_id, subject_id, wrapped_key, created_at_us, shredded_at_us) VALUES (?, ?, ?, ?, ?)
            """)
        for (subject, key) in source.subjectKeys {
            switch key {
            case .active(let wrapped):
                try keyStatement.execute(arguments: [tenant.rawValue, StorageCoding.bytes(of: subject.uuid), wrapped, now, nil])
            case .shredded(let at):
                try keyStatement.execute(arguments: [tenant.rawValue, StorageCoding.bytes(of: subject.uuid), nil, now, at.rawValue])
            }
        }
        var head = LogHead.empty
        var count = 0
        while let batch = try source.nextBatch(limit: 1_000) {
            try insert(batch, db)
            count += batch.count
            if let last = batch.last { head = LogHead(position: last.position, hash: last.hash, recordedAt: last.recordedAt) }
        }
        if count > 0 { try storeHead(head, of: tenant, db) }
        return LogImportSummary(events: count, subjectKeys: source.subjectKeys.count, head: head)
    }
}

