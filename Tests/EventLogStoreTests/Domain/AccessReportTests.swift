import EventLog
import Foundation
import PropertyBased
import Register
import Testing

/// The material of a subject access report on generated histories: every event about the person and nothing about
/// anyone else (another person's sealed fields are never opened).
@Suite("Access reports: what a person's report is made of")
struct AccessReportTests {
    @Test("for generated histories, a person's events are exactly those naming them, their own fields opened and no one else's",
          arguments: StoreKind.tested)
    func eventsAboutAPerson(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            await propertyCheck(count: kind == .sqlite ? 6 : 3, input: Gen.int(in: 0...1_000_000).array(of: 20...60)) { operations in
                do {
                    let tenant = Events.tenant()
                    let configuration = try ProjectionEngineTests.configuration(tenant)
                    var generator = HistoryGenerator(registry: registry, tenant: tenant, configuration: configuration, seed: operations.first ?? 0)
                    for operation in operations { try await generator.run(operation) }
                    let log = try await fixture.store.read(tenant, after: .start, through: nil, limit: 100_000, filter: .all)
                    var names: [PersonID: String] = [:]
                    for person in generator.children + generator.guardians {
                        names[person] = try await registry.person(person, in: tenant).details?.name.first
                    }
                    for person in generator.children + generator.guardians {
                        let about = try await registry.events(about: person, in: tenant)
                        #expect(about.map(\.position) == log.filter { $0.subjects.contains(person) }.map(\.position), "every event naming the person, in order")
                        let record = try await registry.person(person, in: tenant)
                        for event in about {
                            let opened = try await fixture.keyRing.openedPayload(of: event, for: person)
                            let text = String(decoding: try JSONEncoder().encode(opened), as: UTF8.self)
                            #expect(!text.contains("$sealed"), "every sealed field is opened or marked, none left as stored")
                            if event.eventType == "PersonRegistered", let name = record.details?.name {
                                #expect(text.contains(name.first) && text.contains(name.last), "the person's own fields, opened")
                            }
                            // Another person's sealed field is marked, never opened: their names never appear.
                            for (other, name) in names where other != person && name != record.details?.name.first {
                                #expect(!text.contains("\"\(name)\""), "\(other)'s data does not appear in \(person)'s report")
                            }
                        }
                    }
                } catch {
                    Issue.record("\(error)")
                }
            }
        }
    }
}
