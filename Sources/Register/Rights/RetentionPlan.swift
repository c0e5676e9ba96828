import EventLog
import Foundation

// Retention (O16–O18): when a person's records may go, decided from the tenant's rules (data, with validity dates)
// and what the log holds about the person. Pure: `RetentionFacts` in, `SubjectRetention` out, so every rule can be
// tested on crafted histories; `RetentionFacts.collect` builds the facts from a tenant's log.
//
// How the rules meet the platform's data:
// - One key per person seals everything about them, so a person is erased as a whole: they are due when every
//   document class that covers any of their records is due. A class's `records` says which records it covers
//   (absent: all; empty: the class is kept elsewhere and keeps nothing here).
// - A family shares records (income statements and decisions name the guardians), so a guardian or other family
//   member linked to a child is kept as long as that child is.
// - The rule version that applies is the one in force on the day the clock started (the anchor date); an anchor
//   before the first version takes the first version. An anchor not reached yet (care still going on, no birth date
//   known, no date of death recorded) keeps the records, under the version in force on the planning date.
// - The archive's sampling rule: a rule that lists days (8, 18, 28) keeps persons born on those days permanently.
// - A legal hold stops the clock: while one is in force nothing is due, and the days it lasted after the clock
//   started are added to every period.

/// What the log says about one person, as far as retention needs it.
public struct RetentionFacts: Sendable, Hashable {
    public var person: PersonID
    public var kind: PersonKind
    /// Which kinds of records the log holds about the person, and the day the last of each was recorded.
    public var lastRecorded: [RetentionRecords: LocalDate] = [:]
    /// Placements by id: start and end (nil: open-ended).
    public var placements: [UUID: PlacementSpan] = [:]
    /// The last day with an arrival or departure.
    public var lastAttendance: LocalDate?
    /// The children this person was ever linked to (on the child's stream): their records name this person too.
    public var children: Set<PersonID> = []
    /// Filled in by the caller only when a rule needs it (it is sealed).
    public var birthDate: LocalDate?
    /// Legal holds, in the order placed.
    public var holds: [HoldSpan] = []
    public var erased = false

    public struct PlacementSpan: Sendable, Hashable {
        public var start: LocalDate
        public var end: LocalDate?
        public init(start: LocalDate, end: LocalDate?) {
            self.start = start
            self.end = end
        }
    }

    /// A legal hold from the day it was placed to the day it was lifted (nil: in force).
    public struct HoldSpan: Sendable, Hashable {
        public var from: LocalDate
        public var until: LocalDate?
        public init(from: LocalDate, until: LocalDate?) {
            self.from = from
            self.until = until
        }
    }

    public init(person: PersonID, kind: PersonKind) {
        self.person = person
        self.kind = kind
    }

    /// Whether the person is under a legal hold on `date`. A hold still in force holds whatever the date: its start
    /// is the day it was recorded, by the database's clock, and a plan dated a day earlier (a clock that disagrees, a
    /// test's pinned date late in the evening UTC, which is already tomorrow in Finland) must not erase around it.
    public func isHeld(on date: LocalDate) -> Bool {
        holds.contains { hold in hold.until.map { hold.from <= date && date < $0 } ?? true }
    }
}

/// Why records are kept, or that they are due.
public enum RetentionStatus: Sendable, Hashable {
    /// Due on this date (due now when it is on or before the planning date).
    case due(LocalDate)
    /// Kept: the clock has not started (`care-not-ended`, `birth-date-unknown`, `no-date-of-death`, …).
    case pending(String)
    /// Kept for ever (`permanent`, `born-on-sampling-day`).
    case permanent(String)

    /// The stronger of two: permanent over pending over the later date.
    func combined(with other: RetentionStatus) -> RetentionStatus {
        switch (self, other) {
        case (.permanent, _): self
        case (_, .permanent): other
        case (.pending, _): self
        case (_, .pending): other
        case (.due(let a), .due(let b)): .due(max(a, b))
        }
    }

    /// A code for reports and refusals.
    public var code: String {
        switch self {
        case .due: "retention-period"
        case .pending(let code), .permanent(let code): code
        }
    }

    public var dueDate: LocalDate? {
        if case .due(let date) = self { return date }
        return nil
    }
}

/// One document class's verdict about one person.
public struct ClassRetention: Sendable, Hashable {
    public var register: String
    public var rule: RetentionRule
    /// The anchor date the period counts from, when the clock has started.
    public var anchorDate: LocalDate?
    public var status: RetentionStatus
    /// Whose records decided it: the person's own, or a child's they are linked to.
    public var through: PersonID?

