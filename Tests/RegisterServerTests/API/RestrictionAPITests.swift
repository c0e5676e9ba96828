import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Restriction of processing (O21), end to end: kept but not processed — no reads but by the roles that handle
/// subjects' requests, no changes, no feed deliveries, no hand-overs — and every output shows it; lifted, all returns.
@Suite("HTTP API: restriction of processing")
struct RestrictionAPITests {
    /// Reads a feed on from `after` to its end, `limit` items a page: the items and the cursor to go on from.
    static func readOn(_ api: APIFixture, _ partner: String, token: String, after start: String?, limit: Int) async throws -> (items: [[String: Any]], next: String?) {
        var items: [[String: Any]] = []
        var after = start
        for _ in 0..<200 {
            let answer = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/\(partner)?limit=\(limit)" + (after.map { "&after=\($0)" } ?? ""), token: token)
            #expect(answer.status == .ok, "\(answer.text)")
            let page = try #require(answer.json["items"] as? [[String: Any]])
            #expect(page.count <= limit)
            items += page
            after = answer.json["next"] as? String
            if page.isEmpty { return (items, after) }
        }
        Issue.record("the feed did not end")
        return (items, after)
    }

    @Test("a restricted person's data is kept but not read, changed or disclosed, and every output shows the restriction", arguments: Backend.tested)
    func restriction(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(61)
            let (other, _) = try await api.placedChild(62)
            let dpo = try await api.signIn("dpo"), director = try await api.signIn("director"), staff = try await api.signIn("staff")
            let path = "/v1/tenants/\(api.tenant)/people/\(child)/restriction"
            #expect(try await api.request(.post, path, token: director, json: ["grounds": "accuracy-contested", "reason": "x"]).status == .forbidden,
                    "only the roles that handle subjects' requests restrict")
            #expect(try await api.request(.post, path, token: dpo, json: ["grounds": "because", "reason": "x"]).status == .badRequest)
            let restricted = try await api.request(.post, path, token: dpo, json: ["grounds": "accuracy-contested", "reason": "Kiistää osoitteen 4711"])
            #expect(restricted.status == .created, "\(restricted.text)")
            #expect(try await api.request(.post, path, token: dpo, json: ["grounds": "objection", "reason": "again"]).status == .created, "again: no change")
            let stream = try await api.storage.store.readStream(RestrictionStreams.all, of: api.tenant)
            #expect(stream.count == 1 && !String(decoding: stream[0].payload, as: UTF8.self).contains("4711"), "recorded once, the reason sealed")

