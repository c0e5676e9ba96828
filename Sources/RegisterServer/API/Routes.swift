import EventLog
import Foundation
import Hummingbird
import Register

// The routes of /v1. Each handler authenticates, checks the permission and the caller's units, does its work,
// records the access-log entries (O14) and only then answers. Request bodies are decoded into these types;
// unknown fields are ignored, missing or mistyped ones answered with 400 naming the field.

struct SignIn: Decodable {
    var username: String
    var password: String
}

struct SessionCreated: Encodable {
    var token: String
    var expiresInSeconds: Int64
    var roles: [RoleAssignment]
}

struct NewPerson: Decodable {
    var kind: PersonKind
    var details: PersonDetails
    var nonDisclosure: Bool?
    var source: DataSource?
}

/// Identity codes never go into URLs (they end up in logs); a lookup posts the code in the body.
struct PersonSearch: Decodable {
    var identityCode: String
}

struct NewRelationship: Decodable {
    var person: UUID
    var relationship: RelationshipKind
}









struct NewConsent: Decodable {
    var purpose: String
    var givenBy: UUID?
}

struct ConsentWithdrawal: Decodable {
    var withdrawnBy: UUID?
}

struct Me: Encodable {
    var tenant: String
    var account: String
    var kind: String
    var roles: [RoleAssignment]
    var permissions: [Permission]
}

struct AccessLogEntryView: Encodable {
    var position: Int64
    var at: String
    var action: AccessAction
    var resource: String
    var purpose: String
    var user: String
    var role: String
}

struct TenantSummary: Encodable {
    var id: String
    var name: LocalizedText?
    var kind: ControllerKind?
    var units: Int
    var events: Int64
}

extension RegisterAPI {
    func addRoutes(to router: Router<RegisterRequestContext>) {
        let v1 = router.group("v1")
        addSessionRoutes(v1)
        addPeopleRoutes(v1.group("tenants/:tenant"))
        addChildRoutes(v1.group("tenants/:tenant/children/:person"))
        addReadModelRoutes(v1.group("tenants/:tenant"))
        addFeedRoutes(v1.group("tenants/:tenant"))
        addDisclosureRoutes(v1.group("tenants/:tenant"))
        addManualDisclosureRoutes(v1.group("tenants/:tenant"))
        addRectificationRoutes(v1.group("tenants/:tenant"))
        addGuardianProhibitionRoutes(v1.group("tenants/:tenant"))
        addAccessReportRoutes(v1.group("tenants/:tenant"))
        addRestrictionRoutes(v1.group("tenants/:tenant"))
        addRetentionRoutes(v1.group("tenants/:tenant"))
        addFeeRoutes(v1.group("tenants/:tenant"))
        addVoucherRoutes(v1.group("tenants/:tenant"))
        addPlatformRoutes(v1.group("platform"))
        addProjectionRoutes(v1.group("platform"))
        addNoticeRoutes(to: router)
    }

    // MARK: Sessions

    private func addSessionRoutes(_ v1: RouterGroup<RegisterRequestContext>) {
        v1.post("tenants/:tenant/sessions") { request, context in
            let signIn = try await decodeBody(SignIn.self, from: request, context: context)
            guard let tenant = context.parameters.get("tenant").flatMap({ try? TenantID($0) }), tenant != Accounts.platformTenant,
                  try await tenants.configuration(of: tenant) != nil else {
                await accounts.decoy(signIn.password)
                throw Self.invalidCredentials
            }
            return try await signInResponse(signIn, tenant: tenant)
        }
        v1.post("platform/sessions") { request, context in
            let signIn = try await decodeBody(SignIn.self, from: request, context: context)
            return try await signInResponse(signIn, tenant: Accounts.platformTenant)
        }
        v1.delete("sessions/current") { request, _ in
            if let header = request.headers[.authorization], header.hasPrefix("Bearer rs.") {
                await sessions.end(String(header.dropFirst("Bearer ".count)))
            }
            return Response(status: .noContent)
        }
    }

    static var invalidCredentials: Problem {
        Problem(status: .unauthorized, code: "invalid-credentials", detail: "The username or password is wrong, or the account is disabled.")
    }

    private func signInResponse(_ signIn: SignIn, tenant: TenantID) async throws -> Response {
        guard let principal = try await accounts.authenticate(username: signIn.username, password: signIn.password, in: tenant) else {
            throw Self.invalidCredentials
        }
        let (token, lifetime) = await sessions.start(principal)
        return try .json(SessionCreated(token: token, expiresInSeconds: lifetime.components.seconds, roles: principal.roles), status: .created)
    }

    // MARK: People

    private func addPeopleRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("me") { request, context in
            let caller = try await caller(request, context)
            return try Response.json(Me(tenant: caller.tenant.rawValue, account: caller.principal.id.lowercasedString, kind: caller.principal.kind.rawValue,
                                        roles: caller.principal.roles, permissions: caller.grants.permissions))
        }