    /// `retention:<register>.<document class>`: the code the erasure is recorded with.
    public var reasonCode: String { "retention:\(register).\(rule.documentClass)" }
}

/// The verdict about one person.
public struct SubjectRetention: Sendable, Hashable {
    public var person: PersonID
    public var kind: PersonKind
    public var classes: [ClassRetention]
    /// Nil when no rule covers any of the person's records.
    public var status: RetentionStatus?
    public var held: Bool
    public var restricted: Bool
    public var erased: Bool

    /// Due for erasure on `date`: every class due, no hold, no restriction, not erased already.
    public func isDue(on date: LocalDate) -> Bool {
        guard !erased, !held, !restricted, let due = status?.dueDate else { return false }
        return due <= date
    }

    /// The class whose period ends last: its rule is the one the erasure names.
    public var decidingClass: ClassRetention? {
        classes.filter { $0.status.dueDate != nil }.max { ($0.status.dueDate!, $0.reasonCode) < ($1.status.dueDate!, $1.reasonCode) }
    }

    /// The classes that keep the person's records on `date`, for a refused erasure request.
    public func keeping(on date: LocalDate) -> [ClassRetention] {
        classes.filter { $0.status.dueDate.map { $0 > date } ?? true }
    }
}

public enum RetentionPlanner {
    /// The verdict for every person of `facts` on `date` under the tenant's registers' rules.
    public static func plan(_ facts: [PersonID: RetentionFacts], registers: [RegisterDefinition], on date: LocalDate,
                            restricted: Set<PersonID> = []) -> [SubjectRetention] {
        var own: [PersonID: [ClassRetention]] = [:]
        for (person, personFacts) in facts {
            // A guardian's own registration is part of the children's records: the children's care decides.
            let servedThroughChildren = personFacts.placements.isEmpty && personFacts.children.contains { facts[$0]?.placements.isEmpty == false }
            own[person] = registers.flatMap { register in
                classes(of: personFacts, register: register, on: date, servedThroughChildren: servedThroughChildren)
            }
        }
        return facts.values.sorted { $0.person.description < $1.person.description }.map { personFacts in
            var classes = own[personFacts.person] ?? []
            var held = personFacts.isHeld(on: date)
            // A family member is kept as long as any child whose records name them.
            for child in personFacts.children.sorted(by: { $0.description < $1.description }) where child != personFacts.person {
                guard let childFacts = facts[child], !childFacts.erased else { continue }
                classes += (own[child] ?? []).map { var inherited = $0; inherited.through = child; return inherited }
                held = held || childFacts.isHeld(on: date)
            }
            var status: RetentionStatus?
            for verdict in classes { status = status.map { $0.combined(with: verdict.status) } ?? verdict.status }
            return SubjectRetention(person: personFacts.person, kind: personFacts.kind, classes: classes, status: status, held: held,
                                    restricted: restricted.contains(personFacts.person), erased: personFacts.erased)
        }
    }

    /// The classes of one register that cover the person's own records, each with its verdict.
    static func classes(of facts: RetentionFacts, register: RegisterDefinition, on date: LocalDate, servedThroughChildren: Bool = false) -> [ClassRetention] {
        var byClass: [String: [RetentionRule]] = [:]
        for rule in register.retention { byClass[rule.documentClass, default: []].append(rule) }
        var verdicts: [ClassRetention] = []
        for (_, versions) in byClass.sorted(by: { $0.key < $1.key }) {
            let versions = versions.sorted { $0.validFrom < $1.validFrom }
            // Versions of a class may count from different events (act 703/2023 from the case's closing, act
            // 254/2015 from the service's end): the anchor is found under the version in force on `date`, then the
            // version in force on that anchor decides, its own anchor recomputed when it differs.
            guard let candidate = version(of: versions, on: date) else { continue }
            let anchor = anchor(candidate, facts, on: date)
            let rule: RetentionRule
            if case .date(let day) = anchor, let inForce = version(of: versions, on: day) {
                rule = inForce
            } else {
                rule = candidate
            }
            let covered = Set(rule.records ?? RetentionRecords.allCases)
            guard !covered.isDisjoint(with: facts.lastRecorded.keys) else { continue }
            if servedThroughChildren, [.careEnded, .serviceEnded, .caseClosed, .lastServiceEvent].contains(rule.from ?? .recorded) { continue }
            let ruleAnchor = rule == candidate ? anchor : self.anchor(rule, facts, on: date)
            verdicts.append(ClassRetention(register: register.id, rule: rule, anchorDate: ruleAnchor.date,
                                           status: status(rule, anchor: ruleAnchor, facts: facts)))
        }
        return verdicts
    }

