import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import Testing

/// The read models over HTTP, served by the projections the server runs: what they show, to whom, what they hide
/// and what they log; and the platform operator's status view and rebuild trigger.
@Suite("HTTP API: read models and projections")
struct ReadModelAPITests {
    static func array(_ answer: APIFixture.Answer) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: answer.body)) as? [[String: Any]] ?? []
    }

    @Test("a unit's roster shows the children placed that day with service need, booking and guardians; protected fields stay hidden; every person shown is logged",
          arguments: Backend.tested)
    func roster(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(1, guardianProtected: true)
            let (elsewhere, _) = try await api.placedChild(2, unit: APIFixture.otherUnit)
            try await api.registry.bookCareTime(for: child, on: APIFixture.today, from: try LocalTime("08:00"), to: try LocalTime("16:00"),
                                                in: api.tenant, by: api.metadata)
            try await api.projectionsCaughtUp()
            let staff = try await api.signIn("staff")
            let path = "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/roster?date=2026-11-24"
            let answer = try await api.request(.get, path, token: staff)
            #expect(answer.status == .ok, "\(answer.text)")
            let children = try #require(answer.json["children"] as? [[String: Any]])
            #expect(children.count == 1, "only the child placed in this unit")
            let entry = try #require(children.first)
            let shownChild = try #require(entry["child"] as? [String: Any])
            #expect(shownChild["id"] as? String == child.description)
            #expect((shownChild["details"] as? [String: Any])?["identityCode"] == nil, "a roster has no need of identity codes")
            #expect((entry["serviceNeed"] as? [String: Any])?["hoursPerWeek"] as? Int == 35)
            #expect((entry["booking"] as? [String: Any])?["start"] as? String == "08:00")
            let guardians = try #require(entry["guardians"] as? [[String: Any]])
            #expect(guardians.first?["id"] as? String == guardian.description)
            #expect(guardians.first?["protectedFieldsHidden"] as? Bool == true)
            #expect(!answer.text.contains("Suojatie 1") && !answer.text.contains("040 123 4567"), "the protected guardian's address and phone are not shown")
            #expect(answer.text.contains("Maija1"), "the guardian's name is")

            // The registry office (people.read-protected) lacks placements.read: no roster. Staff of another unit: none of this one.
            #expect(try await api.request(.get, path, token: try await api.signIn("registry")).status == .forbidden)
            #expect(try await api.request(.get, path, token: try await api.signIn("staff-other")).status == .forbidden)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/units/no-such-unit/roster", token: staff).status == .notFound)
            // Unit staff reach back 60 days, as they do for each child; the director (tenant-wide) reaches any date.
            let longAgo = "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/roster?date=2019-01-01"
            #expect(try await api.request(.get, longAgo, token: staff).status == .forbidden)
            #expect(try await api.request(.get, longAgo, token: try await api.signIn("director")).status == .ok)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/attendance?month=2026-08", token: staff).status == .forbidden)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/roster?date=24.11.2026", token: staff).field == "date")

            // Logged before the answer: the child and the guardian shown, nobody else.
            #expect(try await api.storage.accessLog.entries(of: child, in: api.tenant).map(\.entry.resource) == ["unit/\(APIFixture.unit)/roster/2026-11-24"])
            #expect(try await api.storage.accessLog.entries(of: guardian, in: api.tenant).count == 1)
            #expect(try await api.storage.accessLog.entries(of: elsewhere, in: api.tenant).isEmpty)
        }
    }

    @Test("attendance per unit and month: booked against used, absences by kind; occupancy weighs children under 3", arguments: Backend.tested)
    func attendanceAndOccupancy(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(3)
            let day = try LocalDate("2026-11-23")
            try await api.registry.bookCareTime(for: child, on: day, from: try LocalTime("08:00"), to: try LocalTime("16:00"), in: api.tenant, by: api.metadata)
            try await api.registry.recordArrival(of: child, on: day, at: try LocalTime("08:15"), unit: APIFixture.unit, in: api.tenant, by: api.metadata)
            try await api.registry.recordDeparture(of: child, on: day, at: try LocalTime("15:45"), in: api.tenant, by: api.metadata)
            try await api.registry.markAbsence(of: child, on: try LocalDate("2026-11-24"), kind: .sick, in: api.tenant, by: api.metadata)
            // A toddler, born 2025: counts 1.75 places.
            let toddler = try await api.registry.register(.child, details: PersonDetails(name: PersonName(first: "Pikku", last: "Virtanen"),
                                                                                        birthDate: try LocalDate("2025-03-01")),
                                                          source: .client, in: api.tenant, by: api.metadata)
            _ = try await api.registry.place(toddler, unit: APIFixture.unit, arrangement: .municipal, start: try LocalDate("2026-11-01"), end: nil,
                                             serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
            try await api.registry.recordArrival(of: toddler, on: day, at: try LocalTime("09:00"), unit: APIFixture.unit, in: api.tenant, by: api.metadata)
            try await api.projectionsCaughtUp()

            let staff = try await api.signIn("staff")
            let base = "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)"
            let attendance = try await api.request(.get, "\(base)/attendance?month=2026-11", token: staff)
            #expect(attendance.status == .ok, "\(attendance.text)")
            let children = try #require(attendance.json["children"] as? [[String: Any]])
            let mine = try #require(children.first { $0["child"] as? String == child.description })
            #expect(mine["bookedMinutes"] as? Int == 480)
            #expect(mine["usedMinutes"] as? Int == 450)
            #expect(mine["daysPresent"] as? Int == 1)
            #expect((mine["absences"] as? [String: Int]) == ["sick": 1])
            #expect(try await api.request(.get, "\(base)/attendance", token: staff).field == "month")
            #expect(try await api.request(.get, "\(base)/attendance?month=2026-11", token: try await api.signIn("staff-other")).status == .forbidden)

            let occupancy = try await api.request(.get, "\(base)/occupancy?from=2026-11-23&to=2026-11-24", token: staff)
            #expect(occupancy.status == .ok, "\(occupancy.text)")
            let days = try #require(occupancy.json["days"] as? [[String: Any]])
            #expect(days.count == 2)
            #expect(days[0]["placed"] as? Int == 2 && days[0]["present"] as? Int == 2)
            #expect(days[0]["placedWeighted"] as? Double == 2.75, "one child over 3 and one under 3 at 1.75")
            #expect(days[1]["present"] as? Int == 0)
            #expect(!occupancy.text.contains(child.description), "occupancy is counts only")
            #expect(try await api.request(.get, "\(base)/occupancy?from=2026-11-24&to=2026-11-01", token: staff).field == "to")
        }
    }

    @Test("statistics are counts by age group, arrangement, language and municipality, for statistics.read tenant-wide only", arguments: Backend.tested)
    func statistics(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            _ = try await api.placedChild(4)
            _ = try await api.placedChild(5, unit: APIFixture.otherUnit)
            try await api.projectionsCaughtUp()
            let director = try await api.signIn("director")
            let answer = try await api.request(.get, "/v1/tenants/\(api.tenant)/statistics?from=2026-01-01&to=2026-12-31", token: director)
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(answer.json["children"] as? Int == 2)
            #expect(answer.json["placementsStarted"] as? Int == 2)
            #expect((answer.json["byLanguage"] as? [String: Int]) == ["fi": 2])
            #expect((answer.json["byAgeGroup"] as? [String: Int])?.values.reduce(0, +) == 2)
            #expect(!answer.text.contains("Aino"), "no person in statistics")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/statistics?from=2026-01-01&to=2026-12-31", token: try await api.signIn("staff")).status == .forbidden)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/statistics", token: director).field == "from")
        }
    }

    @Test("consents in force and the child's overview come from the read models, and withdrawal removes a consent", arguments: Backend.tested)
    func consentsAndOverview(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(6)
            try await api.registry.giveConsent("photo-permission", for: child, givenBy: guardian, in: api.tenant, by: api.metadata)
            try await api.registry.giveConsent("school-disclosure", for: child, givenBy: guardian, in: api.tenant, by: api.metadata)
            try await api.registry.withdrawConsent("school-disclosure", for: child, withdrawnBy: guardian, in: api.tenant, by: api.metadata)
            try await api.projectionsCaughtUp()
            let director = try await api.signIn("director")
            let consents = Self.array(try await api.request(.get, "/v1/tenants/\(api.tenant)/consents", token: director))
            #expect(consents.map { $0["purpose"] as? String } == ["photo-permission"])
            #expect(consents.first?["givenBy"] as? String == guardian.description)
            #expect(Self.array(try await api.request(.get, "/v1/tenants/\(api.tenant)/consents?purpose=school-disclosure", token: director)).isEmpty)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/consents", token: try await api.signIn("staff")).status == .forbidden,
                    "consents.read for units only does not list the whole tenant")

            let overview = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)/overview", token: director)
            #expect(overview.status == .ok, "\(overview.text)")
            #expect((overview.json["placements"] as? [[String: Any]])?.first?["unit"] as? String == APIFixture.unit)
            #expect((overview.json["currentServiceNeed"] as? [String: Any])?["hoursPerWeek"] as? Int == 35)
            #expect((overview.json["relatedPeople"] as? [[String: Any]])?.count == 1)
            #expect((overview.json["consents"] as? [[String: Any]])?.map { $0["purpose"] as? String } == ["photo-permission"])
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)/overview", token: try await api.signIn("staff-other")).status == .notFound)
            let toBilling = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)/overview", token: try await api.signIn("billing"))
            #expect(toBilling.status == .ok && toBilling.json["consents"] == nil, "consents only for consents.read")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/consents?purpose=Photo%20Permission", token: director).field == "purpose")
            #expect(try await api.storage.accessLog.entries(of: guardian, in: api.tenant).contains { $0.entry.resource == "child/\(child)/overview" })
        }
    }

    @Test("the platform operator sees every projection's lag and starts a rebuild that swaps in; nobody else sees either", arguments: Backend.tested)
    func platformStatusAndRebuild(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            _ = try await api.placedChild(7)
            try await api.projectionsCaughtUp()
            let signIn = try await api.request(.post, "/v1/platform/sessions", json: ["username": "operator", "password": APIFixture.password])
            let operatorToken = try #require(signIn.json["token"] as? String)
            let status = Self.array(try await api.request(.get, "/v1/platform/projections?tenant=\(api.tenant)", token: operatorToken))
            #expect(Set(status.compactMap { $0["projection"] as? String }) == ["people", "placements", "attendance", "anonymised"])
            #expect(status.allSatisfy { $0["lagEvents"] as? Int == 0 && $0["role"] as? String == "active" && $0["slot"] as? String == "a" })
            #expect(try await api.request(.get, "/v1/platform/projections", token: try await api.signIn("director")).status == .notFound)
            #expect(try await api.request(.get, "/v1/platform/projections?tenant=Not%20A%20Slug", token: operatorToken).field == "tenant")

            let started = try await api.request(.post, "/v1/platform/projections/rebuild", token: operatorToken,
                                                json: ["tenant": api.tenant.rawValue, "projection": "people"])
            #expect(started.status == .accepted, "\(started.text)")
            #expect((started.json["started"] as? [[String: Any]])?.count == 1)
            let deadline = ContinuousClock.now + .seconds(20)
            var swapped = false
            while !swapped, ContinuousClock.now < deadline {
                let now = Self.array(try await api.request(.get, "/v1/platform/projections?tenant=\(api.tenant)", token: operatorToken))
                swapped = now.contains { $0["projection"] as? String == "people" && $0["slot"] as? String == "b" && $0["role"] as? String == "active" }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(swapped, "the rebuilt generation was swapped in")
            let roster = try await api.request(.get, "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/roster?date=2026-11-24", token: try await api.signIn("staff"))
            #expect((roster.json["children"] as? [[String: Any]])?.count == 1, "the rebuilt read model serves the same roster")
            #expect(try await api.request(.post, "/v1/platform/projections/rebuild", token: operatorToken, json: ["projection": "nope"]).field == "projection")
            #expect(try await api.request(.post, "/v1/platform/projections/rebuild", token: operatorToken, json: ["tenant": "nope"]).field == "tenant")

            let metrics = try await api.request(.get, "/metrics")
            #expect(metrics.text.contains("register_projection_lag_events{tenant=\"\(api.tenant)\",projection=\"people\",role=\"active\"} 0"))
        }
    }
}
