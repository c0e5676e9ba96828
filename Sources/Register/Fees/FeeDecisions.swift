import EventLog
import Foundation

// Fee decisions (act 1503/2016, O23): for each period in which a family's inputs stay the same, one decision with the
// calculation and the versions of the streams its inputs were read from. A change of family, income, placement,
// service need, fee table or the municipality's alterations yields new decisions from the day it takes effect, recorded as events, so every euro
// charged is explained by the log. Revising is idempotent: when the decisions in force already say what the facts
// give, nothing is recorded.

public enum FeeDecisionStatus: String, Codable, Sendable, Hashable {
    /// A fee is charged (it may be 0 € when every child's fee is under the minimum).
    case fee
    /// No child of the family is in charged care: no fee.
    case noFee = "no-fee"
    /// The fee cannot be decided (`reason` says why: no fee table, no income limits, a child's birth date unknown);
    /// nothing is invoiced for these days until it can.
    case pending
}

/// A stream and the version of it that a decision's inputs were read at.
public struct DecisionInput: Codable, Sendable, Hashable {
    public var stream: StreamRef
    public var version: Int64
}

/// A fee decision for the family from `validFrom` (until `validUntil`); it supersedes earlier decisions on those days.
public struct FeeDecisionMade: RegisterEvent {
    public static let eventType = "FeeDecisionMade"
    public var decision: UUID
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var status: FeeDecisionStatus
    /// With status `fee`: the calculation with every step and input (income included), sealed under the payer.
    public var calculation: Personal<FeeCalculation>?
    /// The adult the decision is addressed to and who pays the invoices.
    public var payer: PersonID?
    /// With status `pending`: the reason's code.
    public var reason: String?
    /// The streams the inputs were read from, at the versions read: the family's and each member's.
    public var inputs: [DecisionInput]
}

/// A decision as folded from the family's stream.
public struct FeeDecision: Sendable, Hashable {
    public var id: UUID
    public var validFrom: LocalDate
    public var validUntil: LocalDate?
    public var status: FeeDecisionStatus
    /// Nil when read without keys or erased, and for statuses other than `fee`.
    public var calculation: FeeCalculation?
    public var payer: PersonID?
    public var reason: String?
    public var recordedAt: Timestamp
    public var position: LogPosition

    var outcome: FeeOutcome {
        switch status {
        case .fee: calculation.map { .fee($0) } ?? .unreadable
        case .noFee: .noFee
        case .pending: .pending(reason ?? "pending")
        }
    }
}

/// What the facts give for a day.
enum FeeOutcome: Hashable, Sendable {
    case fee(FeeCalculation)
    case noFee
    case pending(String)
    /// A recorded decision whose calculation cannot be opened (its payer was erased).
    case unreadable
}

/// A stretch of days with one outcome.
struct FeePeriod: Hashable, Sendable {
    var from: LocalDate
    var until: LocalDate?
    var outcome: FeeOutcome
    var payer: PersonID?
}

/// The charged arrangements: municipal care and purchased services pay the fee; a voucher child's co-payment is the
/// same fee (it goes to the producer, and counts in the sibling order). Private care without a voucher is no concern
/// of the municipality's fees.
extension Arrangement {
    var isChargedByFee: Bool { self != .private }
}

enum FeeTimeline {
    /// The family's outcome from its first composition on, as periods of equal outcome (the last open-ended).
    static func desired(_ family: FeeFamilyRecord, people: [PersonID: PersonRecord], rules: FeeRules) -> [FeePeriod] {
        guard let start = family.compositions.first?.validFrom else { return [] }
        var days = Set(family.compositions.changeDays)
        for member in family.members {
            guard let person = people[member] else { continue }
            days.formUnion(person.incomes.changeDays)
            for placement in person.placements {
                days.insert(placement.start)
                if let end = placement.end { days.insert(end.adding(days: 1)) }
                days.formUnion(placement.serviceNeeds.map(\.from))
            }
            if let birth = person.details?.birthDate, let adult = try? LocalDate(year: birth.year + 18, month: birth.month, day: min(birth.day, 28)) {
                // The day the child comes of age (29 February births: the 28th, a day early, is close enough for a
                // change point; the age test itself is exact).
                days.insert(adult)
                days.insert(adult.adding(days: 1))
                days.insert(adult.adding(days: 2))
            }
        }
        days.formUnion(rules.tables.flatMap { [$0.validFrom] + ($0.validUntil.map { [$0.adding(days: 1)] } ?? []) })
        days.formUnion(rules.serviceNeedCoefficients.flatMap { [$0.validFrom] + ($0.validUntil.map { [$0.adding(days: 1)] } ?? []) })
        days.formUnion((rules.alterations ?? []).flatMap { [$0.validFrom] + ($0.validUntil.map { [$0.adding(days: 1)] } ?? []) })
        var periods: [FeePeriod] = []
        for day in days.filter({ $0 >= start }).sorted() {
            let (outcome, payer) = outcome(of: family, on: day, people: people, rules: rules)
            if let last = periods.last, last.outcome == outcome, last.payer == payer { continue }
            if !periods.isEmpty { periods[periods.count - 1].until = day.adding(days: -1) }
            periods.append(FeePeriod(from: day, until: nil, outcome: outcome, payer: payer))
        }
        return periods
    }

