import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// Partners' feeds over HTTP: cursors, scope, fields, consent, non-disclosure, long polls, and a disclosure recorded
/// for every event that leaves.
@Suite("HTTP API: partner feeds and disclosures")
struct FeedAPITests {
    static func partnerToken(_ api: APIFixture, _ partner: String, tenant: TenantID? = nil) async throws -> String {
        let tenant = tenant ?? api.tenant
        let accounts = Accounts(store: api.storage.store, keyRing: api.storage.keyRing)
        return try await accounts.issueToken(label: "\(partner) integration", roles: [], partner: partner,
                                             configuration: try await api.configuration(tenant), in: tenant, by: api.metadata).token
    }

    /// Every item of a partner's feed from the start, page by page.
    static func readAll(_ api: APIFixture, _ partner: String, token: String, limit: Int = 3) async throws -> [[String: Any]] {
        var items: [[String: Any]] = []
        var after: String?
        for _ in 0..<100 {
            let answer = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/\(partner)?limit=\(limit)" + (after.map { "&after=\($0)" } ?? ""), token: token)
            #expect(answer.status == .ok, "\(answer.text)")
            let page = try #require(answer.json["items"] as? [[String: Any]])
            if page.isEmpty { return items }
            #expect(page.count <= limit)
            items += page
            after = try #require(answer.json["next"] as? String)
        }
        Issue.record("the feed did not end")
        return items
    }

    static func disclosures(_ api: APIFixture, _ partner: String) async throws -> [DataDisclosed] {
        try await api.storage.store.readStream(DisclosureStreams.recipient(partner), of: api.tenant).filter { $0.eventType == DataDisclosed.eventType }
            .map { try JSONDecoder().decode(DataDisclosed.self, from: $0.payload) }
    }