        tenant.post("people") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            let body = try await decodeBody(NewPerson.self, from: request, context: context)
            let source = body.source ?? .staff
            // Population-register data arrives only through `register import population`; demo data only from `register demo`.
            guard [.client, .staff, .kela, .cooperatingBody, .producer].contains(source) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "source is client, staff, kela, cooperating-body or producer.", field: "source")
            }
            if body.nonDisclosure == true { try caller.grants.require(.peopleReadProtected) }
            let id = try await registry.register(body.kind, details: body.details, nonDisclosure: body.nonDisclosure ?? false, source: source,
                                                 storesProtectedAddresses: caller.grants.configuration.storesProtectedAddresses, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(id, .insert, "person/\(id)")])
            return try Response.json(Created(id: id.description), status: .created)
        }

        tenant.post("people/search") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.require(.peopleRead)
            let body = try await decodeBody(PersonSearch.self, from: request, context: context)
            guard let id = try await registry.person(withIdentityCode: body.identityCode, in: caller.tenant) else { throw Problem.notFound }
            // Reach is decided on the unopened record, so a person out of reach costs what an unknown code costs.
            _ = try await reachablePerson(id, caller, with: .peopleRead, opening: false)
            let reading = try await reachable(id, caller, with: .peopleRead)
            try await recordAccess(caller, [(reading.record.id, .view, "person/\(reading.record.id)")])
            return try Response.json(PersonView(reading.record, grants: caller.grants, today: today, restriction: reading.restrictions[reading.record.id]))
        }

        tenant.get("people/:person") { request, context in
            let caller = try await caller(request, context)
            let reading = try await reachable(try personID(context), caller, with: .peopleRead)
            try await recordAccess(caller, [(reading.record.id, .view, "person/\(reading.record.id)")])
            return try Response.json(PersonView(reading.record, grants: caller.grants, today: today, restriction: reading.restrictions[reading.record.id]))
        }

        tenant.patch("people/:person") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false)
            let patch = try await decodeBody(PersonDetailsPatch.self, from: request, context: context)
            try await registry.changeDetails(of: record.id, patch, source: .staff, storesProtectedAddresses: caller.grants.configuration.storesProtectedAddresses,
                                             in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "person/\(record.id)")])
            return Response(status: .noContent)
        }

        // For the subject's own request to learn who has used their data (O14): the data-protection officer's tool.
        // Works for erased people too, whose entries stay.
        tenant.get("people/:person/access-log") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.accessLogRead)
            let id = try personID(context)
            // An erased person's stream stays, so this finds them too.
            guard (try? await registry.personStructure(id, in: caller.tenant)) != nil else { throw Problem.notFound }
            try await recordAccess(caller, [(id, .view, "person/\(id)/access-log")])
            let records = try await storage.accessLog.entries(of: id, in: caller.tenant)
            return try Response.json(records.map {
                AccessLogEntryView(position: $0.position.rawValue, at: $0.recordedAt.description, action: $0.entry.action, resource: $0.entry.resource,
                                   purpose: $0.entry.purpose, user: $0.entry.actor.userID, role: $0.entry.actor.role)
            })
        }

        tenant.post("people/:person/consents") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .consentsWrite, opening: false)
            let body = try await decodeBody(NewConsent.self, from: request, context: context)
            try await registry.giveConsent(body.purpose, for: record.id, givenBy: body.givenBy.map(PersonID.init), validFrom: today,
                                           in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "person/\(record.id)/consents")])
            return Response(status: .noContent)
        }

        tenant.post("people/:person/consents/:purpose/withdrawal") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .consentsWrite, opening: false)
            let body = try await decodeBody(ConsentWithdrawal.self, from: request, context: context)
            try await registry.withdrawConsent(context.parameters.get("purpose") ?? "", for: record.id, withdrawnBy: body.withdrawnBy.map(PersonID.init),
                                               in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "person/\(record.id)/consents")])
            return Response(status: .noContent)
        }
    }

    // MARK: Platform

    private func addPlatformRoutes(_ platform: RouterGroup<RegisterRequestContext>) {
        platform.get("tenants") { request, _ in
            try await requireOperator(request)
            var summaries: [TenantSummary] = []
            for tenant in try await storage.store.tenants() where tenant != Accounts.platformTenant {
                let configuration = try await tenants.configuration(of: tenant)
                summaries.append(TenantSummary(id: tenant.rawValue, name: configuration?.name, kind: configuration?.kind, units: configuration?.units.count ?? 0,
                                               events: try await storage.store.head(of: tenant).position.rawValue))
            }
            return try Response.json(summaries)
        }
    }
}

extension PersonID {
    init?(uuidString: String) {
        guard let uuid = UUID(canonical: uuidString) else { return nil }
        self.init(uuid)
    }
}
