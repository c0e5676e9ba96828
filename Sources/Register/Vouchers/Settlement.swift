import EventLog
import Foundation

// Monthly settlement per producer (O24): for each child's voucher, the value of the operational days it covers less
// the family's co-payment (the client fee of the family's fee decision), prorated by the days the producer recorded.
// A month is frozen on the tenant's cut-off day (in the following month): the settlement is recorded then, and what
// changes afterwards — a late service record, a corrected fee decision — flows into the next month's settlement as a
// correction line for the earlier month.

public enum SettlementLineStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// Computed and payable.
    case payable
    /// The producer has recorded no service for the month: nothing is paid until it does.
    case notRecorded = "not-recorded"
    /// The family's co-payment is not decided (no fee family, or a pending fee decision): held until it is.
    case noFeeDecision = "no-fee-decision"
    /// No value table is in force.
    case noValueTable = "no-value-table"
    /// The child's processing is restricted (O21): nothing is settled about them until it is lifted.
    case restricted
}

/// One child's voucher in one month, as settled.
public struct SettlementLine: Codable, Sendable, Hashable {
    public var child: PersonID
    public var voucher: UUID
    public var period: BillingMonth
    public var status: SettlementLineStatus
    public var operationalDays: Int
    /// Operational days the voucher covers.
    public var coveredDays: Int
    /// Operational days the producer recorded care on.
    public var careDays: Int
    /// The voucher's value for the covered days, cents.
    public var valueCents: Int
    /// The family's co-payment for the covered days (at most the value), cents.
    public var coPaymentCents: Int
    /// (value − co-payment) × care days / covered days, cents.
    public var dueCents: Int
    public var paidBeforeCents: Int
    /// This line: due − paid before.
    public var amountCents: Int
}

/// A producer's month frozen on the cut-off day. Each line is sealed under its child's key; the total is the
/// producer's, in clear.
public struct SettlementFrozen: RegisterEvent {
    public static let eventType = "SettlementFrozen"
    public var producer: String
    public var month: BillingMonth
    public var frozenOn: LocalDate
    public var lines: [Personal<SettlementLine>]
    public var totalCents: Int
    /// Who is paid: the unit's operator as the tenant file named it when the month was frozen.
    public var payee: UnitOperator?
}

extension RegisterStreams {
    public static func settlements(_ producer: String) -> StreamRef { StreamRef(uncheckedType: "settlements", id: producer) }
}

/// A producer's settlement for a month: the lines frozen, or (before the cut-off, or in a dry run) computed.
public struct Settlement: Sendable {
    public var producer: String
    public var month: BillingMonth
    public var lines: [SettlementLine]
    public var totalCents: Int
    /// Recorded now, or earlier (`alreadyFrozen`), or not at all (a preview).
    public var position: LogPosition?
    public var alreadyFrozen: Bool
    /// The day it was frozen (nil for a preview).
    public var frozenOn: LocalDate? = nil
    /// Who is paid: as frozen, or (a preview) as the tenant file names the unit's operator now.
    public var payee: UnitOperator? = nil
}

extension Registry {
    /// The producers' months frozen so far, folded from the producer's stream.
    func frozenSettlements(of producer: String, in tenant: TenantID) async throws -> (version: Int64, months: [BillingMonth: (lines: [SettlementLine], total: Int, position: LogPosition, frozenOn: LocalDate, payee: UnitOperator?)]) {
        let events = try await store.readStream(RegisterStreams.settlements(producer), of: tenant)
        let keys = try await keyRing.openingKeys(for: Array(Set(events.flatMap(\.subjects))), in: tenant)
        let opener = PayloadOpener(keys: keys)
        var months: [BillingMonth: (lines: [SettlementLine], total: Int, position: LogPosition, frozenOn: LocalDate, payee: UnitOperator?)] = [:]
        for event in events where event.eventType == SettlementFrozen.eventType {
            let frozen = try opener.open(SettlementFrozen.self, from: event.payload)
            months[frozen.month] = (frozen.lines.compactMap(\.value), frozen.totalCents, event.position, frozen.frozenOn, frozen.payee)
        }
        return (events.last?.streamVersion ?? 0, months)
    }

