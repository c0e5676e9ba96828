import EventLog
import Foundation

// Monthly invoices from the fee decisions in force (act 1503/2016 § 11–12, O23): a child's month is charged by the
// decisions of its operational days, then the absence rules and the cap of 11 charged months per operating year.
// A family's invoices and corrections are recorded on its stream in one append, so a run that is repeated or killed
// half-way bills nothing twice: each month's line says what the month costs now and what had been billed before.

public enum InvoiceKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// The month's invoice (Finvoice INV01).
    case invoice
    /// A correction that returns money: a decision lowered retroactively, absences reported late (INV02).
    case creditNote = "credit-note"
    /// A correction that charges more: a decision raised retroactively (INV01).
    case surcharge
}

/// Why a child's month costs what it does.
public enum ChargeRule: String, Codable, Sendable, Hashable, CaseIterable {
    /// The decisions' fees for the whole month.
    case full
    /// Not charged on every operational day (care started or ended within the month, or a decision without a fee for
    /// the child covers some days): prorated by days. A decision that changes within the month is weighed by its days
    /// under either rule.
    case partMonth = "part-month"
    /// Sick on more than 10 operational days: half.
    case sickOverTenDays = "sick-over-10-days"
    /// Sick on every operational day: nothing.
    case sickWholeMonth = "sick-whole-month"
    /// Absent on every operational day, not only for sickness: half.
    case absentWholeMonth = "absent-whole-month"
    /// Already charged for 11 months of this operating year: nothing.
    case elevenMonths = "eleven-months"
}

/// One child's month on an invoice.
public struct InvoiceLine: Codable, Sendable, Hashable {
    public var child: PersonID
    /// The month charged (earlier than the invoice's month on a correction).
    public var period: BillingMonth
    public var rule: ChargeRule
    /// The decisions' monthly fee for the child, euros (the last one in force in the month).
    public var monthlyFee: Int
    public var operationalDays: Int
    /// Operational days in charged care (municipal or purchased service).
    public var careDays: Int
    public var sickDays: Int
    public var absentDays: Int
    /// What the month costs now, cents.
    public var dueCents: Int
    /// What had been billed for it before this line, cents.
    public var billedBeforeCents: Int
    /// This line: due − billed before.
    public var amountCents: Int
    /// The decisions in force in the month.
    public var decisions: [UUID]
}

public struct InvoiceContent: Codable, Sendable, Hashable {
    public var lines: [InvoiceLine]
    public var totalCents: Int
}

/// An invoice or a correction, on the family's stream. Amounts are personal data (they reveal income): sealed under
/// the payer. The reference, number and dates are in clear.
public struct InvoiceIssued: RegisterEvent {
    public static let eventType = "InvoiceIssued"
    public var invoice: UUID
    /// `<customer number>-<YYYYMM>-<serial>`.
    public var number: String
    public var kind: InvoiceKind
    /// The invoicing run's month.
    public var month: BillingMonth
    public var issued: LocalDate
    public var due: LocalDate
    /// The Finnish reference number (7-3-1).
    public var reference: String
    public var payer: PersonID
    public var content: Personal<InvoiceContent>
    public var decisions: [UUID]
}

/// An invoice as folded from the family's stream.
public struct Invoice: Sendable, Hashable {
    public var id: UUID
    public var number: String
    public var kind: InvoiceKind
    public var month: BillingMonth
    public var issued: LocalDate
    public var due: LocalDate
    public var reference: String
    public var payer: PersonID
    /// Nil when read without keys, or when the payer was erased.
    public var content: InvoiceContent?
    public var decisions: [UUID]
    public var recordedAt: Timestamp
    public var position: LogPosition

    init(_ issued: InvoiceIssued, recordedAt: Timestamp, position: LogPosition) {
        id = issued.invoice
        number = issued.number
        kind = issued.kind
        month = issued.month
        self.issued = issued.issued
        due = issued.due
        reference = issued.reference
        payer = issued.payer
        content = issued.content.value
        decisions = issued.decisions
        self.recordedAt = recordedAt
        self.position = position
    }