    @Test("a partner pages through its feed; every event that left is in exactly one disclosure with its hash; no other token opens the feed",
          arguments: Backend.tested)
    func pagesAndDisclosures(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (first, _) = try await api.placedChild(1)
            let (second, _) = try await api.placedChild(2)
            let varda = try await Self.partnerToken(api, "varda")
            let items = try await Self.readAll(api, "varda", token: varda)
            let types = items.compactMap { $0["type"] as? String }
            #expect(types.filter { $0 == "PlacementMade" }.count == 2 && types.filter { $0 == "PersonRegistered" }.count == 4)
            let positions = items.compactMap { $0["position"] as? Int }
            #expect(positions == positions.sorted() && Set(positions).count == positions.count, "in log order, each once")
            let allowed = Set(["kind", "identityCode", "name", "birthDate", "homeMunicipality", "motherTongue", "placement", "unit", "arrangement", "start", "end", "serviceNeed"])
            for item in items {
                let keys = Set((item["data"] as? [String: Any] ?? [:]).keys)
                #expect(keys.isSubset(of: allowed), "only VARDA's fields: \(keys)")
            }
            #expect(!items.contains { ($0["data"] as? [String: Any])?["phone"] != nil }, "a field the feed does not list never leaves")
            #expect(Set(items.compactMap { $0["subject"] as? String }).isSuperset(of: [first.description, second.description]))

            // Provenance: every delivered event in exactly one disclosure, with the hash the log holds.
            let disclosures = try await Self.disclosures(api, "varda")
            let disclosed = disclosures.flatMap(\.events)
            #expect(disclosed.map(\.position).sorted() == positions.map(Int64.init).sorted())
            let logged = try await api.storage.store.read(api.tenant, after: .start, through: nil, limit: 10_000, filter: .all)
            for event in disclosed {
                #expect(logged.first { $0.position.rawValue == event.position }?.hash.hex == event.hash)
            }
            #expect(disclosures.allSatisfy { $0.legalBasis == "Varhaiskasvatuslaki 540/2018, 6 luku" && $0.channel == "feed" && $0.recipient == "varda" })

            // Only VARDA's token opens VARDA's feed of this tenant.
            let school = try await Self.partnerToken(api, "school")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda", token: school).status == .notFound)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda", token: try await api.signIn("director")).status == .notFound)
            let otherTenants = try await Self.partnerToken(api, "varda", tenant: api.other)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda", token: otherTenants).status == .notFound)
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(first)", token: varda).status == .forbidden, "a partner token reads feeds only")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?after=garbage", token: varda).field == "after")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?limit=0", token: varda).field == "limit")
            // A token for a partner the configuration does not give a feed is refused at issue, as is one with staff roles too.
            await #expect(throws: DomainError.self) { _ = try await Self.partnerToken(api, "avi") }
            await #expect(throws: DomainError.self) {
                _ = try await Accounts(store: api.storage.store, keyRing: api.storage.keyRing).issueToken(
                    label: "both", roles: [RoleAssignment(role: "director")], partner: "varda", configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
            }
        }
    }

    @Test("consent: the school gets a child's data only while the consent is in force, older events not yet fetched included",
          arguments: Backend.tested)
    func consentGatesDelivery(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (consented, guardian) = try await api.placedChild(3)
            let (other, _) = try await api.placedChild(4)
            try await api.registry.giveConsent("school-disclosure", for: consented, givenBy: guardian, in: api.tenant, by: api.metadata)
            let school = try await Self.partnerToken(api, "school")
            let items = try await Self.readAll(api, "school", token: school)
            #expect(Set(items.compactMap { $0["subject"] as? String }) == [consented.description], "only the child whose guardian consented")
            #expect(!items.contains { $0["subject"] as? String == other.description })

            try await api.registry.withdrawConsent("school-disclosure", for: consented, withdrawnBy: guardian, in: api.tenant, by: api.metadata)
            #expect(try await Self.readAll(api, "school", token: school).isEmpty, "after the withdrawal nothing of the child leaves, not even older events")
        }
    }

    @Test("non-disclosure orders: protected fields never leave to a partner not entitled to them", arguments: Backend.tested)
    func protectedFieldsStay(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            func child(_ seed: Int, protected: Bool) async throws -> PersonID {
                try await api.registry.register(.child, details: PersonDetails(
                    identityCode: IdentityCodes.testCode(seed: seed), name: PersonName(first: "Suojattu\(seed)", last: "Lapsi"),
                    homeMunicipality: try MunicipalityCode("091"), motherTongue: "fi"), nonDisclosure: protected, source: .client, in: api.tenant, by: api.metadata)
            }
            let protectedChild = try await child(5, protected: true)
            let openChild = try await child(6, protected: false)
            let items = try await Self.readAll(api, "varda", token: try await Self.partnerToken(api, "varda"))
            let byChild = Dictionary(grouping: items) { $0["subject"] as? String ?? "" }
            let protectedData = try #require(byChild[protectedChild.description]?.first?["data"] as? [String: Any])
            let openData = try #require(byChild[openChild.description]?.first?["data"] as? [String: Any])
            #expect(protectedData["homeMunicipality"] == nil && protectedData["name"] != nil)
            #expect(openData["homeMunicipality"] as? String == "091")
            // The provenance says the same: what left of each event.
            let disclosed = try await Self.disclosures(api, "varda").flatMap(\.events)
            let protectedFields = try #require(disclosed.first { $0.subject == protectedChild && $0.eventType == "PersonRegistered" }).fields
            #expect(!protectedFields.contains(.homeMunicipality) && protectedFields.contains(.name))
            #expect(try #require(disclosed.first { $0.subject == openChild }).fields.contains(.homeMunicipality))
        }
    }

    @Test("a producer's feed carries only the children placed with it", arguments: Backend.tested)
    func unitScope(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let voucherUnit = "yksityinen-paivakoti-esimerkki"
            let (elsewhere, _) = try await api.placedChild(7)
            let placed = try await api.registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: 8),
                                                                                       name: PersonName(first: "Seteli", last: "Lapsi")),
                                                         source: .client, in: api.tenant, by: api.metadata)
            _ = try await api.registry.place(placed, unit: voucherUnit, arrangement: .serviceVoucher, start: try LocalDate("2026-09-01"), end: nil,
                                             serviceNeed: ServiceNeed(hoursPerWeek: 30), configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
            try await api.registry.recordArrival(of: placed, on: try LocalDate("2026-11-23"), at: try LocalTime("08:00"), unit: voucherUnit,
                                                 in: api.tenant, by: api.metadata)
            let items = try await Self.readAll(api, "voucher-producers", token: try await Self.partnerToken(api, "voucher-producers"), limit: 50)
            #expect(Set(items.compactMap { $0["subject"] as? String }) == [placed.description])
            #expect(!items.contains { $0["subject"] as? String == elsewhere.description })
            #expect(Set(items.compactMap { $0["type"] as? String }) == ["PersonRegistered", "PlacementMade", "ArrivalRecorded"])

            // A child who has moved on from the producer: it gets the time with it, nothing of the time elsewhere.
            let moved = try await api.registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: 21),
                                                                                      name: PersonName(first: "Siirtynyt", last: "Lapsi")),
                                                        source: .client, in: api.tenant, by: api.metadata)
            _ = try await api.registry.place(moved, unit: voucherUnit, arrangement: .serviceVoucher, start: try LocalDate("2026-09-01"), end: try LocalDate("2026-10-31"),
                                             serviceNeed: ServiceNeed(hoursPerWeek: 30), configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
            try await api.registry.recordArrival(of: moved, on: try LocalDate("2026-10-15"), at: try LocalTime("08:00"), unit: voucherUnit,
                                                 in: api.tenant, by: api.metadata)
            _ = try await api.registry.place(moved, unit: APIFixture.unit, arrangement: .municipal, start: try LocalDate("2026-11-01"), end: nil,
                                             serviceNeed: ServiceNeed(hoursPerWeek: 30), configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
            try await api.registry.recordArrival(of: moved, on: try LocalDate("2026-11-23"), at: try LocalTime("08:00"), unit: APIFixture.unit,
                                                 in: api.tenant, by: api.metadata)
            let later = try await Self.readAll(api, "voucher-producers", token: try await Self.partnerToken(api, "voucher-producers"), limit: 50)
            let ofMoved = later.filter { $0["subject"] as? String == moved.description }
            #expect(ofMoved.compactMap { $0["type"] as? String } == ["PlacementMade", "ArrivalRecorded"], "\(ofMoved)")
            #expect(ofMoved.allSatisfy { ($0["data"] as? [String: Any])?["unit"] as? String == voucherUnit })
        }
    }

    @Test("a long poll answers as soon as an event arrives, and a resumed reader loses nothing", arguments: Backend.tested)
    func longPollAndResume(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            _ = try await api.placedChild(9)
            let varda = try await Self.partnerToken(api, "varda")
            let first = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?limit=1000", token: varda)
            let cursor = try #require(first.json["next"] as? String)
            let before = (first.json["items"] as? [[String: Any]])?.count ?? 0
            #expect(before == 3)

            let started = ContinuousClock.now
            async let polled = api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?after=\(cursor)&wait=10", token: varda)
            try await Task.sleep(for: .milliseconds(300))
            let (added, _) = try await api.placedChild(10)
            let answer = try await polled
            let waited = ContinuousClock.now - started
            let items = try #require(answer.json["items"] as? [[String: Any]])
            #expect(!items.isEmpty && items.allSatisfy { ($0["position"] as? Int ?? 0) > 0 })
            #expect(items.contains { $0["subject"] as? String == added.description })
            #expect(waited < .seconds(8), "answered when the event arrived, not at the end of the wait")

            // Resuming from the long poll's cursor loses nothing: the rest of the new child's events follow, once each.
            var seen = items
            var next = try #require(answer.json["next"] as? String)
            for _ in 0..<10 {
                let page = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?after=\(next)", token: varda)
                let pageItems = try #require(page.json["items"] as? [[String: Any]])
                next = try #require(page.json["next"] as? String)
                if pageItems.isEmpty { break }
                seen += pageItems
            }
            #expect(seen.filter { $0["subject"] as? String == added.description }.compactMap { $0["type"] as? String }.sorted() == ["PersonRegistered", "PlacementMade"])
            let positions = seen.compactMap { $0["position"] as? Int }
            #expect(Set(positions).count == positions.count && positions == positions.sorted())
            let quiet = ContinuousClock.now
            let empty = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?after=\(next)&wait=1", token: varda)
            #expect((empty.json["items"] as? [[String: Any]])?.isEmpty == true, "a long poll with nothing new ends empty after its wait")
            #expect(ContinuousClock.now - quiet >= .milliseconds(900))
        }
    }
}

