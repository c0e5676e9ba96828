import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Service vouchers over HTTP (O24): the voucher officer grants, the producer sees only its own children (and that
/// view is recorded as a disclosure to it), records the care it gave, and the month is settled.
@Suite("HTTP API: service vouchers, producers and settlements")
struct VoucherAPITests {
    @Test("a producer sees and records only its own voucher children; settlement previews and freezes", arguments: Backend.tested)
    func producers(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let registry = api.registry
            let configuration = try await api.configuration()
            let voucherChild = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Seteli", last: "Tuottajalla"),
                                                                                          birthDate: try LocalDate("2022-03-03"),
                                                                                          address: PostalAddress(street: "Salatie 9", postalCode: "99999", city: "Esimerkkilä")),
                                                           source: .client, in: api.tenant, by: api.metadata)
            _ = try await registry.place(voucherChild, unit: APIFixture.voucherUnit, arrangement: .serviceVoucher, start: try LocalDate("2026-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: api.tenant, by: api.metadata)
            let (municipalChild, _) = try await api.placedChild(401)
            let officer = try await api.signIn("voucher-officer")
            let producer = try await api.signIn("producer")
            let otherProducer = try await api.signIn("producer-other")
            let base = "/v1/tenants/\(api.tenant)"

            let grant: [String: Any] = ["producer": APIFixture.voucherUnit, "validFrom": "2026-08-01", "hoursPerWeek": 40]
            #expect(try await api.request(.post, "\(base)/children/\(voucherChild)/vouchers", token: producer, json: grant).status == .forbidden)
            #expect(try await api.request(.post, "\(base)/children/\(voucherChild)/vouchers", token: officer,
                                          json: ["producer": APIFixture.unit, "validFrom": "2026-08-01", "hoursPerWeek": 40]).problemCode == "not-a-producer")
            let granted = try await api.request(.post, "\(base)/children/\(voucherChild)/vouchers", token: officer, json: grant)
            #expect(granted.status == .created, "\(granted.text)")
            let voucher = try #require(granted.json["id"] as? String)

            // The producer's view: its own voucher children only, no addresses; recorded as a disclosure to it.
            let listed = try await api.request(.get, "\(base)/producers/\(APIFixture.voucherUnit)/children?month=2026-09", token: producer)
            #expect(listed.status == .ok, "\(listed.text)")
            let children = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
            #expect(children.compactMap { $0["child"] as? String } == [voucherChild.description])
            #expect(!listed.text.contains("Salatie"), "no address reaches the producer")
            let records = try await api.storage.store.readStream(DisclosureStreams.recipient("voucher-producers"), of: api.tenant)
            let record = try JSONDecoder().decode(DataDisclosed.self, from: try #require(records.last).payload)
            #expect(record.channel == "producer-access" && record.recipientUnit == APIFixture.voucherUnit && record.subjects == [voucherChild])
            #expect(record.events.contains { $0.eventType == VoucherGranted.eventType })
            #expect(try await api.request(.get, "\(base)/producers/\(APIFixture.voucherUnit)/children?month=2026-09", token: otherProducer).status == .forbidden)
            #expect(try await api.request(.get, "\(base)/producers/\(APIFixture.unit)/children?month=2026-09", token: producer).status == .notFound,
                    "a municipal unit is no producer")
            // Not the municipality's children, nor anyone outside its placements.
            #expect(try await api.request(.get, "\(base)/people/\(municipalChild)", token: producer).status == .notFound)
            #expect(try await api.request(.get, "\(base)/people/\(voucherChild)", token: producer).status == .ok)

            let services = "\(base)/children/\(voucherChild)/vouchers/\(voucher)/services"
            #expect(try await api.request(.post, services, token: otherProducer, json: ["month": "2026-09", "careDays": 22]).status == .notFound)
            #expect(try await api.request(.post, services, token: producer, json: ["month": "2026-09", "careDays": 40]).field == "careDays")
            #expect(try await api.request(.post, services, token: producer, json: ["month": "2026-09", "careDays": 22]).status == .created)

            // Settlement: a preview, then frozen once (the clock is past September's cut-off, 10 October).
            let settlement = "\(base)/settlements/\(APIFixture.voucherUnit)"
            #expect(try await api.request(.get, "\(settlement)?month=2026-09", token: producer).status == .forbidden)
            let preview = try await api.request(.get, "\(settlement)?month=2026-09", token: officer)
            #expect(preview.status == .ok && preview.json["state"] as? String == "preview")
            #expect((preview.json["operatedBy"] as? [String: Any])?["businessID"] as? String == "0000000-0", "who is paid")
            let line = try #require((preview.json["lines"] as? [[String: Any]])?.first)
            #expect(line["status"] as? String == "no-fee-decision" && line["valueCents"] as? Int == 105_000, "no fee family: held")
            let frozen = try await api.request(.post, settlement, token: officer, json: ["month": "2026-09"])
            #expect(frozen.status == .created && frozen.json["state"] as? String == "frozen")
            #expect(frozen.json["frozenOn"] as? String == "2026-11-24" && preview.json["frozenOn"] == nil, "frozen today, after the cut-off of 10 October")
            #expect(try await api.request(.post, settlement, token: officer, json: ["month": "2026-09"]).status == .ok)
            #expect(try await api.request(.post, settlement, token: officer, json: ["month": "2026-11"]).problemCode == "before-cut-off")
        }
    }
}
