import EventLog
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Register
import TestSupport
import Testing

@Suite("register: accounts, tokens, population import and demo data", .serialized)
struct AccountAndImportCommandTests {
    static let tenants = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    func applied(_ directory: URL) throws -> [String] {
        let database = ["--database", "sqlite:" + directory.appendingPathComponent("register.sqlite").path]
        let apply = try RegisterBinary.run(["tenant", "apply", Self.tenants.appendingPathComponent("poco-sipoo.yaml").path, "--actor", "op-1"] + database, in: directory)
        #expect(apply.status == 0, "\(apply.errors)")
        return database
    }

    @Test("user add takes the password from the environment, checks roles and units; token issue prints the token once")
    func usersAndTokens() async throws {
        try await withScratchDirectory { directory in
            let database = try applied(directory)
            let password = ["REGISTER_USER_PASSWORD": "a long enough password"]
            let added = try RegisterBinary.run(["user", "add", "--tenant", "poco-sipoo", "--username", "Maija.K", "--role", "director",
                                                "--name", "Maija Koskinen", "--title", "Johtaja", "--actor", "op-1"] + database, in: directory, environment: password)
            #expect(added.status == 0, "\(added.errors)")
            #expect(added.output.contains("created for maija.k with roles director"))
            #expect(!added.output.contains("a long enough password") && !added.errors.contains("a long enough password"))

            let cases: [([String], [String: String], String)] = [
                (["--username", "maija.k", "--role", "director"], password, "username-taken"),
                (["--username", "other", "--role", "janitor"], password, "no role janitor"),
                (["--username", "other", "--role", "unit-staff"], password, "give at least one"),
                (["--username", "other", "--role", "unit-staff:no-such-unit"], password, "no unit no-such-unit"),
                (["--username", "other", "--role", "director"], ["REGISTER_USER_PASSWORD": "short"], "12 to 72 characters"),
            ]
            for (arguments, environment, message) in cases {
                let refused = try RegisterBinary.run(["user", "add", "--tenant", "poco-sipoo", "--actor", "op-1"] + arguments + database,
                                                     in: directory, environment: environment)
                #expect(refused.status != 0, "\(arguments)")
                #expect(refused.errors.contains(message), "\(arguments): \(refused.errors)")
            }
            let staff = try RegisterBinary.run(["user", "add", "--tenant", "poco-sipoo", "--username", "hoitaja", "--role", "unit-staff:poco-joensuunraitti",
                                                "--actor", "op-1"] + database, in: directory, environment: password)
            #expect(staff.status == 0, "\(staff.errors)")

            let token = try RegisterBinary.run(["token", "issue", "--tenant", "poco-sipoo", "--label", "reporting", "--role", "billing",
                                                "--expires", "2027-12-31", "--actor", "op-1"] + database, in: directory)
            #expect(token.status == 0, "\(token.errors)")
            #expect(token.output.hasPrefix("rt.poco-sipoo."))
            #expect(token.errors.contains("shown only now"))
            let unconfigured = try RegisterBinary.run(["token", "issue", "--tenant", "lohja", "--label", "x", "--role", "billing", "--actor", "op-1"] + database,
                                                      in: directory)
            #expect(unconfigured.status != 0 && unconfigured.errors.contains("register tenant apply"))
        }
    }

    @Test("import population reports every malformed line with its number and applies nothing; a good file is applied once")
    func populationImport() async throws {
        try await withScratchDirectory { directory in
            let database = try applied(directory)
            let bad = directory.appendingPathComponent("bad.jsonl")
            try """
                {"identityCode": "\(IdentityCodes.testCode(seed: 1))", "homeMunicipality": "753"}
                {"identityCode": "\(IdentityCodes.testCode(seed: 2))", "homeMunicipality": "75"}
                {"identityCode": "\(IdentityCodes.testCode(seed: 3))"}
                """.write(to: bad, atomically: true, encoding: .utf8)
            let refused = try RegisterBinary.run(["import", "population", bad.path, "--tenant", "poco-sipoo", "--actor", "dvv-job"] + database, in: directory)
            #expect(refused.status != 0)
            #expect(refused.errors.contains("bad.jsonl:2:") && refused.errors.contains("bad.jsonl:3:"), "\(refused.errors)")
            #expect(refused.errors.contains("nothing was imported"))

            let good = directory.appendingPathComponent("good.jsonl")
            try """
                {"identityCode": "\(IdentityCodes.testCode(seed: 1))", "homeMunicipality": "753"}
                """.write(to: good, atomically: true, encoding: .utf8)
            let imported = try RegisterBinary.run(["import", "population", good.path, "--tenant", "poco-sipoo", "--actor", "dvv-job"] + database, in: directory)
            #expect(imported.status == 0, "\(imported.errors)")
            #expect(imported.output.contains("1 lines; 0 people changed (0 events), 0 unchanged, 1 not in the register"))
        }
    }

    @Test("demo fills the tenants and is not repeated; then serve signs a demo account in")
    func demoThenServe() async throws {
        try await withScratchDirectory { directory in
            let tenants = directory.appendingPathComponent("Tenants")
            try FileManager.default.createDirectory(at: tenants, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.tenants.appendingPathComponent("poco-sipoo.yaml"), to: tenants.appendingPathComponent("poco-sipoo.yaml"))
            let environment = ["REGISTER_DEMO_PASSWORD": "demo-password-1"]
            let demo = try RegisterBinary.run(["demo", "--families", "2", "--months", "1"], in: directory, environment: environment)
            #expect(demo.status == 0, "\(demo.errors)")
            #expect(demo.output.contains("poco-sipoo:") && demo.output.contains("placements"))
            #expect(demo.output.contains("demo-director, demo-unit-staff, demo-billing"))
            let again = try RegisterBinary.run(["demo", "--families", "2"], in: directory, environment: environment)
            #expect(again.output.contains("already has demo data"))

            let port = try freePort()
            let server = try RegisterBinary.start(["serve", "--port", String(port)], in: directory, logTo: directory.appendingPathComponent("serve.log"))
            defer { server.terminate() }
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/tenants/poco-sipoo/sessions")!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(#"{"username": "demo-director", "password": "demo-password-1"}"#.utf8)
            var answer: (Data, URLResponse)?
            for _ in 0..<100 where answer == nil {
                try await Task.sleep(for: .milliseconds(100))
                answer = try? await URLSession.shared.data(for: request)
            }
            let (data, response) = try #require(answer)
            #expect((response as? HTTPURLResponse)?.statusCode == 201, "\(String(decoding: data, as: UTF8.self))")
            #expect(String(decoding: data, as: UTF8.self).contains(#""token":"rs."#))
        }
    }
}