    /// The international form of the reference (RF…).
    public var internationalReference: String { ReferenceNumber.international(reference) ?? reference }
}

/// What invoicing one family for a month did, or would do in a dry run.
public struct FamilyInvoicing: Sendable {
    public var family: UUID
    public var number: Int64
    /// Decisions recorded (or that would be) before invoicing.
    public var decisions: [FeeDecision]
    public var invoices: [Invoice]
    /// Months that could not be charged, with the reason (a pending decision).
    public var pending: [(month: BillingMonth, reason: String)]
}

extension Registry {
    /// Days from issue to due date.
    static let paymentTermDays = 14

    /// Invoices a family for `month`: brings its fee decisions up to date, charges the month, and corrects the earlier
    /// months whose charge has changed since they were billed. Decisions and invoices are recorded in one append.
    /// - Parameter commit: false computes everything and records nothing (a dry run).
    public func invoiceFeeFamily(_ id: UUID, month: BillingMonth, rules: FeeRules, commit: Bool, issuedOn issued: LocalDate,
                                 in tenant: TenantID, by metadata: EventMetadata) async throws -> FamilyInvoicing {
        for _ in 1...Self.attempts {
            var plan = try await planInvoicing(of: id, month: month, rules: rules, issuedOn: issued, in: tenant)
            guard commit, !plan.events.isEmpty else { return plan.result }
            do {
                let appended = try await store.append(plan.events, to: tenant, metadata: metadata, expecting: plan.expecting)
                plan.recorded(at: appended.positions)
                return plan.result
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue  // the family or a member changed meanwhile (another run?): decide again on what is recorded now
            }
        }
        throw Self.contendedFamily()
    }

    /// A family's invoicing worked out and ready to append: the decisions the facts call for, then the invoices
    /// charged on them; expecting the family's and members' streams as they were read.
    struct InvoicingPlan: Sendable {
        var result: FamilyInvoicing
        var events: [ProposedEvent]
        var expecting: [StreamRef: ExpectedVersion]

        /// Sets the positions the events got (decisions first, then invoices, as in `events`).
        mutating func recorded(at positions: [LogPosition]) {
            for index in result.decisions.indices { result.decisions[index].position = positions[index] }
            for index in result.invoices.indices { result.invoices[index].position = positions[result.decisions.count + index] }
        }
    }

    /// - Parameter events: the family's stream when the caller has read it already.
    func planInvoicing(of id: UUID, month: BillingMonth, rules: FeeRules, issuedOn issued: LocalDate, events: [RecordedEvent]? = nil,
                       in tenant: TenantID) async throws -> InvoicingPlan {
        var stream = events ?? []
        if events == nil { stream = try await feeFamilyEvents(id, in: tenant) }
        var family = try await feeFamily(id, events: stream, in: tenant)
        let people = try await feeFamilyMembers(family, in: tenant)
        let horizon = max(LocalDate.today(at: now()), month.last)
        let (decisions, decisionEvents) = try await proposedDecisions(for: family, people: people, rules: rules, through: horizon, in: tenant)
        let expecting = Self.expectations(family, people)
        family.decisions += decisions
        var result = FamilyInvoicing(family: id, number: family.number, decisions: decisions, invoices: [], pending: [])
        let (documents, pending) = try await charges(of: family, people: people, month: month, in: tenant)
        result.pending = pending
        var events = decisionEvents
        guard !documents.isEmpty else { return InvoicingPlan(result: result, events: events, expecting: expecting) }
        let serialBase = family.invoices.filter { $0.month == month }.count
        let subjects = family.members.filter { !(people[$0]?.isErased ?? true) }
        let termDays = rules.invoicing?.termDays ?? Self.paymentTermDays
        var issuedEvents: [InvoiceIssued] = []
        for (offset, document) in documents.enumerated() {
            let serial = serialBase + offset + 1
            let yymm = String(format: "%02d%02d", month.year % 100, month.month)
            let reference = ReferenceNumber.finnish(base: "\(family.number)\(yymm)\(serial)")!
            let total = document.lines.reduce(0) { $0 + $1.amountCents }
            let invoice = InvoiceIssued(invoice: UUID(), number: "\(family.number)-\(month.year)\(String(format: "%02d", month.month))-\(serial)",
                                        kind: document.kind, month: month, issued: issued, due: issued.adding(days: termDays),
                                        reference: reference, payer: document.payer,
                                        content: .clear(InvoiceContent(lines: document.lines, totalCents: total), subject: document.payer),
                                        decisions: Array(Set(document.lines.flatMap(\.decisions))).sorted { $0.uuidString < $1.uuidString })
            issuedEvents.append(invoice)
            result.invoices.append(Invoice(invoice, recordedAt: Timestamp(now()), position: .pendingDecision))
        }
        let sealer = PayloadSealer(keys: try await keyRing.sealingKeys(for: subjects, in: tenant))
        events += try sealer.seal(issuedEvents).map {
            ProposedEvent(stream: RegisterStreams.feeFamily(id), eventType: InvoiceIssued.eventType, subjects: subjects, payload: $0)
        }
        return InvoicingPlan(result: result, events: events, expecting: expecting)
    }

