import EventLog
import Foundation

// The export of a month's invoices to the accounting office (O23): Finvoice 3.0 XML or CSV. An export is a
// disclosure: it is recorded, before anything is handed over, as `DataDisclosed` records to the tenant file's export
// recipient on its legal basis, naming every event whose data leaves (the invoices, and the events that set the
// payers' and children's names and the payers' addresses).

public enum InvoiceExportFormat: String, Sendable, CaseIterable {
    case finvoice
    case csv
}

/// One invoice as it leaves: everything opened and formatted, protected addresses left out.
public struct ExportedInvoice: Sendable, Hashable {
    public var number: String
    public var kind: InvoiceKind
    public var issued: LocalDate
    public var due: LocalDate
    public var reference: String
    public var internationalReference: String
    public var payerName: String
    /// Nil when the payer is under a non-disclosure order (and the recipient not entitled to it), or has none.
    public var payerAddress: PostalAddress?
    public var rows: [Row]
    public var totalCents: Int

    public struct Row: Sendable, Hashable {
        public var childName: String
        public var period: BillingMonth
        public var rule: ChargeRule
        public var amountCents: Int
    }
}

public struct InvoiceExportResult: Sendable {
    public var month: BillingMonth
    public var invoices: [ExportedInvoice]
    /// The disclosure records made (one per thousand events that left).
    public var disclosures: [LogPosition]
    /// Invoices not exported, by reason (`restricted`, `erased`).
    public var heldBack: [String: Int]
}

extension Registry {
    static let exportChunk = 1_000

    /// Collects the month's invoices of every fee family, records the disclosure, and returns what may leave.
    /// - Throws: `no-export-recipient` when the tenant file names none (`fees.invoicing.exportRecipient`).
    public func exportInvoices(month: BillingMonth, configuration: TenantConfiguration, in tenant: TenantID,
                               by metadata: EventMetadata) async throws -> InvoiceExportResult {
        guard let recipientID = configuration.fees?.invoicing?.exportRecipient,
              let (register, recipient) = configuration.regularRecipient(recipientID),
              let basis = recipient.legalBasis else {
            throw DomainError(.rule, "no-export-recipient", "The tenant file names no recipient for invoice exports (fees.invoicing.exportRecipient).")
        }
        let entitled = recipient.feed?.protectedData == true
        let (restrictionsVersion, restrictions) = try await restrictionState(in: tenant)
        var invoices: [ExportedInvoice] = []
        var disclosed: [DisclosedEvent] = []
        var subjects = Set<PersonID>()
        var heldBack: [String: Int] = [:]
        var sources: [PersonID: [String: RecordedEvent]] = [:]
        func current(_ person: PersonID) async throws -> [String: RecordedEvent] {
            if let known = sources[person] { return known }
            let found = try ManualDisclosure.currentValueEvents(try await store.readStream(RegisterStreams.person(person), of: tenant))
            sources[person] = found
            return found
        }
        for id in try await feeFamilies(in: tenant) {
            let family = try await feeFamily(id, in: tenant)
            let issued = family.invoices.filter { $0.month == month }
            guard !issued.isEmpty else { continue }
            let events = Dictionary(try await store.readStream(RegisterStreams.feeFamily(id), of: tenant).map { ($0.position, $0) }, uniquingKeysWith: { a, _ in a })
            for invoice in issued {
                guard let content = invoice.content else { heldBack["erased", default: 0] += 1; continue }
                let people = [invoice.payer] + Array(Set(content.lines.map(\.child))).sorted { $0.description < $1.description }
                if people.contains(where: { restrictions[$0] != nil }) { heldBack["restricted", default: 0] += 1; continue }
                var records: [PersonID: PersonRecord] = [:]
                for person in people { records[person] = try await self.person(person, in: tenant) }
                guard let payer = records[invoice.payer]?.details, people.allSatisfy({ records[$0]?.details != nil }) else {
                    heldBack["erased", default: 0] += 1
                    continue
                }
                let showAddress = entitled || records[invoice.payer]?.nonDisclosure == false
                invoices.append(ExportedInvoice(
                    number: invoice.number, kind: invoice.kind, issued: invoice.issued, due: invoice.due, reference: invoice.reference,
                    internationalReference: invoice.internationalReference, payerName: "\(payer.name.first) \(payer.name.last)",
                    payerAddress: showAddress ? payer.address : nil,
                    rows: content.lines.map { line in
                        ExportedInvoice.Row(childName: records[line.child]?.details.map { "\($0.name.first) \($0.name.last)" } ?? "", period: line.period, rule: line.rule, amountCents: line.amountCents)
                    },
                    totalCents: content.totalCents))
                subjects.formUnion(people)
                if let event = events[invoice.position] {
                    disclosed.append(DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: invoice.payer,
                                                    fields: [.invoice]))
                }
                // The events that set the names (and the payer's address) that leave.
                for person in people {
                    let fields: [FeedField] = person == invoice.payer && showAddress && payer.address != nil ? [.name, .address] : [.name]
                    let set = try await current(person)
                    for field in fields {
                        guard let event = set[field.rawValue] else { continue }
                        disclosed.append(DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: person,
                                                        fields: [field]))
                    }
                }
            }
        }
        // One event is named once, with every field of it that left.
        var merged: [Int64: DisclosedEvent] = [:]
        for event in disclosed {
            if var known = merged[event.position] {
                known.fields = Array(Set(known.fields + event.fields)).sorted { $0.rawValue < $1.rawValue }
                merged[event.position] = known
            } else {
                merged[event.position] = event
            }
        }
        let ordered = merged.values.sorted { $0.position < $1.position }
        var positions: [LogPosition] = []
        if !ordered.isEmpty {
            let fields = Array(Set(ordered.flatMap(\.fields))).sorted { $0.rawValue < $1.rawValue }
            var proposed: [ProposedEvent] = []
            for start in stride(from: 0, to: ordered.count, by: Self.exportChunk) {
                let chunk = Array(ordered[start..<min(start + Self.exportChunk, ordered.count)])
                let chunkSubjects = Array(Set(chunk.map(\.subject)).intersection(subjects)).sorted { $0.description < $1.description }
                let record = DataDisclosed(recipient: recipientID, recipientPerson: nil, register: register.id, channel: "export", legalBasis: basis,
                                           consentPurpose: nil, subjects: chunkSubjects, fields: fields, events: chunk)
                proposed.append(ProposedEvent(stream: DisclosureStreams.recipient(recipientID), eventType: DataDisclosed.eventType,
                                              schemaVersion: DataDisclosed.schemaVersion, subjects: chunkSubjects,
                                              payload: try record.sortedJSON()))
            }
            // All the records of one export or none: the export is handed over only once it is recorded.
            // Expecting the restrictions it held back by: one recorded meanwhile fails the export (`contended`), to run again.
            positions = try await store.append(proposed, to: tenant, metadata: metadata,
                                               expecting: [RestrictionStreams.all: restrictionsVersion == 0 ? .noStream : .exact(restrictionsVersion)]).positions
        }
        return InvoiceExportResult(month: month, invoices: invoices.sorted { $0.number < $1.number }, disclosures: positions, heldBack: heldBack)
    }
}