    static func outcome(of family: FeeFamilyRecord, on day: LocalDate, people: [PersonID: PersonRecord], rules: FeeRules) -> (FeeOutcome, PersonID?) {
        guard let composition = family.compositions.inForce(on: day) else { return (.noFee, nil) }
        // Erased members have no data left to decide on; they are no longer part of a decision.
        let minors = composition.children.compactMap { people[$0] }.filter { child in
            !child.isErased && (child.details?.birthDate.map { $0.years(until: day) < 18 } ?? true)
        }
        let inCare = minors.filter { $0.placement(on: day).map(\.arrangement.isChargedByFee) ?? false }
        guard !inCare.isEmpty else { return (.noFee, nil) }
        let payer = composition.adults[0]
        var children: [FeeChild] = []
        for child in inCare {
            guard let birth = child.details?.birthDate else { return (.pending("birth-date"), nil) }
            let hours = child.placement(on: day)?.serviceNeed(on: day)?.hoursPerWeek ?? 0
            children.append(FeeChild(child: child.id, birthDate: birth, hoursPerWeek: hours))
        }
        var income: FeeIncome = .monthly(cents: 0)
        for adult in composition.adults {
            guard case .monthly(let sum) = income else { break }
            // No statement in force, or one that cannot be read, or the maximum fee accepted: the maximum fee.
            guard let statement = people[adult]?.incomes.inForce(on: day)?.statement, !statement.acceptsMaximumFee else {
                income = .maximumFee
                break
            }
            income = .monthly(cents: sum + statement.earnedCents + statement.capitalCents)
        }
        let size = composition.adults.count + minors.count
        do {
            return (.fee(try FeeCalculator.calculate(familySize: size, income: income, children: children, rules: rules, on: day)), payer)
        } catch {
            return (.pending(error.code), nil)
        }
    }

    /// The decisions in force, as periods: on each day the latest recorded decision covering it.
    static func recorded(_ decisions: [FeeDecision]) -> [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)] {
        let days = Set(decisions.flatMap { [$0.validFrom] + ($0.validUntil.map { [$0.adding(days: 1)] } ?? []) }).sorted()
        var periods: [(from: LocalDate, until: LocalDate?, decision: FeeDecision?)] = []
        for day in days {
            let decision = decisions.last { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }
            if let last = periods.last, last.decision?.id == decision?.id { continue }
            if !periods.isEmpty { periods[periods.count - 1].until = day.adding(days: -1) }
            periods.append((day, nil, decision))
        }
        return periods
    }

    /// The first day up to `horizon` on which the recorded decisions and the facts disagree, if any.
    static func firstDifference(desired: [FeePeriod], recorded decisions: [FeeDecision], through horizon: LocalDate) -> LocalDate? {
        let recorded = recorded(decisions)
        let days = Set(desired.map(\.from) + recorded.map(\.from)).sorted()
        for day in days where day <= horizon {
            let want = desired.last { $0.from <= day && ($0.until.map { day <= $0 } ?? true) }
            let have = recorded.last { $0.from <= day && ($0.until.map { day <= $0 } ?? true) }?.decision
            let wanted = want?.outcome ?? .noFee
            let had = have?.outcome ?? .noFee
            if wanted != had || (want?.payer != nil && want?.payer != have?.payer) { return day }
        }
        return nil
    }
}

extension Registry {
    /// The people of a family with their details and incomes opened.
    /// Read at once rather than one after the other: on PostgreSQL each is a round trip.
    func feeFamilyMembers(_ family: FeeFamilyRecord, in tenant: TenantID) async throws -> [PersonID: PersonRecord] {
        let registry = self
        return try await withThrowingTaskGroup(of: PersonRecord.self) { group in
            for member in family.members { group.addTask { try await registry.person(member, in: tenant) } }
            var people: [PersonID: PersonRecord] = [:]
            while let record = try await group.next() { people[record.id] = record }
            return people
        }
    }

    /// Brings the family's fee decisions up to date with the facts: from the first day they disagree on, a new
    /// decision for each period. Returns what was recorded (nothing when the decisions already hold).
    ///
    /// Decisions are made up to `horizon` (default today): changes known for later days — a child coming of age, a
    /// fee table of next August — are decided when they come, as a municipality decides them, and not years ahead.
    /// - Parameter commit: false computes what would be recorded and records nothing.
    @discardableResult
    public func reviseFeeDecisions(of id: UUID, rules: FeeRules, through horizon: LocalDate? = nil, commit: Bool = true,
                                   in tenant: TenantID, by metadata: EventMetadata) async throws -> [FeeDecision] {
        let horizon = horizon ?? LocalDate.today(at: now())
        for _ in 1...Self.attempts {
            let family = try await feeFamily(id, in: tenant)
            let people = try await feeFamilyMembers(family, in: tenant)
            var (decisions, events) = try await proposedDecisions(for: family, people: people, rules: rules, through: horizon, in: tenant)
            guard commit, !events.isEmpty else { return decisions }
            do {
                let result = try await store.append(events, to: tenant, metadata: metadata, expecting: Self.expectations(family, people))
                for index in decisions.indices { decisions[index].position = result.positions[index] }
                return decisions
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue  // a member or the family changed meanwhile: decide on what they wrote
            }
        }
        throw Self.contendedFamily()
    }

