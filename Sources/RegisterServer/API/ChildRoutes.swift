import EventLog
import Foundation
import Hummingbird
import Register

// A child's own routes: the overview, applications, placements, service needs, care times, arrivals, departures and
// absences (`/v1/tenants/{tenant}/children/{person}/…`).

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

extension RegisterAPI {
    // MARK: Children

    func addChildRoutes(_ child: RouterGroup<RegisterRequestContext>) {
        child.get { request, context in
            let caller = try await caller(request, context)
            try caller.grants.require(.placementsRead)
            let reading = try await reachable(try personID(context), caller, with: .peopleRead, linked: true)
            let (record, restrictions) = (reading.record, reading.restrictions)
            guard record.kind == .child else { throw Problem.notFound }
            var related: [ChildOverview.Related] = []
            for link in record.relationships {
                // A linked person who was erased still shows as a link, without details; one whose processing is
                // restricted, as restricted.
                guard let person = reading.linked[link.person] else { throw Problem.notFound }
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
            try await attendanceWrite(request, context, Arrival.self, on: \.date) { caller, child, body in
                try caller.grants.covers(unit: body.unit, with: .attendanceWrite)
                try await registry.recordArrival(of: child.record.id, on: body.date, at: body.time, unit: body.unit, in: caller.tenant,
                                                 by: caller.metadata, knowing: child)
            }
        }
        child.post("departures") { request, context in
            try await attendanceWrite(request, context, Departure.self, on: \.date) { caller, child, body in
                try coversPlacement(of: child.record, on: body.date, caller)
                try await registry.recordDeparture(of: child.record.id, on: body.date, at: body.time, in: caller.tenant, by: caller.metadata, knowing: child)
            }
        }
        child.post("absences") { request, context in
            try await attendanceWrite(request, context, Absence.self, on: \.date) { caller, child, body in
                try coversPlacement(of: child.record, on: body.date, caller)
                try await registry.markAbsence(of: child.record.id, on: body.date, kind: body.kind, in: caller.tenant, by: caller.metadata, knowing: child)
            }
        }
        child.post("care-times") { request, context in
            try await attendanceWrite(request, context, CareTime.self, on: \.date) { caller, child, body in
                try coversPlacement(of: child.record, on: body.date, caller)
                try await registry.bookCareTime(for: child.record.id, on: body.date, from: body.start, to: body.end, in: caller.tenant,
                                                by: caller.metadata, knowing: child)
            }
        }
    }

    /// An attendance write: the caller, the child they reach, the body, the write, the access-log entry.
    ///
    /// The body is read before the child so that the day's month is read in the same snapshot as the child and the
    /// restrictions (one read of the store instead of two: each read after a commit starts SQLite's connection over,
    /// docs/benchmarks.md); its errors are still answered after those of the reach check, as before.
    private func attendanceWrite<Body: Decodable>(_ request: Request, _ context: RegisterRequestContext, _ type: Body.Type,
                                                  on date: (Body) -> LocalDate,
                                                  _ write: (Caller, PersonReading, Body) async throws -> Void) async throws -> Response {
        let caller = try await caller(request, context)
        let id = try personID(context)
        let body: Result<Body, any Error>
        do {
            body = .success(try await decodeBody(Body.self, from: request, context: context))
        } catch {
            body = .failure(error)
        }
        let month = (try? body.get()).map { RegisterStreams.attendance(id, month: date($0).monthKey) }
        let child = try await reachable(id, caller, with: .attendanceWrite, opening: false, alongWith: month.map { [$0] } ?? [])
        guard child.record.kind == .child else { throw Problem.notFound }
        let decoded = try body.get()
        try await write(caller, child, decoded)
        try await recordAccess(caller, [(id, .insert, "child/\(id)/attendance/\(date(decoded).monthKey)")])
        return Response(status: .created)
    }

    /// Unit staff write attendance only for days the child is placed in one of their units.
    private func coversPlacement(of child: PersonRecord, on date: LocalDate, _ caller: Caller) throws {
        guard let placement = child.placement(on: date) else { return }  // the register's rule answers not-placed
        try caller.grants.covers(unit: placement.unit, with: .attendanceWrite)
    }
}