extension FeedAPITests {
    /// The events of a Server-Sent Events body: (id, event, data) per event; comment lines left out.
    static func events(_ text: String) -> [(id: String, event: String, data: [String: Any])] {
        text.components(separatedBy: "\n\n").compactMap { block in
            var id: String?, event: String?, data: [String: Any]?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] }
            }
            guard let id, let event, let data else { return nil }
            return (id, event, data)
        }
    }

    @Test("the feed as Server-Sent Events: items as events with their cursors as ids, live arrivals, resumable with Last-Event-ID",
          arguments: Backend.tested)
    func serverSentEvents(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            _ = try await api.placedChild(11)
            let varda = try await Self.partnerToken(api, "varda")
            let sse: HTTPFields = [.accept: "text/event-stream"]

            // The stream stays open for `wait` seconds; a child placed meanwhile arrives on it (at least its first event:
            // on a loaded machine the rest may come after the server has ended the stream).
            let path = "/v1/tenants/\(api.tenant)/feeds/varda?wait=3"
            async let streamed = api.request(.get, path, token: varda, headers: sse)
            try await Task.sleep(for: .milliseconds(300))
            let (added, _) = try await api.placedChild(12)
            let answer = try await streamed
            #expect(answer.status == .ok)
            #expect(answer.contentType == "text/event-stream")
            #expect(answer.text.hasPrefix(": varda feed"), "a comment opens the stream")
            let live = Self.events(answer.text)
            #expect(live.contains { $0.data["subject"] as? String == added.description }, "an event appended while the stream was open arrived on it")
            #expect(live.allSatisfy { $0.data["cursor"] as? String == $0.id })

            // Reconnecting with Last-Event-ID continues after that event: together, every event once, in order.
            var resume = sse
            resume[FeedAPITests.lastEventID] = try #require(live.last).id
            let rest = Self.events(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?wait=1", token: varda, headers: resume).text)
            let events = live + rest
            #expect(events.count == 6, "three events of each child: \(events.map(\.event))")
            #expect(Set(events.map(\.id)).count == events.count)
            #expect(events.contains { $0.data["subject"] as? String == added.description && $0.event == "PlacementMade" })
            resume[FeedAPITests.lastEventID] = events[3].id
            let resumed = Self.events(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?wait=1", token: varda, headers: resume).text)
            #expect(resumed.map(\.id) == events.dropFirst(4).map(\.id))
            resume[FeedAPITests.lastEventID] = "not-a-cursor"
            #expect(try await api.request(.get, path, token: varda, headers: resume).status == .badRequest)

            // What was streamed was disclosed, each delivery once.
            let disclosed = try await Self.disclosures(api, "varda").flatMap(\.events).map(\.position)
            let streamedPositions = (events + resumed).compactMap { ($0.data["position"] as? Int).map(Int64.init) }
            #expect(disclosed.sorted() == streamedPositions.sorted())
        }
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}


extension FeedAPITests {
    @Test("Kela's feed carries care relationships as VARDA reports them: started, fixed-term, ended, and corrections with the original end",
          arguments: Backend.tested)
    func careRelationships(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, _) = try await api.placedChild(19)     // placed 2026-08-01 – 2027-07-31: fixed-term
            let placement = try #require(try await api.registry.person(child, in: api.tenant).placements.first).id
            try await api.registry.endPlacement(placement, of: child, on: try LocalDate("2027-05-31"), in: api.tenant, by: api.metadata)
            try await api.registry.endPlacement(placement, of: child, on: try LocalDate("2027-06-15"), in: api.tenant, by: api.metadata)
            let open = try await api.registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: 20),
                                                                                     name: PersonName(first: "Avoin", last: "Lapsi")),
                                                       source: .client, in: api.tenant, by: api.metadata)
            let openPlacement = try await api.registry.place(open, unit: APIFixture.unit, arrangement: .municipal, start: try LocalDate("2026-09-01"), end: nil,
                                                             serviceNeed: ServiceNeed(hoursPerWeek: 30), configuration: try await api.configuration(),
                                                             in: api.tenant, by: api.metadata)
            try await api.registry.endPlacement(openPlacement, of: open, on: try LocalDate("2026-12-31"), in: api.tenant, by: api.metadata)

            let items = try await Self.readAll(api, "kela", token: try await Self.partnerToken(api, "kela"), limit: 100)
            #expect(items.allSatisfy { $0["type"] as? String == "CareRelationship" })
            let records = items.map { ($0["subject"] as? String ?? "", $0["data"] as? [String: Any] ?? [:]) }
            let first = records.filter { $0.0 == child.description }.map(\.1)
            #expect(first.map { $0["record"] as? String } == ["fixed-term", "correction", "correction"])
            #expect(first[1]["originalEnd"] as? String == "2027-07-31" && first[1]["end"] as? String == "2027-05-31")
            #expect(first[2]["originalEnd"] as? String == "2027-05-31" && first[2]["end"] as? String == "2027-06-15")
            #expect(first.allSatisfy { $0["identityCode"] as? String == IdentityCodes.testCode(seed: 19) && $0["start"] as? String == "2026-08-01" })
            let second = records.filter { $0.0 == open.description }.map(\.1)
            #expect(second.map { $0["record"] as? String } == ["started", "ended"])
            #expect(second.last?["end"] as? String == "2026-12-31" && second.last?["originalEnd"] == nil)
            #expect(records.allSatisfy { $0.1["name"] == nil }, "only the fields the feed lists")
            // The record names the placement events and the events the child's identity came from.
            let disclosed = try await Self.disclosures(api, "kela").flatMap(\.events)
            #expect(Set(items.compactMap { ($0["position"] as? Int).map(Int64.init) }).isSubset(of: Set(disclosed.map(\.position))))
            #expect(disclosed.contains { $0.subject == child && $0.eventType == "PersonRegistered" && $0.fields.contains(.identityCode) })
        }
    }
}

