import EventLog
import Foundation

// Settlement material for a producer (O24): the frozen month as CSV, handed over as a disclosure to the tenant file's
// settlement recipient (the producers) on its legal basis, naming the settlement record and the events the
// children's names and birth dates came from.

/// One row of settlement material.
public struct SettlementRow: Sendable, Hashable {
    public var childName: String
    public var birthDate: LocalDate?
    public var line: SettlementLine
}

extension Registry {
    /// The frozen month's rows for the producer, recorded as a disclosure before they are handed over. The lines of a
    /// child whose processing has been restricted since the month was frozen are held back (O21): `total` is then
    /// the exported rows' sum, and `heldBack` counts the lines left out.
    /// - Throws: `not-frozen` when the month has not been frozen yet.
    public func exportSettlement(producer: String, month: BillingMonth, configuration: TenantConfiguration, in tenant: TenantID,
                                 by metadata: EventMetadata) async throws -> (rows: [SettlementRow], total: Int, disclosure: LogPosition, heldBack: Int,
                                                                              payee: UnitOperator?) {
        guard let rules = configuration.vouchers,
              let (register, recipient) = configuration.regularRecipient(rules.settlementRecipient),
              let basis = recipient.legalBasis else {
            throw DomainError(.rule, "no-settlement-recipient", "The tenant file names no recipient for settlement material (vouchers.settlementRecipient).")
        }
        let events = try await store.readStream(RegisterStreams.settlements(producer), of: tenant)
        let (_, frozen) = try await frozenSettlements(of: producer, in: tenant)
        guard let done = frozen[month], let record = events.first(where: { $0.position == done.position }) else {
            throw DomainError(.rule, "not-frozen", "\(producer) \(month) has not been frozen; settle it on or after its cut-off day first.")
        }
        let (restrictionsVersion, restrictions) = try await restrictionState(in: tenant)
        let lines = done.lines.filter { restrictions[$0.child] == nil }
        var rows: [SettlementRow] = []
        var disclosed = [DisclosedEvent(position: record.position.rawValue, hash: record.hash.hex, eventType: record.eventType,
                                        subject: lines.first?.child ?? PersonID(UUID()), fields: [.settlement])]
        for child in Array(Set(lines.map(\.child))).sorted(by: { $0.description < $1.description }) {
            let person = try await self.person(child, in: tenant)
            let sources = try ManualDisclosure.currentValueEvents(try await store.readStream(RegisterStreams.person(child), of: tenant))
            for field in [FeedField.name, .birthDate] {
                guard let event = sources[field.rawValue] else { continue }
                if let index = disclosed.firstIndex(where: { $0.position == event.position.rawValue }) {
                    disclosed[index].fields.append(field)
                } else {
                    disclosed.append(DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: child, fields: [field]))
                }
            }
            for line in lines where line.child == child {
                rows.append(SettlementRow(childName: person.details.map { "\($0.name.first) \($0.name.last)" } ?? "", birthDate: person.details?.birthDate, line: line))
            }
        }
        let subjects = Array(Set(lines.map(\.child))).sorted { $0.description < $1.description }
        let recordEvent = DataDisclosed(recipient: rules.settlementRecipient, recipientPerson: nil, register: register.id, channel: "settlement", legalBasis: basis,
                                        consentPurpose: nil, subjects: subjects, fields: [.settlement, .name, .birthDate],
                                        events: disclosed.sorted { $0.position < $1.position }, recipientUnit: producer)
        let result = try await store.append([ProposedEvent(stream: DisclosureStreams.recipient(rules.settlementRecipient), eventType: DataDisclosed.eventType,
                                                           schemaVersion: DataDisclosed.schemaVersion, subjects: subjects, payload: try recordEvent.sortedJSON())], to: tenant, metadata: metadata,
                                             expecting: [RestrictionStreams.all: restrictionsVersion == 0 ? .noStream : .exact(restrictionsVersion)])
        return (rows.sorted { ($0.line.period, $0.childName) < ($1.line.period, $1.childName) }, lines.reduce(0) { $0 + $1.amountCents }, result.positions[0],
                done.lines.count - lines.count, done.payee)
    }
}

extension InvoiceDocuments {
    /// Settlement material: one line per child and month, `;`-separated with comma decimals.
    /// - Parameter payee: who is paid, as frozen with the month (its business id is the last column; empty when the
    ///   tenant file named no operator then).
    public static func settlementCSV(producer: String, payee: UnitOperator?, month: BillingMonth, rows: [SettlementRow]) -> Data {
        var text = "producer;month;child;birth_date;voucher;period;status;operational_days;covered_days;care_days;value;co_payment;due;paid_before;amount;payee_business_id\r\n"
        for row in rows {
            let line = row.line
            let fields = [producer, month.description, row.childName, row.birthDate?.description ?? "", line.voucher.uuidString.lowercased(), line.period.description,
                          line.status.rawValue, "\(line.operationalDays)", "\(line.coveredDays)", "\(line.careDays)", FinnishAmount.text(cents: line.valueCents),
                          FinnishAmount.text(cents: line.coPaymentCents), FinnishAmount.text(cents: line.dueCents), FinnishAmount.text(cents: line.paidBeforeCents),
                          FinnishAmount.text(cents: line.amountCents), payee?.businessID.value ?? ""]
            text += fields.map(csvField).joined(separator: ";") + "\r\n"
        }
        return Data(text.utf8)
    }
}
