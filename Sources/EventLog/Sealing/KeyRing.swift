import Crypto
import Foundation
import Synchronization

/// The state of one subject's key as the sealer sees it.
public enum SubjectKeyState: Sendable {
    case available(SymmetricKey)
    /// Shredded: the subject's sealed fields read as erased.
    case erased
}

/// The opened keys of the subjects one payload concerns, ready for `PayloadSealer` / `PayloadOpener`.
public struct SubjectKeys: Sendable {
    public let tenant: TenantID
    let states: [SubjectID: SubjectKeyState]

    public init(tenant: TenantID, states: [SubjectID: SubjectKeyState]) {
        self.tenant = tenant
        self.states = states
    }

    /// The state of one subject's key, if it was loaded.
    public subscript(subject: SubjectID) -> SubjectKeyState? { states[subject] }
}

/// The key hierarchy in use: master key → tenant keys → subject keys, with the stores' wrapped keys underneath.
///
/// Unwrapped keys are cached in memory only. Tenant keys stay cached; subject keys for at most `subjectKeyLifetime`,
/// so a shred done by another process reaches this one within that time (a shred done through this ring
/// takes effect here at once).
public final class KeyRing: Sendable {
    public let masterKey: MasterKey
    let store: any KeyStore
    let subjectKeyLifetime: Duration
    let maximumCachedSubjectKeys: Int

    private struct TenantKeys: Sendable {
        let subjectWrapping: SymmetricKey
        let blindIndexRoot: SymmetricKey
    }

    private struct CachedSubjectKey: Sendable {
        let state: SubjectKeyState
        let loadedAt: ContinuousClock.Instant
    }

    private struct CacheKey: Hashable, Sendable {
        let tenant: TenantID
        let subject: SubjectID
    }

    private struct State: Sendable {
        var tenants: [TenantID: TenantKeys] = [:]
        var subjects: [CacheKey: CachedSubjectKey] = [:]
        /// Counts shreds done through this ring: a key load that overlapped one is not cached, because it may have
        /// read the key just before it was destroyed.
        var shredEpoch: UInt64 = 0
    }

    private let state = Mutex(State())

    public init(masterKey: MasterKey, store: any KeyStore, subjectKeyLifetime: Duration = .seconds(60), maximumCachedSubjectKeys: Int = 250_000) {
        self.masterKey = masterKey
        self.store = store
        self.subjectKeyLifetime = subjectKeyLifetime
        self.maximumCachedSubjectKeys = maximumCachedSubjectKeys
    }

    // MARK: Subject keys

    /// Keys for sealing personal fields of these subjects, created for subjects that have none yet.
    /// - Throws: `subjectErased` if a subject's key has been shredded.
    public func sealingKeys(for subjects: [SubjectID], in tenant: TenantID) async throws -> SubjectKeys {
        let keys = try await loadSubjectKeys(subjects, in: tenant, createMissing: true)
        for (subject, state) in keys.states {
            if case .erased = state {
                throw EventLogError(.subjectErased, "subject \(subject) has been erased; nothing new can be recorded about them")
            }
        }
        return keys
    }

    /// Keys for opening personal fields of these subjects: shredded subjects come back as `.erased`.
    /// A subject that never had a key has no sealed fields, and is left out.
    public func openingKeys(for subjects: [SubjectID], in tenant: TenantID) async throws -> SubjectKeys {
        try await loadSubjectKeys(subjects, in: tenant, createMissing: false)
    }

    /// Drops a subject's key from this process's cache (after a shred).
    public func forget(_ subject: SubjectID, in tenant: TenantID) {
        state.withLock { state in
            state.subjects.removeValue(forKey: CacheKey(tenant: tenant, subject: subject))
            state.shredEpoch &+= 1
        }
    }

