import EventLog
import Foundation
import Hummingbird
import Projections
import Register

// The read models' routes. They answer from the projections, which follow the log a moment behind each write (the
// routes of /children/{person} and /attendance answer from the log itself). Personal details are opened only as the
// answer is produced, protected fields stay hidden under a non-disclosure order unless people.read-protected
// covers the unit, and every person shown is written to the access log before the answer leaves.

struct RosterView: Encodable {
    var unit: String
    var date: LocalDate
    var children: [Entry]

    struct Entry: Encodable {
        var child: ReadModelPersonView
        var placement: String
        var arrangement: Arrangement
        var serviceNeed: PlacementView.ServiceNeedView?
        var booking: AttendanceView.Booking?
        var guardians: [ReadModelPersonView]
    }
}

/// A person from the read models, with protected fields hidden when the caller may not see them.
struct ReadModelPersonView: Encodable {
    var id: String
    var kind: PersonKind
    var erased: Bool
    var nonDisclosure: Bool
    var protectedFieldsHidden: Bool
    var details: PersonDetails?
    /// A restriction of processing in force (O21): the details are left out for roles that do not handle subjects'
    /// requests.
    var restriction: RestrictionView?

    /// - Parameter minimal: leave out the identity code and birth date (a roster has no need of them).
    /// - Parameter restrictions: the tenant's restrictions in force, and whether the caller reads restricted people.
    init(_ person: RegisterReadModels.PersonEntry, showProtected: Bool, minimal: Bool = false,
         restrictions: (all: [PersonID: Restriction], show: Bool) = ([:], false)) {
        id = person.id
        kind = person.kind
        erased = person.erased
        nonDisclosure = person.nonDisclosure
        let hide = person.nonDisclosure && !showProtected
        protectedFieldsHidden = hide && person.details != nil
        var details = hide ? person.details?.withoutProtectedFields() : person.details
        if minimal {
            details?.identityCode = nil
            details?.birthDate = nil
        }
        let restriction = (try? PersonID(person.id)).flatMap { restrictions.all[$0] }
        self.restriction = restriction.map(RestrictionView.init)
        self.details = restriction != nil && !restrictions.show ? nil : details
    }
}

struct UnitAttendanceView: Encodable {
    var unit: String
    var month: String
    var children: [Child]

    struct Child: Encodable {
        var child: String
        /// Processing of the child's data is restricted (O21): nothing of their attendance is shown.
        var restricted: Bool
        var bookedMinutes: Int
        var usedMinutes: Int
        var daysPresent: Int
        var absences: [String: Int]
        var days: [AttendanceView.Day]
    }
}

struct OccupancyView: Encodable {
    var unit: String
    var underThreeCoefficient: Double
    var days: [Day]

    struct Day: Encodable {
        var date: LocalDate
        var placed: Int
        var present: Int
        var placedWeighted: Double
        var presentWeighted: Double
    }
}

struct StatisticsView: Encodable {
    var from: LocalDate
    var to: LocalDate
    var children: Int
    var byAgeGroup: [String: Int]
    var byArrangement: [String: Int]
    var byLanguage: [String: Int]
    var byMunicipality: [String: Int]
    var placementsStarted: Int
    var placementsEnded: Int
}

struct ConsentInForceView: Encodable {
    var subject: String
    var purpose: String
    var validFrom: LocalDate
    var givenBy: String?
    var givenAt: String
}

struct ReadModelOverviewView: Encodable {
    var child: ReadModelPersonView
    var placements: [PlacementView]
    var currentServiceNeed: PlacementView.ServiceNeedView?
    var relatedPeople: [Related]
    /// Only for callers whose consents.read reaches the child.
    var consents: [ConsentInForceView]?

    struct Related: Encodable {
        var relationship: RelationshipKind
        var person: ReadModelPersonView
    }
}

struct ProjectionStatusView: Encodable {
    var tenant: String
    var projection: String
    var version: Int
    var slot: String
    var role: String
    var current: Bool
    var position: Int64
    var head: Int64
    var lagEvents: Int64
    var lagSeconds: Double
    var updatedAt: String
    var failedPosition: Int64?
    var failure: String?
    var rebuilding: Bool
}

struct RebuildRequest: Decodable {
    var tenant: String?
    var projection: String?
}

struct RebuildStarted: Encodable {
    var started: [Entry]
    struct Entry: Encodable {
        var tenant: String
        var projection: String
    }
}

