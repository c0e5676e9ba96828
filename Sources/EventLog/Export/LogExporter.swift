import Foundation

/// Writes a tenant's log as JSON Lines (see `ExportFormat`).
public struct LogExporter: Sendable {
    public let store: any EventStore
    public init(store: any EventStore) { self.store = store }

    /// Exports everything up to the head at the time of the call.
    /// - Parameters:
    ///   - includeKeys: also write the wrapped tenant and subject keys, so the target can open the payloads
    ///     (an export with keys is like a backup: a later shred does not reach it).
    ///   - write: receives the file's bytes in order, a few hundred lines at a time.
    ///   - progress: called with (events written, events in all).
    /// - Returns: the head the export ends at.
    @discardableResult
    public func export(_ tenant: TenantID, includeKeys: Bool = true, pageSize: Int = 2_000,
                       write: (Data) throws -> Void, progress: ((Int, Int) -> Void)? = nil) async throws -> LogHead {
        let head = try await store.head(of: tenant)
        let encoder = SortedJSONEncoder()
        func line(_ value: some Encodable) throws -> Data {
            var data = try encoder.encode(value)
            data.append(0x0A)
            return data
        }
        try write(line(ExportHeader(tenant: tenant, head: ExportHead(position: head.position, hash: head.hash.hex), exportedAt: .now(), includesKeys: includeKeys)))
        if includeKeys {
            // Keys are read after the head: every event up to the head had its subjects' keys stored before it was appended.
            if let tenantKey = try await store.tenantKey(of: tenant) {
                try write(line(ExportTenantKey(masterKeyID: tenantKey.masterKeyID, wrapped: tenantKey.wrapped)))
            }
            var chunk = Data()
            for (subject, key) in try await store.allSubjectKeys(of: tenant).sorted(by: { $0.key < $1.key }) {
                switch key {
                case .active(let wrapped): chunk += try line(ExportSubjectKey(subject: subject, wrapped: wrapped, shreddedAt: nil))
                case .shredded(let at): chunk += try line(ExportSubjectKey(subject: subject, wrapped: nil, shreddedAt: at))
                }
                if chunk.count > 1 << 20 {
                    try write(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            if !chunk.isEmpty { try write(chunk) }
        }
        var position = LogPosition.start
        var written = 0
        while position < head.position {
            let page = try await store.read(tenant, after: position, through: head.position, limit: pageSize, filter: .all)
            guard let last = page.last else { break }
            var chunk = Data()
            for event in page { chunk += try line(ExportEvent(event)) }
            try write(chunk)
            written += page.count
            position = last.position
            progress?(written, Int(head.position.rawValue))
        }
        return head
    }
}
