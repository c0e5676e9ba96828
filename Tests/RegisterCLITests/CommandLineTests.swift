import EventLog
import EventLogSQLite
import Register
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRDB
import TestSupport
import Testing

@Suite("register: the command line", .serialized)
struct CommandLineTests {
    static let actor = try! Actor(userID: "u-cli", role: "registrar")

    /// A SQLite log with sealed events for one tenant, written through the store as the service would.
    static func seed(_ directory: URL, tenant: TenantID, events: Int = 40) async throws -> (database: String, keyFile: String) {
        let key = MasterKey.generate()
        let keyFile = directory.appendingPathComponent("master.key").path
        FileManager.default.createFile(atPath: keyFile, contents: Data(key.base64.utf8), attributes: [.posixPermissions: 0o600])
        let path = directory.appendingPathComponent("source.sqlite").path
        let store = try SQLiteEventStore(path: path)
        let ring = KeyRing(masterKey: key, store: store)
        for batch in 0..<(events / 4) {
            let child = SyntheticPerson(batch), guardian = SyntheticPerson(batch + 100)
            var proposed: [ProposedEvent] = []
            for _ in 0..<4 {
                let payload = try await ring.seal(ChildRecorded.about(child, guardian: guardian), subjects: [child.subject, guardian.subject], in: tenant)
                proposed.append(ProposedEvent(stream: try StreamRef(type: "child", id: child.subject.description), eventType: "ChildRecorded",
                                              subjects: [child.subject, guardian.subject], payload: payload))
            }
            _ = try await store.append(proposed, to: tenant, metadata: EventMetadata(actor: actor))
        }
        try store.close()
        return ("sqlite:" + path, keyFile)
    }

    @Test("verify names the first tampered position and exits 1")
    func verify() async throws {
        try await withScratchDirectory { directory in
            let tenant = try TenantID("lohja")
            let (database, keyFile) = try await Self.seed(directory, tenant: tenant)
            let intact = try RegisterBinary.run(["verify", "--database", database, "--master-key-file", keyFile], in: directory)
            #expect(intact.status == 0)
            #expect(intact.output.contains("lohja: intact, 40 events"))

            let queue = try DatabaseQueue(path: String(database.dropFirst("sqlite:".count)))
            try await queue.write { db in
                try db.execute(sql: "DROP TRIGGER log_events_no_update; UPDATE log_events SET actor_user = 'u-forged' WHERE pos = 17")
            }
            try queue.close()
            // The same settings from the environment instead of flags.
            let broken = try RegisterBinary.run(["verify"], in: directory, environment: ["REGISTER_DATABASE": database, "REGISTER_MASTER_KEY_FILE": keyFile])
            #expect(broken.status == 1)
            #expect(broken.output.contains("lohja: BROKEN at position 17"))
        }
    }

    @Test("export, import into another store, verify, and checkpoints", arguments: PostgresTestServer.shouldRun ? ["sqlite", "postgres"] : ["sqlite"])
    func exportImport(target: String) async throws {
        try await withScratchDirectory { directory in
            let tenant = try TenantID("lieto")
            let (database, keyFile) = try await Self.seed(directory, tenant: tenant)
            let file = directory.appendingPathComponent("lieto.jsonl").path
            let export = try RegisterBinary.run(["log", "export", "--tenant", "lieto", "--output", file, "--database", database, "--master-key-file", keyFile], in: directory)
            #expect(export.status == 0, "\(export.errors)")
            #expect(export.errors.contains("exported lieto up to position 40"))
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(!FileManager.default.fileExists(atPath: file + ".partial"))

            try await Self.withTarget(target, in: directory) { targetDatabase in
            let targetArguments = ["--database", targetDatabase, "--master-key-file", keyFile]

            let imported = try RegisterBinary.run(["log", "import", file, "--tenant", "lieto"] + targetArguments, in: directory)
            #expect(imported.status == 0, "\(imported.errors)")
            #expect(imported.output.contains("imported 40 events"))
            let verified = try RegisterBinary.run(["verify", "--tenant", "lieto"] + targetArguments, in: directory)
            #expect(verified.output.contains("lieto: intact, 40 events"))

            let again = try RegisterBinary.run(["log", "import", file] + targetArguments, in: directory)
            #expect(again.status != 0)
            #expect(again.errors.contains("only into an empty tenant"))

            let checkpoint = try RegisterBinary.run(["log", "checkpoint", "--tenant", "lieto"] + targetArguments, in: directory)
            #expect(checkpoint.status == 0, "\(checkpoint.errors)")
            let checkpointFile = directory.appendingPathComponent("checkpoint.json")
            try checkpoint.output.write(to: checkpointFile, atomically: true, encoding: .utf8)
            let publicKey = try RegisterBinary.run(["log", "public-key", "--master-key-file", keyFile], in: directory).output.trimmingCharacters(in: .whitespacesAndNewlines)
            let holds = try RegisterBinary.run(["log", "verify-checkpoint", checkpointFile.path, "--public-key", publicKey] + targetArguments, in: directory)
            #expect(holds.status == 0, "\(holds.output) \(holds.errors)")
            #expect(holds.output.contains("checkpoint holds"))
            let stranger = try RegisterBinary.run(["log", "verify-checkpoint", checkpointFile.path, "--public-key", "AAAA"] + targetArguments, in: directory)
            #expect(stranger.status == 1, "\(stranger.output) \(stranger.errors)")
            }
        }
    }