extension PlacementView {
    init(_ placement: RegisterReadModels.PlacementEntry) {
        id = placement.id
        unit = placement.unit
        arrangement = placement.arrangement
        start = placement.start
        end = placement.end
        serviceNeeds = placement.serviceNeeds.map { ServiceNeedView(from: $0.from, hoursPerWeek: $0.need.hoursPerWeek, shiftCare: $0.need.shiftCare) }
    }
}

extension RegisterAPI {
    func addReadModelRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("units/:unit/roster") { request, context in
            let caller = try await caller(request, context)
            let unit = try knownUnit(context, caller)
            try caller.grants.covers(unit: unit, with: .placementsRead)
            try caller.grants.covers(unit: unit, with: .peopleRead)
            let date = try dateParameter(request, "date") ?? today
            try requireUnitReach(back: date, caller, [.placementsRead, .peopleRead])
            let roster = try await readModels.roster(unit: unit, on: date, tenant: caller.tenant)
            let showProtected = (try? caller.grants.covers(unit: unit, with: .peopleReadProtected)) != nil
            let restrictions = (all: try await registry.restrictions(in: caller.tenant), show: caller.grants.has(.subjectRequestsManage))
            let view = RosterView(unit: unit, date: date, children: roster.map { entry in
                // A child whose processing is restricted shows as placed here and restricted, nothing more (O21).
                let held = !restrictions.show && (try? PersonID(entry.child.id)).map { restrictions.all[$0] != nil } == true
                return RosterView.Entry(child: ReadModelPersonView(entry.child, showProtected: showProtected, minimal: true, restrictions: restrictions),
                                        placement: entry.placement.id,
                                        arrangement: entry.placement.arrangement,
                                        serviceNeed: held ? nil : entry.serviceNeed.map { .init(from: $0.from, hoursPerWeek: $0.need.hoursPerWeek, shiftCare: $0.need.shiftCare) },
                                        booking: held ? nil : entry.booking.map { AttendanceView.Booking(start: $0.start, end: $0.end) },
                                        guardians: held ? [] : entry.guardians.map {
                                            ReadModelPersonView($0, showProtected: showProtected, minimal: true, restrictions: restrictions)
                                        })
            })
            let shown = roster.flatMap { [$0.child.id] + $0.guardians.map(\.id) }
            try await recordAccess(caller, try Set(shown).sorted().map { (try PersonID($0), .view, "unit/\(unit)/roster/\(date)") })
            return try Response.json(view)
        }

