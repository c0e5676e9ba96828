import Crypto
import EventLog
import Foundation
import HummingbirdBcrypt

/// A role held in a tenant: one of the roles of its tenant file; for a unit-scoped role, the units it covers.
public struct RoleAssignment: Codable, Sendable, Hashable {
    public var role: String
    public var units: [String]?
    public init(role: String, units: [String]? = nil) {
        self.role = role
        self.units = units
    }
}

/// A staff member's account details (O5): sealed under the account's own key, since staff are data subjects too.
public struct UserProfile: Codable, Sendable, Hashable {
    public var username: String
    public var name: PersonName?
    public var title: String?
}

/// A personal user account was created (O13). The password is kept only as a bcrypt hash, itself sealed.
public struct UserAccountCreated: RegisterEvent {
    public static let eventType = "UserAccountCreated"
    public var profile: Personal<UserProfile>
    public var passwordHash: Personal<String>
    public var roles: [RoleAssignment]
}

/// Claims a username (by its blind index) for one account, on the stream `username/<index>`.
public struct UsernameClaimed: RegisterEvent {
    public static let eventType = "UsernameClaimed"
    public var account: UUID
}

public struct UserAccountDisabled: RegisterEvent {
    public static let eventType = "UserAccountDisabled"
}

/// An API token for an integration, kept as the SHA-256 digest of its secret.
public struct ApiTokenIssued: RegisterEvent {
    public static let eventType = "ApiTokenIssued"
    public var label: String
    public var secretDigest: String
    public var roles: [RoleAssignment]
    /// The partner whose feed the token opens (issue #5), if any.
    public var partner: String?
    public var expiresAt: Timestamp?
}

public struct ApiTokenRevoked: RegisterEvent {
    public static let eventType = "ApiTokenRevoked"
}

/// Who a request acts for, once authenticated.
public struct Principal: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case user, token }
    public var kind: Kind
    public var tenant: TenantID
    /// The account or token id.
    public var id: UUID
    public var roles: [RoleAssignment]
    public var partner: String?

    /// As it is recorded in events and the access log: the account id and its roles, no names.
    public var actor: Actor {
        let role = roles.map(\.role).sorted().joined(separator: "+")
        return (try? Actor(userID: "\(kind.rawValue):\(id.lowercasedString)", role: role.isEmpty ? "none" : String(role.prefix(128))))
            ?? .system
    }
}

/// Personal user accounts and API tokens, kept as events in each tenant's log; the platform's own operators in the
/// reserved tenant `platform`.
public struct Accounts: Sendable {
    /// The tenant that holds the platform operators' accounts; no controller may take this id.
    public static let platformTenant = try! TenantID("platform")
    /// The one role of the platform tenant: manages tenants and projections, reads no personal data.
    public static let operatorRole = "platform-operator"

    public let store: any EventStore
    public let keyRing: KeyRing
    /// Runs bcrypt's deliberately slow work. The server passes a thread pool, so that sign-ins neither block the
    /// request executor nor run more than a few at once; the command line runs it in place.
    public let runBlocking: @Sendable (@escaping @Sendable () -> Bool) async -> Bool

    public init(store: any EventStore, keyRing: KeyRing,
                runBlocking: @escaping @Sendable (@escaping @Sendable () -> Bool) async -> Bool = { work in work() }) {
        self.store = store
        self.keyRing = keyRing
        self.runBlocking = runBlocking
    }

    static let usernameIndex = BlindIndexKind(rawValue: "username")
    static func accountStream(_ id: UUID) -> StreamRef { StreamRef(uncheckedType: "account", id: id.lowercasedString) }
    static func usernameStream(_ index: BlindIndex) -> StreamRef { StreamRef(uncheckedType: "username", id: index.digest) }
    static func tokenStream(_ id: UUID) -> StreamRef { StreamRef(uncheckedType: "token", id: id.lowercasedString) }

    // MARK: Users

