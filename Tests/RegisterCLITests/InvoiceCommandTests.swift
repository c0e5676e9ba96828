import EventLog
import EventLogSQLite
import Foundation
import Register
import TestSupport
import Testing

@Suite("register: invoices run and export, vouchers settle", .serialized)
struct InvoiceCommandTests {
    static let tenants = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    @Test("a dry run records nothing, --commit bills once; exports are Finvoice or CSV files readable by their owner; settlement material per producer")
    func invoicesAndSettlement() async throws {
        try await withScratchDirectory { directory in
            let applied = try AppliedStore(applying: "esimerkkila.yaml", in: directory)
            let (key, path, options) = (applied.key, applied.path, applied.options)

            let tenant = try TenantID("esimerkkila")
            let configuration = try TenantFile.load(Self.tenants.appendingPathComponent("esimerkkila.yaml"))
            let store = try SQLiteEventStore(path: path)
            let registry = Registry(store: store, keyRing: KeyRing(masterKey: key, store: store))
            let metadata = EventMetadata(actor: try Actor(userID: "u-cli", role: "billing"))
            let guardian = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Laskun", last: "Maksaja"),
                                                                                         address: PostalAddress(street: "Maksutie 1", postalCode: "99100", city: "Esimerkkilä")),
                                                       source: .client, in: tenant, by: metadata)
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Hoito", last: "Lapsi"), birthDate: try LocalDate("2021-04-04")),
                                                    source: .client, in: tenant, by: metadata)
            _ = try await registry.place(child, unit: "paivakoti-esimerkki", arrangement: .municipal, start: try LocalDate("2024-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: metadata)
            _ = try await registry.createFeeFamily(adults: [guardian], children: [child], validFrom: try LocalDate("2024-08-01"), source: .populationRegister,
                                                   in: tenant, by: metadata)
            let voucherChild = try await registry.register(.child, details: PersonDetails(name: PersonName(first: "Seteli", last: "Lapsi"), birthDate: try LocalDate("2022-05-05")),
                                                           source: .client, in: tenant, by: metadata)
            let voucher = try await registry.grantVoucher(to: voucherChild, producer: "yksityinen-paivakoti-esimerkki", validFrom: try LocalDate("2026-08-01"),
                                                          validUntil: nil, hoursPerWeek: 40, configuration: configuration, in: tenant, by: metadata)
            try await registry.recordVoucherService(voucher, of: voucherChild, month: try BillingMonth("2026-09"), careDays: 22, in: tenant, by: metadata)
            let head = try await store.head(of: tenant)
            try store.close()

            let dry = try RegisterBinary.run(["invoices", "run", "--tenant", "esimerkkila", "--month", "2024-09", "--list"] + options, in: directory)
            #expect(dry.status == 0, "\(dry.errors)")
            #expect(dry.output.contains("dry run: nothing recorded") && dry.output.contains("1 invoices, 0 credit notes, 1 surcharges, total 622,00 €"), "\(dry.output)")
            #expect(!dry.output.contains("Maksaja") && !dry.output.contains("Hoito"), "no names in the listing")
            let reopened = try SQLiteEventStore(path: path)
            #expect(try await reopened.head(of: tenant) == head)
            try reopened.close()
            #expect(try RegisterBinary.run(["invoices", "run", "--tenant", "esimerkkila", "--month", "2024-09", "--commit"] + options, in: directory).errors.contains("--actor"))
            #expect(try RegisterBinary.run(["invoices", "run", "--tenant", "esimerkkila", "--month", "9/2024"] + options, in: directory).errors.contains("--month"))
            let committed = try RegisterBinary.run(["invoices", "run", "--tenant", "esimerkkila", "--month", "2024-09", "--commit", "--actor", "u-billing"] + options,
                                                   in: directory)
            #expect(committed.status == 0 && committed.output.contains("1 invoices, 0 credit notes, 1 surcharges"), "\(committed.output) \(committed.errors)")
            let again = try RegisterBinary.run(["invoices", "run", "--tenant", "esimerkkila", "--month", "2024-09", "--commit", "--actor", "u-billing"] + options,
                                               in: directory)
            #expect(again.output.contains("0 invoices, 0 credit notes, 0 surcharges, total 0,00 €"), "\(again.output)")

            let finvoice = directory.appendingPathComponent("finvoice").path
            let exported = try RegisterBinary.run(["invoices", "export", "--tenant", "esimerkkila", "--month", "2024-09", "--format", "finvoice", "--output", finvoice,
                                                   "--actor", "u-billing"] + options, in: directory)
            #expect(exported.status == 0 && exported.output.contains("2 invoices exported"), "\(exported.output) \(exported.errors)")
            let files = try FileManager.default.contentsOfDirectory(atPath: finvoice)
            #expect(files.count == 2)
            for file in files {
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(finvoice)/\(file)")
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
                let xml = try String(contentsOfFile: "\(finvoice)/\(file)", encoding: .utf8)
                #expect(xml.contains("<InvoiceTypeCode>INV01</InvoiceTypeCode>") && xml.contains(">311,00</InvoiceTotalVatIncludedAmount>"))
            }
            let csv = directory.appendingPathComponent("invoices.csv").path
            let csvRun = try RegisterBinary.run(["invoices", "export", "--tenant", "esimerkkila", "--month", "2024-09", "--format", "csv", "--output", csv,
                                                 "--actor", "u-billing"] + options, in: directory)
            #expect(csvRun.status == 0, "\(csvRun.errors)")
            #expect(try String(contentsOfFile: csv, encoding: .utf8).contains("Laskun Maksaja;Maksutie 1;99100;Esimerkkilä;Hoito Lapsi;2024-09;full;311,00;311,00"))
            #expect(try RegisterBinary.run(["invoices", "export", "--tenant", "esimerkkila", "--month", "2024-09", "--format", "pdf", "--output", csv + "2",
                                            "--actor", "u-billing"] + options, in: directory).errors.contains("--format"))

            let preview = try RegisterBinary.run(["vouchers", "settle", "--tenant", "esimerkkila", "--month", "2026-09"] + options, in: directory)
            #expect(preview.status == 0 && preview.output.contains("yksityinen-paivakoti-esimerkki: preview, 1 lines, total 0,00 €, 1 no-fee-decision"), "\(preview.output) \(preview.errors)")
            let material = directory.appendingPathComponent("settlement").path
            let settled = try RegisterBinary.run(["vouchers", "settle", "--tenant", "esimerkkila", "--month", "2026-09", "--commit", "--output", material,
                                                  "--actor", "u-voucher"] + options, in: directory)
            #expect(settled.status == 0 && settled.output.contains("frozen now"), "\(settled.output) \(settled.errors)")
            #expect(try String(contentsOfFile: "\(material)/yksityinen-paivakoti-esimerkki-2026-09.csv", encoding: .utf8).contains("Seteli Lapsi;2022-05-05;"))
        }
    }
}
