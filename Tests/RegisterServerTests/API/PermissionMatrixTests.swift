import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Every role against every endpoint of the API: what the role's permissions allow succeeds, what they do not is
/// 403, and a child outside a unit-scoped caller's units is 404, exactly as a child that does not exist.
@Suite("HTTP API: the permission matrix (role × endpoint)")
struct PermissionMatrixTests {
    struct Case: Sendable {
        let name: String
        let method: HTTPRequest.Method
        let path: @Sendable (_ child: PersonID, _ placement: UUID) -> String
        let body: @Sendable (_ seed: Int, _ guardian: PersonID, _ child: PersonID) -> [String: Any]?
        /// Expected status per account; the accounts' roles are in `APIFixture.accounts`.
        let expected: [String: HTTPResponse.Status]
        /// Whether a success uses the child's personal data (and so must leave an access-log entry).
        let usesPersonalData: Bool
        /// Whether it answers from the read models (the test waits until they have the new child).
        var readModel = false
        /// Whether the path and the access-log check are about the child's guardian rather than the child.
        var aboutGuardian = false
    }

    static let users = ["admin", "director", "staff", "staff-other", "billing", "dpo", "registry", "archivist"]

    /// Statuses for every user: `allowed` get `success`, staff of the other unit `outside` (404 when the permission
    /// is held for units only), everyone else 403.
    static func expect(_ success: HTTPResponse.Status, allowed: Set<String>, otherUnit: HTTPResponse.Status = .forbidden) -> [String: HTTPResponse.Status] {
        Dictionary(uniqueKeysWithValues: users.map { user in
            (user, allowed.contains(user) ? success : user == "staff-other" ? otherUnit : .forbidden)
        })
    }

