import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Client fees over HTTP (O23): billing forms a fee family, records incomes and decides fees; the director reads;
/// every read is logged; invoices of a run are listed by month; errors name the field.
@Suite("HTTP API: fee families, incomes, fee decisions and invoices")
struct FeeAPITests {
    @Test("billing forms a family, records incomes and decides; the decision explains every step; reads are logged", arguments: Backend.tested)
    func familyAndDecisions(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(301)
            let billing = try await api.signIn("billing")
            let director = try await api.signIn("director")
            let base = "/v1/tenants/\(api.tenant)"

            // Errors name the field and write nothing.
            let before = try await api.heads()
            #expect(try await api.request(.post, "\(base)/fee-families", token: billing,
                                          json: ["adults": [child.description], "children": [guardian.description], "validFrom": "2026-08-01"]).field == "adults[0]")
            #expect(try await api.request(.post, "\(base)/fee-families", token: billing,
                                          json: ["adults": [UUID().uuidString], "children": [child.description], "validFrom": "2026-08-01"]).field == "adults[0]")
            #expect(try await api.request(.post, "\(base)/fee-families", token: billing,
                                          json: ["adults": [guardian.description], "children": [child.description], "validFrom": "2026-13-01"]).field == "validFrom")
            #expect(try await api.request(.post, "\(base)/people/\(guardian)/incomes", token: billing,
                                          json: ["earnedCents": -5, "validFrom": "2026-08-01"]).status == .badRequest)
            #expect(try await api.request(.post, "\(base)/people/\(guardian)/incomes", token: billing, json: ["validFrom": "2026-08-01"]).field == "earnedCents",
                    "an empty statement is refused, not taken as 0 €")
            #expect(try await api.request(.post, "\(base)/people/\(guardian)/incomes", token: billing,
                                          json: ["capitalCents": -1, "validFrom": "2026-08-01"]).field == "capitalCents")
            #expect(try await api.request(.post, "\(base)/people/\(child)/incomes", token: billing,
                                          json: ["earnedCents": 100, "validFrom": "2026-08-01"]).problemCode == "not-an-adult")
            #expect(try await api.heads() == before)

            let created = try await api.request(.post, "\(base)/fee-families", token: billing,
                                                json: ["adults": [guardian.description], "children": [child.description], "validFrom": "2026-08-01", "source": "population-register"])
            #expect(created.status == .created, "\(created.text)")
            let family = try #require(created.json["id"] as? String)
            #expect((created.json["number"] as? Int).map { $0 > 0 } == true)
            #expect(try await api.request(.post, "\(base)/fee-families", token: director,
                                          json: ["adults": [guardian.description], "children": [child.description], "validFrom": "2026-08-01"]).status == .forbidden)

            // The guardian accepts the maximum fee: 335 € from August 2026 (the 35-hour week is full time).
            #expect(try await api.request(.post, "\(base)/people/\(guardian)/incomes", token: billing,
                                          json: ["acceptsMaximumFee": true, "validFrom": "2026-08-01"]).status == .created)
            let incomes = try await api.request(.get, "\(base)/people/\(guardian)/incomes", token: director)
            #expect(incomes.status == .ok)
            #expect(incomes.text.contains("\"acceptsMaximumFee\":true"))
            let decided = try await api.request(.post, "\(base)/fee-families/\(family)/decisions", token: billing)
            #expect(decided.status == .created, "\(decided.text)")
            let decisions = try #require(try JSONSerialization.jsonObject(with: decided.body) as? [[String: Any]])
            #expect(decisions.count == 1)
            #expect(decisions.first?["status"] as? String == "fee" && decisions.first?["total"] as? Int == 335)
            let calculation = try #require(decisions.first?["calculation"] as? [String: Any])
            #expect(calculation["baseCapped"] as? Bool == true && calculation["familySize"] as? Int == 2)
            let step = try #require((calculation["children"] as? [[String: Any]])?.first)
            #expect(step["child"] as? String == child.description && step["coefficientPercent"] as? Int == 100 && step["fee"] as? Int == 335)
            #expect(try await api.request(.post, "\(base)/fee-families/\(family)/decisions", token: billing).status == .ok, "nothing new to decide")

            // The family with its decisions; reading it is logged for each member.
            let read = try await api.request(.get, "\(base)/fee-families/\(family)", token: director)
            #expect(read.status == .ok)
            #expect((read.json["decisions"] as? [[String: Any]])?.count == 1)
            #expect((read.json["compositions"] as? [[String: Any]])?.first?["source"] as? String == "population-register")
            for person in [child, guardian] {
                let entries = try await api.storage.accessLog.entries(of: person, in: api.tenant)
                #expect(entries.contains { $0.entry.resource == "fee-family/\(family)" && $0.entry.action == .view })
            }
            let staff = try await api.signIn("staff")
            #expect(try await api.request(.get, "\(base)/fee-families/\(family)", token: staff).status == .forbidden)
            #expect(try await api.request(.get, "\(base)/fee-families/\(UUID())", token: billing).status == .notFound)

            // Invoiced by the run, listed by month.
            let rules = try #require(try await api.configuration().fees)
            let summary = try await api.registry.runInvoicing(in: api.tenant, month: try BillingMonth("2026-10"), rules: rules, commit: true,
                                                              issuedOn: try LocalDate("2026-11-01"), by: api.metadata)
            #expect(summary.invoices == 1 && summary.surcharges == 1, "October, and September as the month before")
            let listed = try await api.request(.get, "\(base)/invoices?month=2026-10", token: billing)
            #expect(listed.status == .ok)
            let entries = try #require(listed.json["invoices"] as? [[String: Any]])
            #expect(entries.count == 2)
            let invoice = try #require(entries.compactMap { $0["invoice"] as? [String: Any] }.first { $0["kind"] as? String == "invoice" })
            #expect(invoice["totalCents"] as? Int == 33_500)
            #expect((invoice["internationalReference"] as? String)?.hasPrefix("RF") == true)
            #expect(try await api.request(.get, "\(base)/invoices?month=2026-1", token: billing).field == "month")
        }
    }

    @Test("another tenant's fee family answers as one that does not exist", arguments: Backend.tested)
    func tenantIsolation(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(302, in: api.other)
            let family = try await api.registry.createFeeFamily(adults: [guardian], children: [child], validFrom: try LocalDate("2026-08-01"), source: .staff,
                                                                in: api.other, by: api.metadata)
            let billing = try await api.signIn("billing")
            let base = "/v1/tenants/\(api.tenant)"
            #expect(try await api.request(.get, "\(base)/fee-families/\(family.id)", token: billing).status == .notFound)
            #expect(try await api.request(.post, "\(base)/fee-families/\(family.id)/decisions", token: billing).status == .notFound)
            #expect(try await api.request(.get, "\(base)/people/\(guardian)/incomes", token: billing).status == .notFound)
        }
    }
}
