import EventLog
import Foundation
import Projections
@testable import Register
import TestSupport
import Testing

/// The retention run on real stores: who is anonymised and who is kept, what the database files hold afterwards,
/// that the statistics and the hash chain are unchanged, and that a repeated or interrupted run does no harm.
@Suite("Retention run")
struct RetentionRunTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-archivist", role: "archivist"))
    static let today = try! LocalDate("2026-11-24")

    /// A person whose every personal value is distinctive, so a scan of the database files can find any of them.
    struct Family {
        let child: PersonID
        let guardian: PersonID
        let secrets: [String]
    }

    static func family(_ seed: Int, placed: (String, String?), fixture: ProjectionFixture, tenant: TenantID,
                       configuration: TenantConfiguration, nonDisclosure: Bool = false) async throws -> Family {
        let registry = fixture.registry
        let tag = UUID().uuidString.prefix(8)
        let childName = PersonName(first: "Aino\(tag)", last: "Retentio\(seed)")
        let street = "Säilytyskatu\(tag) \(seed)"
        let code = IdentityCodes.testCode(seed: seed)
        let details = PersonDetails(identityCode: code, name: childName, address: PostalAddress(street: street, postalCode: "99999", city: "Esimerkkilä"),
                                    homeMunicipality: try MunicipalityCode("049"), motherTongue: seed % 2 == 0 ? "fi" : "sv", serviceLanguage: "fi")
        let child = try await registry.register(.child, details: details, nonDisclosure: nonDisclosure, source: .client, in: tenant, by: metadata)
        let guardianName = PersonName(first: "Maija\(tag)", last: "Huoltaja\(seed)")
        let guardian = try await registry.register(.guardian, details: PersonDetails(name: guardianName, email: "maija.\(tag)@example.fi"),
                                                   source: .client, in: tenant, by: metadata)
        try await registry.addRelationship(.guardian, of: guardian, to: child, source: .client, in: tenant, by: metadata)
        let allergy = "Pähkinäallergia\(tag)"
        try await registry.recordCareInformation(CareInformation(allergies: allergy), for: child, source: .client, in: tenant, by: metadata)
        let start = try LocalDate(placed.0)
        _ = try await registry.place(child, unit: RegistryTests.unit, arrangement: .municipal, start: start, end: try placed.1.map { try LocalDate($0) },
                                     serviceNeed: ServiceNeed(hoursPerWeek: 35), configuration: configuration, in: tenant, by: metadata)
        try await registry.recordArrival(of: child, on: start, at: try LocalTime("08:00"), unit: RegistryTests.unit, in: tenant, by: metadata)
        try await registry.recordDeparture(of: child, on: start, at: try LocalTime("16:00"), in: tenant, by: metadata)
        return Family(child: child, guardian: guardian, secrets: [childName.first, childName.last, street, code, guardianName.first, allergy, "maija.\(tag)"])
    }

    @Test("a run anonymises exactly the families due; their plaintext and keys are gone from the files; statistics and the chain are unchanged",
          arguments: StoreKind.tested)
    func run(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let registers = configuration.registers
            // Care ended in 2018 and 2019: six years have passed (esimerkkilä keeps client records 6 years after care).
            let due = try await Self.family(1, placed: ("2016-08-01", "2018-05-31"), fixture: fixture, tenant: tenant, configuration: configuration)
            let protected = try await Self.family(2, placed: ("2017-08-01", "2019-05-31"), fixture: fixture, tenant: tenant,
                                                  configuration: configuration, nonDisclosure: true)
            // Still in care; and one due but on hold.
            let inCare = try await Self.family(3, placed: ("2024-08-01", nil), fixture: fixture, tenant: tenant, configuration: configuration)
            let held = try await Self.family(4, placed: ("2015-08-01", "2018-12-31"), fixture: fixture, tenant: tenant, configuration: configuration)
            try await fixture.registry.placeLegalHold(on: held.child, reason: "Oikeudenkäynti vireillä", in: tenant, by: Self.metadata)

            let engine = fixture.engine()
            try await fixture.catchUp(tenant, engine: engine)
            let periods = [("2018-01-01", "2018-12-31"), ("2019-05-01", "2019-05-31"), ("2024-01-01", "2026-11-30")]
            var before: [RegisterReadModels.Statistics] = []
            for (from, to) in periods {
                before.append(try await fixture.queries.statistics(from: try LocalDate(from), to: try LocalDate(to), tenant: tenant))
            }
            #expect(before[0].children == 3 && before[0].byLanguage == ["sv": 1, "fi": 2], "2018: the two families due and the one on hold")
            #expect(before[2].children == 1)

            let wrappedKeys = try await fixture.log.store.subjectKeys([due.child, due.guardian, protected.child, protected.guardian], of: tenant)
            let plan = try await fixture.registry.retentionPlan(in: tenant, registers: registers, on: Self.today)
            #expect(Set(plan.filter { $0.isDue(on: Self.today) }.map(\.person)) == [due.child, due.guardian, protected.child, protected.guardian])
            #expect(plan.first { $0.person == held.child }?.held == true)
            #expect(plan.first { $0.person == held.guardian }?.held == true, "the held child's guardian is kept with the child")

            let summary = try await fixture.registry.applyRetention(in: tenant, registers: registers, on: Self.today, by: Self.metadata)
            #expect(Set(summary.erased) == [due.child, due.guardian, protected.child, protected.guardian])
            #expect(summary.failed.isEmpty)
            #expect(summary.kept == 4)

            for person in [due.child, due.guardian, protected.child, protected.guardian] {
                #expect(try await fixture.registry.person(person, in: tenant).isErased)
            }
            for person in [inCare.child, inCare.guardian, held.child, held.guardian] {
                #expect(try await fixture.registry.person(person, in: tenant).details != nil, "kept")
            }
            // Every action is an event naming its rule.
            let events = try await fixture.registry.events(about: due.child, in: tenant)
            let anonymised = try #require(events.first { $0.eventType == SubjectAnonymised.eventType })
            let record = try JSONDecoder().decode(SubjectAnonymised.self, from: anonymised.payload)
            #expect(record.rule?.documentClass == "ecec-client-records")
            #expect(record.rule?.dueOn == (try LocalDate("2024-05-31")))
            #expect(record.statistics == AnonymousStatistics(birthMonth: "2010-01", motherTongue: "sv", homeMunicipality: "049"), "seed 1's identity code: born 2 Jan 2010")
            let erased = try #require(events.last)
            #expect(erased.eventType == SubjectErasure.eventType)
            #expect(String(decoding: erased.payload, as: UTF8.self).contains("retention:\(registers[0].id).ecec-client-records"))
            let protectedRecord = try JSONDecoder().decode(SubjectAnonymised.self, from: try #require(
                try await fixture.registry.events(about: protected.child, in: tenant).first { $0.eventType == SubjectAnonymised.eventType }).payload)
            #expect(protectedRecord.statistics?.homeMunicipality == nil, "a protected home municipality is not kept even anonymised")

            // The statistics read the same, and again after rebuilding every read model from the log.
            try await fixture.catchUp(tenant, engine: engine)
            for ((from, to), counted) in zip(periods, before) {
                #expect(try await fixture.queries.statistics(from: try LocalDate(from), to: try LocalDate(to), tenant: tenant) == counted)
            }
            for projection in engine.projections {
                _ = try await engine.rebuild(projection, tenant: tenant)
            }
            for ((from, to), counted) in zip(periods, before) {
                #expect(try await fixture.queries.statistics(from: try LocalDate(from), to: try LocalDate(to), tenant: tenant) == counted, "after a rebuild")
            }
            #expect(try await fixture.log.store.verifyChain(of: tenant).isIntact)

            // No plaintext of the erased families and none of their keys in the log's files.
            let erasedKeys: [[UInt8]] = wrappedKeys.values.compactMap { if case .active(let wrapped) = $0 { [UInt8](wrapped) } else { nil } }
            #expect(erasedKeys.count == 4)
            try await PlaintextScan.expectNone(of: due.secrets + protected.secrets, bytes: erasedKeys, in: fixture.log)
            // Nor in the read models' database (its sealed cells stay sealed under the shredded keys).
            if let path = fixture.log.sqlitePath {
                let readModels = SQLiteReadModelStore.path(besideLog: path)
                for file in [readModels, readModels + "-wal"] {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    for secret in due.secrets + protected.secrets {
                        #expect(!PlaintextScan.contains([UInt8](data), Array(secret.utf8)), "\(file) holds a secret value")
                    }
                }
            }

            // A second run finds nothing to do and writes nothing.
            let head = try await fixture.log.store.head(of: tenant)
            let again = try await fixture.registry.applyRetention(in: tenant, registers: registers, on: Self.today, by: Self.metadata)
            #expect(again.erased.isEmpty && again.alreadyErased == 4)
            #expect(try await fixture.log.store.head(of: tenant) == head)

            // Lifting the hold lets the next run anonymise that family too.
            try await fixture.registry.liftLegalHold(on: held.child, reason: "Asia ratkaistu", in: tenant, by: Self.metadata)
            let afterHold = try await fixture.registry.applyRetention(in: tenant, registers: registers, on: Self.today, by: Self.metadata)
            #expect(Set(afterHold.erased) == [held.child, held.guardian])
        }
    }

    @Test("fee and voucher records are classes of their own: a payer's invoices and incomes keep the payer as long as their rule says",
          arguments: StoreKind.tested)
    func feeRecords(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let registry = fixture.registry
            // A payer in a fee family with an income, who is no guardian in the register; and a person with no fee records.
            let payer = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Maksaja", last: "Säilytys")), source: .client,
                                                    in: tenant, by: Self.metadata)
            let other = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Muu", last: "Säilytys")), source: .client,
                                                    in: tenant, by: Self.metadata)
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Lapsi", last: "Säilytys"), birthDate: try LocalDate("2022-02-02")),
                                                    source: .client, in: tenant, by: Self.metadata)
            try await registry.recordIncome(of: payer, IncomeStatement(earnedCents: 400_000), validFrom: try LocalDate("2026-08-01"), validUntil: nil,
                                            source: .client, in: tenant, by: Self.metadata)
            _ = try await registry.createFeeFamily(adults: [payer], children: [child], validFrom: try LocalDate("2026-08-01"), source: .client,
                                                   in: tenant, by: Self.metadata)
            var registers = configuration.registers
            registers[0].retention = [
                RetentionRule(documentClass: "client-records", period: try RetentionPeriod("P1Y"), from: .recorded, action: .erase, records: [.person],
                              validFrom: try LocalDate("2018-01-01")),
                RetentionRule(documentClass: "fee-records", period: try RetentionPeriod("P10Y"), from: .recorded, action: .erase, records: [.fees],
                              validFrom: try LocalDate("2018-01-01")),
            ]
            let plan = try await registry.retentionPlan(in: tenant, registers: [registers[0]], on: try LocalDate("2028-01-01"))
            let payerPlan = try #require(plan.first { $0.person == payer })
            // Ten years from the day the fee records were recorded: the database's clock, as a Finnish date.
            let recorded = LocalDate.today(at: try await fixture.log.store.head(of: tenant).recordedAt.date)
            let tenYears = try LocalDate(year: recorded.year + 10, month: recorded.month, day: min(recorded.day, recorded.month == 2 ? 28 : 31))
            let planned = try LocalDate("2028-01-01")
            #expect(payerPlan.decidingClass?.rule.documentClass == "fee-records" && payerPlan.status == .due(tenYears),
                    "kept ten years from the last fee record: \(String(describing: payerPlan.status))")
            #expect(!payerPlan.isDue(on: planned))
            let otherPlan = try #require(plan.first { $0.person == other })
            #expect(otherPlan.classes.map(\.rule.documentClass) == ["client-records"] && otherPlan.isDue(on: planned),
                    "no fee records: the fee class does not keep them")
        }
    }

    @Test("a run stopped between recording the anonymisation and shredding the key is finished by the next, without a second record",
          arguments: StoreKind.tested)
    func interrupted(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let family = try await Self.family(5, placed: ("2016-08-01", "2018-05-31"), fixture: fixture, tenant: tenant, configuration: configuration)
            // What the stopped run left: its first step, with the id the run derives.
            let first = SubjectAnonymised(person: family.child, cause: "retention", rule: nil,
                                          statistics: AnonymousStatistics(birthMonth: "2013-05", motherTongue: "sv", homeMunicipality: "049"))
            _ = try await fixture.log.store.append([ProposedEvent(eventID: Registry.derivedID("anonymised", family.child, tenant), stream: RegisterStreams.person(family.child),
                                                                  eventType: SubjectAnonymised.eventType, subjects: [family.child],
                                                                  payload: try JSONEncoder().encode(first))], to: tenant, metadata: Self.metadata)
            let summary = try await fixture.registry.applyRetention(in: tenant, registers: configuration.registers, on: Self.today, by: Self.metadata)
            #expect(Set(summary.erased) == [family.child, family.guardian])
            let events = try await fixture.registry.events(about: family.child, in: tenant)
            #expect(events.filter { $0.eventType == SubjectAnonymised.eventType }.count == 1)
            #expect(events.filter { $0.eventType == SubjectErasure.eventType }.count == 1)
            #expect(try await fixture.log.store.verifyChain(of: tenant).isIntact)
        }
    }

    @Test("an erasure request honoured leaves no plaintext or key of the person in the files; one refused is recorded with its rule",
          arguments: StoreKind.tested)
    func erasureRequest(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let done = try await Self.family(6, placed: ("2016-08-01", "2018-05-31"), fixture: fixture, tenant: tenant, configuration: configuration)
            let ongoing = try await Self.family(7, placed: ("2024-08-01", nil), fixture: fixture, tenant: tenant, configuration: configuration)
            let engine = fixture.engine()
            try await fixture.catchUp(tenant, engine: engine)
            let counted = try await fixture.queries.statistics(from: try LocalDate("2018-01-01"), to: try LocalDate("2018-12-31"), tenant: tenant)
            let keys = try await fixture.log.store.subjectKeys([done.child], of: tenant)
            guard case .active(let wrapped)? = keys[done.child] else {
                Issue.record("the child has no key")
                return
            }

            let refused = try await fixture.registry.requestErasure(of: ongoing.child, requester: ongoing.guardian, registers: configuration.registers,
                                                                    in: tenant, by: Self.metadata)
            guard case .refused(let reasons) = refused else {
                Issue.record("a child in care was erased")
                return
            }
            #expect(reasons.map(\.code) == ["care-not-ended"] && reasons.first?.documentClass == "ecec-client-records")
            let recorded = try await fixture.registry.events(about: ongoing.child, in: tenant).last
            #expect(recorded?.eventType == ErasureRefused.eventType && recorded?.subjects == [ongoing.child, ongoing.guardian])

            let honoured = try await fixture.registry.requestErasure(of: done.child, requester: nil, registers: configuration.registers, in: tenant, by: Self.metadata)
            guard case .erased = honoured else {
                Issue.record("not erased: \(honoured)")
                return
            }
            #expect(try await fixture.registry.person(done.child, in: tenant).isErased)
            #expect(try await fixture.registry.person(done.guardian, in: tenant).details != nil, "the guardian asked for nothing")
            try await PlaintextScan.expectNone(of: done.secrets.filter { !$0.hasPrefix("Maija") && !$0.hasPrefix("maija") }, bytes: [[UInt8](wrapped)], in: fixture.log)
            try await fixture.catchUp(tenant, engine: engine)
            #expect(try await fixture.queries.statistics(from: try LocalDate("2018-01-01"), to: try LocalDate("2018-12-31"), tenant: tenant) == counted)
            #expect(try await fixture.log.store.verifyChain(of: tenant).isIntact)
        }
    }
}