    static let cases: [Case] = [
        Case(name: "read a person", method: .get, path: { child, _ in "people/\(child)" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing", "registry"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "register a person", method: .post, path: { _, _ in "people" },
             body: { seed, _, _ in ["kind": "guardian", "details": ["identityCode": APIFixture.adultCode(seed + 700), "name": ["first": "Uusi", "last": "Henkilö"]]] },
             expected: expect(.created, allowed: ["director", "registry"]), usesPersonalData: false),
        Case(name: "change a person", method: .patch, path: { child, _ in "people/\(child)" }, body: { _, _, _ in ["phone": "040 765 4321"] },
             expected: expect(.noContent, allowed: ["director", "registry"]), usesPersonalData: true),
        Case(name: "a child's overview", method: .get, path: { child, _ in "children/\(child)" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "place a child", method: .post, path: { child, _ in "children/\(child)/placements" },
             body: { _, _, _ in ["unit": APIFixture.otherUnit, "arrangement": "municipal", "start": "2027-08-01", "serviceNeed": ["hoursPerWeek": 25]] },
             expected: expect(.created, allowed: ["director"]), usesPersonalData: true),
        Case(name: "end a placement", method: .post, path: { child, placement in "children/\(child)/placements/\(placement)/end" }, body: { _, _, _ in ["end": "2027-06-30"] },
             expected: expect(.noContent, allowed: ["director"]), usesPersonalData: true),
        Case(name: "submit an application", method: .post, path: { child, _ in "children/\(child)/applications" },
             body: { _, _, _ in ["preferredUnits": [APIFixture.unit], "desiredStart": "2027-01-01", "serviceNeed": ["hoursPerWeek": 40]] },
             expected: expect(.created, allowed: ["director"]), usesPersonalData: true),
        Case(name: "read attendance", method: .get, path: { child, _ in "children/\(child)/attendance?month=2026-11" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "book a care time", method: .post, path: { child, _ in "children/\(child)/care-times" },
             body: { _, _, _ in ["date": "2026-11-25", "start": "08:00", "end": "16:00"] },
             expected: expect(.created, allowed: ["staff"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "mark an absence", method: .post, path: { child, _ in "children/\(child)/absences" }, body: { _, _, _ in ["date": "2026-11-26", "kind": "sick"] },
             expected: expect(.created, allowed: ["staff"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "give a consent", method: .post, path: { child, _ in "people/\(child)/consents" }, body: { _, guardian, _ in ["purpose": "photo-permission", "givenBy": guardian.description] },
             expected: expect(.noContent, allowed: ["director"]), usesPersonalData: true),
        Case(name: "a person's access log", method: .get, path: { child, _ in "people/\(child)/access-log" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["dpo"]), usesPersonalData: true),
        Case(name: "a child's guardian prohibitions", method: .get, path: { child, _ in "people/\(child)/guardian-prohibitions" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing", "registry"], otherUnit: .notFound), usesPersonalData: true),
        Case(name: "a subject access report", method: .post, path: { _, _ in "access-reports" },
             body: { seed, _, _ in ["identityCode": IdentityCodes.testCode(seed: seed)] },
             expected: expect(.created, allowed: ["dpo"]), usesPersonalData: true, readModel: true),
        Case(name: "place a legal hold", method: .post, path: { child, _ in "people/\(child)/legal-hold" }, body: { _, _, _ in ["reason": "Valitus vireillä"] },
             expected: expect(.created, allowed: ["archivist"]), usesPersonalData: true),
        Case(name: "the retention plan", method: .get, path: { _, _ in "retention/plan" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["archivist"]), usesPersonalData: true),
        Case(name: "an erasure request", method: .post, path: { child, _ in "people/\(child)/erasure-requests" }, body: { _, _, _ in [:] },
             expected: expect(.ok, allowed: ["dpo"]), usesPersonalData: true),
        Case(name: "record an income", method: .post, path: { guardian, _ in "people/\(guardian)/incomes" },
             body: { _, _, _ in ["earnedCents": 420_000, "validFrom": "2026-08-01", "source": "client"] },
             expected: expect(.created, allowed: ["billing"]), usesPersonalData: true, aboutGuardian: true),
        Case(name: "read incomes", method: .get, path: { guardian, _ in "people/\(guardian)/incomes" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "billing"]), usesPersonalData: true, aboutGuardian: true),
        Case(name: "form a fee family", method: .post, path: { _, _ in "fee-families" },
             body: { _, guardian, child in ["adults": [guardian.description], "children": [child.description], "validFrom": "2026-08-01"] },
             expected: expect(.created, allowed: ["billing"]), usesPersonalData: true),
        Case(name: "a month's invoices", method: .get, path: { _, _ in "invoices?month=2026-10" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "billing"]), usesPersonalData: false),
        Case(name: "who am I", method: .get, path: { _, _ in "me" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: Set(users), otherUnit: .ok), usesPersonalData: false),
        Case(name: "a unit's roster", method: .get, path: { _, _ in "units/\(APIFixture.unit)/roster?date=2026-11-24" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"]), usesPersonalData: true, readModel: true),
        Case(name: "a unit's attendance", method: .get, path: { _, _ in "units/\(APIFixture.unit)/attendance?month=2026-11" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"]), usesPersonalData: true, readModel: true),
        Case(name: "a unit's occupancy", method: .get, path: { _, _ in "units/\(APIFixture.unit)/occupancy?from=2026-11-23&to=2026-11-24" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"]), usesPersonalData: false, readModel: true),
        Case(name: "statistics", method: .get, path: { _, _ in "statistics?from=2026-01-01&to=2026-12-31" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director"]), usesPersonalData: false, readModel: true),
        Case(name: "consents in force", method: .get, path: { _, _ in "consents" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director"]), usesPersonalData: false, readModel: true),
        Case(name: "a child's overview from the read models", method: .get, path: { child, _ in "children/\(child)/overview" }, body: { _, _, _ in nil },
             expected: expect(.ok, allowed: ["director", "staff", "billing"], otherUnit: .notFound), usesPersonalData: true, readModel: true),
    ]

    @Test("each role gets exactly what its permissions allow; refusals write nothing; successes leave access-log entries", arguments: Backend.tested)
    func matrix(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            var tokens: [String: String] = [:]
            var accounts: [String: String] = [:]
            for user in Self.users {
                let token = try await api.signIn(user)
                tokens[user] = token
                accounts[user] = try await api.request(.get, "/v1/tenants/\(api.tenant)/me", token: token).json["account"] as? String
            }
            var seed = 100
            for testCase in Self.cases {
                for user in Self.users {
                    seed += 1
                    let (child, guardian) = try await api.placedChild(seed)
                    let placement = try #require(try await api.registry.person(child, in: api.tenant).placements.first).id
                    if testCase.readModel { try await api.projectionsCaughtUp() }
                    let before = try await api.heads()
                    let subject = testCase.aboutGuardian ? guardian : child
                    let answer = try await api.request(testCase.method, "/v1/tenants/\(api.tenant)/\(testCase.path(subject, placement))",
                                                       token: tokens[user], json: testCase.body(seed, guardian, child))
                    let expected = try #require(testCase.expected[user])
                    #expect(answer.status == expected, "\(testCase.name) as \(user): \(answer.text)")
                    if expected.code >= 400 {
                        #expect(try await api.heads() == before, "\(testCase.name) as \(user) was refused but wrote something")
                        #expect(answer.contentType == "application/problem+json")
                    } else if testCase.usesPersonalData {
                        let entries = try await api.storage.accessLog.entries(of: subject, in: api.tenant)
                        #expect(entries.contains { $0.entry.actor.userID == "user:\(accounts[user] ?? "")" },
                                "\(testCase.name) as \(user) left no access-log entry")
                    }
                }
            }
        }
    }

    @Test("the platform operator lists tenants but reaches no tenant's people; tenant users do not reach the platform", arguments: Backend.tested)
    func platformOperator(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(1)
            let signIn = try await api.request(.post, "/v1/platform/sessions", json: ["username": "operator", "password": APIFixture.password])
            #expect(signIn.status == .created)
            let token = try #require(signIn.json["token"] as? String)
            let tenants = try await api.request(.get, "/v1/platform/tenants", token: token)
            #expect(tenants.status == .ok)
            let listed = try #require(try JSONSerialization.jsonObject(with: tenants.body) as? [[String: Any]])
            #expect(Set(listed.compactMap { $0["id"] as? String }) == [api.tenant.rawValue, api.other.rawValue], "the platform tenant itself is not listed")
            #expect(!tenants.text.contains("Aino"), "the listing holds no personal data")
            for path in ["people/\(child)", "children/\(child)", "me"] {
                #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/\(path)", token: token).status == .notFound)
            }
            let director = try await api.signIn("director")
            #expect(try await api.request(.get, "/v1/platform/tenants", token: director).status == .notFound)
        }
    }
}