/// Money as the Finnish formats write it: comma decimals, a minus sign for credits (`-199,00`).
public enum FinnishAmount {
    public static func text(cents: Int) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = abs(cents)
        return "\(sign)\(magnitude / 100)," + (magnitude % 100 < 10 ? "0" : "") + "\(magnitude % 100)"
    }
}

/// Finvoice 3.0 messages (one invoice each, as the format defines them) and the CSV listing.
public enum InvoiceDocuments {
    /// A Finvoice 3.0 message for one invoice: INV01 for invoices and surcharges, INV02 for credit notes.
    public static func finvoice(_ invoice: ExportedInvoice, seller configuration: TenantConfiguration, sentAt: Date) -> Data {
        let settings = configuration.fees?.invoicing
        let sellerName = configuration.name.text(in: "fi")
        let sellerAddress = configuration.contacts.compactMap(\.address).first
        let credit = invoice.kind == .creditNote
        let stamp = ISO8601DateFormatter().string(from: sentAt)
        func date(_ day: LocalDate) -> String { String(format: "%04d%02d%02d", day.year, day.month, day.day) }
        func amount(_ tag: String, _ cents: Int) -> String { "<\(tag) AmountCurrencyIdentifier=\"EUR\">\(FinnishAmount.text(cents: cents))</\(tag)>" }
        var xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Finvoice Version="3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="Finvoice3.0.xsd">
              <MessageTransmissionDetails>
                <MessageSenderDetails><FromIdentifier>\(escape(configuration.businessID.description))</FromIdentifier></MessageSenderDetails>
                <MessageReceiverDetails><ToIdentifier>\(escape(settings?.exportRecipient ?? ""))</ToIdentifier></MessageReceiverDetails>
                <MessageDetails><MessageIdentifier>\(escape(invoice.number))</MessageIdentifier><MessageTimeStamp>\(stamp)</MessageTimeStamp></MessageDetails>
              </MessageTransmissionDetails>
              <SellerPartyDetails>
                <SellerPartyIdentifier>\(escape(configuration.businessID.description))</SellerPartyIdentifier>
                <SellerOrganisationName>\(escape(sellerName))</SellerOrganisationName>

            """
        if let address = sellerAddress {
            xml += "    <SellerPostalAddressDetails><SellerStreetName>\(escape(address.street))</SellerStreetName><SellerTownName>\(escape(address.city))</SellerTownName>"
                + "<SellerPostCodeIdentifier>\(escape(address.postalCode))</SellerPostCodeIdentifier><CountryCode>FI</CountryCode></SellerPostalAddressDetails>\n"
        }
        xml += "  </SellerPartyDetails>\n  <BuyerPartyDetails>\n    <BuyerOrganisationName>\(escape(invoice.payerName))</BuyerOrganisationName>\n"
        if let address = invoice.payerAddress {
            xml += "    <BuyerPostalAddressDetails><BuyerStreetName>\(escape(address.street))</BuyerStreetName><BuyerTownName>\(escape(address.city))</BuyerTownName>"
                + "<BuyerPostCodeIdentifier>\(escape(address.postalCode))</BuyerPostCodeIdentifier><CountryCode>FI</CountryCode></BuyerPostalAddressDetails>\n"
        }
        xml += """
              </BuyerPartyDetails>
              <InvoiceDetails>
                <InvoiceTypeCode>\(credit ? "INV02" : "INV01")</InvoiceTypeCode>
                <InvoiceTypeText>\(credit ? "HYVITYSLASKU" : "LASKU")</InvoiceTypeText>
                <OriginCode>Original</OriginCode>
                <InvoiceNumber>\(escape(invoice.number))</InvoiceNumber>
                <InvoiceDate Format="CCYYMMDD">\(date(invoice.issued))</InvoiceDate>
                <SellerReferenceIdentifier>\(invoice.reference)</SellerReferenceIdentifier>
                \(amount("InvoiceTotalVatExcludedAmount", invoice.totalCents))
                \(amount("InvoiceTotalVatAmount", 0))
                \(amount("InvoiceTotalVatIncludedAmount", invoice.totalCents))
                <PaymentTermsDetails><InvoiceDueDate Format="CCYYMMDD">\(date(invoice.due))</InvoiceDueDate></PaymentTermsDetails>
              </InvoiceDetails>

            """
        for row in invoice.rows {
            xml += """
                  <InvoiceRow>
                    <ArticleName>\(escape("Varhaiskasvatusmaksu \(row.period) \(row.childName)"))</ArticleName>
                    <DeliveredQuantity QuantityUnitCode="kk">1</DeliveredQuantity>
                    \(amount("UnitPriceAmount", row.amountCents))
                    <RowFreeText>\(escape(row.rule.rawValue))</RowFreeText>
                    <RowVatRatePercent>0</RowVatRatePercent>
                    \(amount("RowVatAmount", 0))
                    \(amount("RowVatExcludedAmount", row.amountCents))
                    \(amount("RowAmount", row.amountCents))
                  </InvoiceRow>

                """
        }
        xml += """
              <EpiDetails>
                <EpiIdentificationDetails><EpiDate Format="CCYYMMDD">\(date(invoice.issued))</EpiDate><EpiReference>0</EpiReference></EpiIdentificationDetails>
                <EpiPartyDetails>
                  <EpiBfiPartyDetails><EpiBfiIdentifier IdentificationSchemeName="BIC">\(escape(settings?.bic ?? ""))</EpiBfiIdentifier></EpiBfiPartyDetails>
                  <EpiBeneficiaryPartyDetails><EpiNameAddressDetails>\(escape(sellerName))</EpiNameAddressDetails><EpiBei>\(escape(configuration.businessID.description))</EpiBei><EpiAccountID IdentificationSchemeName="IBAN">\(escape((settings?.iban ?? "").replacingOccurrences(of: " ", with: "")))</EpiAccountID></EpiBeneficiaryPartyDetails>
                </EpiPartyDetails>
                <EpiPaymentInstructionDetails>
                  <EpiRemittanceInfoIdentifier IdentificationSchemeName="SPY">\(invoice.reference)</EpiRemittanceInfoIdentifier>
                  \(amount("EpiInstructedAmount", max(invoice.totalCents, 0)))
                  <EpiCharge ChargeOption="SLEV">SLEV</EpiCharge>
                  <EpiDateOptionDate Format="CCYYMMDD">\(date(invoice.due))</EpiDateOptionDate>
                </EpiPaymentInstructionDetails>
              </EpiDetails>
            </Finvoice>

            """
        return Data(xml.utf8)
    }

    /// One line per invoice row; `;` separated with comma decimals, as Finnish spreadsheets read it.
    public static func csv(_ invoices: [ExportedInvoice]) -> Data {
        var text = "number;kind;invoice_date;due_date;reference;rf_reference;payer;street;postal_code;city;child;period;rule;amount;invoice_total\r\n"
        for invoice in invoices {
            for row in invoice.rows {
                let fields = [invoice.number, invoice.kind.rawValue, invoice.issued.description, invoice.due.description, invoice.reference,
                              invoice.internationalReference, invoice.payerName, invoice.payerAddress?.street ?? "", invoice.payerAddress?.postalCode ?? "",
                              invoice.payerAddress?.city ?? "", row.childName, row.period.description, row.rule.rawValue,
                              FinnishAmount.text(cents: row.amountCents), FinnishAmount.text(cents: invoice.totalCents)]
                text += fields.map(csvField).joined(separator: ";") + "\r\n"
            }
        }
        return Data(text.utf8)
    }

    static func csvField(_ value: String) -> String {
        // A cell starting with = + - @ would be a formula to a spreadsheet: quote it with a leading apostrophe.
        var value = value
        if let first = value.first, "=+@".contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == ";" || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default:
                // Control characters are not allowed in XML 1.0; names and addresses never need them.
                if let scalar = character.unicodeScalars.first, scalar.value < 0x20, character != "\t" { continue }
                escaped.append(character)
            }
        }
        return escaped
    }
}
