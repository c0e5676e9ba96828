import EventLog
import Foundation

// Voucher decisions and producers' service records (O24), on the child's stream: the municipality grants a voucher
// for a producer (a unit that offers service-voucher care, possibly a tenant of its own), and the producer records,
// month by month, the operational days it gave care on the voucher.

/// A voucher granted to a child for a producer, from `validFrom` (until `validUntil`).
public struct VoucherGranted: RegisterEvent {
    public static let eventType = "VoucherGranted"
    public var voucher: UUID
    /// The producer's unit code in the municipality's register.
    public var producer: String
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    /// The service need option the voucher is for (weekly hours).
    public var hoursPerWeek: Int
    /// The assistance-need coefficient as a percent (100 = 1.0).
    public var assistancePercent: Int
}

/// A voucher's end was set or moved.
public struct VoucherEnded: RegisterEvent {
    public static let eventType = "VoucherEnded"
    public var voucher: UUID
    public var end: LocalDate
}

/// The operational days of a month a producer gave care on a voucher; a later record of the same month replaces it.
public struct VoucherServiceRecorded: RegisterEvent {
    public static let eventType = "VoucherServiceRecorded"
    public var voucher: UUID
    public var month: BillingMonth
    public var careDays: Int
}

/// A voucher as the child's stream tells it.
public struct Voucher: Sendable, Hashable {
    public var id: UUID
    public var producer: String
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var hoursPerWeek: Int
    public var assistancePercent: Int
    /// Care days recorded by the producer, by month.
    public var services: [BillingMonth: Int] = [:]

    public func covers(_ day: LocalDate) -> Bool { validFrom <= day && (validUntil.map { day <= $0 } ?? true) }
}

extension PersonRecord {
    mutating func apply(voucherEvent event: RecordedEvent, opener: PayloadOpener) throws {
        switch event.eventType {
        case VoucherGranted.eventType:
            let granted = try opener.open(VoucherGranted.self, from: event.payload)
            vouchers.append(Voucher(id: granted.voucher, producer: granted.producer, validFrom: granted.validFrom, validUntil: granted.validUntil,
                                    hoursPerWeek: granted.hoursPerWeek, assistancePercent: granted.assistancePercent))
        case VoucherEnded.eventType:
            let ended = try opener.open(VoucherEnded.self, from: event.payload)
            if let index = vouchers.firstIndex(where: { $0.id == ended.voucher }) { vouchers[index].validUntil = ended.end }
        case VoucherServiceRecorded.eventType:
            let recorded = try opener.open(VoucherServiceRecorded.self, from: event.payload)
            if let index = vouchers.firstIndex(where: { $0.id == recorded.voucher }) { vouchers[index].services[recorded.month] = recorded.careDays }
        default:
            break
        }
    }
}

extension Registry {
    /// Grants a child a voucher for a producer: the unit must offer service-voucher care, and the child's vouchers may
    /// not share a day.
    @discardableResult
    public func grantVoucher(to child: PersonID, producer: String, validFrom: LocalDate, validUntil: LocalDate?, hoursPerWeek: Int,
                             assistancePercent: Int = 100, configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws -> UUID {
        guard let unit = configuration.units.first(where: { $0.code == producer }) else {
            throw DomainError(.notFound, "unknown-unit", "The tenant has no unit \(producer.prefix(64)).", field: "producer")
        }
        guard unit.arrangements.contains(.serviceVoucher) else {
            throw DomainError(.rule, "not-a-producer", "Unit \(producer) does not offer service-voucher care.", field: "producer")
        }
        if let validUntil, validUntil < validFrom { throw DomainError(.rule, "voucher-dates", "A voucher ends on or after its start.", field: "validUntil") }
        guard (1...60).contains(hoursPerWeek) else { throw DomainError.invalid("hoursPerWeek", "hoursPerWeek is 1–60") }
        guard (100...500).contains(assistancePercent) else { throw DomainError.invalid("assistancePercent", "assistancePercent is 100–500 (a coefficient of 1.0–5.0)") }
        let id = UUID()
        try await execute(on: child, in: tenant, by: metadata) { record in
            try Self.requireChild(record)
            if record.vouchers.contains(where: { FeeRules.overlap($0.validFrom, $0.validUntil, validFrom, validUntil) }) {
                throw DomainError(.rule, "voucher-overlaps", "The child already has a voucher for some of these days.", field: "validFrom")
            }
            let granted = VoucherGranted(voucher: id, producer: producer, validFrom: validFrom, validUntil: validUntil, hoursPerWeek: hoursPerWeek,
                                         assistancePercent: assistancePercent)
            return [try await event(child, granted, subjects: [child], in: tenant)]
        }
        return id
    }

    public func endVoucher(_ voucher: UUID, of child: PersonID, on end: LocalDate, in tenant: TenantID, by metadata: EventMetadata) async throws {
        try await execute(on: child, in: tenant, by: metadata) { record in
            guard let current = record.vouchers.first(where: { $0.id == voucher }) else {
                throw DomainError(.notFound, "not-found", "The child has no such voucher.", field: "voucher")
            }
            guard end >= current.validFrom else { throw DomainError(.rule, "voucher-dates", "A voucher ends on or after its start (\(current.validFrom)).", field: "end") }
            if record.vouchers.contains(where: { $0.id != voucher && FeeRules.overlap($0.validFrom, $0.validUntil, current.validFrom, end) }) {
                throw DomainError(.rule, "voucher-overlaps", "With this end the voucher would share days with the child's next voucher.", field: "end")
            }
            return [try await event(child, VoucherEnded(voucher: voucher, end: end), subjects: [child], in: tenant)]
        }
    }

    /// A producer's record of the operational days it gave care on a voucher in a month. The API checks that the
    /// caller works for the voucher's producer.
    public func recordVoucherService(_ voucher: UUID, of child: PersonID, month: BillingMonth, careDays: Int,
                                     in tenant: TenantID, by metadata: EventMetadata) async throws {
        try await execute(on: child, in: tenant, by: metadata) { record in
            guard let current = record.vouchers.first(where: { $0.id == voucher }) else {
                throw DomainError(.notFound, "not-found", "The child has no such voucher.", field: "voucher")
            }
            let covered = BillingCalendar.operationalDays(in: month).filter(current.covers).count
            guard covered > 0 else { throw DomainError(.rule, "outside-voucher", "The voucher is not in force on any operational day of \(month).", field: "month") }
            guard (0...covered).contains(careDays) else {
                throw DomainError(.rule, "care-days", "careDays is 0–\(covered): the operational days of \(month) the voucher covers.", field: "careDays")
            }
            if current.services[month] == careDays { return [] }
            return [try await event(child, VoucherServiceRecorded(voucher: voucher, month: month, careDays: careDays), subjects: [child], in: tenant)]
        }
    }
}