extension FeedAPITests {
    @Test("a revoked partner token ends its open event stream within seconds", arguments: [Backend.sqlite])
    func revocationEndsStream(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            _ = try await api.placedChild(22)
            let accounts = Accounts(store: api.storage.store, keyRing: api.storage.keyRing)
            let (id, token) = try await accounts.issueToken(label: "varda", roles: [], partner: "varda", configuration: try await api.configuration(),
                                                            in: api.tenant, by: api.metadata)
            let started = ContinuousClock.now
            async let streamed = api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?wait=20", token: token, headers: [.accept: "text/event-stream"])
            try await Task.sleep(for: .milliseconds(300))
            try await accounts.revokeToken(id, in: api.tenant, by: api.metadata)
            let answer = try await streamed
            #expect(Self.events(answer.text).count == 3, "what arrived before the revocation")
            #expect(ContinuousClock.now - started < .seconds(12), "the stream ended soon after the revocation, not after 20 s")
        }
    }

    @Test("the statistics extract: one item of counts per closed period, resumable, no person in it and no disclosure", arguments: Backend.tested)
    func statisticsExtract(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            for seed in 31...33 { _ = try await api.placedChild(seed) }
            let thl = try await Self.partnerToken(api, "thl"), statisticsFinland = try await Self.partnerToken(api, "statistics-finland")
            try await api.projectionsCaughtUp()
            // THL: a month per item from January 2026; the clock says 2026-11-24, so January to October have ended.
            var items: [[String: Any]] = []
            var after: String?
            var pages = 0
            while true {
                let answer = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/thl?limit=4" + (after.map { "&after=\($0)" } ?? ""), token: thl)
                #expect(answer.status == .ok, "\(answer.text)")
                let page = try #require(answer.json["items"] as? [[String: Any]])
                after = try #require(answer.json["next"] as? String)
                pages += 1
                if page.isEmpty || pages > 10 { break }
                items += page
            }
            let periods = items.compactMap { ($0["data"] as? [String: Any])?["period"] as? String }
            #expect(periods == (1...10).map { String(format: "2026-%02d", $0) }, "each ended month once, in order; November has not ended")
            #expect(items.allSatisfy { $0["type"] as? String == "StatisticsExtract" && $0["subject"] == nil }, "counts, about no one")
            func counts(_ period: String) -> [String: Any] {
                items.first { ($0["data"] as? [String: Any])?["period"] as? String == period }?["data"] as? [String: Any] ?? [:]
            }
            #expect(counts("2026-07")["children"] as? Int == 0)
            #expect(counts("2026-08")["children"] as? Int == 3 && counts("2026-08")["placementsStarted"] as? Int == 3)
            #expect(counts("2026-10")["children"] as? Int == 3 && counts("2026-10")["placementsStarted"] as? Int == 0)
            #expect((counts("2026-10")["byArrangement"] as? [String: Any])?["municipal"] as? Int == 3)
            #expect(!items.contains { String(describing: $0).contains("Virtanen") }, "no name, no identity code")

            // Resumable from any item's cursor; a cursor of another kind is refused.
            let eighth = try #require(items[7]["cursor"] as? String)
            let resumed = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/thl?after=\(eighth)", token: thl)
            #expect((resumed.json["items"] as? [[String: Any]])?.compactMap { ($0["data"] as? [String: Any])?["period"] as? String } == ["2026-09", "2026-10"])
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/thl?after=\(FeedCursor(.start).text)", token: thl).field == "after")

            // Statistics Finland: a year per item from 2024.
            let yearly = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/statistics-finland", token: statisticsFinland)
            #expect((yearly.json["items"] as? [[String: Any]])?.compactMap { ($0["data"] as? [String: Any])?["period"] as? String } == ["2024", "2025"])
            let recorded = try await Self.disclosures(api, "thl") + Self.disclosures(api, "statistics-finland")
            #expect(recorded.isEmpty, "counts are not personal data: no disclosure is recorded")
        }
    }

    @Test("a partner holds at most four feed requests at once: a fifth long poll is refused with 429, a fifth stream ends at once")
    func partnerConnectionLimit() async throws {
        try await APIFixture.with(.sqlite) { api in
            _ = try await api.placedChild(51)
            let varda = try await Self.partnerToken(api, "varda")
            let first = try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/varda?limit=1000", token: varda)
            let head = try #require(first.json["next"] as? String)
            let path = "/v1/tenants/\(api.tenant)/feeds/varda?after=\(head)&wait=4"
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<FeedConnections.limit {
                    group.addTask { try await api.request(.get, path, token: varda).status }
                }
                try await Task.sleep(for: .milliseconds(700))
                let refused = try await api.request(.get, path, token: varda)
                #expect(refused.status == .tooManyRequests && refused.problemCode == "too-many-requests", "\(refused.text)")
                let stream = try await api.request(.get, path, token: varda, headers: [.accept: "text/event-stream"])
                #expect(stream.text.contains("too many open feed requests") && stream.text.contains("retry: 60000"))
                // Another partner is not affected.
                #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/feeds/kela", token: try await Self.partnerToken(api, "kela")).status == .ok)
                for try await status in group { #expect(status == .ok) }
            }
            #expect(try await api.request(.get, path.replacingOccurrences(of: "wait=4", with: "wait=0"), token: varda).status == .ok, "places are given back")
        }
    }
}
