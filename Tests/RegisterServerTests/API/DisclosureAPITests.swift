import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Provenance read back and acted on over HTTP: a subject's disclosures and report, manual hand-overs checked
/// against their basis (refusals recorded), and rectifications that reach exactly the recipients of the replaced value.
@Suite("HTTP API: disclosures and rectification")
struct DisclosureAPITests {
    @Test("the data-protection officer reads a subject's disclosures, one disclosure with the events behind it, and who used or received the data",
          arguments: Backend.tested)
    func disclosureQueries(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(13)
            let (other, _) = try await api.placedChild(14)
            _ = try await FeedAPITests.readAll(api, "varda", token: try await FeedAPITests.partnerToken(api, "varda"), limit: 100)
            let dpo = try await api.signIn("dpo")
            // A staff member's read, so the report has a use to show.
            _ = try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: try await api.signIn("staff"))

            let listed = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/disclosures", token: dpo)
            #expect(listed.status == .ok, "\(listed.text)")
            let disclosures = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
            #expect(disclosures.count == 1)
            let disclosure = try #require(disclosures.first)
            #expect(disclosure["recipient"] as? String == "varda" && disclosure["legalBasis"] as? String == "Varhaiskasvatuslaki 540/2018, 6 luku")
            let events = try #require(disclosure["events"] as? [[String: Any]])
            #expect(Set(events.compactMap { $0["eventType"] as? String }) == ["PersonRegistered", "PlacementMade"])
            #expect(events.allSatisfy { $0["subject"] as? String == child.description }, "only this subject's events")
            #expect((disclosure["fields"] as? [String])?.contains("identityCode") == true)

            let position = try #require(disclosure["position"] as? Int)
            let one = try await api.request(.get, "/v1/tenants/\(api.tenant)/disclosures/\(position)", token: dpo)
            #expect(one.status == .ok)
            let behind = try #require(one.json["events"] as? [[String: Any]])
            #expect(Set(behind.compactMap { $0["subject"] as? String }).isSuperset(of: [child.description, guardian.description, other.description]))
            #expect(behind.allSatisfy { $0["matchesLog"] as? Bool == true }, "every event named is the one the log holds")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/disclosures/1", token: dpo).status == .notFound, "position 1 is no disclosure")

            let report = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/data-use", token: dpo)
            #expect(report.status == .ok)
            #expect((report.json["uses"] as? [[String: Any]])?.contains { $0["role"] as? String == "staff" } == true)
            #expect((report.json["disclosures"] as? [[String: Any]])?.count == 1)

