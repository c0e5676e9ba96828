import EventLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Projections
import Register
import RegisterServer
import TestSupport
import Testing

/// The stores the API tests run against: SQLite always, PostgreSQL when ops/test started one (always under CI).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { self == .sqlite ? "SQLite" : "PostgreSQL" }
    static var tested: [Backend] { PostgresTestServer.shouldRun ? [.sqlite, .postgres] : [.sqlite] }
}

/// A running API on a fresh database with two configured tenants, an account per role, and a clock pinned to
/// 2026-11-24.
struct APIFixture: Sendable {
    let client: any TestClientProtocol
    let storage: RegisterStorage
    /// The tenant most tests act in, and another one for cross-tenant attempts.
    let tenant: TenantID
    let other: TenantID

    static let today = try! LocalDate("2026-11-24")
    static let clock: @Sendable () -> Date = { ISO8601DateFormatter().date(from: "2026-11-24T09:00:00Z")! }
    static let password = "correct horse battery"
    static let unit = "paivakoti-esimerkki", otherUnit = "perhepaivahoito-esimerkki", voucherUnit = "yksityinen-paivakoti-esimerkki"
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Tenants").standardized

    /// The roles of the test tenants: the permission matrix is written against these.
    static let roles: [RoleDefinition] = [
        role("admin", .tenant, [.tenantConfigure, .usersManage]),
        role("director", .tenant, [.peopleRead, .peopleWrite, .placementsRead, .placementsWrite, .applicationsRead, .applicationsWrite,
                                   .attendanceRead, .consentsRead, .consentsWrite, .statisticsRead, .disclosuresWrite, .feesRead]),
        role("staff", .units, [.peopleRead, .placementsRead, .attendanceRead, .attendanceWrite, .consentsRead, .careInformationRead]),
        role("billing", .tenant, [.peopleRead, .placementsRead, .attendanceRead, .feesRead, .feesWrite]),
        role("dpo", .tenant, [.accessLogRead, .disclosuresRead, .subjectRequestsManage]),
        role("registry", .tenant, [.peopleRead, .peopleReadProtected, .peopleWrite]),
        role("protected-reader", .units, [.peopleReadProtected]),
        role("archivist", .tenant, [.retentionManage]),
        role("voucher-officer", .tenant, [.peopleRead, .vouchersRead, .vouchersWrite]),
        role("producer", .units, [.peopleRead, .placementsRead, .voucherServicesWrite]),
    ]

    static func role(_ id: String, _ scope: RoleScope, _ permissions: [Permission]) -> RoleDefinition {
        RoleDefinition(id: id, name: LocalizedText(fi: id), permissions: permissions, scope: scope)
    }

    /// The accounts every test can sign in with (username → roles); `staff` works in `unit`, `staff-other` in `otherUnit`.
    static let accounts: [String: [RoleAssignment]] = [
        "admin": [.init(role: "admin")],
        "director": [.init(role: "director")],
        "staff": [.init(role: "staff", units: [unit])],
        "staff-other": [.init(role: "staff", units: [otherUnit])],
        "billing": [.init(role: "billing")],
        "dpo": [.init(role: "dpo")],
        "registry": [.init(role: "registry")],
        "archivist": [.init(role: "archivist")],
        "voucher-officer": [.init(role: "voucher-officer")],
        // The staff of the demo's private daycare, a voucher producer; and of a unit that is no producer.
        "producer": [.init(role: "producer", units: [voucherUnit])],
        "producer-other": [.init(role: "producer", units: [otherUnit])],
        // Tenant-wide reading, but protected fields only for children of the other unit.
        "director-protected-other": [.init(role: "director"), .init(role: "protected-reader", units: [otherUnit])],
    ]

    static func with(_ backend: Backend, _ body: @escaping @Sendable (APIFixture) async throws -> Void) async throws {
        var logger = Logger(label: "register.tests")
        logger.logLevel = .error
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("master.key").path
        var database: PostgresTestDatabase?
        var configuration: RegisterConfiguration
        switch backend {
        case .sqlite:
            configuration = RegisterConfiguration(database: .sqlite(path: directory.appendingPathComponent("register.sqlite").path), masterKey: .defaultFile(path: keyFile), port: 0)
        case .postgres:
            let created = try await PostgresTestServer.createDatabase()
            database = created
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            configuration = RegisterConfiguration(database: .postgres(created.appURL), masterKey: .defaultFile(path: keyFile), port: 0)
        }
        // Tests run retention themselves, on the pinned clock; the scheduled pass stays off.
        configuration.retentionIntervalHours = 0
        do {
            let storage = try await RegisterStorage.open(configuration, logger: logger)
            let app = buildApplication(configuration: configuration, storage: storage, logger: logger, now: clock)
            try await app.test(.router) { client in
                let fixture = APIFixture(client: client, storage: storage, tenant: try TenantID("esimerkkila"), other: try TenantID("toinen"))
                try await fixture.setUp()
                try await body(fixture)
            }
            try await database?.drop()
        } catch {
            try? await database?.drop()
            throw error
        }
    }