            // Not read: the person and the child's views answer 403 `restricted`; lists show the restriction, not the data.
            let before = try await api.heads()
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)", token: director).problemCode == "restricted")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: staff).problemCode == "restricted")
            try await api.projectionsCaughtUp()
            let roster = try await api.request(.get, "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/roster?date=2026-11-24", token: staff)
            let entries = try #require(roster.json["children"] as? [[String: Any]])
            let entry = try #require(entries.first { ($0["child"] as? [String: Any])?["id"] as? String == child.description })
            let shown = try #require(entry["child"] as? [String: Any])
            #expect(shown["details"] == nil && (shown["restriction"] as? [String: Any])?["grounds"] as? String == "accuracy-contested")
            #expect(!roster.text.contains("Aino61") && roster.text.contains("Aino62"), "only the restricted child's data is held back")
            let attendance = try await api.request(.get, "/v1/tenants/\(api.tenant)/units/\(APIFixture.unit)/attendance?month=2026-11", token: staff)
            #expect((attendance.json["children"] as? [[String: Any]] ?? []).contains { $0["child"] as? String == child.description && $0["restricted"] as? Bool == true })

            // Not changed.
            #expect(try await api.request(.patch, "/v1/tenants/\(api.tenant)/people/\(child)", token: try await api.signIn("registry"), json: ["phone": "040 1"])
                .problemCode == "restricted")
            await #expect(throws: DomainError.self) {
                try await api.registry.bookCareTime(for: child, on: try LocalDate("2026-11-25"), from: try LocalTime(minutes: 480), to: try LocalTime(minutes: 960),
                                                    in: api.tenant, by: api.metadata)
            }
            await #expect(throws: DomainError.self) {
                try await api.registry.giveConsent("photo-permission", for: child, givenBy: guardian, in: api.tenant, by: api.metadata)
            }
            #expect(try await api.heads()[0] == before[0], "nothing of the child changed")

            // Not disclosed: the feed leaves the child out, older events included; a hand-over is refused and recorded.
            let varda = try await FeedAPITests.partnerToken(api, "varda")
            let (items, passed) = try await Self.readOn(api, "varda", token: varda, after: nil, limit: 1_000)
            #expect(!items.contains { $0["subject"] as? String == child.description } && items.contains { $0["subject"] as? String == other.description })
            #expect(try await api.storage.store.readStream(FeedItemsHeld.stream(recipient: "varda", person: child), of: api.tenant).count == 1,
                    "what the feed passed over is recorded")
            let handOver = try await api.request(.post, "/v1/tenants/\(api.tenant)/disclosures", token: director,
                                                 json: ["recipient": "varda", "subjects": [child.description], "fields": ["name"]])
            #expect(handOver.status == .unprocessableContent && handOver.problemCode == "restricted", "\(handOver.text)")
            let refusals = try await api.storage.store.readStream(DisclosureStreams.recipient("varda"), of: api.tenant)
                .filter { $0.eventType == DisclosureRefused.eventType }.map { try JSONDecoder().decode(DisclosureRefused.self, from: $0.payload) }
            #expect(refusals.last?.reason == "restricted" && refusals.last?.subjects == [child], "the refusal is recorded")

            // The subject's access report shows it.
            let report = try await api.request(.post, "/v1/tenants/\(api.tenant)/access-reports", token: dpo, json: ["person": child.description])
            #expect(((report.json["person"] as? [String: Any])?["restriction"] as? [String: Any])?["grounds"] as? String == "accuracy-contested")

            // Lifted: all returns.
            #expect(try await api.request(.delete, path, token: dpo, json: ["reason": "Osoite tarkistettu"]).status == .noContent)
            #expect(try await api.request(.delete, path, token: dpo, json: ["reason": "again"]).status == .notFound)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)", token: director).status == .ok)
            // The partner goes on from where it was: the lift releases what its feed passed over, each event once (a
            // page at a time, resuming inside the release), with the events' own positions, and recorded as disclosed.
            let lift = try #require(try await api.storage.store.readStream(RestrictionStreams.all, of: api.tenant).last).position
            let (released, end) = try await Self.readOn(api, "varda", token: varda, after: passed, limit: 1)
            let positions = released.compactMap { $0["position"] as? Int }
            #expect(released.count >= 2 && released.allSatisfy { $0["subject"] as? String == child.description })
            #expect(positions == positions.sorted() && Set(positions).count == positions.count && positions.allSatisfy { $0 < lift.rawValue })
            let fresh = try await FeedAPITests.readAll(api, "varda", token: varda, limit: 1_000)
            #expect(fresh.contains { $0["subject"] as? String == child.description }, "read again from the start, the feed carries the child")
            let childPositions = fresh.filter { $0["subject"] as? String == child.description }.compactMap { $0["position"] as? Int }.filter { $0 < lift.rawValue }
            #expect(Set(positions) == Set(childPositions), "exactly the child's events the feed had passed over")
            let delivered = try await FeedAPITests.disclosures(api, "varda").flatMap(\.events).filter { $0.subject == child }.map { Int($0.position) }
            #expect(Set(positions).isSubset(of: Set(delivered)))
            #expect(try await Self.readOn(api, "varda", token: varda, after: end, limit: 1).items.isEmpty, "and then nothing more")
            try await api.registry.giveConsent("photo-permission", for: child, givenBy: guardian, in: api.tenant, by: api.metadata)
        }
    }

    @Test("a partner behind the restriction gets the person's held and later events at the lift, complete and in log order", arguments: Backend.tested)
    func lagging(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(71)
            let (other, _) = try await api.placedChild(72)
            try await api.registry.changeDetails(of: child, PersonDetailsPatch(motherTongue: "sv"), source: .populationRegister, in: api.tenant, by: api.metadata)
            let stream = try await api.storage.store.readStream(RegisterStreams.person(child), of: api.tenant)
            let wanted = stream.filter { [PlacementMade.eventType, PersonDetailsChanged.eventType].contains($0.eventType) }.map { Int($0.position.rawValue) }
            #expect(wanted.count == 2)
            let varda = try await FeedAPITests.partnerToken(api, "varda")
            let dpo = try await api.signIn("dpo")
            let path = "/v1/tenants/\(api.tenant)/people/\(child)/restriction"
            func page(after: String?) async throws -> (item: [String: Any]?, next: String?) {
                let answer = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?limit=1" + (after.map { "&after=\($0)" } ?? ""), token: varda)
                return ((answer.json["items"] as? [[String: Any]])?.first, answer.json["next"] as? String)
            }
            // The partner has the child's registration, then the restriction comes; it reads on, passing over the
            // child's placement, up to the other child's registration — before the child's change of mother tongue.
            var cursor: String?
            while true {
                let (item, next) = try await page(after: cursor)
                cursor = next
                if try #require(item)["subject"] as? String == child.description { break }
            }
            #expect(try await api.request(.post, path, token: dpo, json: ["grounds": "objection", "reason": "x"]).status == .created)
            while true {
                let (item, next) = try await page(after: cursor)
                cursor = next
                #expect(item?["subject"] as? String != child.description)
                if try #require(item)["subject"] as? String == other.description { break }
            }
            #expect(try await api.request(.delete, path, token: dpo, json: ["reason": "y"]).status == .noContent)
            // Read on: the change of mother tongue comes after the placement, both at the lift, once each.
            let (rest, _) = try await Self.readOn(api, "varda", token: varda, after: cursor, limit: 1)
            let positions = rest.filter { $0["subject"] as? String == child.description }.compactMap { $0["position"] as? Int }
            #expect(positions == wanted, "\(positions) ≠ \(wanted)")
        }
    }
}
