import EventLog
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Register
import TestSupport
import Testing

/// Fee decisions and monthly invoices on real stores: the family's fees from the log, corrections when an income is
/// recorded late, absences reported after billing, the 11-month cap, pending months, and runs that are repeated,
/// interrupted or dry.
@Suite("Fee decisions and invoicing")
struct InvoicingTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-billing", role: "billing"))
    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }
    static func month(_ text: String) -> BillingMonth { try! BillingMonth(text) }

    struct Family {
        let id: UUID
        let adults: [PersonID]
        let children: [PersonID]
    }

    /// Two guardians and two children in municipal care from 1 August 2024: the elder (born 2021) 40 hours a week,
    /// the younger (born 2023) 20 hours a week. No income recorded: the maximum fee.
    static func family(_ registry: Registry, configuration: TenantConfiguration, tenant: TenantID, children births: [String] = ["2021-03-10", "2023-05-20"],
                       hours: [Int] = [40, 20]) async throws -> Family {
        var adults: [PersonID] = [], children: [PersonID] = []
        for name in ["Maksaja", "Toinen"] {
            adults.append(try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: name, last: "Perhe")), source: .client,
                                                      in: tenant, by: metadata))
        }
        for (birth, hours) in zip(births, hours) {
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Lapsi", last: "Perhe"), birthDate: date(birth)),
                                                    source: .client, in: tenant, by: metadata)
            _ = try await registry.place(child, unit: RegistryTests.unit, arrangement: .municipal, start: date("2024-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: hours), configuration: configuration, in: tenant, by: metadata)
            children.append(child)
        }
        let id = try await registry.createFeeFamily(adults: adults, children: children, validFrom: date("2024-08-01"), source: .populationRegister,
                                                    in: tenant, by: metadata).id
        return Family(id: id, adults: adults, children: children)
    }

    static func invoice(_ registry: Registry, _ family: Family, _ month: String, rules: FeeRules, tenant: TenantID, commit: Bool = true) async throws -> FamilyInvoicing {
        try await registry.invoiceFeeFamily(family.id, month: Self.month(month), rules: rules, commit: commit, issuedOn: date("2026-11-24"), in: tenant, by: metadata)
    }

    /// Each child's amount on an invoice, euros-cents by child.
    static func amounts(_ invoice: Invoice) -> [PersonID: Int] {
        Dictionary((invoice.content?.lines ?? []).map { ($0.child, $0.amountCents) }, uniquingKeysWith: +)
    }

    @Test("maximum fee, a late income statement corrected by a credit note, late sick days, a repeated run, a dry run", arguments: StoreKind.tested)
    func lifecycle(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let rules = try #require(configuration.fees)
            let family = try await Self.family(registry, configuration: configuration, tenant: tenant)
            let (elder, younger) = (family.children[0], family.children[1])

            // No income data: the maximum fee. The younger (first in the sibling order) 311 € × 60 % = 187 €, the elder
            // the second child's 40 %, capped at 124 €.
            let august = try await Self.invoice(registry, family, "2024-08", rules: rules, tenant: tenant)
            // Decided up to today (the test's clock: 24 November 2026): the 2024 table, then the 2026 table's 335 €.
            #expect(august.decisions.map(\.validFrom) == [Self.date("2024-08-01"), Self.date("2026-08-01")])
            let augustInvoice = try #require(august.invoices.first)
            #expect(august.invoices.count == 1 && augustInvoice.kind == .invoice)
            #expect(Self.amounts(augustInvoice) == [younger: 18_700, elder: 12_400])
            #expect(augustInvoice.content?.totalCents == 31_100)
            #expect(augustInvoice.payer == family.adults[0])
            #expect(ReferenceNumber.isValidFinnish(augustInvoice.reference) && augustInvoice.internationalReference.hasPrefix("RF"))
            let september = try await Self.invoice(registry, family, "2024-09", rules: rules, tenant: tenant)
            #expect(september.invoices.map(\.kind) == [.invoice] && september.decisions.isEmpty)
            #expect(Set(try await registry.feeFamily(family.id, in: tenant).invoices.map(\.reference)).count == 2, "a reference per invoice")

            // Incomes arrive in October, effective from September: 6 000 € + 1 000 € for a family of 4 (limit 5 956 €).
            // Base 10.7 % × 1 044 € = 111.71 €: the younger 112 € × 60 % = 67 €, the elder 40 % = 44.68 → 45 €.
            try await registry.recordIncome(of: family.adults[0], IncomeStatement(earnedCents: 600_000), validFrom: Self.date("2024-09-01"), validUntil: nil,
                                            source: .client, in: tenant, by: Self.metadata)
            try await registry.recordIncome(of: family.adults[1], IncomeStatement(earnedCents: 90_000, capitalCents: 10_000), validFrom: Self.date("2024-09-01"),
                                            validUntil: nil, source: .client, in: tenant, by: Self.metadata)
            let october = try await Self.invoice(registry, family, "2024-10", rules: rules, tenant: tenant)
            let revised = try #require(october.decisions.first)
            #expect(october.decisions.count == 2 && revised.validFrom == Self.date("2024-09-01"))
            #expect(october.decisions.last?.status == .pending && october.decisions.last?.reason == "no-income-limits",
                    "from August 2026 the table lacks the ministry's income limits")
            #expect(revised.calculation?.total == 112 && revised.calculation?.incomeLimit == 5_956)
            #expect(october.invoices.map(\.kind) == [.invoice, .creditNote])
            #expect(Self.amounts(october.invoices[0]) == [younger: 6_700, elder: 4_500])
            #expect(Self.amounts(october.invoices[1]) == [younger: 6_700 - 18_700, elder: 4_500 - 12_400], "September credited to the new decision")
            #expect(october.invoices[1].content?.lines.allSatisfy { $0.period == Self.month("2024-09") } == true)

            // The same run again bills nothing twice.
            let again = try await Self.invoice(registry, family, "2024-10", rules: rules, tenant: tenant)
            #expect(again.invoices.isEmpty && again.decisions.isEmpty)

            // Sick days of October reported in November: the younger sick on every operational day (nothing to pay),
            // the elder on 11 days in November (half).
            for day in BillingCalendar.operationalDays(in: Self.month("2024-10")) {
                try await registry.markAbsence(of: younger, on: day, kind: .sick, in: tenant, by: Self.metadata)
            }
            for day in BillingCalendar.operationalDays(in: Self.month("2024-11")).prefix(11) {
                try await registry.markAbsence(of: elder, on: day, kind: .sick, in: tenant, by: Self.metadata)
            }
            let head = try await fixture.log.store.head(of: tenant)
            let dry = try await Self.invoice(registry, family, "2024-11", rules: rules, tenant: tenant, commit: false)
            #expect(try await fixture.log.store.head(of: tenant) == head, "a dry run records nothing")
            let november = try await Self.invoice(registry, family, "2024-11", rules: rules, tenant: tenant)
            #expect(november.invoices.map(\.kind) == dry.invoices.map(\.kind))
            #expect(november.invoices.map(\.content) == dry.invoices.map(\.content), "the dry run shows what the run records")
            #expect(november.invoices.map(\.kind) == [.invoice, .creditNote])
            #expect(Self.amounts(november.invoices[0]) == [younger: 6_700, elder: 2_250])
            #expect(november.invoices[0].content?.lines.first { $0.child == elder }?.rule == .sickOverTenDays)
            #expect(Self.amounts(november.invoices[1]) == [younger: -6_700])
            #expect(november.invoices[1].content?.lines.first?.rule == .sickWholeMonth)

            // Everything billed is explained by the log: the family's stream holds the decisions and invoices, and
            // the income figures are sealed in the log.
            let recorded = try await registry.feeFamily(family.id, in: tenant)
            #expect(recorded.decisions.count == 4 && recorded.invoices.count == 6)
            let billed: Int = recorded.invoices.compactMap(\.content).reduce(0) { $0 + $1.totalCents }
            let expected: Int = 31_100 + 31_100 + 11_200 - 19_900 + 8_950 - 6_700
            #expect(billed == expected)
            let incomes = try await fixture.log.store.readStream(RegisterStreams.person(family.adults[0]), of: tenant)
                .filter { $0.eventType == IncomeRecorded.eventType }
            #expect(incomes.count == 1)
            #expect(!String(decoding: incomes[0].payload, as: UTF8.self).contains("600000"))
            let decisions = try await fixture.log.store.readStream(RegisterStreams.feeFamily(family.id), of: tenant).filter { $0.eventType == FeeDecisionMade.eventType }
            #expect(decisions.allSatisfy { !String(decoding: $0.payload, as: UTF8.self).contains("600000") && !String(decoding: $0.payload, as: UTF8.self).contains("5956") })
        }
    }

    @Test("a municipality's alteration decided after billing: new decisions from its first day, a credit note for the months billed", arguments: StoreKind.tested)
    func alteration(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            var rules = try #require(configuration.fees)
            let family = try await Self.family(registry, configuration: configuration, tenant: tenant)
            let (elder, younger) = (family.children[0], family.children[1])
            _ = try await Self.invoice(registry, family, "2024-08", rules: rules, tenant: tenant)
            _ = try await Self.invoice(registry, family, "2024-09", rules: rules, tenant: tenant)

            // In October the council lowers fees by 10 % for the autumn, from 1 September.
            rules.alterations = [FeeAlteration(validFrom: Self.date("2024-09-01"), validUntil: Self.date("2024-12-31"), decision: "Valtuusto 9/2024 § 90",
                                               lowerByPercent: try Percentage("10"))]
            let october = try await Self.invoice(registry, family, "2024-10", rules: rules, tenant: tenant)
            #expect(october.decisions.map(\.validFrom) == [Self.date("2024-09-01"), Self.date("2025-01-01"), Self.date("2026-08-01")])
            let lowered = try #require(october.decisions.first?.calculation)
            // 187 € → 168.3 → 168 €; 124 € → 111.6 → 112 €.
            #expect(lowered.children.map(\.fee) == [168, 112])
            #expect(lowered.children.allSatisfy { $0.alterations?.first?.decision == "Valtuusto 9/2024 § 90" }, "the decision explains the euro")
            #expect(october.decisions[1].calculation?.children.map(\.fee) == [187, 124], "and it ends with 2024")
            #expect(october.invoices.map(\.kind) == [.invoice, .creditNote])
            #expect(Self.amounts(october.invoices[0]) == [younger: 16_800, elder: 11_200])
            #expect(Self.amounts(october.invoices[1]) == [younger: -1_900, elder: -1_200], "September credited")
            #expect(october.invoices[1].content?.lines.allSatisfy { $0.period == Self.month("2024-09") } == true)
            let again = try await Self.invoice(registry, family, "2024-10", rules: rules, tenant: tenant)
            #expect(again.invoices.isEmpty && again.decisions.isEmpty)
        }
    }

    @Test("at most 11 charged months in an operating year; a pending table holds the month; an interrupted run finishes once", arguments: StoreKind.tested)
    func capAndPending(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let rules = try #require(configuration.fees)
            let family = try await Self.family(registry, configuration: configuration, tenant: tenant, children: ["2022-01-15"], hours: [40])
            var month = Self.month("2024-08")
            var charged: [BillingMonth] = []
            while month <= Self.month("2025-08") {
                let result = try await Self.invoice(registry, family, month.description, rules: rules, tenant: tenant)
                if let invoice = result.invoices.first, invoice.kind == .invoice { charged.append(month) }
                month = month.adding(months: 1)
            }
            #expect(charged.count == 12, "August 2024 to June 2025, then August 2025 in the next operating year")
            #expect(!charged.contains(Self.month("2025-07")))

            // From 1 August 2026 the table has no income limits yet: a family with an income is pending, and billed
            // nothing; a family at the maximum fee is not.
            for (adult, cents) in zip(family.adults, [500_000, 0]) {
                try await registry.recordIncome(of: adult, IncomeStatement(earnedCents: cents), validFrom: Self.date("2026-08-01"), validUntil: nil,
                                                source: .client, in: tenant, by: Self.metadata)
            }
            let other = try await Self.family(registry, configuration: configuration, tenant: tenant, children: ["2022-02-15"], hours: [40])
            // Interrupted: the decisions were recorded, the invoices were not; the run then bills once.
            try await registry.reviseFeeDecisions(of: other.id, rules: rules, in: tenant, by: Self.metadata)
            let summary = try await registry.runInvoicing(in: tenant, month: Self.month("2026-09"), rules: rules, commit: true, issuedOn: Self.date("2026-10-01"),
                                                          by: Self.metadata)
            #expect(summary.families == 2 && summary.failed.isEmpty)
            #expect(summary.pending == ["no-income-limits": 1])
            #expect(summary.invoices == 1 && summary.surcharges == 1 && summary.totalCents == 2 * 33_500,
                    "the family new to billing: September, and August as a surcharge, at 335 € (not its whole past)")
            let pendingFamily = try await registry.feeFamily(family.id, in: tenant)
            #expect(pendingFamily.decisions.last?.status == .pending && pendingFamily.decisions.last?.reason == "no-income-limits")
            let rerun = try await registry.runInvoicing(in: tenant, month: Self.month("2026-09"), rules: rules, commit: true, issuedOn: Self.date("2026-10-01"),
                                                        by: Self.metadata)
            #expect(rerun.invoices == 0 && rerun.creditNotes == 0 && rerun.surcharges == 0 && rerun.decisions == 0)
            let runs = try await fixture.log.store.readStream(RegisterStreams.invoicingRuns(Self.month("2026-09")), of: tenant)
            #expect(runs.count == 2, "each committed run is recorded")
        }
    }

    @Test("the export: well-formed Finvoice with comma decimals and valid references, CSV, protected addresses left out, recorded as a disclosure",
          arguments: StoreKind.tested)
    func export(kind: StoreKind) async throws {
        try await ProjectionFixture.with(kind) { fixture in
            let registry = fixture.registry, tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let rules = try #require(configuration.fees)
            let family = try await Self.family(registry, configuration: configuration, tenant: tenant)
            try await registry.changeDetails(of: family.adults[0], PersonDetailsPatch(address: PostalAddress(street: "Laskutie 5 & 7", postalCode: "99100", city: "Esimerkkilä")),
                                             source: .client, in: tenant, by: Self.metadata)
            let protected = try await Self.family(registry, configuration: configuration, tenant: tenant, children: ["2022-06-01"], hours: [40])
            try await registry.changeDetails(of: protected.adults[0], PersonDetailsPatch(address: PostalAddress(street: "Salainen polku 1", postalCode: "99200", city: "Piilola")),
                                             source: .populationRegister, in: tenant, by: Self.metadata)
            try await registry.setNonDisclosure(of: protected.adults[0], to: true, source: .populationRegister, in: tenant, by: Self.metadata)
            _ = try await Self.invoice(registry, family, "2024-08", rules: rules, tenant: tenant)
            _ = try await Self.invoice(registry, protected, "2024-08", rules: rules, tenant: tenant)
            // A credit note in September: the first family's income arrives, effective from August.
            for adult in family.adults {
                try await registry.recordIncome(of: adult, IncomeStatement(earnedCents: 350_000), validFrom: Self.date("2024-08-01"), validUntil: nil,
                                                source: .client, in: tenant, by: Self.metadata)
            }
            let september = try await Self.invoice(registry, family, "2024-09", rules: rules, tenant: tenant)
            #expect(september.invoices.map(\.kind) == [.invoice, .creditNote])

            let result = try await registry.exportInvoices(month: Self.month("2024-09"), configuration: configuration, in: tenant, by: Self.metadata)
            #expect(result.invoices.map(\.kind) == [.invoice, .creditNote])
            #expect(result.heldBack.isEmpty)
            let credit = try #require(result.invoices.last)
            let xml = InvoiceDocuments.finvoice(credit, seller: configuration, sentAt: Date())
            final class Collector: NSObject, XMLParserDelegate {
                var text: [String: String] = [:]
                var current = ""
                var buffer = ""
                func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                    current = element
                    buffer = ""
                }
                func parser(_ parser: XMLParser, foundCharacters string: String) { buffer += string }
                func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
                    if text[element] == nil { text[element] = buffer.trimmingCharacters(in: .whitespacesAndNewlines) }
                }
            }
            let parser = XMLParser(data: xml)
            let collector = Collector()
            parser.delegate = collector
            #expect(parser.parse(), "well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
            #expect(collector.text["InvoiceTypeCode"] == "INV02")
            // Income 7 000 € for a family of 4 from August: 112 € instead of 311 €, so August is credited 199 €.
            #expect(collector.text["InvoiceTotalVatIncludedAmount"] == "-199,00")
            let rows = String(decoding: xml, as: UTF8.self)
            #expect(rows.contains(">-120,00</RowAmount>") && rows.contains(">-79,00</RowAmount>"), "a row per child: 67 € − 187 €, 45 € − 124 €")
            #expect(collector.text["BuyerStreetName"] == "Laskutie 5 & 7", "escaped and read back")
            let reference = try #require(collector.text["EpiRemittanceInfoIdentifier"])
            #expect(ReferenceNumber.isValidFinnish(reference) && reference == credit.reference)
            #expect(collector.text["EpiAccountID"] == "FI2112345600000785")

            // The protected payer's address is in no export.
            let august = try await registry.exportInvoices(month: Self.month("2024-08"), configuration: configuration, in: tenant, by: Self.metadata)
            #expect(august.invoices.count == 2)
            let csv = String(decoding: InvoiceDocuments.csv(august.invoices), as: UTF8.self)
            #expect(!csv.contains("Salainen") && !csv.contains("Piilola"))
            #expect(august.invoices.contains { $0.payerAddress == nil })
            #expect(csv.contains(";311,00;") || csv.contains(";187,00;"), "comma decimals")
            let protectedXML = String(decoding: InvoiceDocuments.finvoice(try #require(august.invoices.first { $0.payerAddress == nil }), seller: configuration,
                                                                          sentAt: Date()), as: UTF8.self)
            #expect(!protectedXML.contains("Salainen") && !protectedXML.contains("BuyerPostalAddressDetails"))

            // Each export is a disclosure to the accounting office, naming the invoices and the events their names
            // and addresses came from, with their hashes.
            let records = try await fixture.log.store.readStream(DisclosureStreams.recipient("billing-collection"), of: tenant)
            #expect(records.count == 2)
            let record = try JSONDecoder().decode(DataDisclosed.self, from: try #require(records.first).payload)
            #expect(record.channel == "export" && record.legalBasis?.contains("1503/2016") == true)
            let invoiceEvents = try await fixture.log.store.readStream(RegisterStreams.feeFamily(family.id), of: tenant).filter {
                $0.eventType == InvoiceIssued.eventType && (try? JSONDecoder().decode(InvoiceIssued.self, from: $0.payload).month) == Self.month("2024-09")
            }
            #expect(invoiceEvents.count == 2)
            for event in invoiceEvents {
                #expect(record.events.contains { $0.position == event.position.rawValue && $0.hash == event.hash.hex && $0.fields == [.invoice] })
            }
            #expect(record.events.contains { $0.subject == family.adults[0] && $0.fields.contains(.address) })
            #expect(Set(record.subjects).isSuperset(of: [family.adults[0]] + family.children))

            // A tenant file without an export recipient cannot export.
            var without = configuration
            without.fees?.invoicing = nil
            let error = await #expect(throws: DomainError.self) {
                try await registry.exportInvoices(month: Self.month("2024-09"), configuration: without, in: tenant, by: Self.metadata)
            }
            #expect(error?.code == "no-export-recipient")
        }
    }
}