    private func loadSubjectKeys(_ subjects: [SubjectID], in tenant: TenantID, createMissing: Bool) async throws -> SubjectKeys {
        let now = ContinuousClock.now
        var found: [SubjectID: SubjectKeyState] = [:]
        var missing: [SubjectID] = []
        var seen = Set<SubjectID>()
        var epoch: UInt64 = 0
        state.withLock { state in
            epoch = state.shredEpoch
            for subject in subjects where seen.insert(subject).inserted {
                if let cached = state.subjects[CacheKey(tenant: tenant, subject: subject)], now - cached.loadedAt < subjectKeyLifetime {
                    found[subject] = cached.state
                } else {
                    missing.append(subject)
                }
            }
        }
        guard !missing.isEmpty else { return SubjectKeys(tenant: tenant, states: found) }

        let tenantKeys = try await self.tenantKeys(of: tenant)
        var stored = try await store.subjectKeys(missing, of: tenant)
        if createMissing {
            let absent = missing.filter { stored[$0] == nil }
            if !absent.isEmpty {
                var offered: [SubjectID: Data] = [:]
                for subject in absent {
                    let fresh = SymmetricKey(size: .bits256)
                    offered[subject] = try wrap(fresh, of: subject, in: tenant, using: tenantKeys.subjectWrapping)
                }
                let winners = try await store.insertSubjectKeys(offered, of: tenant)
                stored.merge(winners) { _, winner in winner }
            }
        }
        var loaded: [CacheKey: CachedSubjectKey] = [:]
        for subject in missing {
            guard let record = stored[subject] else { continue }
            let keyState: SubjectKeyState
            switch record {
            case .active(let wrapped):
                keyState = .available(try unwrap(wrapped, of: subject, in: tenant, using: tenantKeys.subjectWrapping))
            case .shredded:
                keyState = .erased
            }
            found[subject] = keyState
            loaded[CacheKey(tenant: tenant, subject: subject)] = CachedSubjectKey(state: keyState, loadedAt: now)
        }
        let limit = maximumCachedSubjectKeys
        state.withLock { state in
            guard state.shredEpoch == epoch else { return }
            // A full cache is simply emptied: keys are cheap to reload and this keeps the memory bound strict.
            if state.subjects.count + loaded.count > limit { state.subjects.removeAll(keepingCapacity: true) }
            state.subjects.merge(loaded) { _, new in new }
        }
        return SubjectKeys(tenant: tenant, states: found)
    }

    private func wrap(_ key: SymmetricKey, of subject: SubjectID, in tenant: TenantID, using wrapping: SymmetricKey) throws -> Data {
        let plain = key.withUnsafeBytes { Data($0) }
        let box = try AES.GCM.seal(plain, using: wrapping, authenticating: Self.subjectKeyAAD(subject, tenant))
        guard let combined = box.combined else { throw EventLogError(.keyUnavailable, "a subject key could not be wrapped") }
        return combined
    }