    /// The children who have ever had a voucher for `producer`.
    func voucherChildren(of producer: String, in tenant: TenantID) async throws -> [PersonID] {
        var children: [PersonID] = []
        var seen = Set<PersonID>()
        var position = LogPosition.start
        while true {
            let page = try await store.read(tenant, after: position, through: nil, limit: 5_000, filter: EventFilter(eventTypes: [VoucherGranted.eventType]))
            for event in page {
                // VoucherGranted holds no personal field: it decodes without keys.
                guard let granted = try? JSONDecoder().decode(VoucherGranted.self, from: event.payload), granted.producer == producer,
                      let child = event.subjects.first, seen.insert(child).inserted else { continue }
                children.append(child)
            }
            guard let last = page.last, page.count == 5_000 else { break }
            position = last.position
        }
        return children
    }

    /// The fee families each child has been in.
    func feeFamiliesByChild(in tenant: TenantID) async throws -> [PersonID: [UUID]] {
        var families: [PersonID: [UUID]] = [:]
        var position = LogPosition.start
        while true {
            let page = try await store.read(tenant, after: position, through: nil, limit: 5_000,
                                            filter: EventFilter(eventTypes: [FeeFamilyComposed.eventType], streamTypes: ["fee-family"]))
            for event in page {
                guard let id = UUID(canonical: event.stream.id), let composed = try? JSONDecoder().decode(FeeFamilyComposed.self, from: event.payload) else { continue }
                for child in composed.children where !(families[child]?.contains(id) ?? false) { families[child, default: []].append(id) }
            }
            guard let last = page.last, page.count == 5_000 else { break }
            position = last.position
        }
        return families
    }

    /// Settles a producer's month: computes each child's line and corrections for earlier frozen months. With `commit`
    /// (allowed from the cut-off day on), freezes it; a month frozen already is returned as it was.
    /// - Parameter payee: the unit's operator as the tenant file names it now, recorded with a month frozen now.
    public func settleVouchers(producer: String, month: BillingMonth, rules: VoucherRules, feeRules: FeeRules?, payee: UnitOperator? = nil, commit: Bool,
                               in tenant: TenantID, by metadata: EventMetadata) async throws -> Settlement {
        let today = LocalDate.today(at: now())
        for _ in 1...Self.attempts {
            let (version, frozen) = try await frozenSettlements(of: producer, in: tenant)
            if let done = frozen[month] {
                return Settlement(producer: producer, month: month, lines: done.lines, totalCents: done.total, position: done.position, alreadyFrozen: true,
                                  frozenOn: done.frozenOn, payee: done.payee)
            }
            if commit, today < rules.cutOff(of: month) {
                throw DomainError(.rule, "before-cut-off", "\(month) is frozen on its cut-off day, \(rules.cutOff(of: month)); until then it can only be previewed.")
            }
            let (restrictionsVersion, restrictions) = try await restrictionState(in: tenant)
            let families = try await feeFamiliesByChild(in: tenant)
            var paid: [UUID: [BillingMonth: Int]] = [:]
            for (_, entry) in frozen { for line in entry.lines { paid[line.voucher, default: [:]][line.period, default: 0] += line.amountCents } }
            // This month, and every earlier month frozen for the producer (their corrections).
            let months = (Set(frozen.keys.filter { $0 < month }) + [month]).sorted()
            var lines: [SettlementLine] = []
            for child in try await voucherChildren(of: producer, in: tenant) {
                let record = try await person(child, in: tenant)
                guard !record.isErased else { continue }
                var decisions: [FeeDecision] = []
                for family in families[child] ?? [] {
                    var made: [FeeDecision] = []
                    if let rules = feeRules {
                        // Decisions brought up to date first; a family that cannot be decided now (an erased payer, a
                        // race) is settled on the decisions it has, and the next settlement corrects.
                        do {
                            made = try await reviseFeeDecisions(of: family, rules: rules, through: max(today, month.last), commit: commit, in: tenant, by: metadata)
                        } catch is DomainError {
                        } catch let error as EventLogError where error.code == .subjectErased {
                        }
                    }
                    decisions += try await feeFamily(family, in: tenant).decisions + (commit ? [] : made)
                }
                let periods = FeeTimeline.recorded(decisions)
                for voucher in record.vouchers where voucher.producer == producer {
                    for current in months {
                        let paidBefore = paid[voucher.id]?[current] ?? 0
                        var line: SettlementLine
                        if let computed = Self.settlementLine(child: record, voucher: voucher, month: current, fees: periods, rules: rules) {
                            line = computed
                        } else if paidBefore != 0 {
                            // The voucher no longer covers a month it was paid for (its end moved earlier): reclaim it.
                            line = SettlementLine(child: child, voucher: voucher.id, period: current, status: .payable,
                                                  operationalDays: BillingCalendar.operationalDays(in: current).count, coveredDays: 0, careDays: 0, valueCents: 0,
                                                  coPaymentCents: 0, dueCents: 0, paidBeforeCents: 0, amountCents: 0)
                        } else {
                            continue
                        }
                        if restrictions[child] != nil {
                            // Held while processing is restricted: nothing is paid, nothing reclaimed.
                            line.status = .restricted
                            line.dueCents = paidBefore
                        }
                        line.paidBeforeCents = paidBefore
                        line.amountCents = line.dueCents - line.paidBeforeCents
                        guard current == month || line.amountCents != 0 else { continue }
                        lines.append(line)
                    }
                }
            }
            lines.sort { ($0.period, $0.child.description) < ($1.period, $1.child.description) }
            let total = lines.reduce(0) { $0 + $1.amountCents }
            guard commit else {
                return Settlement(producer: producer, month: month, lines: lines, totalCents: total, position: nil, alreadyFrozen: false, payee: payee)
            }
            let subjects = Array(Set(lines.map(\.child))).sorted { $0.description < $1.description }
            let frozenEvent = SettlementFrozen(producer: producer, month: month, frozenOn: today, lines: lines.map { .clear($0, subject: $0.child) }, totalCents: total,
                                               payee: payee)
            let stream = RegisterStreams.settlements(producer)
            do {
                let result = try await store.append([ProposedEvent(stream: stream, eventType: SettlementFrozen.eventType, subjects: subjects,
                                                                   payload: try await keyRing.seal(frozenEvent, subjects: subjects, in: tenant))],
                                                    to: tenant, metadata: metadata,
                                                    expecting: [stream: version == 0 ? .noStream : .exact(version),
                                                                RestrictionStreams.all: restrictionsVersion == 0 ? .noStream : .exact(restrictionsVersion)])
                return Settlement(producer: producer, month: month, lines: lines, totalCents: total, position: result.positions[0], alreadyFrozen: false,
                                  frozenOn: today, payee: payee)
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue  // frozen by another run meanwhile: return what it froze
            }
        }
        throw DomainError(.conflict, "contended", "The settlement changed repeatedly while it was being frozen; try again.")
    }