    /// Creates a personal account.
    /// - Parameters:
    ///   - configuration: the tenant's configuration in force, whose roles and units the assignments must name
    ///     (nil only for the platform tenant).
    ///   - cost: bcrypt's cost; 12 unless a test needs speed.
    @discardableResult
    public func addUser(username: String, name: PersonName?, title: String?, password: String, roles: [RoleAssignment],
                        configuration: TenantConfiguration?, in tenant: TenantID, by metadata: EventMetadata, cost: UInt8 = 12) async throws -> UUID {
        let username = username.trimmingCharacters(in: .whitespaces).lowercased()
        guard (3...64).contains(username.count), username.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "._-@".unicodeScalars.contains($0) }) else {
            throw DomainError.invalid("username", "a username has 3–64 letters, digits and . _ - @")
        }
        guard password.count >= 12, password.count <= 72 else {
            throw DomainError.invalid("password", "a password has 12 to 72 characters")
        }
        try Self.check(roles, configuration: configuration, tenant: tenant)
        let title = try Check.optionalText(title, field: "title", limit: 100)
        let name = try name.map { name throws(DomainError) in try Check.name(name, field: "name") }
        let id = UUID()
        let index = try await keyRing.blindIndex(username, kind: Self.usernameIndex, in: tenant)
        let hash = Bcrypt.hash(password, cost: cost)
        let subject = SubjectID(id)
        let created = UserAccountCreated(profile: .clear(UserProfile(username: username, name: name, title: title), subject: subject),
                                         passwordHash: .clear(hash, subject: subject), roles: roles)
        let payload = try await keyRing.seal(created, subjects: [subject], in: tenant)
        let claim = try JSONEncoder().encode(UsernameClaimed(account: id))
        do {
            _ = try await store.append([
                ProposedEvent(stream: Self.accountStream(id), eventType: UserAccountCreated.eventType, subjects: [subject], payload: payload),
                ProposedEvent(stream: Self.usernameStream(index), eventType: UsernameClaimed.eventType, payload: claim),
            ], to: tenant, metadata: metadata, expecting: [Self.accountStream(id): .noStream, Self.usernameStream(index): .noStream])
        } catch let error as EventLogError where error.code == .wrongExpectedVersion {
            throw DomainError(.conflict, "username-taken", "This username is already in use in the tenant.", field: "username")
        }
        return id
    }

    /// Whether a username is taken in the tenant.
    public func usernameExists(_ username: String, in tenant: TenantID) async throws -> Bool {
        let index = try await keyRing.blindIndex(username.trimmingCharacters(in: .whitespaces).lowercased(), kind: Self.usernameIndex, in: tenant)
        return !(try await store.readStream(Self.usernameStream(index), of: tenant, afterVersion: 0, limit: 1)).isEmpty
    }

    public func disableUser(_ id: UUID, in tenant: TenantID, by metadata: EventMetadata) async throws {
        guard try await account(id, in: tenant) != nil else { throw DomainError(.notFound, "not-found", "No such account.") }
        _ = try await store.append([ProposedEvent(stream: Self.accountStream(id), eventType: UserAccountDisabled.eventType, subjects: [SubjectID(id)], payload: Data("{}".utf8))],
                                   to: tenant, metadata: metadata)
    }

    /// An account's roles and state; nil when there is none.
    public func account(_ id: UUID, in tenant: TenantID) async throws -> (roles: [RoleAssignment], disabled: Bool, profile: UserProfile?, passwordHash: String?)? {
        let events = try await store.readStream(Self.accountStream(id), of: tenant)
        guard let first = events.first, first.eventType == UserAccountCreated.eventType else { return nil }
        let created = try await keyRing.open(UserAccountCreated.self, from: first)
        return (created.roles, events.contains { $0.eventType == UserAccountDisabled.eventType }, created.profile.value, created.passwordHash.value)
    }

    /// Checks a username and password. Unknown tenants and users, wrong passwords and disabled accounts all give nil,
    /// after the same bcrypt work, so the answer does not tell which. Nothing is written: a tenant without a log is
    /// answered without touching its keys (a sign-in attempt must not create a tenant).
    public func authenticate(username: String, password: String, in tenant: TenantID) async throws -> Principal? {
        let username = username.trimmingCharacters(in: .whitespaces).lowercased()
        guard (1...64).contains(username.count), password.count <= 72, try await store.head(of: tenant).position.rawValue > 0 else {
            await decoy(password)
            return nil
        }
        let index = try await keyRing.blindIndex(username, kind: Self.usernameIndex, in: tenant)
        let claims = try await store.readStream(Self.usernameStream(index), of: tenant, afterVersion: 0, limit: 1)
        guard let claim = claims.first, let id = try? JSONDecoder().decode(UsernameClaimed.self, from: claim.payload).account,
              let account = try await account(id, in: tenant), let hash = account.passwordHash else {
            await decoy(password)
            return nil
        }
        guard await runBlocking({ Bcrypt.verify(password, hash: hash) }), !account.disabled else { return nil }
        return Principal(kind: .user, tenant: tenant, id: id, roles: account.roles)
    }

    /// A hash to verify against when the username is unknown, so that the time taken does not reveal it.
    private static let decoyHash = Bcrypt.hash("decoy password that matches nothing", cost: 12)

    /// The bcrypt work of a failed sign-in, for answers that fail before a hash is found.
    public func decoy(_ password: String) async {
        let password = String(password.prefix(72))
        _ = await runBlocking { Bcrypt.verify(password, hash: Self.decoyHash) }
    }

    /// Whether an account exists and is not disabled; reads the account's stream without opening anything.
    public func isActive(_ id: UUID, in tenant: TenantID) async throws -> Bool {
        let events = try await store.readStream(Self.accountStream(id), of: tenant)
        return events.first?.eventType == UserAccountCreated.eventType && !events.contains { $0.eventType == UserAccountDisabled.eventType }
    }

    // MARK: API tokens

    /// Issues an API token; the returned text is shown once and stored only as a digest.
    public func issueToken(label: String, roles: [RoleAssignment], partner: String? = nil, expiresAt: Timestamp? = nil,
                           configuration: TenantConfiguration?, in tenant: TenantID, by metadata: EventMetadata) async throws -> (id: UUID, token: String) {
        let label = try Check.text(label, field: "label", limit: 100)
        try Self.check(roles, configuration: configuration, tenant: tenant)
        if let partner {
            _ = try Check.code(partner, field: "partner")
            if let configuration, FeedReader.Partner(partner, in: configuration) == nil {
                throw DomainError.invalid("partner", "partner names no recipient with a feed in the tenant's configuration")
            }
            // A partner token opens the partner's feed and nothing else: no staff roles on the same token.
            guard roles.isEmpty else { throw DomainError.invalid("roles", "a partner's token has no roles; issue a separate token for other work") }
        }
        guard !roles.isEmpty || partner != nil else { throw DomainError.invalid("roles", "a token needs at least one role or a partner") }
        let id = UUID()
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secretText = Data(secret).base64URLEncoded
        let issued = ApiTokenIssued(label: label, secretDigest: Self.digest(secretText), roles: roles, partner: partner, expiresAt: expiresAt)
        _ = try await store.append([ProposedEvent(stream: Self.tokenStream(id), eventType: ApiTokenIssued.eventType, payload: try JSONEncoder().encode(issued))],
                                   to: tenant, metadata: metadata, expecting: [Self.tokenStream(id): .noStream])
        return (id, "rt.\(tenant.rawValue).\(id.lowercasedString).\(secretText)")
    }

    public func revokeToken(_ id: UUID, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let events = try await store.readStream(Self.tokenStream(id), of: tenant)
        guard !events.isEmpty else { throw DomainError(.notFound, "not-found", "No such token.") }
        _ = try await store.append([ProposedEvent(stream: Self.tokenStream(id), eventType: ApiTokenRevoked.eventType, payload: Data("{}".utf8))],
                                   to: tenant, metadata: metadata)
    }

    /// The principal an API token stands for; nil when it is malformed, unknown, revoked or expired.
    public func verifyToken(_ token: String, now: Timestamp = .now()) async throws -> Principal? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "rt", let tenant = try? TenantID(String(parts[1])), let id = UUID(canonical: parts[2]) else { return nil }
        let events = try await store.readStream(Self.tokenStream(id), of: tenant)
        guard let first = events.first, let issued = try? JSONDecoder().decode(ApiTokenIssued.self, from: first.payload),
              !events.contains(where: { $0.eventType == ApiTokenRevoked.eventType }) else { return nil }
        // Compare digests, not secrets, so the comparison's timing tells nothing about the secret.
        guard Self.digest(String(parts[3])) == issued.secretDigest else { return nil }
        if let expiresAt = issued.expiresAt, expiresAt <= now { return nil }
        return Principal(kind: .token, tenant: tenant, id: id, roles: issued.roles, partner: issued.partner)
    }

    // MARK: Helpers

    static func digest(_ secret: String) -> String {
        Array(SHA256.hash(data: Data(secret.utf8))).hexString
    }

    private static func check(_ roles: [RoleAssignment], configuration: TenantConfiguration?, tenant: TenantID) throws(DomainError) {
        if tenant == platformTenant {
            guard roles.allSatisfy({ $0.role == operatorRole && $0.units == nil }) else {
                throw DomainError.invalid("roles", "the platform tenant has one role, \(operatorRole)")
            }
            return
        }
        guard let configuration else {
            throw DomainError(.rule, "tenant-not-configured", "The tenant has no configuration in force; apply its tenant file first.")
        }
        for (index, assignment) in roles.enumerated() {
            guard let role = configuration.roles.first(where: { $0.id == assignment.role }) else {
                throw DomainError.invalid("roles[\(index)].role", "the tenant has no role \(assignment.role.prefix(64))")
            }
            let units = assignment.units ?? []
            switch role.scope {
            case .units:
                guard !units.isEmpty else { throw DomainError.invalid("roles[\(index)].units", "role \(role.id) acts in named units: give at least one") }
            case .tenant:
                guard units.isEmpty else { throw DomainError.invalid("roles[\(index)].units", "role \(role.id) covers the whole tenant and takes no units") }
            }
            for unit in units where !configuration.units.contains(where: { $0.code == unit }) {
                throw DomainError.invalid("roles[\(index)].units", "the tenant has no unit \(unit.prefix(64))")
            }
        }
    }
}

extension Data {
    /// Base64 with the URL-safe alphabet and no padding.
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