    /// The version in force on `day`; before the first, the first; after the last ended, the last that began
    /// before `day` (its period still runs for what it covered).
    static func version(of versions: [RetentionRule], on day: LocalDate) -> RetentionRule? {
        if let inForce = versions.first(where: { $0.validFrom <= day && ($0.validUntil.map { day <= $0 } ?? true) }) { return inForce }
        if let first = versions.first, day < first.validFrom { return first }
        return versions.last { $0.validFrom <= day }
    }

    enum Anchor: Equatable {
        case date(LocalDate)
        case pending(String)
        var date: LocalDate? { if case .date(let day) = self { return day } else { return nil } }
    }

    static func anchor(_ rule: RetentionRule, _ facts: RetentionFacts, on date: LocalDate) -> Anchor {
        let covered = Set(rule.records ?? RetentionRecords.allCases)
        let lastRecorded = facts.lastRecorded.filter { covered.contains($0.key) }.values.max()
        switch rule.from ?? .recorded {
        case .careEnded, .serviceEnded, .caseClosed:
            // Without a placement (an application never granted, a guardian's own details) the records end with
            // the last one recorded.
            guard !facts.placements.isEmpty else { return lastRecorded.map(Anchor.date) ?? .pending("nothing-recorded") }
            let ends = facts.placements.values.map(\.end)
            guard let last = ends.compactMap({ $0 }).max(), ends.allSatisfy({ $0 != nil }), last < date else {
                return .pending(rule.from == .caseClosed ? "case-open" : "care-not-ended")
            }
            return .date(last)
        case .lastServiceEvent:
            guard !facts.placements.isEmpty else { return lastRecorded.map(Anchor.date) ?? .pending("nothing-recorded") }
            let ends = facts.placements.values.map(\.end)
            guard let last = ends.compactMap({ $0 }).max(), ends.allSatisfy({ $0 != nil }), last < date else { return .pending("care-not-ended") }
            return .date(max(last, facts.lastAttendance ?? last))
        case .birth:
            return facts.birthDate.map(Anchor.date) ?? .pending("birth-date-unknown")
        case .death:
            // The population-register import carries no dates of death yet.
            return .pending("no-date-of-death")
        case .recorded:
            return lastRecorded.map(Anchor.date) ?? .pending("nothing-recorded")
        }
    }

    static func status(_ rule: RetentionRule, anchor: Anchor, facts: RetentionFacts) -> RetentionStatus {
        if rule.permanent == true { return .permanent("permanent") }
        if let days = rule.keepPermanentlyIfBornOnDays, !days.isEmpty {
            guard let birth = facts.birthDate else { return .pending("birth-date-unknown") }
            if days.contains(birth.day) { return .permanent("born-on-sampling-day") }
        }
        guard case .date(let start) = anchor, let period = rule.period else {
            if case .pending(let code) = anchor { return .pending(code) }
            return .pending("no-period")
        }
        return .due(extended(period.added(to: start), from: start, by: facts.holds))
    }

    /// `due` moved later by the days the person was on hold after the clock started (overlapping holds count once).
    static func extended(_ due: LocalDate, from start: LocalDate, by holds: [RetentionFacts.HoldSpan]) -> LocalDate {
        var due = due
        var covered = start
        for hold in holds.sorted(by: { $0.from < $1.from }) {
            guard hold.from < due else { break }
            guard let until = hold.until else { continue }  // in force: the subject is held, whatever the date
            let from = max(hold.from, covered)
            if until > from {
                due = due.adding(days: until.dayNumber - from.dayNumber)
                covered = until
            }
        }
        return due
    }
}

extension RetentionPeriod {
    /// The date this period after `date`; a month-end overflow lands on the month's last day (29 Feb + P1Y is 28 Feb).
    public func added(to date: LocalDate) -> LocalDate {
        let totalMonths = date.year * 12 + (date.month - 1) + years * 12 + months
        let year = min(totalMonths / 12, 2200), month = totalMonths % 12 + 1
        let day = min(date.day, LocalDate.days(inMonth: month, of: year))
        let shifted = (try? LocalDate(year: year, month: month, day: day)) ?? date
        return shifted.adding(days: days)
    }
}