    /// One child's voucher in one month (pure); nil when the voucher covers no operational day of it.
    static func settlementLine(child: PersonRecord, voucher: Voucher, month: BillingMonth,
                               fees: [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)], rules: VoucherRules) -> SettlementLine? {
        let days = BillingCalendar.operationalDays(in: month)
        let covered = days.filter(voucher.covers)
        guard !covered.isEmpty else { return nil }
        var line = SettlementLine(child: child.id, voucher: voucher.id, period: month, status: .payable, operationalDays: days.count, coveredDays: covered.count,
                                  careDays: voucher.services[month] ?? 0, valueCents: 0, coPaymentCents: 0, dueCents: 0, paidBeforeCents: 0, amountCents: 0)
        guard let birth = child.details?.birthDate else { line.status = .noValueTable; return line }
        var value = 0, coPayment = 0
        for day in covered {
            guard let monthly = VoucherValue.monthlyCents(on: day, birth: birth, hoursPerWeek: voucher.hoursPerWeek, assistancePercent: voucher.assistancePercent,
                                                          rules: rules) else { line.status = .noValueTable; return line }
            value += monthly
            let decision = fees.last { $0.from <= day && ($0.until.map { day <= $0 } ?? true) }?.decision
            switch decision?.status {
            case .fee?: coPayment += (decision?.calculation?.children.first { $0.child == child.id }?.fee ?? 0) * 100
            case .noFee?: break
            case .pending?, nil:
                line.status = .noFeeDecision
            }
        }
        // Sums of monthly amounts over days, back to the month's share: ÷ operational days, half up.
        line.valueCents = (value * 2 + days.count) / (days.count * 2)
        line.coPaymentCents = min(line.valueCents, (coPayment * 2 + days.count) / (days.count * 2))
        guard line.status == .payable else { return line }
        guard voucher.services[month] != nil else { line.status = .notRecorded; return line }
        // A voucher whose end moved earlier after the care was recorded covers fewer days than recorded.
        line.careDays = min(line.careDays, covered.count)
        let net = line.valueCents - line.coPaymentCents
        line.dueCents = (net * line.careDays * 2 + covered.count) / (covered.count * 2)
        return line
    }
}
