import EventLog
import Foundation
import Register
import TestSupport
import Testing

/// The register's commands on real stores: every rule with its error, and nothing written when a rule refuses.
@Suite("Register domain: people, placements, attendance, consents")
struct RegistryTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Tenants").standardized
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-director", role: "director"))
    static let today = try! LocalDate("2026-11-24")
    static let clock: @Sendable () -> Date = { ISO8601DateFormatter().date(from: "2026-11-24T10:00:00Z")! }

    /// The demo municipality's configuration, under a fresh tenant id.
    static func configuration(_ tenant: TenantID) throws -> TenantConfiguration {
        var configuration = try TenantFile.load(tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
        configuration.id = tenant
        return configuration
    }

    static let unit = "paivakoti-esimerkki", otherUnit = "perhepaivahoito-esimerkki"

    static func child(_ seed: Int, name: String = "Aino") -> PersonDetails {
        PersonDetails(identityCode: IdentityCodes.testCode(seed: seed), name: PersonName(first: name, last: "Virtanen"),
                      address: PostalAddress(street: "Kotikatu 1", postalCode: "99999", city: "Esimerkkilä"),
                      homeMunicipality: try! MunicipalityCode("049"), motherTongue: "fi", serviceLanguage: "fi")
    }

    static func guardian(_ seed: Int) -> PersonDetails {
        PersonDetails(identityCode: "010190-900P", name: PersonName(first: "Maija", last: "Virtanen"), phone: "+358 40 123 4567", email: "maija@example.fi")
    }

    func with(_ kind: StoreKind, _ body: (Registry, TenantID, TenantConfiguration, StoreFixture) async throws -> Void) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            try await body(Registry(store: fixture.store, keyRing: fixture.keyRing, now: Self.clock), tenant, try Self.configuration(tenant), fixture)
        }
    }

    func expectRefusal(_ code: String, field: String? = nil, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code), but the command succeeded")
        } catch let error as DomainError {
            #expect(error.code == code, "\(error)")
            if let field { #expect(error.field == field, "\(error)") }
        } catch {
            Issue.record("expected \(code), got \(error)")
        }
    }

    @Test("a person is registered with sealed details that read back; the same identity code twice is refused", arguments: StoreKind.tested)
    func registerPeople(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, _, fixture in
            let child = try await registry.register(.child, details: Self.child(1), source: .client, in: tenant, by: Self.metadata)
            let record = try await registry.person(child, in: tenant)
            #expect(record.kind == .child)
            #expect(record.details?.name == PersonName(first: "Aino", last: "Virtanen"))
            #expect(try record.details?.birthDate == IdentityCode(IdentityCodes.testCode(seed: 1)).birthLocalDate, "the birth date comes from the identity code")
            #expect(try await registry.person(withIdentityCode: IdentityCodes.testCode(seed: 1).lowercased(), in: tenant) == child)

            let head = try await fixture.store.head(of: tenant)
            await expectRefusal("person-exists", field: "details.identityCode") {
                _ = try await registry.register(.child, details: Self.child(1, name: "Toinen"), source: .client, in: tenant, by: Self.metadata)
            }
            var wrong = Self.child(2)
            wrong.identityCode = "010101A900S"
            await expectRefusal("invalid-field", field: "details.identityCode") {
                _ = try await registry.register(.child, details: wrong, source: .client, in: tenant, by: Self.metadata)
            }
            var noBirth = Self.child(3)
            noBirth.identityCode = nil
            await expectRefusal("invalid-field", field: "details.birthDate") {
                _ = try await registry.register(.child, details: noBirth, source: .client, in: tenant, by: Self.metadata)
            }
            var badPhone = Self.guardian(0)
            badPhone.phone = "'; DROP TABLE events; --"
            await expectRefusal("invalid-field", field: "details.phone") {
                _ = try await registry.register(.guardian, details: badPhone, source: .client, in: tenant, by: Self.metadata)
            }
            #expect(try await fixture.store.head(of: tenant) == head, "refused registrations write nothing")

            let elsewhere = Events.tenant()
            await expectRefusal("not-found") { _ = try await registry.person(child, in: elsewhere) }
        }
    }

    @Test("details change, and a non-disclosure order is recorded with its source", arguments: StoreKind.tested)
    func changeDetails(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, _, fixture in
            let child = try await registry.register(.child, details: Self.child(4), source: .client, in: tenant, by: Self.metadata)
            try await registry.changeDetails(of: child, PersonDetailsPatch(address: PostalAddress(street: "Uusi katu 3", postalCode: "08100", city: "Lohja"),
                                                                            cleared: [.serviceLanguage]),
                                             source: .populationRegister, in: tenant, by: Self.metadata)
            try await registry.setNonDisclosure(of: child, to: true, source: .populationRegister, in: tenant, by: Self.metadata)
            let record = try await registry.person(child, in: tenant)
            #expect(record.details?.address?.street == "Uusi katu 3")
            #expect(record.details?.serviceLanguage == nil)
            #expect(record.details?.motherTongue == "fi")
            #expect(record.nonDisclosure)
            let events = try await fixture.store.readStream(RegisterStreams.person(child), of: tenant)
            #expect(events.map(\.eventType) == ["PersonRegistered", "PersonDetailsChanged", "NonDisclosureChanged"])
            #expect(String(decoding: events[1].payload, as: UTF8.self).contains("\"population-register\""), "the change names its source")
            #expect(!String(decoding: events[1].payload, as: UTF8.self).contains("Uusi katu"), "the new address is sealed")
            await expectRefusal("invalid-field", field: "address.postalCode") {
                try await registry.changeDetails(of: child, PersonDetailsPatch(address: PostalAddress(street: "x", postalCode: "1", city: "y")),
                                                 source: .staff, in: tenant, by: Self.metadata)
            }
        }
    }

    @Test("placements: end on or after start, no overlap, a unit of the tenant offering the arrangement, children only", arguments: StoreKind.tested)
    func placements(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, configuration, fixture in
            let child = try await registry.register(.child, details: Self.child(5), source: .client, in: tenant, by: Self.metadata)
            let guardian = try await registry.register(.guardian, details: Self.guardian(5), source: .client, in: tenant, by: Self.metadata)
            let need = ServiceNeed(hoursPerWeek: 35)
            let first = try await registry.place(child, unit: Self.unit, arrangement: .municipal, start: try LocalDate("2026-08-01"), end: try LocalDate("2026-12-31"),
                                                 serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            let head = try await fixture.store.head(of: tenant)
            await expectRefusal("placement-overlaps", field: "start") {
                _ = try await registry.place(child, unit: Self.otherUnit, arrangement: .municipal, start: try LocalDate("2026-12-31"), end: nil,
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("placement-dates", field: "end") {
                _ = try await registry.place(child, unit: Self.otherUnit, arrangement: .municipal, start: try LocalDate("2027-03-01"), end: try LocalDate("2027-02-28"),
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("unknown-unit", field: "unit") {
                _ = try await registry.place(child, unit: "../../etc/passwd", arrangement: .municipal, start: try LocalDate("2027-01-01"), end: nil,
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("arrangement-not-offered", field: "arrangement") {
                _ = try await registry.place(child, unit: Self.unit, arrangement: .serviceVoucher, start: try LocalDate("2027-01-01"), end: nil,
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("not-a-child") {
                _ = try await registry.place(guardian, unit: Self.unit, arrangement: .municipal, start: try LocalDate("2027-01-01"), end: nil,
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("not-found") {
                _ = try await registry.place(.random(), unit: Self.unit, arrangement: .municipal, start: try LocalDate("2027-01-01"), end: nil,
                                             serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            }
            await expectRefusal("invalid-field", field: "serviceNeed.hoursPerWeek") {
                _ = try await registry.place(child, unit: Self.unit, arrangement: .municipal, start: try LocalDate("2027-01-01"), end: nil,
                                             serviceNeed: ServiceNeed(hoursPerWeek: 0), configuration: configuration, in: tenant, by: Self.metadata)
            }
            #expect(try await fixture.store.head(of: tenant) == head, "refused placements write nothing")

            let second = try await registry.place(child, unit: Self.otherUnit, arrangement: .municipal, start: try LocalDate("2027-01-01"), end: nil,
                                                  serviceNeed: need, configuration: configuration, in: tenant, by: Self.metadata)
            await expectRefusal("placement-overlaps", field: "end") {
                try await registry.endPlacement(first, of: child, on: try LocalDate("2027-01-15"), in: tenant, by: Self.metadata)
            }
            await expectRefusal("placement-dates", field: "end") {
                try await registry.endPlacement(second, of: child, on: try LocalDate("2026-12-01"), in: tenant, by: Self.metadata)
            }
            try await registry.changeServiceNeed(of: first, child: child, from: try LocalDate("2026-10-01"), to: ServiceNeed(hoursPerWeek: 20), in: tenant, by: Self.metadata)
            await expectRefusal("outside-placement", field: "from") {
                try await registry.changeServiceNeed(of: first, child: child, from: try LocalDate("2027-02-01"), to: ServiceNeed(hoursPerWeek: 20), in: tenant, by: Self.metadata)
            }
            let record = try await registry.person(child, in: tenant)
            #expect(record.placements.map(\.unit) == [Self.unit, Self.otherUnit])
            #expect(record.placements[0].serviceNeed(on: try LocalDate("2026-09-15"))?.hoursPerWeek == 35)
            #expect(record.placements[0].serviceNeed(on: try LocalDate("2026-11-24"))?.hoursPerWeek == 20)
        }
    }

    @Test("attendance: arrivals only in the placed unit, departures after arrivals, no attendance on an absent day", arguments: StoreKind.tested)
    func attendance(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, configuration, fixture in
            let child = try await registry.register(.child, details: Self.child(6), source: .client, in: tenant, by: Self.metadata)
            _ = try await registry.place(child, unit: Self.unit, arrangement: .municipal, start: try LocalDate("2026-11-01"), end: try LocalDate("2026-11-30"),
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: Self.metadata)
            let monday = try LocalDate("2026-11-23"), tuesday = try LocalDate("2026-11-24")
            try await registry.bookCareTime(for: child, on: monday, from: try LocalTime("08:00"), to: try LocalTime("16:00"), in: tenant, by: Self.metadata)
            try await registry.recordArrival(of: child, on: monday, at: try LocalTime("08:05"), unit: Self.unit, in: tenant, by: Self.metadata)
            let head = try await fixture.store.head(of: tenant)
            await expectRefusal("already-present", field: "time") {
                try await registry.recordArrival(of: child, on: monday, at: try LocalTime("09:00"), unit: Self.unit, in: tenant, by: Self.metadata)
            }
            await expectRefusal("attendance-order", field: "time") {
                try await registry.recordDeparture(of: child, on: monday, at: try LocalTime("07:00"), in: tenant, by: Self.metadata)
            }
            await expectRefusal("present-that-day", field: "date") {
                try await registry.markAbsence(of: child, on: monday, kind: .sick, in: tenant, by: Self.metadata)
            }
            await expectRefusal("not-placed", field: "unit") {
                try await registry.recordArrival(of: child, on: tuesday, at: try LocalTime("08:00"), unit: Self.otherUnit, in: tenant, by: Self.metadata)
            }
            await expectRefusal("not-placed", field: "unit") {
                try await registry.recordArrival(of: child, on: try LocalDate("2026-12-01"), at: try LocalTime("08:00"), unit: Self.unit, in: tenant, by: Self.metadata)
            }
            await expectRefusal("no-arrival", field: "date") {
                try await registry.recordDeparture(of: child, on: tuesday, at: try LocalTime("16:00"), in: tenant, by: Self.metadata)
            }
            #expect(try await fixture.store.head(of: tenant) == head, "refused attendance writes nothing")
            try await registry.recordDeparture(of: child, on: monday, at: try LocalTime("15:35"), in: tenant, by: Self.metadata)
            try await registry.markAbsence(of: child, on: tuesday, kind: .sick, in: tenant, by: Self.metadata)
            await expectRefusal("absent-that-day", field: "date") {
                try await registry.recordArrival(of: child, on: tuesday, at: try LocalTime("08:00"), unit: Self.unit, in: tenant, by: Self.metadata)
            }
            let month = try await registry.attendance(of: child, month: "2026-11", in: tenant)
            #expect(month.days[monday]?.minutesPresent == 450)
            #expect(month.days[monday]?.booking?.end == (try LocalTime("16:00")))
            #expect(month.days[tuesday]?.absence == .sick)
        }
    }

    @Test("two concurrent arrivals of one child: one is recorded, the other is refused as already present", arguments: StoreKind.tested)
    func concurrentArrivals(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, configuration, fixture in
            let child = try await registry.register(.child, details: Self.child(7), source: .client, in: tenant, by: Self.metadata)
            _ = try await registry.place(child, unit: Self.unit, arrangement: .municipal, start: try LocalDate("2026-11-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: Self.metadata)
            let day = try LocalDate("2026-11-24")
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for minute in ["08:00", "08:01"] {
                    group.addTask {
                        do {
                            try await registry.recordArrival(of: child, on: day, at: try LocalTime(minute), unit: Self.unit, in: tenant, by: Self.metadata)
                            return "recorded"
                        } catch let error as DomainError { return error.code }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.sorted() == ["already-present", "recorded"])
            #expect(try await registry.attendance(of: child, month: "2026-11", in: tenant).days[day]?.visits.count == 1)
        }
    }

    @Test("guardians are linked to children; a consent is given and withdrawn only by a guardian", arguments: StoreKind.tested)
    func consents(kind: StoreKind) async throws {
        try await with(kind) { registry, tenant, _, _ in
            let child = try await registry.register(.child, details: Self.child(8), source: .client, in: tenant, by: Self.metadata)
            let guardian = try await registry.register(.guardian, details: Self.guardian(8), source: .client, in: tenant, by: Self.metadata)
            var stranger = Self.guardian(9)
            stranger.identityCode = nil
            let other = try await registry.register(.familyMember, details: stranger, source: .client, in: tenant, by: Self.metadata)
            try await registry.addRelationship(.guardian, of: guardian, to: child, source: .populationRegister, in: tenant, by: Self.metadata)
            await expectRefusal("not-a-guardian", field: "givenBy") {
                try await registry.giveConsent("photo-permission", for: child, givenBy: other, in: tenant, by: Self.metadata)
            }
            await expectRefusal("not-a-guardian", field: "givenBy") {
                try await registry.giveConsent("photo-permission", for: child, givenBy: nil, in: tenant, by: Self.metadata)
            }
            try await registry.giveConsent("photo-permission", for: child, givenBy: guardian, in: tenant, by: Self.metadata)
            #expect(try await registry.person(child, in: tenant).consents["photo-permission"]?.inForce == true)
            try await registry.withdrawConsent("photo-permission", for: child, withdrawnBy: guardian, in: tenant, by: Self.metadata)
            let record = try await registry.person(child, in: tenant)
            #expect(record.consents["photo-permission"]?.inForce == false)
            #expect(record.isLinked(guardian, as: [.guardian]))
            await expectRefusal("not-found", field: "purpose") {
                try await registry.withdrawConsent("photo-permission", for: child, withdrawnBy: guardian, in: tenant, by: Self.metadata)
            }
            try await registry.recordCareInformation(CareInformation(allergies: "pähkinä"), for: child, source: .client, in: tenant, by: Self.metadata)
            #expect(try await registry.person(child, in: tenant).careInformation?.allergies == "pähkinä")
        }
    }
}

@Suite("Register domain: records kept in memory stay true")
struct RegistryMemoryTests {
    @Test("a record read before sees another process's later change, and an erasure drops the opened details", arguments: StoreKind.tested)
    func keptRecordsFollowTheLog(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing, now: RegistryTests.clock)
            let child = try await registry.register(.child, details: RegistryTests.child(31), source: .client, in: tenant, by: RegistryTests.metadata)
            #expect(try await registry.person(child, in: tenant).details?.motherTongue == "fi")
            try await fixture.withSecondStore { other in
                let elsewhere = Registry(store: other, keyRing: KeyRing(masterKey: fixture.keyRing.masterKey, store: other), now: RegistryTests.clock)
                try await elsewhere.changeDetails(of: child, PersonDetailsPatch(motherTongue: "sv"), source: .populationRegister, in: tenant, by: RegistryTests.metadata)
            }
            let changed = try await registry.person(child, in: tenant)
            #expect(changed.details?.motherTongue == "sv", "the kept record is extended by the events written since")
            #expect(changed.details?.name.first == "Aino")
            _ = try await fixture.keyRing.shred(child, in: tenant, store: fixture.store, metadata: RegistryTests.metadata, reason: "erasure-request")
            let erased = try await registry.person(child, in: tenant)
            #expect(erased.isErased && erased.details == nil, "nothing opened survives the shred, in memory either")
        }
    }

    @Test("a person read with their links and the restrictions sees what other processes wrote, links added since included", arguments: StoreKind.tested)
    func readingWithLinks(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant(), metadata = RegistryTests.metadata
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing, now: RegistryTests.clock)
            let child = try await registry.register(.child, details: RegistryTests.child(11), source: .client, in: tenant, by: metadata)
            let mother = try await registry.register(.guardian, details: RegistryTests.guardian(11), source: .client, in: tenant, by: metadata)
            try await registry.addRelationship(.guardian, of: mother, to: child, source: .populationRegister, in: tenant, by: metadata)
            var reading = try await registry.personReading(child, in: tenant, linked: true)
            #expect(Array(reading.linked.keys) == [mother])
            #expect(reading.linked[mother]?.details?.name.first == "Maija" && reading.restrictions.isEmpty)

            // Written by another process: the mother's new phone, a second guardian linked, the child restricted.
            var fatherDetails = RegistryTests.guardian(12)
            fatherDetails.identityCode = "010190-901R"
            fatherDetails.name = PersonName(first: "Matti", last: "Virtanen")
            let father = try await fixture.withSecondStore { other in
                let elsewhere = Registry(store: other, keyRing: KeyRing(masterKey: fixture.keyRing.masterKey, store: other), now: RegistryTests.clock)
                let father = try await elsewhere.register(.guardian, details: fatherDetails, source: .client, in: tenant, by: metadata)
                try await elsewhere.addRelationship(.guardian, of: father, to: child, source: .populationRegister, in: tenant, by: metadata)
                try await elsewhere.changeDetails(of: mother, PersonDetailsPatch(phone: "+358 50 765 4321"), source: .client, in: tenant, by: metadata)
                try await elsewhere.restrict(child, grounds: .objection, reason: "Vastustaa", in: tenant, by: metadata)
                return father
            }

            reading = try await registry.personReading(child, in: tenant, linked: true)
            #expect(reading.linked[mother]?.details?.phone == "+358 50 765 4321", "the kept record of a link is read forward")
            #expect(reading.linked[father]?.details?.name.first == "Matti", "a link added since is read too")
            #expect(reading.restrictions[child] != nil && reading.restrictionsVersion == 1)
            let plain = try await registry.personReading(child, in: tenant, opening: false)
            #expect(plain.linked.isEmpty && plain.record.details == nil && plain.record.relationships.count == 2)
            await #expect(throws: DomainError.self) { _ = try await registry.personReading(.random(), in: tenant, linked: true) }
        }
    }
}
