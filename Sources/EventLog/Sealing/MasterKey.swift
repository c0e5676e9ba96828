import Crypto
import Foundation

/// The key at the top of the key hierarchy: it wraps each tenant's key and never lives in the database.
///
/// Production passes it in (`REGISTER_MASTER_KEY`, base64 of 32 bytes, or a key file); a fresh development
/// machine gets a key file created with owner-only permissions. Losing it makes every sealed field unreadable.
public struct MasterKey: Sendable {
    let key: SymmetricKey
    /// A short fingerprint stored next to each wrapped tenant key, so a wrong master key is named as such.
    public let id: String

    /// Uses 32 bytes as the key.
    public init(bytes: some ContiguousBytes) throws(EventLogError) {
        let key = SymmetricKey(data: bytes)
        guard key.bitCount == 256 else { throw EventLogError(.invalidArgument, "a master key has 32 bytes (base64: 44 characters)") }
        self.init(key: key)
    }

    private init(key: SymmetricKey) {
        self.key = key
        let fingerprint = HMAC<SHA256>.authenticationCode(for: Array("register.master-key-id.v1".utf8), using: key)
        self.id = Array(fingerprint.prefix(8)).hexString
    }

    /// Decodes base64 of 32 bytes (surrounding whitespace ignored).
    public init(base64: String) throws(EventLogError) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw EventLogError(.invalidArgument, "a master key is base64 of 32 bytes")
        }
        try self.init(bytes: data)
    }

    /// A new random key.
    public static func generate() -> MasterKey {
        MasterKey(key: SymmetricKey(size: .bits256))
    }

    /// The key as base64, for writing a key file.
    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// Reads a key file; refuses one that others than its owner can read.
    public static func load(fileAt path: String) throws(EventLogError) -> MasterKey {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw EventLogError(.keyUnavailable, "the master key file cannot be read", underlying: error)
        }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw EventLogError(.keyUnavailable, "the master key file is readable by others than its owner; run chmod 600 on it")
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw EventLogError(.keyUnavailable, "the master key file cannot be read", underlying: error)
        }
        return try MasterKey(base64: text)
    }

    /// Reads the key file, or creates it (mode 0600, its directory 0700 if new) when it does not exist yet.
    /// - Returns: the key, and whether the file was created now.
    public static func loadOrCreate(fileAt path: String) throws(EventLogError) -> (key: MasterKey, created: Bool) {
        let manager = FileManager.default
        let key = generate()
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty, !manager.fileExists(atPath: directory) {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // Exclusive creation: if another process created the file first, its key is the one to use.
            if try OwnerOnlyFile.create(path, contents: Data((key.base64 + "\n").utf8)) == .alreadyExists {
                return (try load(fileAt: path), false)
            }
        } catch let error as EventLogError {
            throw error
        } catch {
            throw EventLogError(.keyUnavailable, "the master key file cannot be created", underlying: error)
        }
        return (key, true)
    }

    /// Derives a purpose-bound subkey, so the master key itself encrypts nothing directly.
    func derived(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: Array("register.master.v1".utf8), info: Array(purpose.utf8), outputByteCount: 32)
    }

    /// The Ed25519 key that signs chain checkpoints of this installation, derived from the master key.
    public func checkpointSigningKey() throws -> Curve25519.Signing.PrivateKey {
        let seed = derived("checkpoint-signing.v1").withUnsafeBytes { Data($0) }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }
}
