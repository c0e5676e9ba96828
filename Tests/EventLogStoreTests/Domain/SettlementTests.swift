import EventLog
import Foundation
@testable import Register
import TestSupport
import Testing

/// Voucher settlement on real stores: a month frozen on its cut-off day, a late service record flowing into the next
/// month as a correction, a repeated run, a month before its cut-off, a child without a fee decision.
@Suite("Service-voucher settlement")
struct SettlementTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-voucher-officer", role: "voucher-officer"))
    static let producer = "yksityinen-paivakoti-esimerkki"
    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }
    static func month(_ text: String) -> BillingMonth { try! BillingMonth(text) }

    @Test("value less co-payment, frozen once; a late record corrects the next month; before the cut-off only a preview", arguments: StoreKind.tested)
    func settle(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let rules = try #require(configuration.vouchers)
            // Born 15 June 2023: three in June 2026, so the base value (1 050 €) from July.
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Seteli", last: "Lapsi"), birthDate: Self.date("2023-06-15")),
                                                    source: .client, in: tenant, by: Self.metadata)
            let guardian = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Seteli", last: "Huoltaja")), source: .client,
                                                       in: tenant, by: Self.metadata)
            _ = try await registry.place(child, unit: Self.producer, arrangement: .serviceVoucher, start: Self.date("2026-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: Self.metadata)
            let voucher = try await registry.grantVoucher(to: child, producer: Self.producer, validFrom: Self.date("2026-08-01"), validUntil: nil, hoursPerWeek: 40,
                                                          configuration: configuration, in: tenant, by: Self.metadata)
            _ = try await registry.createFeeFamily(adults: [guardian], children: [child], validFrom: Self.date("2026-08-01"), source: .populationRegister,
                                                   in: tenant, by: Self.metadata)
            try await registry.recordIncome(of: guardian, IncomeStatement(acceptsMaximumFee: true), validFrom: Self.date("2026-08-01"), validUntil: nil,
                                            source: .client, in: tenant, by: Self.metadata)
            // A second child with a voucher but no fee family: held.
            let other = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Toinen", last: "Lapsi"), birthDate: Self.date("2021-02-02")),
                                                    source: .client, in: tenant, by: Self.metadata)
            let otherVoucher = try await registry.grantVoucher(to: other, producer: Self.producer, validFrom: Self.date("2026-08-01"), validUntil: nil, hoursPerWeek: 40,
                                                               configuration: configuration, in: tenant, by: Self.metadata)
            // Rules: a municipal unit is no producer; vouchers do not overlap; care days fit the month.
            let notProducer = await #expect(throws: DomainError.self) {
                try await registry.grantVoucher(to: child, producer: RegistryTests.unit, validFrom: Self.date("2027-01-01"), validUntil: nil, hoursPerWeek: 40,
                                                configuration: configuration, in: tenant, by: Self.metadata)
            }
            #expect(notProducer?.code == "not-a-producer")
            let overlap = await #expect(throws: DomainError.self) {
                try await registry.grantVoucher(to: child, producer: Self.producer, validFrom: Self.date("2026-09-01"), validUntil: nil, hoursPerWeek: 20,
                                                configuration: configuration, in: tenant, by: Self.metadata)
            }
            #expect(overlap?.code == "voucher-overlaps")
            let tooMany = await #expect(throws: DomainError.self) {
                try await registry.recordVoucherService(voucher, of: child, month: Self.month("2026-08"), careDays: 22, in: tenant, by: Self.metadata)
            }
            #expect(tooMany?.field == "careDays")

            try await registry.recordVoucherService(voucher, of: child, month: Self.month("2026-08"), careDays: 21, in: tenant, by: Self.metadata)
            try await registry.recordVoucherService(otherVoucher, of: other, month: Self.month("2026-08"), careDays: 21, in: tenant, by: Self.metadata)
            let august = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-08"), rules: rules, feeRules: configuration.fees,
                                                           commit: true, in: tenant, by: Self.metadata)
            #expect(august.position != nil && !august.alreadyFrozen)
            let line = try #require(august.lines.first { $0.child == child })
            #expect(line.status == .payable && line.valueCents == 105_000 && line.coPaymentCents == 33_500 && line.amountCents == 71_500)
            #expect(august.lines.first { $0.child == other }?.status == .noFeeDecision)
            #expect(august.totalCents == 71_500)
            let again = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-08"), rules: rules, feeRules: configuration.fees,
                                                          commit: true, in: tenant, by: Self.metadata)
            #expect(again.alreadyFrozen && again.totalCents == 71_500 && again.position == august.position)
            // Amounts are sealed per child in the log.
            let frozen = try await fixture.log.store.readStream(RegisterStreams.settlements(Self.producer), of: tenant)
            #expect(frozen.count == 1 && !String(decoding: frozen[0].payload, as: UTF8.self).contains("105000"))

            // The producer corrects August after it was frozen: the correction flows into September.
            try await registry.recordVoucherService(voucher, of: child, month: Self.month("2026-08"), careDays: 11, in: tenant, by: Self.metadata)
            try await registry.recordVoucherService(voucher, of: child, month: Self.month("2026-09"), careDays: 22, in: tenant, by: Self.metadata)
            let payee = configuration.units.first { $0.code == Self.producer }?.operatedBy
            let september = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-09"), rules: rules, feeRules: configuration.fees,
                                                              payee: payee, commit: true, in: tenant, by: Self.metadata)
            #expect(september.payee?.businessID.value == "0000000-0")
            let correction = try #require(september.lines.first { $0.child == child && $0.period == Self.month("2026-08") })
            #expect(correction.dueCents == (71_500 * 11 * 2 + 21) / 42 && correction.paidBeforeCents == 71_500)
            #expect(correction.amountCents == correction.dueCents - 71_500)
            #expect(september.lines.first { $0.child == child && $0.period == Self.month("2026-09") }?.amountCents == 71_500)
            #expect(september.totalCents == 71_500 + correction.amountCents)

            // November is frozen on 10 December: before then, a preview only.
            let early = await #expect(throws: DomainError.self) {
                try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-11"), rules: rules, feeRules: configuration.fees,
                                                  commit: true, in: tenant, by: Self.metadata)
            }
            #expect(early?.code == "before-cut-off")
            let head = try await fixture.log.store.head(of: tenant)
            let preview = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-11"), rules: rules, feeRules: configuration.fees,
                                                            commit: false, in: tenant, by: Self.metadata)
            #expect(preview.position == nil && preview.lines.first { $0.child == child && $0.period == Self.month("2026-11") }?.status == .notRecorded)
            #expect(try await fixture.log.store.head(of: tenant) == head, "a preview records nothing")

            // The frozen month's material for the producer: CSV, recorded as a disclosure to the producers.
            let export = try await registry.exportSettlement(producer: Self.producer, month: Self.month("2026-09"), configuration: configuration, in: tenant,
                                                             by: Self.metadata)
            let csv = String(decoding: InvoiceDocuments.settlementCSV(producer: Self.producer, payee: export.payee, month: Self.month("2026-09"), rows: export.rows),
                             as: UTF8.self)
            #expect(csv.hasPrefix("producer;month;") && csv.contains(";payee_business_id\r\n") && csv.contains(";0000000-0\r\n"),
                    "the producer is paid to the business id frozen with the month")
            #expect(csv.contains("Seteli Lapsi;2023-06-15;") && csv.contains(";715,00;0000000-0\r\n"), "comma decimals, a row per child and month")
            #expect(export.rows.count == 3 && export.total == september.totalCents, "August's correction, September, and the held line of the other child")
            #expect(csv.contains("Toinen Lapsi;2021-02-02;") && csv.contains(";no-fee-decision;"))
            let records = try await fixture.log.store.readStream(DisclosureStreams.recipient("voucher-producers"), of: tenant)
            let disclosure = try JSONDecoder().decode(DataDisclosed.self, from: try #require(records.last).payload)
            #expect(disclosure.channel == "settlement" && Set(disclosure.subjects) == [child, other])
            #expect(disclosure.events.contains { $0.eventType == SettlementFrozen.eventType && $0.fields == [.settlement] })
            // A child restricted since the freeze: their lines are held back from the material, and not disclosed.
            try await registry.restrict(other, grounds: .objection, reason: "Vastustaa", in: tenant, by: Self.metadata)
            let later = try await registry.exportSettlement(producer: Self.producer, month: Self.month("2026-09"), configuration: configuration, in: tenant,
                                                            by: Self.metadata)
            #expect(later.heldBack == 1 && later.rows.count == 2 && !later.rows.contains { $0.line.child == other })
            let laterRecord = try JSONDecoder().decode(DataDisclosed.self, from: try #require(try await fixture.log.store.readStream(
                DisclosureStreams.recipient("voucher-producers"), of: tenant).last).payload)
            #expect(!laterRecord.subjects.contains(other) && !laterRecord.events.contains { $0.subject == other })
            let notYet = await #expect(throws: DomainError.self) {
                try await registry.exportSettlement(producer: Self.producer, month: Self.month("2026-10"), configuration: configuration, in: tenant, by: Self.metadata)
            }
            #expect(notYet?.code == "not-frozen")
        }
    }

    @Test("a voucher ended earlier is reclaimed for the months it no longer covers; ends may not overlap; a restricted child is held and not shown",
          arguments: StoreKind.tested)
    func endsAndRestrictions(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let rules = try #require(configuration.vouchers)
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Loppu", last: "Lapsi"), birthDate: Self.date("2021-01-10")),
                                                    source: .client, in: tenant, by: Self.metadata)
            let guardian = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Loppu", last: "Huoltaja")), source: .client,
                                                       in: tenant, by: Self.metadata)
            _ = try await registry.place(child, unit: Self.producer, arrangement: .serviceVoucher, start: Self.date("2026-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: Self.metadata)
            _ = try await registry.createFeeFamily(adults: [guardian], children: [child], validFrom: Self.date("2026-08-01"), source: .staff, in: tenant, by: Self.metadata)
            let first = try await registry.grantVoucher(to: child, producer: Self.producer, validFrom: Self.date("2026-08-01"), validUntil: Self.date("2026-09-30"),
                                                        hoursPerWeek: 40, configuration: configuration, in: tenant, by: Self.metadata)
            _ = try await registry.grantVoucher(to: child, producer: Self.producer, validFrom: Self.date("2026-10-01"), validUntil: nil, hoursPerWeek: 20,
                                                configuration: configuration, in: tenant, by: Self.metadata)
            let overlap = await #expect(throws: DomainError.self) {
                try await registry.endVoucher(first, of: child, on: Self.date("2026-10-15"), in: tenant, by: Self.metadata)
            }
            #expect(overlap?.code == "voucher-overlaps", "moving an end into the next voucher")
            for month in ["2026-08", "2026-09"] {
                let days = BillingCalendar.operationalDays(in: Self.month(month)).count
                try await registry.recordVoucherService(first, of: child, month: Self.month(month), careDays: days, in: tenant, by: Self.metadata)
            }
            for month in ["2026-08", "2026-09"] {
                let settled = try await registry.settleVouchers(producer: Self.producer, month: Self.month(month), rules: rules, feeRules: configuration.fees,
                                                                commit: true, in: tenant, by: Self.metadata)
                #expect(settled.totalCents == 105_000 - 33_500, "no income statement: the maximum fee is the co-payment")
            }
            // The voucher in fact ended on 14 August: August is owed for 10 of 21 days, September not at all.
            try await registry.endVoucher(first, of: child, on: Self.date("2026-08-14"), in: tenant, by: Self.metadata)
            let october = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-10"), rules: rules, feeRules: configuration.fees,
                                                            commit: true, in: tenant, by: Self.metadata)
            let correction = try #require(october.lines.first { $0.voucher == first && $0.period == Self.month("2026-08") })
            #expect(correction.coveredDays == 10 && correction.careDays == 10, "the 21 recorded days are capped at the 10 the voucher now covers")
            #expect(correction.dueCents == (105_000 * 10 * 2 + 21) / 42 - (33_500 * 10 * 2 + 21) / 42)
            #expect(correction.amountCents == correction.dueCents - 71_500)
            let reclaimed = try #require(october.lines.first { $0.voucher == first && $0.period == Self.month("2026-09") })
            #expect(reclaimed.coveredDays == 0 && reclaimed.amountCents == -71_500, "September, no longer covered, is reclaimed")
            #expect(october.lines.first { $0.period == Self.month("2026-10") }?.status == .notRecorded)

            // Restricted: held in the settlement, and not shown to the producer.
            try await registry.restrict(child, grounds: .accuracyContested, reason: "Huoltaja kiistää tiedot", in: tenant, by: Self.metadata)
            #expect(try await registry.producerChildren(Self.producer, month: Self.month("2026-11"), in: tenant).isEmpty)
            let refused = await #expect(throws: DomainError.self) {
                try await registry.recordVoucherService(first, of: child, month: Self.month("2026-08"), careDays: 5, in: tenant, by: Self.metadata)
            }
            #expect(refused?.code == "restricted")
            let november = try await registry.settleVouchers(producer: Self.producer, month: Self.month("2026-11"), rules: rules, feeRules: configuration.fees,
                                                             commit: false, in: tenant, by: Self.metadata)
            #expect(!november.lines.isEmpty && november.lines.allSatisfy { $0.status == .restricted && $0.amountCents == 0 })
        }
    }
}