    /// An empty target database: a SQLite file, or a new PostgreSQL database dropped afterwards.
    static func withTarget(_ kind: String, in directory: URL, _ body: (String) async throws -> Void) async throws {
        guard kind == "postgres" else {
            return try await body("sqlite:" + directory.appendingPathComponent("target.sqlite").path)
        }
        let database = try await PostgresTestServer.createDatabase()
        do {
            try await body(database.appURL.connectionString)
            try await database.drop()
        } catch {
            try? await database.drop()
            throw error
        }
    }

    @Test("tenant apply records a file once, reports what changed, and a bad file among several changes nothing")
    func tenantApply() async throws {
        try await withScratchDirectory { directory in
            let tenants = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized
            let poco = tenants.appendingPathComponent("poco-sipoo.yaml").path
            let database = ["--database", "sqlite:" + directory.appendingPathComponent("register.sqlite").path]
            let bad = directory.appendingPathComponent("broken.yaml")
            try String(contentsOfFile: poco, encoding: .utf8).replacingOccurrences(of: "id: poco-sipoo", with: "id: broken")
                .replacingOccurrences(of: "    marketing: false", with: "    marketing: true").write(to: bad, atomically: true, encoding: .utf8)

            let refused = try RegisterBinary.run(["tenant", "apply", poco, bad.path, "--actor", "op-1"] + database, in: directory)
            #expect(refused.status != 0)
            #expect(refused.errors.contains("broken.yaml:"))
            #expect(refused.errors.contains("nothing for marketing"))
            let empty = try RegisterBinary.run(["tenant", "list"] + database, in: directory)
            #expect(!empty.output.contains("poco-sipoo"), "the good file was not applied either")

            let missingActor = try RegisterBinary.run(["tenant", "apply", poco] + database, in: directory)
            #expect(missingActor.status != 0)
            #expect(missingActor.errors.contains("--actor"))

            let first = try RegisterBinary.run(["tenant", "apply", poco, "--actor", "op-1"] + database, in: directory)
            #expect(first.status == 0, "\(first.errors)")
            #expect(first.output.contains("poco-sipoo: applied"))
            let second = try RegisterBinary.run(["tenant", "apply", poco] + database, in: directory, environment: ["REGISTER_ACTOR": "op-1"])
            #expect(second.output.contains("poco-sipoo: unchanged"))
            let listed = try RegisterBinary.run(["tenant", "list"] + database, in: directory)
            #expect(listed.output.contains("poco-sipoo\tMusiikkipäiväkoti Pocon kannatusyhdistys ry\tconfiguration version 1"))

            // A unit's operator named as a tenant must be one here: refused before Poco is known, applied after.
            let operated = directory.appendingPathComponent("esimerkkila.yaml")
            try String(contentsOf: tenants.appendingPathComponent("esimerkkila.yaml"), encoding: .utf8)
                .replacingOccurrences(of: "businessID: \"0000000-0\" }", with: "businessID: \"0000000-0\", tenant: poco-sipoo }")
                .write(to: operated, atomically: true, encoding: .utf8)
            let otherDatabase = ["--database", "sqlite:" + directory.appendingPathComponent("other.sqlite").path]
            let unknown = try RegisterBinary.run(["tenant", "apply", operated.path, "--actor", "op-1"] + otherDatabase, in: directory)
            #expect(unknown.status != 0 && unknown.errors.contains("esimerkkila.yaml:") && unknown.errors.contains("no tenant poco-sipoo is known here"), "\(unknown.errors)")
            let known = try RegisterBinary.run(["tenant", "apply", operated.path, "--actor", "op-1"] + database, in: directory)
            #expect(known.status == 0 && known.output.contains("esimerkkila: applied"), "\(known.errors)")
            // Poco's own file applied again with another business id would leave Esimerkkilä's link wrong: refused.
            let changed = directory.appendingPathComponent("changed")
            try FileManager.default.createDirectory(at: changed, withIntermediateDirectories: true)
            let pocoChanged = changed.appendingPathComponent("poco-sipoo.yaml")
            try String(contentsOfFile: poco, encoding: .utf8).replacingOccurrences(of: "businessID: \"0000000-0\"", with: "businessID: \"1234567-1\"")
                .write(to: pocoChanged, atomically: true, encoding: .utf8)
            let broken = try RegisterBinary.run(["tenant", "apply", pocoChanged.path, "--actor", "op-1"] + database, in: directory)
            #expect(broken.status != 0 && broken.errors.contains("esimerkkila") && broken.errors.contains("1234567-1"), "\(broken.errors)")
        }
    }