    private func unwrap(_ wrapped: Data, of subject: SubjectID, in tenant: TenantID, using wrapping: SymmetricKey) throws -> SymmetricKey {
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped)
            return SymmetricKey(data: try AES.GCM.open(box, using: wrapping, authenticating: Self.subjectKeyAAD(subject, tenant)))
        } catch {
            throw EventLogError(.keyUnavailable, "the key of subject \(subject) in tenant \(tenant) does not unwrap: the key row was altered", underlying: error)
        }
    }

    private static func subjectKeyAAD(_ subject: SubjectID, _ tenant: TenantID) -> Data {
        Data("register.subject-key.v1|\(tenant.rawValue)|\(subject)".utf8)
    }

    // MARK: Tenant keys

    private func tenantKeys(of tenant: TenantID) async throws -> TenantKeys {
        if let cached = state.withLock({ $0.tenants[tenant] }) { return cached }
        let stored: StoredTenantKey
        if let existing = try await store.tenantKey(of: tenant) {
            stored = existing
        } else {
            let fresh = SymmetricKey(size: .bits256)
            let box = try AES.GCM.seal(fresh.withUnsafeBytes { Data($0) }, using: masterKey.derived("tenant-key-wrap.v1"), authenticating: Self.tenantKeyAAD(tenant))
            guard let combined = box.combined else { throw EventLogError(.keyUnavailable, "a tenant key could not be wrapped") }
            stored = try await store.insertTenantKey(StoredTenantKey(masterKeyID: masterKey.id, wrapped: combined), of: tenant)
        }
        guard stored.masterKeyID == masterKey.id else {
            throw EventLogError(.masterKeyMismatch, "the key of tenant \(tenant) was wrapped with master key \(stored.masterKeyID), but this process has master key \(masterKey.id)")
        }
        let tenantKey: SymmetricKey
        do {
            tenantKey = try unwrapTenantKey(stored.wrapped, of: tenant)
        } catch {
            throw EventLogError(.keyUnavailable, "the key of tenant \(tenant) does not unwrap: the key row was altered", underlying: error)
        }
        let keys = TenantKeys(
            subjectWrapping: Self.derive(tenantKey, "subject-key-wrap.v1"),
            blindIndexRoot: Self.derive(tenantKey, "blind-index.v1")
        )
        state.withLock { $0.tenants[tenant] = keys }
        return keys
    }

    private static func tenantKeyAAD(_ tenant: TenantID) -> Data { Data("register.tenant-key.v1|\(tenant.rawValue)".utf8) }

    private func unwrapTenantKey(_ wrapped: Data, of tenant: TenantID) throws -> SymmetricKey {
        let box = try AES.GCM.SealedBox(combined: wrapped)
        return SymmetricKey(data: try AES.GCM.open(box, using: masterKey.derived("tenant-key-wrap.v1"), authenticating: Self.tenantKeyAAD(tenant)))
    }

    private static func derive(_ key: SymmetricKey, _ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: Array("register.tenant.v1".utf8), info: Array(purpose.utf8), outputByteCount: 32)
    }

    // MARK: Checking foreign keys

    /// Checks that wrapped keys (from an export) unwrap under this ring's master key, before they are imported.
    /// - Throws: `importRejected` naming the first key that does not.
    public func checkWrappedKeys(of tenant: TenantID, tenantKey: StoredTenantKey, subjectKeys: [SubjectID: StoredSubjectKey]) throws {
        guard tenantKey.masterKeyID == masterKey.id else {
            throw EventLogError(.importRejected, "the keys are wrapped under master key \(tenantKey.masterKeyID), this configuration has \(masterKey.id)")
        }
        let unwrappedTenantKey: SymmetricKey
        do {
            unwrappedTenantKey = try unwrapTenantKey(tenantKey.wrapped, of: tenant)
        } catch {
            throw EventLogError(.importRejected, "the tenant key of \(tenant) does not unwrap under the master key")
        }
        let wrapping = Self.derive(unwrappedTenantKey, "subject-key-wrap.v1")
        for (subject, key) in subjectKeys.sorted(by: { $0.key < $1.key }) {
            guard case .active(let wrapped) = key else { continue }
            do {
                _ = try unwrap(wrapped, of: subject, in: tenant, using: wrapping)
            } catch {
                throw EventLogError(.importRejected, "the key of subject \(subject) does not unwrap under the tenant key")
            }
        }
    }

    // MARK: Blind index

    /// The blind index of a value in a tenant: HMAC-SHA-256 under a per-tenant, per-kind key, so equal values can be
    /// found without storing them, and the same person in two tenants cannot be linked through the index.
    public func blindIndex(_ value: String, kind: BlindIndexKind, in tenant: TenantID) async throws -> BlindIndex {
        let root = try await tenantKeys(of: tenant).blindIndexRoot
        let key = Self.derive(root, "kind:\(kind.rawValue)")
        let normalised = kind.normalise(value)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(normalised.utf8), using: key)
        return BlindIndex(kind: kind, digest: Array(mac).hexString)
    }
}