            let staff = try await api.signIn("staff")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/disclosures", token: staff).status == .forbidden)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(PersonID.random())/disclosures", token: dpo).status == .notFound)
            #expect(try await api.storage.accessLog.entries(of: child, in: api.tenant).contains { $0.entry.resource == "person/\(child)/disclosures" })
        }
    }

    @Test("a manual hand-over is checked against the recipient's basis: recorded with its events and handed over, or refused and the refusal recorded",
          arguments: Backend.tested)
    func manualHandOvers(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(15)
            let director = try await api.signIn("director")
            let path = "/v1/tenants/\(api.tenant)/disclosures"
            func refusals(_ recipient: String) async throws -> [DisclosureRefused] {
                try await api.storage.store.readStream(DisclosureStreams.recipient(recipient), of: api.tenant)
                    .filter { $0.eventType == DisclosureRefused.eventType }.map { try JSONDecoder().decode(DisclosureRefused.self, from: $0.payload) }
            }

            // The school depends on consent: refused (and recorded) without it, handed over with it.
            let refused = try await api.request(.post, path, token: director, json: ["recipient": "school", "subjects": [child.description], "fields": ["name", "unit"]])
            #expect(refused.status == .unprocessableContent && refused.problemCode == "no-consent", "\(refused.text)")
            #expect(try await refusals("school").map(\.reason) == ["no-consent"])
            try await api.registry.giveConsent("school-disclosure", for: child, givenBy: guardian, in: api.tenant, by: api.metadata)
            let made = try await api.request(.post, path, token: director, json: ["recipient": "school", "subjects": [child.description], "fields": ["name", "unit"]])
            #expect(made.status == .created, "\(made.text)")
            let items = try #require(made.json["items"] as? [[String: Any]])
            #expect(Set(items.compactMap { $0["type"] as? String }) == ["PersonRegistered", "PlacementMade"])
            #expect(items.allSatisfy { Set(($0["data"] as? [String: Any] ?? [:]).keys).isSubset(of: ["name", "unit"]) })
            let recorded = try #require(try await FeedAPITests.disclosures(api, "school").last)
            #expect(recorded.channel == "manual" && recorded.consentPurpose == "school-disclosure" && recorded.events.count == items.count)
            #expect(try await api.storage.accessLog.entries(of: child, in: api.tenant).contains { $0.entry.action == .export })

            // A recipient the tenant file does not list needs a stated legal basis.
            let noBasis = try await api.request(.post, path, token: director, json: ["recipient": "police", "subjects": [child.description], "fields": ["name"]])
            #expect(noBasis.problemCode == "no-legal-basis")
            #expect(try await refusals("police").count == 1)
            let withBasis = try await api.request(.post, path, token: director, json: [
                "recipient": "police", "subjects": [child.description], "fields": ["name"], "legalBasis": "Poliisilaki 872/2011, 4 luku 2 §", "channel": "printed-report",
            ])
            #expect(withBasis.status == .created)
            #expect(try await FeedAPITests.disclosures(api, "police").last?.legalBasis == "Poliisilaki 872/2011, 4 luku 2 §")

            // Protected fields of a person under a non-disclosure order go only to a recipient entitled to them.
            try await api.registry.setNonDisclosure(of: child, to: true, source: .populationRegister, in: api.tenant, by: api.metadata)
            let protected = try await api.request(.post, path, token: director, json: ["recipient": "varda", "subjects": [child.description], "fields": ["homeMunicipality"]])
            #expect(protected.problemCode == "protected-data")
            // A recipient with a feed receives by hand no more than its feed's fields.
            let beyond = try await api.request(.post, path, token: director, json: ["recipient": "varda", "subjects": [child.description], "fields": ["phone"]])
            #expect(beyond.problemCode == "fields-not-covered")

            #expect(try await api.request(.post, path, token: try await api.signIn("staff"), json: ["recipient": "varda", "subjects": [child.description], "fields": ["name"]])
                .status == .forbidden)
            #expect(try await api.request(.post, path, token: director, json: ["recipient": "varda", "subjects": [PersonID.random().description], "fields": ["name"]])
                .status == .notFound)
            #expect(try await api.request(.post, path, token: director, json: ["recipient": "varda", "subjects": [child.description], "fields": ["shoeSize"]])
                .field == "fields[0]")
        }
    }

    @Test("rectification: the notice reaches exactly the partners that received the replaced value, manual recipients are listed for follow-up, refusals keep their explanation",
          arguments: Backend.tested)
    func rectification(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let registry = try await api.signIn("registry")
            let director = try await api.signIn("director")
            let varda = try await FeedAPITests.partnerToken(api, "varda")

            // VARDA received the registered name; then the name changed (VARDA has not read that yet), and the new
            // name went to the police by hand. Correcting the new name concerns the police, not VARDA.
            let (first, guardian) = try await api.placedChild(17)
            var vardaItems = try await FeedAPITests.readAll(api, "varda", token: varda, limit: 100)
            try await api.registry.changeDetails(of: first, PersonDetailsPatch(name: PersonName(first: "Aino-Maria", last: "Virtanen")), source: .client,
                                                 in: api.tenant, by: api.metadata)
            let handed = try await api.request(.post, "/v1/tenants/\(api.tenant)/disclosures", token: director, json: [
                "recipient": "police", "subjects": [first.description], "fields": ["name"], "legalBasis": "Poliisilaki 872/2011, 4 luku 2 §",
            ])
            #expect(handed.status == .created)
            let corrected = try await api.request(.post, "/v1/tenants/\(api.tenant)/people/\(first)/rectifications", token: registry, json: [
                "change": ["name": ["first": "Aina-Maria", "last": "Virtanen"]], "requestedBy": guardian.description, "reason": "Nimi kirjattiin väärin",
            ])
            #expect(corrected.status == .created, "\(corrected.text)")
            #expect((corrected.json["notified"] as? [String]) == [], "VARDA never received the replaced name")
            let followUp = try #require(corrected.json["followUp"] as? [[String: Any]])
            #expect(followUp.map { $0["recipient"] as? String } == ["police"] && followUp.first?["disclosure"] as? Int == handed.json["disclosure"] as? Int)

            // A second child: VARDA received the name that is then corrected, so its feed gets the notice.
            let (second, _) = try await api.placedChild(18)
            vardaItems = try await FeedAPITests.readAll(api, "varda", token: varda, limit: 100)
            let cursor = try #require(vardaItems.last?["cursor"] as? String)
            let notice = try await api.request(.post, "/v1/tenants/\(api.tenant)/people/\(second)/rectifications", token: registry, json: [
                "change": ["name": ["first": "Aina18", "last": "Virtanen"]], "reason": "Väestötietojärjestelmän mukainen nimi",
            ])
            #expect((notice.json["notified"] as? [String]) == ["varda"])
            let next = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?after=\(cursor)", token: varda)
            let items = try #require(next.json["items"] as? [[String: Any]])
            let rectified = try #require(items.first { $0["type"] as? String == "PersonDetailsRectified" && $0["subject"] as? String == second.description })
            #expect(((rectified["data"] as? [String: Any])?["name"] as? [String: Any])?["first"] as? String == "Aina18")
            #expect(try await api.registry.person(second, in: api.tenant).details?.name.first == "Aina18", "the register itself has the correct value")

            // A refused request keeps its written explanation; the requester sees both outcomes and when.
            let refused = try await api.request(.post, "/v1/tenants/\(api.tenant)/people/\(first)/rectifications/refusals", token: registry, json: [
                "fields": ["motherTongue"], "requestedBy": guardian.description, "explanation": "Äidinkieli on väestötietojärjestelmän mukainen.",
            ])
            #expect(refused.status == .noContent)
            let listed = try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(first)/rectifications", token: director)
            let history = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
            #expect(history.map { $0["outcome"] as? String } == ["rectified", "refused"])
            #expect(history.first?["reason"] as? String == "Nimi kirjattiin väärin" && history.last?["explanation"] as? String == "Äidinkieli on väestötietojärjestelmän mukainen.")
            #expect(history.allSatisfy { $0["at"] is String })
            #expect(try await api.request(.post, "/v1/tenants/\(api.tenant)/people/\(first)/rectifications", token: try await api.signIn("staff"), json: [
                "change": ["name": ["first": "X", "last": "Y"]], "reason": "x",
            ]).status == .forbidden)
        }
    }
}
