import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import Testing

@Suite("HTTP API: sign-in, tenants, non-disclosure, hostile input, rules, access log")
struct APIBehaviourTests {
    @Test("sign-in: a wrong password, an unknown user and an unknown tenant get the same 401; a signed-out token stops working", arguments: Backend.tested)
    func signIn(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let answers = [
                try await api.request(.post, "/v1/tenants/\(api.tenant)/sessions", json: ["username": "director", "password": "wrong password!!"]),
                try await api.request(.post, "/v1/tenants/\(api.tenant)/sessions", json: ["username": "nobody", "password": APIFixture.password]),
                try await api.request(.post, "/v1/tenants/no-such-tenant/sessions", json: ["username": "director", "password": APIFixture.password]),
            ]
            #expect(try await !api.storage.store.tenants().contains(try TenantID("no-such-tenant")), "a sign-in attempt creates no tenant")
            for answer in answers {
                #expect(answer.status == .unauthorized)
                #expect(answer.problemCode == "invalid-credentials")
                #expect(answer.json["detail"] as? String == answers[0].json["detail"] as? String)
            }
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me").status == .unauthorized, "no token")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: "rs.forged").status == .unauthorized)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: "rt.\(api.tenant).\(UUID()).secret").status == .unauthorized)
            let token = try await api.signIn("director")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).status == .ok)
            #expect(try await api.request(.delete, "/v1/sessions/current", token: token).status == .noContent)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).status == .unauthorized)
        }
    }

    @Test("a disabled account's session stops working within seconds, though `user disable` runs in another process", arguments: Backend.tested)
    func disabledAccount(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let token = try await api.signIn("billing")
            let account = try #require(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).json["account"] as? String)
            try await Accounts(store: api.storage.store, keyRing: api.storage.keyRing).disableUser(try #require(UUID(uuidString: account)), in: api.tenant, by: api.metadata)
            try await Task.sleep(for: .milliseconds(5_500))
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).status == .unauthorized)
            let again = try await api.request(.post, "/v1/tenants/\(api.tenant)/sessions", json: ["username": "billing", "password": APIFixture.password])
            #expect(again.status == .unauthorized)
        }
    }

    @Test("an API token acts with its roles; a revoked or expired one is refused", arguments: Backend.tested)
    func apiTokens(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(1)
            let accounts = Accounts(store: api.storage.store, keyRing: api.storage.keyRing)
            let configuration = try await api.configuration()
            let (id, token) = try await accounts.issueToken(label: "reporting", roles: [.init(role: "billing")], configuration: configuration,
                                                            in: api.tenant, by: api.metadata)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)", token: token).status == .ok)
            #expect(try await api.request(.post, "/v1/tenants/\(api.tenant)/people", token: token, json: ["kind": "child"]).status == .forbidden)
            try await accounts.revokeToken(id, in: api.tenant, by: api.metadata)
            #expect(try await accounts.verifyToken(token) == nil, "revoked")
            let (_, expired) = try await accounts.issueToken(label: "old", roles: [.init(role: "billing")], expiresAt: Timestamp(APIFixture.clock().addingTimeInterval(-60)),
                                                             configuration: configuration, in: api.tenant, by: api.metadata)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)", token: expired).status == .unauthorized)
            let tampered = String(token.dropLast(2)) + "xx"
            #expect(try await accounts.verifyToken(tampered) == nil)
            await #expect(throws: DomainError.self) {
                _ = try await accounts.issueToken(label: "bad", roles: [.init(role: "staff")], configuration: configuration, in: api.tenant, by: api.metadata)
            }
        }
    }

    @Test("another tenant's person answers exactly as a person that does not exist", arguments: Backend.tested)
    func crossTenant(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(1)
            let (foreign, _) = try await api.placedChild(2, in: api.other)
            let director = try await api.signIn("director")
            let otherDirector = try await api.signIn("director", tenant: api.other)
            let missing = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(PersonID.random())", token: director)
            let attempts = [
                try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(foreign)", token: director),
                try await api.request(.get, "/v1/tenants/\(api.other)/people/\(foreign)", token: director),
                try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)", token: otherDirector),
                try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: otherDirector),
                try await api.request(.get, "/v1/tenants/no-such-tenant/people/\(child)", token: director),
            ]
            #expect(missing.status == .notFound)
            for attempt in attempts {
                #expect(attempt.status == missing.status)
                #expect(attempt.problemCode == missing.problemCode)
                #expect(attempt.json["detail"] as? String == missing.json["detail"] as? String)
                #expect(!attempt.text.contains("Aino"))
            }
            #expect(try await api.storage.accessLog.entries(of: child, in: api.tenant).isEmpty, "nothing was shown, so nothing is logged")
        }
    }

    @Test("non-disclosure order: address and contact details hidden from everyone without people.read-protected, in every output", arguments: Backend.tested)
    func nonDisclosure(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(1, guardianProtected: true)
            // Unit staff reach the guardian only through the child's overview (the guardian is placed nowhere).
            for (user, status) in [("director", HTTPResponse.Status.ok), ("staff", .notFound), ("billing", .ok)] {
                let token = try await api.signIn(user)
                let person = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(guardian)", token: token)
                #expect(person.status == status, "\(user)")
                if status == .ok {
                    #expect(person.json["protectedFieldsHidden"] as? Bool == true)
                }
                #expect(!person.text.contains("Suojatie") && !person.text.contains("040 123"), "\(user) saw a protected field")
                let overview = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: token)
                #expect(overview.status == .ok)
                #expect(overview.text.contains("Maija1"), "the guardian's name is shown")
                #expect(!overview.text.contains("Suojatie") && !overview.text.contains("040 123"), "\(user) saw the protected address in the child's overview")
            }
            // people.read-protected held for another unit unmasks nothing here, however widely the caller reads.
            let mixed = try await api.signIn("director-protected-other")
            let outOfScope = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: mixed)
            #expect(outOfScope.status == .ok && !outOfScope.text.contains("Suojatie"))
            let (otherChild, _) = try await api.placedChild(2, unit: APIFixture.otherUnit, guardianProtected: true)
            let inScope = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(otherChild)", token: mixed)
            #expect(inScope.status == .ok && inScope.text.contains("Suojatie 2"), "unmasked where read-protected reaches: the child's unit")

            let registry = try await api.signIn("registry")
            let shown = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(guardian)", token: registry)
            #expect(shown.status == .ok)
            #expect(shown.text.contains("Suojatie 1"), "people.read-protected sees the address")
            #expect(shown.json["protectedFieldsHidden"] as? Bool == false)
        }
    }

    @Test("hostile and malformed input gets 4xx naming the field, and writes nothing", arguments: Backend.tested)
    func hostileInput(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(1)
            let director = try await api.signIn("director"), staff = try await api.signIn("staff")
            let people = "/v1/tenants/\(api.tenant)/people"
            let before = try await api.heads()
            let name = ["first": "Robert'); DROP TABLE events;--", "last": "Tables"]
            let cases: [(String, FixtureRequest, HTTPResponse.Status, String?)] = [
                ("wrong type", .init(.post, people, director, ["kind": 5, "details": ["name": name]]), .badRequest, "kind"),
                ("missing field", .init(.post, people, director, ["kind": "child"]), .badRequest, "details"),
                ("unknown kind", .init(.post, people, director, ["kind": "admin", "details": ["name": name]]), .badRequest, "kind"),
                ("invalid identity code", .init(.post, people, director, ["kind": "child", "details": ["identityCode": "311299-999F", "name": name]]), .badRequest, "details.identityCode"),
                ("SQL in an identity code", .init(.post, people, director, ["kind": "child", "details": ["identityCode": "' OR 1=1 --", "name": name]]), .badRequest, "details.identityCode"),
                ("a future birth date", .init(.post, people, director, ["kind": "child", "details": ["birthDate": "2030-01-01", "name": name]]), .badRequest, "details.birthDate"),
                ("a purpose that is not a code", .init(.post, "\(people)/\(child)/consents", director, ["purpose": "Photo Permission!"]), .badRequest, "purpose"),
                ("path fragment in a unit", .init(.post, "/v1/tenants/\(api.tenant)/children/\(child)/placements", director,
                                                  ["unit": "../../etc/passwd", "arrangement": "municipal", "start": "2027-08-01", "serviceNeed": ["hoursPerWeek": 30]]), .notFound, "unit"),
                ("a date that is not one", .init(.post, "/v1/tenants/\(api.tenant)/children/\(child)/absences", staff, ["date": "2026-02-30", "kind": "sick"]), .badRequest, "date"),
                ("a time that is not one", .init(.post, "/v1/tenants/\(api.tenant)/children/\(child)/arrivals", staff,
                                                 ["date": "2026-11-24", "time": "25:00", "unit": APIFixture.unit]), .badRequest, "time"),
                ("path fragment in an id", .init(.get, "\(people)/..%2F..%2Fetc%2Fpasswd", director, nil), .notFound, nil),
                ("SQL in an id", .init(.get, "\(people)/1'%20OR%20'1'='1", director, nil), .notFound, nil),
            ]
            for (name, request, status, field) in cases {
                let answer = try await api.request(request.method, request.path, token: request.token, json: request.json)
                #expect(answer.status == status, "\(name): \(answer.text)")
                #expect(answer.contentType == "application/problem+json", "\(name)")
                if let field { #expect(answer.field == field, "\(name): \(answer.text)") }
                #expect(!answer.text.contains("DROP TABLE") && !answer.text.contains("311299"), "\(name): the answer echoes the input")
            }
            let malformed = try await api.request(.post, people, token: director, body: Data("{\"kind\": \"child\", ".utf8))
            #expect(malformed.status == .badRequest && malformed.problemCode == "malformed-body")
            let oversized = try await api.request(.post, people, token: director, body: Data(repeating: 0x20, count: 100 * 1024))
            #expect(oversized.status == .contentTooLarge)
            let wrongType = try await api.request(.post, people, token: director, body: Data("kind=child".utf8), contentType: "application/x-www-form-urlencoded")
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(try await api.heads() == before, "nothing was written by any of these requests")
        }
    }

    @Test("the register's rules answer 422 with their code over HTTP; attendance is recorded and read back", arguments: Backend.tested)
    func rules(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(1)
            let staff = try await api.signIn("staff"), director = try await api.signIn("director")
            let base = "/v1/tenants/\(api.tenant)/children/\(child)"
            #expect(try await api.request(.post, "\(base)/arrivals", token: staff, json: ["date": "2026-11-24", "time": "08:10", "unit": APIFixture.unit]).status == .created)
            let steps: [(String, [String: Any], String, String)] = [
                ("arrivals", ["date": "2026-11-24", "time": "09:00", "unit": APIFixture.unit], "already-present", "time"),
                ("departures", ["date": "2026-11-24", "time": "07:00"], "attendance-order", "time"),
                ("absences", ["date": "2026-11-24", "kind": "sick"], "present-that-day", "date"),
                ("arrivals", ["date": "2027-09-01", "time": "08:00", "unit": APIFixture.unit], "not-placed", "unit"),
                ("departures", ["date": "2026-11-23", "time": "16:00"], "no-arrival", "date"),
            ]
            let before = try await api.heads()
            for (path, body, code, field) in steps {
                let answer = try await api.request(.post, "\(base)/\(path)", token: staff, json: body)
                #expect(answer.status == .unprocessableContent, "\(path) \(body): \(answer.text)")
                #expect(answer.problemCode == code && answer.field == field, "\(answer.text)")
            }
            #expect(try await api.heads() == before)
            let forbiddenUnit = try await api.request(.post, "\(base)/arrivals", token: staff, json: ["date": "2026-11-25", "time": "08:00", "unit": APIFixture.otherUnit])
            #expect(forbiddenUnit.status == .forbidden, "staff record arrivals only in their own units")
            #expect(try await api.request(.post, "\(base)/departures", token: staff, json: ["date": "2026-11-24", "time": "15:40"]).status == .created)

            let overlap = try await api.request(.post, "\(base)/placements", token: director,
                                                json: ["unit": APIFixture.otherUnit, "arrangement": "municipal", "start": "2027-01-01", "serviceNeed": ["hoursPerWeek": 20]])
            #expect(overlap.status == .unprocessableContent && overlap.problemCode == "placement-overlaps")
            let attendance = try await api.request(.get, "\(base)/attendance?month=2026-11", token: staff)
            #expect(attendance.status == .ok)
            let days = try #require(attendance.json["days"] as? [[String: Any]])
            #expect(days.count == 1 && days[0]["minutesPresent"] as? Int == 450)
            #expect(try await api.request(.get, "\(base)/attendance?month=november", token: staff).status == .badRequest)
        }
    }

    @Test("every read of personal data leaves an access-log entry naming the user, role, action and resource", arguments: Backend.tested)
    func accessLogged(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(1)
            let token = try await api.signIn("staff")
            let account = try #require(try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).json["account"] as? String)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: token).status == .ok)
            let childEntries = try await api.storage.accessLog.entries(of: child, in: api.tenant)
            let guardianEntries = try await api.storage.accessLog.entries(of: guardian, in: api.tenant)
            #expect(childEntries.map(\.entry.action) == [.view])
            // Health data (allergies, diet) only to roles with care-information.read: staff, not billing.
            try await api.registry.recordCareInformation(CareInformation(allergies: "pähkinäallergia"), for: child, source: .client, in: api.tenant, by: api.metadata)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: token).text.contains("pähkinäallergia"))
            let billing = try await api.signIn("billing")
            let shownToBilling = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: billing)
            #expect(shownToBilling.status == .ok && !shownToBilling.text.contains("pähkinäallergia"))
            #expect(childEntries.first?.entry.actor == (try Actor(userID: "user:\(account)", role: "staff")))
            #expect(childEntries.first?.entry.resource == "child/\(child)")
            #expect(childEntries.first?.entry.purpose == "ecec-clients", "the purpose is the register the API serves")
            #expect(guardianEntries.map(\.entry.resource) == ["child/\(child)/related"], "the guardian's details shown in the overview are logged too")

            // The data-protection officer answers the subject's request: who has used my data.
            let dpo = try await api.signIn("dpo")
            let listed = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/access-log", token: dpo)
            #expect(listed.status == .ok)
            let entries = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
            #expect(entries.map { $0["resource"] as? String }.last == "person/\(child)/access-log", "the reading itself is logged, before the answer")
            #expect(entries.count == 4, "the three overviews and the reading of the log")
            #expect(entries.first?["user"] as? String == "user:\(account)" && entries.first?["role"] as? String == "staff")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/access-log", token: token).status == .forbidden)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(PersonID.random())/access-log", token: dpo).status == .notFound)
        }
    }
}

struct FixtureRequest: @unchecked Sendable {
    let method: HTTPRequest.Method
    let path: String
    let token: String
    let json: [String: Any]?
    init(_ method: HTTPRequest.Method, _ path: String, _ token: String, _ json: [String: Any]?) {
        self.method = method
        self.path = path
        self.token = token
        self.json = json
    }
}
