import Crypto
import EventLog
import Foundation
import Testing

@Suite("Identifiers, keys and checkpoints")
struct IdentifierTests {
    @Test("tenant ids are URL-safe slugs", arguments: ["lohja", "poco-sipoo", "a", "x9"])
    func validTenants(id: String) throws { #expect(try TenantID(id).rawValue == id) }

    @Test("anything else is refused", arguments: ["", "Lohja", "-lohja", "lohja-", "lo hja", "lohja/x", String(repeating: "a", count: 64)])
    func invalidTenants(id: String) {
        #expect(throws: EventLogError.self) { try TenantID(id) }
    }

    @Test("envelope identifiers that look like identity codes are refused")
    func noIdentityCodesInEnvelopes() {
        let stream = #expect(throws: EventLogError.self) { try StreamRef(type: "child", id: "131052-308T") }
        #expect(stream?.code == .personalDataInClear)
        #expect(throws: EventLogError.self) { try Actor(userID: "010101A900R", role: "registrar") }
        #expect(throws: EventLogError.self) { try StreamRef(type: "9child", id: "x") }
    }

    @Test("UUID text parses as Foundation parses it, and subject ids order as their text does")
    func uuidText() throws {
        for _ in 0..<500 {
            let uuid = UUID()
            #expect(UUID(canonical: uuid.uuidString) == uuid)
            #expect(UUID(canonical: uuid.lowercasedString) == uuid)
            #expect(UUID(canonical: uuid.uuidString.dropLast()) == nil)
            let (a, b) = (SubjectID(uuid), SubjectID(UUID()))
            #expect((a < b) == (a.description < b.description))
            #expect(try SubjectID(a.description) == a)
        }
        for bad in ["", "not-a-uuid", "0123456789abcdef0123456789abcdef0123", "01234567-89ab-cdef-0123-456789abcdeg", "01234567-89ab-cdef-0123_456789abcdef"] {
            #expect(UUID(canonical: bad) == nil)
            #expect(UUID(uuidString: bad) == nil)
            #expect(throws: EventLogError.self) { try SubjectID(bad) }
        }
        let decoded = try JSONDecoder().decode([SubjectID].self, from: Data(#"["0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]"#.utf8))
        #expect(decoded.map(\.description) == ["0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SubjectID].self, from: Data(#"["robert'); drop table"]"#.utf8)) }
    }

    @Test("timestamps print as UTC ISO 8601 with microseconds")
    func timestamps() {
        #expect(Timestamp(rawValue: 1_700_000_000_123_456).description == "2023-11-14T22:13:20.123456Z")
        #expect(Timestamp(rawValue: 0).description == "1970-01-01T00:00:00.000000Z")
    }

    @Test("master keys: base64 of 32 bytes; a key file readable by others is refused")
    func masterKeys() throws {
        let key = MasterKey.generate()
        #expect(try MasterKey(base64: key.base64).id == key.id)
        #expect(throws: EventLogError.self) { try MasterKey(base64: "c2hvcnQ=") }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("master.key").path
        let (created, isNew) = try MasterKey.loadOrCreate(fileAt: path)
        #expect(isNew)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (loaded, isNewAgain) = try MasterKey.loadOrCreate(fileAt: path)
        #expect(!isNewAgain && loaded.id == created.id)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let error = #expect(throws: EventLogError.self) { try MasterKey.load(fileAt: path) }
        #expect(error?.message.contains("chmod 600") == true)
    }

    @Test("a checkpoint's signature covers every field")
    func checkpointSignatures() throws {
        let key = try MasterKey.generate().checkpointSigningKey()
        let head = LogHead(position: LogPosition(42), hash: try EventDigest(bytes: Array(repeating: 1, count: 32)), recordedAt: .now())
        let checkpoint = try SignedCheckpoint.sign(head, of: try TenantID("lohja"), with: key)
        #expect(checkpoint.hasValidSignature())
        #expect(checkpoint.hasValidSignature(expectedPublicKey: key.publicKey.rawRepresentation.base64EncodedString()))
        var moved = checkpoint
        moved.position = LogPosition(41)
        #expect(!moved.hasValidSignature())
        var renamed = checkpoint
        renamed.tenant = try TenantID("lieto")
        #expect(!renamed.hasValidSignature())
        #expect(!checkpoint.hasValidSignature(expectedPublicKey: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()))
    }
}