    @Test("access-log subject and sample print entries; verify checks the access logs too")
    func accessLog() async throws {
        try await withScratchDirectory { directory in
            let path = directory.appendingPathComponent("register.sqlite").path
            let store = try SQLiteEventStore(path: directory.appendingPathComponent("register-access.sqlite").path)
            let log = AccessLog(store: store)
            let tenant = try TenantID("lohja")
            let child = SubjectID.random()
            let staff = try Actor(userID: "u-staff-7", role: "unit-staff")
            try await log.record((0..<5).map { _ in AccessEntry(subject: child, action: .view, resource: "child/\(child)", purpose: "ecec-daily-work", actor: staff) }
                                 + [AccessEntry(subject: .random(), action: .print, resource: "unit/u1/roster", purpose: "ecec-daily-work", actor: staff)], in: tenant)
            try store.close()
            let database = ["--database", "sqlite:" + path]

            let subject = try RegisterBinary.run(["access-log", "subject", "--tenant", "lohja", "--subject", child.description] + database, in: directory)
            #expect(subject.status == 0, "\(subject.errors)")
            let lines = subject.output.split(separator: "\n")
            #expect(lines.count == 6, "a header and five entries")
            #expect(lines.dropFirst().allSatisfy { $0.contains("u-staff-7\tunit-staff\tview\t\(child)\tchild/\(child)\tecec-daily-work") })

            let sample = try RegisterBinary.run(["access-log", "sample", "--tenant", "lohja", "--count", "3"] + database, in: directory)
            #expect(sample.output.split(separator: "\n").count == 4)

            let verified = try RegisterBinary.run(["verify"] + database, in: directory)
            #expect(verified.output.contains("lohja (access log): intact, 6 events"), "\(verified.output)")
        }
    }

    @Test("a bad setting is refused with a clear message and no stack trace")
    func badSettings() async throws {
        try await withScratchDirectory { directory in
            let outcome = try RegisterBinary.run(["verify", "--database", "mysql://x"], in: directory)
            #expect(outcome.status != 0)
            #expect(outcome.errors.contains("a database is sqlite:PATH or postgres://"))
            let missingKey = try RegisterBinary.run(["verify", "--master-key-file", "nope.key"], in: directory)
            #expect(missingKey.status != 0)
            #expect(missingKey.errors.contains("does not exist"))
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("var/master.key").path), "an explicit key file is never created")
        }
    }

    @Test("serve on a fresh machine creates ./var, an owner-only key file, says so, and answers")
    func serveFromNothing() async throws {
        try await withScratchDirectory { directory in
            let port = try freePort()
            let log = directory.appendingPathComponent("serve.log")
            let server = try RegisterBinary.start(["serve", "--port", String(port)], in: directory, logTo: log)
            defer { server.terminate() }
            var health: String?
            for _ in 0..<100 where health == nil {
                try await Task.sleep(for: .milliseconds(100))
                if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!) {
                    health = String(decoding: data, as: UTF8.self)
                }
            }
            #expect(health?.contains(#""status":"ok""#) == true)
            let key = directory.appendingPathComponent("var/master.key").path
            #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
            #expect(try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("var/register.sqlite").path)[.posixPermissions] as? Int == 0o600)
            server.terminate()
            server.waitUntilExit()
            let output = try String(contentsOf: log, encoding: .utf8)
            #expect(output.contains("created a new master key file"))
            #expect(!output.contains(try String(contentsOfFile: key, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)), "the key itself is never logged")
        }
    }
}

/// A TCP port on 127.0.0.1 that is free right now.
func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: address.sin_port))
}
