import EventLog
import Foundation

// What a producer's staff see of the municipality's register is a disclosure to the producer "as far as the register
// requires" (O24): each listing is recorded like any hand-over, naming the events whose data was shown.

extension Registry {
    /// The children with a voucher for `producer` in force on some day of `month`, opened; not those whose
    /// processing is restricted (O21), whom nothing is handed over about.
    public func producerChildren(_ producer: String, month: BillingMonth, in tenant: TenantID) async throws -> [PersonRecord] {
        var children: [PersonRecord] = []
        let restrictions = try await restrictions(in: tenant)
        for child in try await voucherChildren(of: producer, in: tenant) where restrictions[child] == nil {
            let record = try await person(child, in: tenant)
            guard !record.isErased, record.vouchers.contains(where: { $0.producer == producer && FeeRules.overlap($0.validFrom, $0.validUntil, month.first, month.last) })
            else { continue }
            children.append(record)
        }
        return children
    }

    /// Records that the producer was shown these children's names, birth dates and vouchers.
    /// - Throws: `no-settlement-recipient` when the tenant file names no producers' recipient.
    @discardableResult
    public func recordProducerAccess(_ producer: String, children: [PersonRecord], configuration: TenantConfiguration, in tenant: TenantID,
                                     by metadata: EventMetadata) async throws -> LogPosition? {
        guard !children.isEmpty else { return nil }
        guard let recipientID = configuration.vouchers?.settlementRecipient,
              let (register, recipient) = configuration.regularRecipient(recipientID),
              let basis = recipient.legalBasis else {
            throw DomainError(.rule, "no-settlement-recipient", "The tenant file names no recipient for the producers (vouchers.settlementRecipient).")
        }
        var disclosed: [DisclosedEvent] = []
        for child in children {
            let events = try await store.readStream(RegisterStreams.person(child.id), of: tenant)
            let sources = try ManualDisclosure.currentValueEvents(events)
            var byPosition: [Int64: DisclosedEvent] = [:]
            for field in [FeedField.name, .birthDate] {
                guard let event = sources[field.rawValue] else { continue }
                byPosition[event.position.rawValue, default: DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType,
                                                                            subject: child.id, fields: [])].fields.append(field)
            }
            // Only this producer's vouchers are shown, and of each what the view carries.
            let shown = Set(child.vouchers.filter { $0.producer == producer }.map(\.id))
            for event in events {
                let fields: [FeedField]
                switch event.eventType {
                case VoucherGranted.eventType:
                    guard let granted = try? JSONDecoder().decode(VoucherGranted.self, from: event.payload), shown.contains(granted.voucher) else { continue }
                    fields = [.unit, .start, .end, .serviceNeed]
                case VoucherEnded.eventType:
                    guard let ended = try? JSONDecoder().decode(VoucherEnded.self, from: event.payload), shown.contains(ended.voucher) else { continue }
                    fields = [.end]
                case VoucherServiceRecorded.eventType:
                    guard let recorded = try? JSONDecoder().decode(VoucherServiceRecorded.self, from: event.payload), shown.contains(recorded.voucher) else { continue }
                    fields = [.date]
                default:
                    continue
                }
                byPosition[event.position.rawValue] = DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType,
                                                                     subject: child.id, fields: fields)
            }
            disclosed += byPosition.values
        }
        let subjects = children.map(\.id)
        let record = DataDisclosed(recipient: recipientID, recipientPerson: nil, register: register.id, channel: "producer-access", legalBasis: basis,
                                   consentPurpose: nil, subjects: subjects, fields: [.name, .birthDate, .unit, .start, .end, .serviceNeed, .date],
                                   events: disclosed.sorted { $0.position < $1.position }, recipientUnit: producer)
        return try await store.append([ProposedEvent(stream: DisclosureStreams.recipient(recipientID), eventType: DataDisclosed.eventType,
                                                     schemaVersion: DataDisclosed.schemaVersion, subjects: subjects,
                                                     payload: try record.sortedJSON())], to: tenant, metadata: metadata).positions[0]
    }
}
