import EventLog
import Foundation
import Register
import Testing

/// Retention plans for crafted histories: every anchor, the archive's 8/18/28 rule, legal holds, rule versions with
/// validity dates, classes that cover only some records, and families sharing records.
@Suite("Retention plans")
struct RetentionPlannerTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    static func date(_ text: String) -> LocalDate { try! LocalDate(text) }

    /// A rule as a tenant file writes it (JSON is YAML).
    static func rule(_ json: String) throws -> RetentionRule {
        try JSONDecoder().decode(RetentionRule.self, from: Data(json.utf8))
    }

    /// The demo municipality's register with these rules instead of its own.
    static func register(_ rules: [RetentionRule], id: String = "register") throws -> RegisterDefinition {
        var register = try TenantFile.load(tenantsDirectory.appendingPathComponent("esimerkkila.yaml")).registers[0]
        register.id = id
        register.retention = rules
        return register
    }

    /// A child placed from `start` to `end`, whose records were last written on `recorded`.
    static func child(placed start: String = "2015-08-01", until end: String?, born: String? = "2013-05-17", recorded: String = "2019-06-01") -> RetentionFacts {
        var facts = RetentionFacts(person: .random(), kind: .child)
        facts.placements[UUID()] = .init(start: date(start), end: end.map(date))
        facts.birthDate = born.map(date)
        for kind in [RetentionRecords.person, .placements, .attendance] { facts.lastRecorded[kind] = date(recorded) }
        facts.lastAttendance = end.map(date)
        return facts
    }

    static func plan(_ people: [RetentionFacts], _ rules: [RetentionRule], on day: String, restricted: Set<PersonID> = []) throws -> [PersonID: SubjectRetention] {
        let plan = RetentionPlanner.plan(Dictionary(uniqueKeysWithValues: people.map { ($0.person, $0) }), registers: [try register(rules)], on: date(day),
                                         restricted: restricted)
        return Dictionary(uniqueKeysWithValues: plan.map { ($0.person, $0) })
    }

    static let sixYears = #"{"documentClass": "ecec-client-records", "period": "P6Y", "from": "care-ended", "action": "erase", "validFrom": "2018-09-01"}"#

    @Test("care-ended: due the period after the last placement ends, not a day before; an open placement keeps the records")
    func careEnded() throws {
        let ended = Self.child(until: "2019-05-31"), inCare = Self.child(until: nil), endsLater = Self.child(until: "2027-07-31")
        let rules = [try Self.rule(Self.sixYears)]
        let before = try Self.plan([ended, inCare, endsLater], rules, on: "2025-05-30")
        #expect(before[ended.person]?.status == .due(Self.date("2025-05-31")))
        #expect(before[ended.person]?.isDue(on: Self.date("2025-05-30")) == false)
        let on = try Self.plan([ended, inCare, endsLater], rules, on: "2025-05-31")
        #expect(on[ended.person]?.isDue(on: Self.date("2025-05-31")) == true)
        #expect(on[ended.person]?.decidingClass?.reasonCode == "retention:register.ecec-client-records")
        #expect(on[ended.person]?.classes.first?.anchorDate == Self.date("2019-05-31"))
        #expect(on[inCare.person]?.status == .pending("care-not-ended"))
        #expect(on[endsLater.person]?.status == .pending("care-not-ended"), "a planned end still ahead has not ended")
        #expect(on[inCare.person]?.isDue(on: Self.date("2090-01-01")) == false)
    }

    @Test("a family member is kept as long as any child whose records name them; alone, from their last record")
    func family() throws {
        let older = Self.child(until: "2012-05-31"), younger = Self.child(until: "2019-05-31")
        var guardian = RetentionFacts(person: .random(), kind: .guardian)
        guardian.lastRecorded[.person] = Self.date("2011-01-10")
        guardian.children = [older.person, younger.person]
        var stranger = RetentionFacts(person: .random(), kind: .guardian)
        stranger.lastRecorded[.person] = Self.date("2011-01-10")
        let plan = try Self.plan([older, younger, guardian, stranger], [try Self.rule(Self.sixYears)], on: "2024-01-01")
        #expect(plan[older.person]?.isDue(on: Self.date("2024-01-01")) == true)
        #expect(plan[guardian.person]?.status == .due(Self.date("2025-05-31")), "the younger child's records keep the guardian")
        #expect(plan[guardian.person]?.classes.contains { $0.through == younger.person } == true)
        #expect(plan[stranger.person]?.status == .due(Self.date("2017-01-10")), "no placement: six years from the last record")

        var inCare = Self.child(until: nil)
        inCare.person = younger.person
        let kept = try Self.plan([older, inCare, guardian], [try Self.rule(Self.sixYears)], on: "2030-01-01")
        #expect(kept[guardian.person]?.status == .pending("care-not-ended"))
    }

    @Test("the archive's sampling rule keeps people born on the 8th, 18th or 28th for ever; an unknown birth date keeps the records")
    func samplingDays() throws {
        let rule = try Self.rule(#"{"documentClass": "family-services", "period": "P30Y", "from": "case-closed", "action": "erase", "keepPermanentlyIfBornOnDays": [8, 18, 28], "validFrom": "2024-01-01"}"#)
        let days = ["2010-03-07", "2010-03-08", "2010-03-18", "2010-03-28", "2010-03-29"]
        let children = days.map { Self.child(until: "2024-06-30", born: $0) }
        let unknown = Self.child(until: "2024-06-30", born: nil)
        let plan = try Self.plan(children + [unknown], [rule], on: "2060-01-01")
        #expect(children.map { plan[$0.person]?.status } == [.due(Self.date("2054-06-30")), .permanent("born-on-sampling-day"), .permanent("born-on-sampling-day"),
                                                              .permanent("born-on-sampling-day"), .due(Self.date("2054-06-30"))])
        #expect(plan[unknown.person]?.status == .pending("birth-date-unknown"))
        #expect(plan[unknown.person]?.isDue(on: Self.date("2200-01-01")) == false)
    }

    @Test("birth, death, recorded and last-service-event anchors")
    func anchors() throws {
        let child = Self.child(until: "2020-06-30", born: "2016-02-29", recorded: "2020-07-02")
        let birth = try Self.rule(#"{"documentClass": "family-law-child", "period": "P120Y", "from": "birth", "action": "erase", "validFrom": "2024-01-01"}"#)
        #expect(try Self.plan([child], [birth], on: "2026-01-01")[child.person]?.status == .due(Self.date("2136-02-29")))
        let death = try Self.rule(#"{"documentClass": "social-care", "period": "P12Y", "from": "death", "action": "erase", "validFrom": "2024-01-01"}"#)
        #expect(try Self.plan([child], [death], on: "2026-01-01")[child.person]?.status == .pending("no-date-of-death"))
        let recorded = try Self.rule(#"{"documentClass": "fee-decisions", "period": "P12Y", "from": "recorded", "action": "erase", "validFrom": "2024-01-01"}"#)
        #expect(try Self.plan([child], [recorded], on: "2026-01-01")[child.person]?.status == .due(Self.date("2032-07-02")))
        var attended = child
        attended.lastAttendance = Self.date("2020-06-29")
        let lastService = try Self.rule(#"{"documentClass": "producer-service-records", "period": "P12M", "from": "last-service-event", "action": "anonymise", "validFrom": "2018-05-25"}"#)
        #expect(try Self.plan([attended], [lastService], on: "2026-01-01")[attended.person]?.status == .due(Self.date("2021-06-30")),
                "the later of the last attendance and the placement's end")
        #expect(RetentionPeriod.init(unchecked: "P1Y").added(to: Self.date("2016-02-29")) == Self.date("2017-02-28"), "a leap day lands on the month's last day")
        #expect(RetentionPeriod.init(unchecked: "P1Y6M10D").added(to: Self.date("2020-08-31")) == Self.date("2022-03-10"))
    }

    @Test("the rule version in force on the day the clock started decides; before the first version, the first")
    func ruleVersions() throws {
        let old = try Self.rule(#"{"documentClass": "family-services", "period": "P10Y", "from": "service-ended", "action": "erase", "validFrom": "2015-05-01", "validUntil": "2023-12-31"}"#)
        let new = try Self.rule(#"{"documentClass": "family-services", "period": "P30Y", "from": "case-closed", "action": "erase", "validFrom": "2024-01-01"}"#)
        let closedUnderOld = Self.child(until: "2020-06-30"), closedUnderNew = Self.child(until: "2024-06-30"), beforeAnyRule = Self.child(placed: "2005-01-01", until: "2010-12-31")
        let plan = try Self.plan([closedUnderOld, closedUnderNew, beforeAnyRule], [old, new], on: "2026-01-01")
        #expect(plan[closedUnderOld.person]?.status == .due(Self.date("2030-06-30")))
        #expect(plan[closedUnderOld.person]?.classes.first?.rule.validFrom == Self.date("2015-05-01"))
        #expect(plan[closedUnderNew.person]?.status == .due(Self.date("2054-06-30")))
        #expect(plan[closedUnderNew.person]?.classes.first?.rule.validFrom == Self.date("2024-01-01"))
        #expect(plan[beforeAnyRule.person]?.status == .due(Self.date("2020-12-31")))
        let inCare = Self.child(until: nil)
        #expect(try Self.plan([inCare], [old, new], on: "2026-01-01")[inCare.person]?.status == .pending("case-open"), "the version in force today names why")
    }

    @Test("a class covers only the records it names: an empty list keeps nothing here; a permanent class that covers the records keeps them")
    func coveredRecords() throws {
        let child = Self.child(until: "2019-05-31")
        let elsewhere = try Self.rule(#"{"documentClass": "ecec-plan-statements", "permanent": true, "records": [], "validFrom": "2018-09-01"}"#)
        let plan = try Self.plan([child], [try Self.rule(Self.sixYears), elsewhere], on: "2026-01-01")
        #expect(plan[child.person]?.status == .due(Self.date("2025-05-31")))
        #expect(plan[child.person]?.classes.count == 1)
        let here = try Self.rule(#"{"documentClass": "ecec-plan-statements", "permanent": true, "records": ["care-information"], "validFrom": "2018-09-01"}"#)
        #expect(try Self.plan([child], [try Self.rule(Self.sixYears), here], on: "2026-01-01")[child.person]?.classes.count == 1, "no care information recorded")
        var withCareInformation = child
        withCareInformation.lastRecorded[.careInformation] = Self.date("2016-01-01")
        let kept = try Self.plan([withCareInformation], [try Self.rule(Self.sixYears), here], on: "2026-01-01")[child.person]
        #expect(kept?.status == .permanent("permanent"))
        #expect(kept?.keeping(on: Self.date("2026-01-01")).map(\.rule.documentClass) == ["ecec-plan-statements"])
        var nothing = RetentionFacts(person: .random(), kind: .guardian)
        nothing.lastRecorded[.person] = Self.date("2011-01-01")
        #expect(try Self.plan([nothing], [elsewhere], on: "2026-01-01")[nothing.person]?.status == nil, "no rule covers them: kept, and the plan says so")
    }

    @Test("a legal hold stops the clock: nothing is due while it holds, and its days after the clock started are added")
    func legalHolds() throws {
        var held = Self.child(until: "2019-05-31")
        held.holds = [.init(from: Self.date("2024-01-01"), until: nil)]
        let rules = [try Self.rule(Self.sixYears)]
        let open = try Self.plan([held], rules, on: "2030-01-01")[held.person]
        #expect(open?.held == true)
        #expect(open?.isDue(on: Self.date("2030-01-01")) == false)

        // 100 days on hold after care ended, two overlapping holds counted once, one before the clock started.
        held.holds = [.init(from: Self.date("2018-01-01"), until: Self.date("2019-01-01")),
                      .init(from: Self.date("2020-01-01"), until: Self.date("2020-03-01")),
                      .init(from: Self.date("2020-02-01"), until: Self.date("2020-04-10"))]
        let lifted = try Self.plan([held], rules, on: "2030-01-01")[held.person]
        #expect(lifted?.held == false)
        #expect(lifted?.status == .due(Self.date("2025-05-31").adding(days: 100)))

        // A guardian of a held child is held too; a restricted person is never due.
        var guardian = RetentionFacts(person: .random(), kind: .guardian)
        guardian.lastRecorded[.person] = Self.date("2015-01-01")
        guardian.children = [held.person]
        held.holds = [.init(from: Self.date("2024-01-01"), until: nil)]
        let family = try Self.plan([held, guardian], rules, on: "2030-01-01", restricted: [guardian.person])
        #expect(family[guardian.person]?.held == true)
        #expect(family[guardian.person]?.restricted == true)
    }

    @Test("every shipped tenant's rules plan a finished and an ongoing care relationship")
    func shippedTenants() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.tenantsDirectory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count == 5)
        for file in files {
            let configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent(file))
            let finished = Self.child(until: "2010-05-31", born: "2005-03-17", recorded: "2010-06-01"), ongoing = Self.child(until: nil)
            let sampled = Self.child(until: "2010-05-31", born: "2005-03-18", recorded: "2010-06-01")
            let facts = Dictionary(uniqueKeysWithValues: [finished, ongoing, sampled].map { ($0.person, $0) })
            let plan = Dictionary(uniqueKeysWithValues: RetentionPlanner.plan(facts, registers: configuration.registers, on: Self.date("2199-12-31"))
                .map { ($0.person, $0) })
            #expect(plan[ongoing.person]?.isDue(on: Self.date("2199-12-31")) == false, "\(file): care still going on")
            #expect(plan[finished.person]?.status?.dueDate != nil, "\(file): a finished care relationship falls due under some rule")
            let samplingRule = configuration.registers.flatMap(\.retention).contains { !($0.keepPermanentlyIfBornOnDays ?? []).isEmpty && $0.records != [] }
            #expect((plan[sampled.person]?.status == .permanent("born-on-sampling-day")) == samplingRule, "\(file): the sampling rule where the tenant has it")
        }
    }
}

extension RetentionPeriod {
    init(unchecked text: String) { try! self.init(text) }
}