    private func setUp() async throws {
        let configurations = TenantConfigurations(store: storage.store)
        let accounts = Accounts(store: storage.store, keyRing: storage.keyRing)
        let setup = EventMetadata(actor: try Actor(userID: "test-setup", role: "platform-operator"))
        for tenant in [tenant, other] {
            var configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
            configuration.id = tenant
            configuration.roles = Self.roles
            try await configurations.apply(configuration, file: nil, metadata: setup)
            for (username, roles) in Self.accounts {
                // bcrypt's lowest cost: the tests sign in often; production accounts use 12.
                try await accounts.addUser(username: username, name: nil, title: nil, password: Self.password, roles: roles,
                                           configuration: configuration, in: tenant, by: setup, cost: 4)
            }
        }
        try await accounts.addUser(username: "operator", name: nil, title: nil, password: Self.password, roles: [.init(role: Accounts.operatorRole)],
                                   configuration: nil, in: Accounts.platformTenant, by: setup, cost: 4)
    }

    // MARK: Requests

    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: Data
        let contentType: String?

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var problemCode: String? { (json["type"] as? String).map { String($0.dropFirst("urn:register:problem:".count)) } }
        var field: String? { json["field"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Signs in and returns the session token.
    func signIn(_ username: String, tenant: TenantID? = nil) async throws -> String {
        let answer = try await request(.post, "/v1/tenants/\((tenant ?? self.tenant).rawValue)/sessions", json: ["username": username, "password": Self.password])
        #expect(answer.status == .created, "sign-in of \(username): \(answer.text)")
        return try #require(answer.json["token"] as? String)
    }

    func request(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil,
                 contentType: String = "application/json", headers extra: HTTPFields = [:]) async throws -> Answer {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var payload: ByteBuffer?
        if let json {
            payload = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        } else if let body {
            payload = ByteBuffer(bytes: body)
        }
        if payload != nil { headers[.contentType] = contentType }
        return try await client.execute(uri: path, method: method, headers: headers, body: payload) { response in
            Answer(status: response.status, body: Data(buffer: response.body), contentType: response.headers[.contentType])
        }
    }

    // MARK: Data

    var metadata: EventMetadata { EventMetadata(actor: try! Actor(userID: "test-setup", role: "director")) }
    var registry: Registry { Registry(store: storage.store, keyRing: storage.keyRing, now: Self.clock) }

    func configuration(_ tenant: TenantID? = nil) async throws -> TenantConfiguration {
        try #require(try await TenantConfigurations(store: storage.store).current(tenant ?? self.tenant).configuration)
    }

    /// A child placed in `unit` from 2026-08-01 to 2027-07-31, with a guardian; returns (child, guardian).
    func placedChild(_ seed: Int, in tenant: TenantID? = nil, unit: String = APIFixture.unit, guardianProtected: Bool = false) async throws -> (PersonID, PersonID) {
        let tenant = tenant ?? self.tenant
        let child = try await registry.register(.child, details: PersonDetails(
            identityCode: IdentityCodes.testCode(seed: seed), name: PersonName(first: "Aino\(seed)", last: "Virtanen"),
            address: PostalAddress(street: "Kotikatu \(seed)", postalCode: "99999", city: "Esimerkkilä"), motherTongue: "fi"),
            source: .client, in: tenant, by: metadata)
        let guardian = try await registry.register(.guardian, details: PersonDetails(
            identityCode: Self.adultCode(seed), name: PersonName(first: "Maija\(seed)", last: "Virtanen"),
            address: PostalAddress(street: "Suojatie \(seed)", postalCode: "99999", city: "Esimerkkilä"), phone: "040 123 4567"),
            nonDisclosure: guardianProtected, source: .client, in: tenant, by: metadata)
        try await registry.addRelationship(.guardian, of: guardian, to: child, source: .populationRegister, in: tenant, by: metadata)
        _ = try await registry.place(child, unit: unit, arrangement: .municipal, start: try LocalDate("2026-08-01"), end: try LocalDate("2027-07-31"),
                                     serviceNeed: ServiceNeed(hoursPerWeek: 35), configuration: try await configuration(tenant), in: tenant, by: metadata)
        return (child, guardian)
    }

    /// A test-range identity code of someone born in the 1980s.
    static func adultCode(_ seed: Int) -> String {
        var code = Array(IdentityCodes.testCode(seed: seed))
        code[4] = "8"
        code[6] = "-"
        let digits = String(code[0..<6]) + String(code[7..<10])
        code[10] = Array("0123456789ABCDEFHJKLMNPRSTUVWXY")[Int(digits)! % 31]
        return String(code)
    }

    /// Waits until every projection of the tenant has applied its whole log (the server's projections follow it a
    /// moment behind each write).
    func projectionsCaughtUp(_ tenant: TenantID? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let tenant = tenant ?? self.tenant
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let statuses = try await storage.projections.status(of: tenant).filter { $0.state.role == .active }
            if statuses.count == RegisterProjections.all.count, statuses.allSatisfy({ $0.lagEvents == 0 }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the projections of \(tenant) did not catch up within 20 s", sourceLocation: sourceLocation)
    }

    /// Positions of the register's and the access log's heads, to show that a refused request wrote nothing.
    func heads(_ tenant: TenantID? = nil) async throws -> [LogPosition] {
        let tenant = tenant ?? self.tenant
        return [try await storage.store.head(of: tenant).position, try await storage.accessLog.store.head(of: tenant).position]
    }
}
