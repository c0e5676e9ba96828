import EventLog
import Foundation
import PropertyBased
import Register
import TestSupport
import Testing

/// Partner feeds on generated histories, on both stores: every event delivered is in exactly one disclosure with its
/// hash, and nothing outside a partner's event types, fields, scope, consent or non-disclosure rules ever leaves.
@Suite("Feeds: what leaves, and its provenance")
struct FeedReaderTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "token:test", role: "partner"))

    @Test("for generated histories, each partner gets only what its definition allows, and every delivered event is disclosed once with its hash",
          arguments: StoreKind.tested)
    func feedsOnGeneratedHistories(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let delivered = ["varda": Counter(), "school": Counter(), "voucher-producers": Counter()]
            await propertyCheck(count: kind == .sqlite ? 8 : 4, input: Gen.int(in: 0...1_000_000).array(of: 30...90), Gen.int(in: 1...9)) { operations, limit in
                do {
                    let tenant = Events.tenant()
                    let configuration = try ProjectionEngineTests.configuration(tenant)
                    var generator = HistoryGenerator(registry: registry, tenant: tenant, configuration: configuration, seed: operations.first ?? 0)
                    // Two children, a guardian, a voucher placement (operation 32 places in the private daycare) and a
                    // consent to the school (operation 21) first, so that every partner has something to receive in
                    // (nearly) every sample: without the consent, about one run in ten gave the school nothing at all
                    // across PostgreSQL's four samples.
                    for operation in [0, 0, 1, 32, 21] + operations { try await generator.run(operation) }
                    let reader = FeedReader(registry: registry)
                    for partnerID in ["varda", "school", "voucher-producers"] {
                        let partner = try #require(FeedReader.Partner(partnerID, in: configuration))
                        let feed = partner.feed
                        var cursor = FeedCursor(.start)
                        var items: [FeedItem] = []
                        for _ in 0..<1_000 {
                            let page = try await reader.page(for: partner, after: cursor, limit: limit, in: tenant, by: Self.metadata)
                            #expect(page.items.count <= limit)
                            items += page.items
                            cursor = page.next
                            if page.items.isEmpty { break }
                        }
                        delivered[partnerID]?.add(items.count)
                        let positions = items.map(\.position)
                        #expect(positions == positions.sorted() && Set(positions).count == positions.count, "\(partnerID): in log order, each once")

                        // Provenance: exactly the delivered events, once each, with the log's hashes and the fields that left.
                        let disclosures = try await fixture.store.readStream(DisclosureStreams.recipient(partnerID), of: tenant)
                            .map { try JSONDecoder().decode(DataDisclosed.self, from: $0.payload) }
                        let disclosed = disclosures.flatMap(\.events)
                        #expect(disclosed.map(\.position).sorted() == positions.sorted(), "\(partnerID): every delivered event disclosed exactly once")
                        let logged = Dictionary(uniqueKeysWithValues: try await fixture.store.read(tenant, after: .start, through: nil, limit: 100_000, filter: .all)
                            .map { ($0.position.rawValue, $0) })
                        for event in disclosed {
                            #expect(logged[event.position]?.hash.hex == event.hash, "\(partnerID): the disclosure names the event the log holds")
                            let item = items.first { $0.position == event.position }
                            #expect(Set(event.fields.map(\.rawValue)) == Set(item?.data.keys ?? [:].keys), "\(partnerID): the fields that left are the fields recorded")
                        }

                        // Nothing outside the definition, the scope, the consent or a non-disclosure order.
                        let allowedFields = Set(feed.fields.map(\.rawValue))
                        for item in items {
                            // Rectifications follow the details a feed carries (docs/feeds.md).
                            let carriesDetails = feed.events.contains("PersonRegistered") || feed.events.contains("PersonDetailsChanged")
                            #expect(feed.events.contains(item.type) || (item.type == "PersonDetailsRectified" && carriesDetails),
                                    "\(partnerID): \(item.type) is not in its feed")
                            #expect(Set(item.data.keys).isSubset(of: allowedFields), "\(partnerID): fields beyond its definition")
                            let record = try await registry.person(try PersonID(try #require(item.subject, "an event feed item names its subject")), in: tenant)
                            if let units = feed.units {
                                #expect(record.kind == .child && record.placements.contains { units.contains($0.unit) }, "\(partnerID): a subject outside its units")
                            }
                            if let purpose = feed.consentPurpose {
                                #expect(record.consents[purpose]?.inForce == true, "\(partnerID): a subject without consent")
                            }
                            if record.nonDisclosure && feed.protectedData != true {
                                #expect(Set(item.data.keys).isDisjoint(with: FeedField.protected.map(\.rawValue)), "\(partnerID): protected fields left")
                            }
                        }
                    }
                } catch {
                    Issue.record("the history failed: \(error)")
                }
            }
            for (partner, count) in delivered {
                #expect(count.value > 0, "the generated histories gave \(partner) something to receive")
            }
        }
    }
}