    /// What a family's events expect: its stream and every member's as read, so a change to any of them meanwhile
    /// makes the append fail and the decision be made again.
    static func expectations(_ family: FeeFamilyRecord, _ people: [PersonID: PersonRecord]) -> [StreamRef: ExpectedVersion] {
        var expecting: [StreamRef: ExpectedVersion] = [RegisterStreams.feeFamily(family.id): .exact(family.version)]
        for person in people.values { expecting[RegisterStreams.person(person.id)] = .exact(person.version) }
        return expecting
    }

    /// The decisions the facts call for that are not recorded yet, and their events (not appended). Their positions
    /// are `.pendingDecision` until they are.
    func proposedDecisions(for family: FeeFamilyRecord, people: [PersonID: PersonRecord], rules: FeeRules, through horizon: LocalDate,
                           in tenant: TenantID) async throws -> ([FeeDecision], [ProposedEvent]) {
        let desired = FeeTimeline.desired(family, people: people, rules: rules)
        guard let from = FeeTimeline.firstDifference(desired: desired, recorded: family.decisions, through: horizon) else { return ([], []) }
        var inputs = [DecisionInput(stream: RegisterStreams.feeFamily(family.id), version: family.version)]
        inputs += people.values.sorted { $0.id.description < $1.id.description }.map { DecisionInput(stream: RegisterStreams.person($0.id), version: $0.version) }
        let subjects = family.members.filter { !(people[$0]?.isErased ?? true) }
        var decisions: [FeeDecision] = []
        var made: [FeeDecisionMade] = []
        for period in desired where (period.until.map { $0 >= from } ?? true) && period.from <= horizon {
            let start = max(period.from, from)
            let decision = UUID()
            switch period.outcome {
            case .fee(let calculation):
                made.append(FeeDecisionMade(decision: decision, validFrom: start, validUntil: period.until, status: .fee,
                                            calculation: .clear(calculation, subject: period.payer!), payer: period.payer, reason: nil, inputs: inputs))
            case .pending(let reason):
                made.append(FeeDecisionMade(decision: decision, validFrom: start, validUntil: period.until, status: .pending, calculation: nil, payer: nil,
                                            reason: reason, inputs: inputs))
            case .noFee, .unreadable:
                made.append(FeeDecisionMade(decision: decision, validFrom: start, validUntil: period.until, status: .noFee, calculation: nil, payer: nil,
                                            reason: nil, inputs: inputs))
            }
            let last = made[made.count - 1]
            decisions.append(FeeDecision(id: decision, validFrom: start, validUntil: period.until, status: last.status, calculation: last.calculation?.value,
                                         payer: last.payer, reason: last.reason, recordedAt: Timestamp(now()), position: .pendingDecision))
        }
        guard !made.isEmpty else { return ([], []) }
        // One set of keys for the family's decisions: sealing is the costly part of writing them.
        let sealer = PayloadSealer(keys: try await keyRing.sealingKeys(for: subjects, in: tenant))
        let payloads = try sealer.seal(made)
        let events = payloads.map {
            ProposedEvent(stream: RegisterStreams.feeFamily(family.id), eventType: FeeDecisionMade.eventType, subjects: subjects, payload: $0)
        }
        return (decisions, events)
    }
}

extension LogPosition {
    /// The position of a decision proposed but not recorded yet: after everything recorded.
    static let pendingDecision = LogPosition(Int64.max)
}

extension FeeFamilyRecord {
    /// Folds a fee family's stream.
    static func fold(_ events: [RecordedEvent], id: UUID, opener: PayloadOpener) throws -> FeeFamilyRecord {
        var record = FeeFamilyRecord(id: id, number: events.first?.position.rawValue ?? 0, version: 0)
        for event in events {
            record.version = event.streamVersion
            switch event.eventType {
            case FeeFamilyComposed.eventType:
                let composed = try opener.open(FeeFamilyComposed.self, from: event.payload)
                record.compositions.record(Composition(validFrom: composed.validFrom, validUntil: composed.validUntil, adults: composed.adults,
                                                       children: composed.children, source: composed.source))
            case FeeDecisionMade.eventType:
                let made = try opener.open(FeeDecisionMade.self, from: event.payload)
                record.decisions.append(FeeDecision(id: made.decision, validFrom: made.validFrom, validUntil: made.validUntil, status: made.status,
                                                    calculation: made.calculation?.value, payer: made.payer, reason: made.reason,
                                                    recordedAt: event.recordedAt, position: event.position))
            case InvoiceIssued.eventType:
                let issued = try opener.open(InvoiceIssued.self, from: event.payload)
                record.invoices.append(Invoice(issued, recordedAt: event.recordedAt, position: event.position))
            default:
                break
            }
        }
        return record
    }
}