        tenant.get("units/:unit/attendance") { request, context in
            let caller = try await caller(request, context)
            let unit = try knownUnit(context, caller)
            try caller.grants.covers(unit: unit, with: .attendanceRead)
            guard let month = request.uri.queryParameters.get("month"), month.count == 7, let first = try? LocalDate("\(month)-01") else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "month is required, written YYYY-MM.", field: "month")
            }
            try requireUnitReach(back: LocalDate.lastDay(ofMonthOf: first), caller, [.attendanceRead])
            let restrictions = caller.grants.has(.subjectRequestsManage) ? [:] : try await registry.restrictions(in: caller.tenant)
            // A child whose processing is restricted is listed as such, without their attendance (O21).
            let children = try await readModels.attendance(unit: unit, month: first.monthKey, tenant: caller.tenant)
            try await recordAccess(caller, try children.map { (try PersonID($0.child), .view, "unit/\(unit)/attendance/\(first.monthKey)") })
            return try Response.json(UnitAttendanceView(unit: unit, month: first.monthKey, children: children.map { child in
                if let id = try? PersonID(child.child), restrictions[id] != nil {
                    return UnitAttendanceView.Child(child: child.child, restricted: true, bookedMinutes: 0, usedMinutes: 0, daysPresent: 0, absences: [:], days: [])
                }
                return UnitAttendanceView.Child(child: child.child, restricted: false,
                                         bookedMinutes: child.bookedMinutes, usedMinutes: child.usedMinutes, daysPresent: child.daysPresent,
                                         absences: Dictionary(uniqueKeysWithValues: child.absences.map { ($0.key.rawValue, $0.value) }),
                                         days: child.days.map { day in
                                             AttendanceView.Day(date: day.date, booking: day.booking.map { AttendanceView.Booking(start: $0.start, end: $0.end) },
                                                                visits: day.visits.map { AttendanceView.Visit(unit: $0.unit, arrival: $0.arrival, departure: $0.departure) },
                                                                absence: day.absence, minutesPresent: day.usedMinutes)
                                         })
            }))
        }

        tenant.get("units/:unit/occupancy") { request, context in
            let caller = try await caller(request, context)
            let unit = try knownUnit(context, caller)
            try caller.grants.covers(unit: unit, with: .placementsRead)
            let (from, to) = try period(request, longest: 366)
            let coefficient = caller.grants.configuration.underThreeCoefficient
            // Counts only: birth dates are opened to weigh children under 3, and none leaves.
            let days = try await readModels.occupancy(unit: unit, from: from, to: to, underThreeCoefficient: coefficient, tenant: caller.tenant)
            return try Response.json(OccupancyView(unit: unit, underThreeCoefficient: coefficient, days: days.map {
                OccupancyView.Day(date: $0.date, placed: $0.placed, present: $0.present, placedWeighted: $0.placedWeighted, presentWeighted: $0.presentWeighted)
            }))
        }

        tenant.get("statistics") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.statisticsRead)
            let (from, to) = try period(request, longest: 3_660)
            let statistics = try await readModels.statistics(from: from, to: to, tenant: caller.tenant)
            return try Response.json(StatisticsView(from: from, to: to, children: statistics.children, byAgeGroup: statistics.byAgeGroup,
                                                    byArrangement: statistics.byArrangement, byLanguage: statistics.byLanguage,
                                                    byMunicipality: statistics.byMunicipality, placementsStarted: statistics.placementsStarted,
                                                    placementsEnded: statistics.placementsEnded))
        }

        tenant.get("consents") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.consentsRead)
            let purpose = try request.uri.queryParameters.get("purpose").map { try Check.code(String($0), field: "purpose") }
            let restrictions = caller.grants.has(.subjectRequestsManage) ? [:] : try await registry.restrictions(in: caller.tenant)
            // People whose processing is restricted are left out of the list (O21); their own views show why.
            let consents = try await readModels.consents(purpose: purpose, tenant: caller.tenant)
                .filter { entry in (try? PersonID(entry.subject)).map { restrictions[$0] == nil } ?? true }
            try await recordAccess(caller, try Set(consents.map(\.subject)).sorted().map { (try PersonID($0), .view, "consents/\(purpose ?? "all")") })
            return try Response.json(consents.map {
                ConsentInForceView(subject: $0.subject, purpose: $0.purpose, validFrom: $0.validFrom, givenBy: $0.givenBy, givenAt: $0.givenAt.description)
            })
        }

        tenant.get("children/:person/overview") { request, context in
            let caller = try await caller(request, context)
            // Reach is decided on the log's record (placements), as for every other route about a person.
            let record = try await reachablePerson(try personID(context), caller, with: .peopleRead, opening: false)
            try caller.grants.reaches(record, with: .placementsRead, today: today)
            guard record.kind == .child, let overview = try await readModels.childOverview(record.id.description, tenant: caller.tenant) else {
                throw Problem.notFound
            }
            let today = today
            // As on every route: people.read-protected must reach the child through whom the people are shown.
            let showProtected = caller.grants.canReach(record, with: .peopleReadProtected, today: today)
            let current = overview.placements.first { $0.covers(today) }
            let restrictions = (all: try await registry.restrictions(in: caller.tenant), show: caller.grants.has(.subjectRequestsManage))
            let view = ReadModelOverviewView(
                child: ReadModelPersonView(overview.child, showProtected: showProtected, restrictions: restrictions),
                placements: overview.placements.map(PlacementView.init),
                currentServiceNeed: current?.serviceNeed(on: today).map { .init(from: $0.from, hoursPerWeek: $0.need.hoursPerWeek, shiftCare: $0.need.shiftCare) },
                relatedPeople: overview.related.map {
                    .init(relationship: $0.relationship, person: ReadModelPersonView($0.person, showProtected: showProtected, restrictions: restrictions))
                },
                consents: caller.grants.canReach(record, with: .consentsRead, today: today) ? overview.consents.map {
                    ConsentInForceView(subject: $0.subject, purpose: $0.purpose, validFrom: $0.validFrom, givenBy: $0.givenBy, givenAt: $0.givenAt.description)
                } : nil)
            let shown = [overview.child.id] + overview.related.map(\.person.id)
            try await recordAccess(caller, try shown.map { (try PersonID($0), .view, "child/\(record.id)/overview") })
            return try Response.json(view)
        }
    }

    func addProjectionRoutes(_ platform: RouterGroup<RegisterRequestContext>) {
        platform.get("projections") { request, _ in
            try await requireOperator(request)
            var tenant: TenantID?
            if let text = request.uri.queryParameters.get("tenant") {
                guard let id = try? TenantID(String(text)) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "tenant is a tenant id (a slug).", field: "tenant")
                }
                tenant = id
            }
            let statuses = try await storage.projections.status(of: tenant)
            return try Response.json(statuses.map { status in
                ProjectionStatusView(tenant: status.state.tenant.rawValue, projection: status.state.projection, version: status.state.version,
                                     slot: status.state.slot.rawValue, role: status.state.role.rawValue, current: status.current,
                                     position: status.state.position.rawValue, head: status.head.rawValue, lagEvents: status.lagEvents,
                                     lagSeconds: status.lagSeconds, updatedAt: status.state.updatedAt.description,
                                     failedPosition: status.state.failedPosition?.rawValue, failure: status.state.failure,
                                     rebuilding: projectionService?.isRebuilding(status.state.tenant, status.state.projection) ?? false)
            })
        }

        platform.post("projections/rebuild") { request, context in
            try await requireOperator(request)
            let body = try await decodeBody(RebuildRequest.self, from: request, context: context)
            guard let service = projectionService else {
                throw Problem(status: .serviceUnavailable, code: "not-running", detail: "Projections do not run in this process; use register projections rebuild.")
            }
            var tenants = try await storage.store.tenants().filter { $0 != Accounts.platformTenant }
            if let name = body.tenant {
                guard let tenant = try? TenantID(name), tenants.contains(tenant) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "tenant names no tenant of this instance.", field: "tenant")
                }
                tenants = [tenant]
            }
            if let name = body.projection, !RegisterProjections.all.contains(where: { $0.name == name }) {
                throw Problem(status: .badRequest, code: "invalid-field",
                              detail: "projection is one of \(RegisterProjections.all.map(\.name).joined(separator: ", ")).", field: "projection")
            }
            let started = try service.requestRebuild(tenants: tenants, projections: body.projection.map { [$0] })
            return try Response.json(RebuildStarted(started: started.map { .init(tenant: $0.0.rawValue, projection: $0.1) }), status: .accepted)
        }
    }

    /// Only the platform's operators see and steer projections; anyone else is answered as if the route did not exist.
    func requireOperator(_ request: Request) async throws {
        let principal = try await principal(of: request)
        guard principal.tenant == Accounts.platformTenant, principal.roles.contains(where: { $0.role == Accounts.operatorRole }) else {
            throw Problem.notFound
        }
    }

    /// A caller who holds a permission for units only reaches a child while placed there and for
    /// `Grants.unitReachAfterPlacement` days after: a unit's read models answer them for dates no further back either.
    func requireUnitReach(back date: LocalDate, _ caller: Caller, _ permissions: [Permission]) throws {
        let earliest = today.adding(days: -Grants.unitReachAfterPlacement)
        for permission in permissions where try caller.grants.require(permission) != .tenant && date < earliest {
            throw Problem(status: .forbidden, code: "forbidden",
                          detail: "\(permission.rawValue) is granted to you for your units, which reach back to \(earliest); ask someone who holds it tenant-wide.")
        }
    }

    /// The unit in the path, one of the tenant's; an unknown unit is a 404.
    func knownUnit(_ context: RegisterRequestContext, _ caller: Caller) throws -> String {
        guard let unit = context.parameters.get("unit"), caller.grants.configuration.units.contains(where: { $0.code == unit }) else {
            throw Problem.notFound
        }
        return unit
    }

    func dateParameter(_ request: Request, _ name: String) throws -> LocalDate? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let date = try? LocalDate(String(text)) else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "\(name) is a date written YYYY-MM-DD.", field: name)
        }
        return date
    }

    /// `from` and `to` (both required, inclusive), at most `longest` days apart.
    func period(_ request: Request, longest: Int) throws -> (LocalDate, LocalDate) {
        guard let from = try dateParameter(request, "from") else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "from is required, written YYYY-MM-DD.", field: "from")
        }
        guard let to = try dateParameter(request, "to") else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "to is required, written YYYY-MM-DD.", field: "to")
        }
        guard from <= to, to.dayNumber - from.dayNumber < longest else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "to is on or after from, at most \(longest) days later.", field: "to")
        }
        return (from, to)
    }
}