    private struct Document {
        var kind: InvoiceKind
        var payer: PersonID
        var lines: [InvoiceLine]
    }

    /// The lines to bill now: for each month to look at, each child's change from what was billed before.
    private func charges(of family: FeeFamilyRecord, people: [PersonID: PersonRecord], month: BillingMonth,
                         in tenant: TenantID) async throws -> ([Document], [(month: BillingMonth, reason: String)]) {
        guard let firstDay = family.compositions.first?.validFrom else { return ([], []) }
        let periods = FeeTimeline.recorded(family.decisions)
        // Months to look at: this one; the one before (absences are often reported late); and every month since the
        // earliest day changed by a decision recorded after the family's last invoice (retroactive decisions) — but
        // never before the family was formed, nor before the first month it was billed for: a family new to billing
        // is billed from the month before the run's, not for its whole past.
        var months: Set<BillingMonth> = [month, month.adding(months: -1)]
        let lastInvoice = family.invoices.map(\.position).max() ?? .start
        if let earliest = family.decisions.filter({ $0.position > lastInvoice }).map(\.validFrom).min() {
            var changed = BillingMonth(containing: earliest)
            while changed < month { months.insert(changed); changed = changed.adding(months: 1) }
        }
        let firstBilled = family.invoices.flatMap { $0.content?.lines.map(\.period) ?? [] }.min() ?? month.adding(months: -1)
        months = months.filter { $0 <= month && $0 >= BillingMonth(containing: firstDay) && $0 >= min(firstBilled, month.adding(months: -1)) }

        // What was billed per child and month, from the invoices recorded.
        var billed: [PersonID: [BillingMonth: Int]] = [:]
        for invoice in family.invoices {
            for line in invoice.content?.lines ?? [] { billed[line.child, default: [:]][line.period, default: 0] += line.amountCents }
        }
        var regular: [InvoiceLine] = [], raised: [InvoiceLine] = [], lowered: [InvoiceLine] = []
        var pending: [(month: BillingMonth, reason: String)] = []
        var decisionPayer: PersonID?
        for current in months.sorted() {
            let inMonth = periods.filter { $0.from <= current.last && ($0.until.map { $0 >= current.first } ?? true) }
            if let held = inMonth.compactMap(\.decision).first(where: { $0.status == .pending }) {
                pending.append((current, held.reason ?? "pending"))
                continue
            }
            if let last = inMonth.compactMap(\.decision).last(where: { $0.status == .fee })?.payer { decisionPayer = last }
            let charged = Set(inMonth.compactMap(\.decision).flatMap { $0.calculation?.children.map(\.child) ?? [] })
            let children = charged.union(billed.filter { $0.value[current] != nil }.keys).sorted { $0.description < $1.description }
            // The month's attendance of every child at once (a round trip each on PostgreSQL).
            let registry = self
            let attendanceByChild = try await withThrowingTaskGroup(of: AttendanceMonth.self) { group in
                for child in children { group.addTask { try await registry.attendance(of: child, month: current.description, in: tenant) } }
                var found: [PersonID: AttendanceMonth] = [:]
                while let attendance = try await group.next() { found[attendance.child] = attendance }
                return found
            }
            for child in children {
                let attendance = attendanceByChild[child] ?? AttendanceMonth(child: child, month: current.description)
                // Charged months of this operating year before this one, counting lines of this run too.
                let earlier = (billed[child] ?? [:]).filter { $0.key >= current.operatingYearStart && $0.key < current && $0.value > 0 }.count
                var line = Self.charge(child, in: current, periods: inMonth, placements: people[child]?.placements ?? [], attendance: attendance,
                                       chargedMonthsBefore: earlier)
                line.billedBeforeCents = billed[child]?[current] ?? 0
                line.amountCents = line.dueCents - line.billedBeforeCents
                guard line.amountCents != 0 else { continue }
                billed[child, default: [:]][current, default: 0] += line.amountCents
                let regularMonth = current == month && !family.invoices.contains { $0.kind == .invoice && $0.month == month }
                if regularMonth { regular.append(line) } else if line.amountCents > 0 { raised.append(line) } else { lowered.append(line) }
            }
        }
        guard let payer = decisionPayer ?? family.compositions.inForce(on: month.last)?.adults.first ?? family.compositions.last?.adults.first else { return ([], pending) }
        var documents: [Document] = []
        // A regular invoice that came out negative (a late sick leave larger than the month) is a credit note.
        if !regular.isEmpty { documents.append(Document(kind: regular.reduce(0) { $0 + $1.amountCents } < 0 ? .creditNote : .invoice, payer: payer, lines: regular)) }
        if !raised.isEmpty { documents.append(Document(kind: .surcharge, payer: payer, lines: raised)) }
        if !lowered.isEmpty { documents.append(Document(kind: .creditNote, payer: payer, lines: lowered)) }
        return (documents, pending)
    }

