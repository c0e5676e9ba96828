import Crypto
import EventLog
import Foundation
import Register

/// Sign-in sessions, in memory: a session token is 32 random bytes, kept here only as its SHA-256 digest.
///
/// Sessions do not survive a restart (users sign in again), and one instance does not see another's sessions;
/// both are acceptable for one hosted instance and are documented in docs/operations.md.
actor SessionStore {
    struct Session {
        var principal: Principal
        var expiresAt: ContinuousClock.Instant
        /// When the account was last found active; a disabled account's sessions end within `recheck`.
        var checkedAt: ContinuousClock.Instant
    }

    /// How long a session trusts its account's state before reading it again.
    let recheck: Duration = .seconds(5)

    private var sessions: [String: Session] = [:]
    /// Verified API tokens, briefly, so that an integration's every request does not read the token's stream.
    private var tokens: [String: (principal: Principal, checkedAt: ContinuousClock.Instant)] = [:]
    let lifetime: Duration
    let tokenCacheLifetime: Duration = .seconds(5)

    init(lifetime: Duration = .seconds(8 * 3600)) {
        self.lifetime = lifetime
    }

    /// Starts a session and returns its token (shown once to the client).
    func start(_ principal: Principal) -> (token: String, expiresIn: Duration) {
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let token = "rs." + Data(secret).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        purgeExpired()
        sessions[Self.digest(token)] = Session(principal: principal, expiresAt: .now + lifetime, checkedAt: .now)
        return (token, lifetime)
    }

    /// The session's principal, and whether its account must be checked again before it is trusted.
    func principal(forSession token: String) -> (principal: Principal, needsCheck: Bool)? {
        let key = Self.digest(token)
        guard let session = sessions[key] else { return nil }
        guard session.expiresAt > .now else {
            sessions.removeValue(forKey: key)
            return nil
        }
        return (session.principal, session.checkedAt + recheck <= .now)
    }

    /// Records that the session's account was found active just now.
    func confirmed(_ token: String) {
        sessions[Self.digest(token)]?.checkedAt = .now
    }

    func end(_ token: String) {
        sessions.removeValue(forKey: Self.digest(token))
    }

    func cachedToken(_ token: String) -> Principal? {
        guard let entry = tokens[Self.digest(token)], entry.checkedAt + tokenCacheLifetime > .now else { return nil }
        return entry.principal
    }

    func cache(token: String, as principal: Principal) {
        if tokens.count > 10_000 { tokens.removeAll() }
        tokens[Self.digest(token)] = (principal, .now)
    }

    private func purgeExpired() {
        let now = ContinuousClock.now
        if sessions.count > 1_000 { sessions = sessions.filter { $0.value.expiresAt > now } }
    }

    static func digest(_ token: String) -> String {
        Array(SHA256.hash(data: Data(token.utf8))).hexString
    }
}
