import Foundation

/// A tenant's key as stored: wrapped (AES-GCM) under a key derived from the master key.
public struct StoredTenantKey: Sendable, Hashable {
    /// The fingerprint of the master key that wrapped it.
    public var masterKeyID: String
    public var wrapped: Data
    public init(masterKeyID: String, wrapped: Data) {
        self.masterKeyID = masterKeyID
        self.wrapped = wrapped
    }
}

/// A data subject's key as stored: wrapped under the tenant's key, or shredded (a tombstone with the time).
public enum StoredSubjectKey: Sendable, Hashable {
    case active(wrapped: Data)
    case shredded(at: Timestamp)
}

/// Where a store keeps wrapped keys. Both stores implement it next to the log, so a shred and its
/// `SubjectErased` event commit together.
public protocol KeyStore: Sendable {
    /// The tenant's wrapped key, if it has one yet.
    func tenantKey(of tenant: TenantID) async throws -> StoredTenantKey?
    /// Stores the tenant's key unless one exists; returns the key that is stored (the first writer wins a race).
    func insertTenantKey(_ key: StoredTenantKey, of tenant: TenantID) async throws -> StoredTenantKey
    /// The stored keys of these subjects (absent subjects have no key yet).
    func subjectKeys(_ subjects: [SubjectID], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey]
    /// Stores keys for subjects that have none; returns what is stored for every given subject afterwards
    /// (a concurrent writer's key, or a tombstone, wins over the offered one).
    func insertSubjectKeys(_ keys: [SubjectID: Data], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey]
    /// Every subject key and tombstone of the tenant (for export).
    func allSubjectKeys(of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey]
}