    /// A child's month by the decisions in force, the absence rules and the 11-month cap (pure).
    static func charge(_ child: PersonID, in month: BillingMonth, periods: [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)],
                       placements: [Placement], attendance: AttendanceMonth, chargedMonthsBefore: Int) -> InvoiceLine {
        let days = BillingCalendar.operationalDays(in: month)
        var feeDays = 0, careDays = 0, sick = 0, absent = 0, lastFee = 0
        var sum = 0  // Σ over care days of the day's monthly fee, cents
        var decisions: [UUID] = []
        for day in days {
            guard let placement = placements.first(where: { $0.covers(day) }), placement.arrangement.isChargedByFee,
                  placement.arrangement != .serviceVoucher else { continue }
            careDays += 1
            if let kind = attendance.days[day]?.absence { absent += 1; if kind == .sick { sick += 1 } }
            guard let decision = periods.last(where: { $0.from <= day && ($0.until.map { day <= $0 } ?? true) })?.decision,
                  let fee = decision.calculation?.children.first(where: { $0.child == child })?.fee else { continue }
            feeDays += 1
            lastFee = fee
            sum += fee * 100
            if !decisions.contains(decision.id) { decisions.append(decision.id) }
        }
        let base = days.isEmpty ? 0 : (sum * 2 + days.count) / (days.count * 2)  // half up, cents
        var rule: ChargeRule = feeDays == days.count ? .full : .partMonth
        var due = base
        if base > 0 {
            if chargedMonthsBefore >= 11 { rule = .elevenMonths; due = 0 }
            else if sick == careDays { rule = .sickWholeMonth; due = 0 }
            else if absent == careDays { rule = .absentWholeMonth; due = (base + 1) / 2 }
            else if sick > 10 { rule = .sickOverTenDays; due = (base + 1) / 2 }
        }
        return InvoiceLine(child: child, period: month, rule: rule, monthlyFee: lastFee, operationalDays: days.count, careDays: careDays, sickDays: sick,
                           absentDays: absent, dueCents: due, billedBeforeCents: 0, amountCents: due, decisions: decisions)
    }
}
