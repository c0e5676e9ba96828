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

struct NewApplication: Decodable {
    var preferredUnits: [String]
    var desiredStart: LocalDate
    var serviceNeed: ServiceNeed
    var urgent: Bool?
}

struct NewPlacement: Decodable {
    var unit: String
    var arrangement: Arrangement
    var start: LocalDate
    var end: LocalDate?
    var serviceNeed: ServiceNeed
    var application: UUID?
}

struct PlacementEnd: Decodable {
    var end: LocalDate
}

struct NewServiceNeed: Decodable {
    var from: LocalDate
    var serviceNeed: ServiceNeed
}

struct Arrival: Decodable {
    var date: LocalDate
    var time: LocalTime
    var unit: String
}

struct Departure: Decodable {
    var date: LocalDate
    var time: LocalTime
}

struct Absence: Decodable {
    var date: LocalDate
    var kind: AbsenceKind
}

struct CareTime: Decodable {
    var date: LocalDate
    var start: LocalTime
    var end: LocalTime
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
                                                 in: caller.tenant, by: caller.metadata)
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
            let record = try await reachablePerson(id, caller, with: .peopleRead)
            try await recordAccess(caller, [(record.id, .view, "person/\(record.id)")])
            return try Response.json(PersonView(record, grants: caller.grants, today: today,
                                                restriction: try await registry.restrictions(in: caller.tenant)[record.id]))
        }

        tenant.get("people/:person") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleRead)
            try await recordAccess(caller, [(record.id, .view, "person/\(record.id)")])
            return try Response.json(PersonView(record, grants: caller.grants, today: today,
                                                restriction: try await registry.restrictions(in: caller.tenant)[record.id]))
        }

        tenant.patch("people/:person") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false)
            let patch = try await decodeBody(PersonDetailsPatch.self, from: request, context: context)
            try await registry.changeDetails(of: record.id, patch, source: .staff, in: caller.tenant, by: caller.metadata)
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

    // MARK: Children

    private func addChildRoutes(_ child: RouterGroup<RegisterRequestContext>) {
        child.get { request, context in
            let caller = try await caller(request, context)
            try caller.grants.require(.placementsRead)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleRead)
            guard record.kind == .child else { throw Problem.notFound }
            var related: [ChildOverview.Related] = []
            let restrictions = try await registry.restrictions(in: caller.tenant)
            for link in record.relationships {
                // A linked person who was erased still shows as a link, without details; one whose processing is
                // restricted, as restricted.
                let person = try await registry.person(link.person, in: caller.tenant)
                related.append(.init(relationship: link.kind, person: PersonView(person, grants: caller.grants, today: today, through: record,
                                                                                 restriction: restrictions[person.id])))
            }
            let current = record.placement(on: today)
            let need = current?.serviceNeed(on: today)
            let overview = ChildOverview(
                child: PersonView(record, grants: caller.grants, today: today, restriction: restrictions[record.id]),
                placements: record.placements.map(PlacementView.init),
                currentPlacement: current?.id.lowercasedString,
                currentServiceNeed: need.map { .init(from: current?.serviceNeeds.last { $0.from <= today }?.from ?? today, hoursPerWeek: $0.hoursPerWeek, shiftCare: $0.shiftCare) },
                relatedPeople: related,
                consents: caller.grants.has(.consentsRead)
                    ? record.consents.values.filter(\.inForce).sorted { $0.purpose < $1.purpose }
                        .map { .init(purpose: $0.purpose, validFrom: $0.validFrom, givenBy: $0.givenBy?.description) }
                    : [],
                applications: caller.grants.has(.applicationsRead)
                    ? record.applications.map { .init(id: $0.id.lowercasedString, preferredUnits: $0.preferredUnits, desiredStart: $0.desiredStart,
                                                      hoursPerWeek: $0.serviceNeed.hoursPerWeek, urgent: $0.urgent) }
                    : [],
                careInformation: caller.grants.canReach(record, with: .careInformationRead, today: today) ? record.careInformation : nil)
            try await recordAccess(caller, [(record.id, .view, "child/\(record.id)")] + related.compactMap { link in
                PersonID(uuidString: link.person.id).map { ($0, AccessAction.view, "child/\(record.id)/related") }
            })
            return try Response.json(overview)
        }

        child.post("relationships") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false)
            let body = try await decodeBody(NewRelationship.self, from: request, context: context)
            try await registry.addRelationship(body.relationship, of: PersonID(body.person), to: record.id, source: .staff, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "child/\(record.id)/related"), (PersonID(body.person), .change, "child/\(record.id)/related")])
            return Response(status: .noContent)
        }

        child.put("care-information") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false)
            let body = try await decodeBody(CareInformation.self, from: request, context: context)
            try await registry.recordCareInformation(body, for: record.id, source: .staff, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "child/\(record.id)/care-information")])
            return Response(status: .noContent)
        }

        child.post("applications") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .applicationsWrite, opening: false)
            let body = try await decodeBody(NewApplication.self, from: request, context: context)
            let id = try await registry.submitApplication(for: record.id, preferredUnits: body.preferredUnits, desiredStart: body.desiredStart,
                                                          serviceNeed: body.serviceNeed, urgent: body.urgent ?? false, source: .staff,
                                                          configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .insert, "child/\(record.id)/applications")])
            return try Response.json(Created(id: id.lowercasedString), status: .created)
        }

        child.post("placements") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.placementsWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .placementsWrite, opening: false)
            let body = try await decodeBody(NewPlacement.self, from: request, context: context)
            let id = try await registry.place(record.id, unit: body.unit, arrangement: body.arrangement, start: body.start, end: body.end,
                                              serviceNeed: body.serviceNeed, application: body.application,
                                              configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .insert, "child/\(record.id)/placements")])
            return try Response.json(Created(id: id.lowercasedString), status: .created)
        }

        child.post("placements/:placement/end") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.placementsWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .placementsWrite, opening: false)
            let body = try await decodeBody(PlacementEnd.self, from: request, context: context)
            try await registry.endPlacement(try uuid(context, "placement"), of: record.id, on: body.end, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "child/\(record.id)/placements")])
            return Response(status: .noContent)
        }

        child.post("placements/:placement/service-needs") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.placementsWrite)
            let record = try await reachablePerson(try personID(context), caller, with: .placementsWrite, opening: false)
            let body = try await decodeBody(NewServiceNeed.self, from: request, context: context)
            try await registry.changeServiceNeed(of: try uuid(context, "placement"), child: record.id, from: body.from, to: body.serviceNeed,
                                                 in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(record.id, .change, "child/\(record.id)/placements")])
            return Response(status: .noContent)
        }

        child.get("attendance") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .attendanceRead, opening: false)
            guard record.kind == .child else { throw Problem.notFound }
            guard let month = request.uri.queryParameters.get("month"), month.count == 7,
                  let date = try? LocalDate("\(month)-01") else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "month is required, written YYYY-MM.", field: "month")
            }
            let attendance = try await registry.attendance(of: record.id, month: date.monthKey, in: caller.tenant)
            try await recordAccess(caller, [(record.id, .view, "child/\(record.id)/attendance/\(date.monthKey)")])
            return try Response.json(AttendanceView(attendance))
        }

        child.post("arrivals") { request, context in
            try await attendanceWrite(request, context) { caller, child in
                let body = try await decodeBody(Arrival.self, from: request, context: context)
                try caller.grants.covers(unit: body.unit, with: .attendanceWrite)
                try await registry.recordArrival(of: child.id, on: body.date, at: body.time, unit: body.unit, in: caller.tenant, by: caller.metadata, knowing: child)
                return body.date
            }
        }
        child.post("departures") { request, context in
            try await attendanceWrite(request, context) { caller, child in
                let body = try await decodeBody(Departure.self, from: request, context: context)
                try coversPlacement(of: child, on: body.date, caller)
                try await registry.recordDeparture(of: child.id, on: body.date, at: body.time, in: caller.tenant, by: caller.metadata, knowing: child)
                return body.date
            }
        }
        child.post("absences") { request, context in
            try await attendanceWrite(request, context) { caller, child in
                let body = try await decodeBody(Absence.self, from: request, context: context)
                try coversPlacement(of: child, on: body.date, caller)
                try await registry.markAbsence(of: child.id, on: body.date, kind: body.kind, in: caller.tenant, by: caller.metadata, knowing: child)
                return body.date
            }
        }
        child.post("care-times") { request, context in
            try await attendanceWrite(request, context) { caller, child in
                let body = try await decodeBody(CareTime.self, from: request, context: context)
                try coversPlacement(of: child, on: body.date, caller)
                try await registry.bookCareTime(for: child.id, on: body.date, from: body.start, to: body.end, in: caller.tenant, by: caller.metadata, knowing: child)
                return body.date
            }
        }
    }

    private func attendanceWrite(_ request: Request, _ context: RegisterRequestContext,
                                 _ write: (Caller, PersonRecord) async throws -> LocalDate) async throws -> Response {
        let caller = try await caller(request, context)
        let record = try await reachablePerson(try personID(context), caller, with: .attendanceWrite, opening: false)
        guard record.kind == .child else { throw Problem.notFound }
        let date = try await write(caller, record)
        try await recordAccess(caller, [(record.id, .insert, "child/\(record.id)/attendance/\(date.monthKey)")])
        return Response(status: .created)
    }

    /// Unit staff write attendance only for days the child is placed in one of their units.
    private func coversPlacement(of child: PersonRecord, on date: LocalDate, _ caller: Caller) throws {
        guard let placement = child.placement(on: date) else { return }  // the register's rule answers not-placed
        try caller.grants.covers(unit: placement.unit, with: .attendanceWrite)
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
        guard let uuid = UUID(uuidString: uuidString) else { return nil }
        self.init(uuid)
    }
}
