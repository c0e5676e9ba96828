import EventLog
import Foundation
import Hummingbird
import Logging
import Register
import RegisterServer
import TestSupport
import Testing

/// Retention and erasure over HTTP (O16–O18): the archivist's plan and legal holds, and erasure requests honoured
/// where no rule keeps the records and refused, with the rules named and recorded, where one does.
@Suite("HTTP API: retention, legal holds and erasure requests")
struct RetentionAPITests {
    /// A child whose care ended long ago (esimerkkilä keeps client records 6 years after care ends), with a guardian.
    static func formerChild(_ api: APIFixture, _ seed: Int, ended: String = "2018-05-31") async throws -> (PersonID, PersonID) {
        let registry = api.registry
        let child = try await registry.register(.child, details: PersonDetails(
            identityCode: IdentityCodes.testCode(seed: seed), name: PersonName(first: "Entinen\(seed)", last: "Asiakas"),
            address: PostalAddress(street: "Vanhatie \(seed)", postalCode: "99999", city: "Esimerkkilä"), motherTongue: "fi"),
            source: .client, in: api.tenant, by: api.metadata)
        let guardian = try await registry.register(.guardian, details: PersonDetails(identityCode: APIFixture.adultCode(seed), name: PersonName(first: "Vanha\(seed)", last: "Huoltaja")),
                                                   source: .client, in: api.tenant, by: api.metadata)
        try await registry.addRelationship(.guardian, of: guardian, to: child, source: .populationRegister, in: api.tenant, by: api.metadata)
        _ = try await registry.place(child, unit: APIFixture.unit, arrangement: .municipal, start: try LocalDate("2016-08-01"), end: try LocalDate(ended),
                                     serviceNeed: ServiceNeed(hoursPerWeek: 35), configuration: try await api.configuration(), in: api.tenant, by: api.metadata)
        return (child, guardian)
    }

    @Test("the plan names each person's verdict and rule; a legal hold keeps a family due and is lifted again", arguments: Backend.tested)
    func planAndHolds(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (former, formerGuardian) = try await Self.formerChild(api, 71)
            let (current, _) = try await api.placedChild(72)
            let archivist = try await api.signIn("archivist")
            let base = "/v1/tenants/\(api.tenant)"
            #expect(try await api.request(.get, "\(base)/retention/plan?at=2026-13-01", token: archivist).field == "at")

            func verdicts() async throws -> [String: [String: Any]] {
                let plan = try await api.request(.get, "\(base)/retention/plan", token: archivist)
                #expect(plan.status == .ok, "\(plan.text)")
                #expect(!plan.text.contains("Entinen71"), "ids and dates only")
                let entries = try #require(plan.json["plan"] as? [[String: Any]])
                return Dictionary(uniqueKeysWithValues: entries.compactMap { entry in (entry["person"] as? String).map { ($0, entry) } })
            }
            var plan = try await verdicts()
            #expect(plan[former.description]?["verdict"] as? String == "due")
            #expect(plan[former.description]?["dueOn"] as? String == "2024-05-31")
            let rule = try #require((plan[former.description]?["classes"] as? [[String: Any]])?.first)
            #expect(rule["documentClass"] as? String == "ecec-client-records" && rule["from"] as? String == "care-ended" && rule["anchorDate"] as? String == "2018-05-31")
            #expect(plan[formerGuardian.description]?["verdict"] as? String == "due")
            #expect(plan[current.description]?["verdict"] as? String == "kept")
            #expect((plan[current.description]?["classes"] as? [[String: Any]])?.first?["until"] as? String == "care-not-ended")

            let hold = "\(base)/people/\(former)/legal-hold"
            #expect(try await api.request(.post, hold, token: archivist, json: [:]).field == "reason")
            #expect(try await api.request(.post, hold, token: archivist, json: ["reason": "Vahingonkorvausasia 4711"]).status == .created)
            #expect(try await api.request(.post, hold, token: archivist, json: ["reason": "again"]).problemCode == "already-held")
            let holds = try await api.storage.store.readStream(LegalHoldStreams.all, of: api.tenant)
            #expect(holds.count == 1 && !String(decoding: holds[0].payload, as: UTF8.self).contains("4711"), "recorded once, the reason sealed")
            plan = try await verdicts()
            #expect(plan[former.description]?["verdict"] as? String == "legal-hold")
            #expect(plan[formerGuardian.description]?["verdict"] as? String == "legal-hold", "the guardian is kept with the child")

            // An erasure request while the hold is in force is refused with the hold as the reason.
            let dpo = try await api.signIn("dpo")
            let refused = try await api.request(.post, "\(base)/people/\(former)/erasure-requests", token: dpo, json: [:])
            #expect(refused.json["outcome"] as? String == "refused")
            #expect((refused.json["reasons"] as? [[String: Any]])?.map { $0["code"] as? String } == ["legal-hold"])

            #expect(try await api.request(.delete, hold, token: archivist, json: ["reason": "Asia ratkaistu"]).status == .noContent)
            #expect(try await api.request(.delete, hold, token: archivist, json: ["reason": "again"]).status == .notFound)
            #expect(try await verdicts()[former.description]?["verdict"] as? String == "due")
        }
    }

    @Test("an erasure request is refused while a rule keeps the records, naming the rule, and honoured when none does", arguments: Backend.tested)
    func erasureRequests(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (current, currentGuardian) = try await api.placedChild(73)
            let (former, formerGuardian) = try await Self.formerChild(api, 74)
            let (recent, _) = try await Self.formerChild(api, 75, ended: "2023-05-31")
            let dpo = try await api.signIn("dpo")
            let base = "/v1/tenants/\(api.tenant)"

            // In care: refused, and the refusal recorded with the rule; the guardian too (the child's records name them).
            for person in [current, currentGuardian] {
                let before = try await api.storage.store.head(of: api.tenant).position
                let answer = try await api.request(.post, "\(base)/people/\(person)/erasure-requests", token: dpo, json: [:])
                #expect(answer.status == .ok)
                #expect(answer.json["outcome"] as? String == "refused")
                let reasons = try #require(answer.json["reasons"] as? [[String: Any]])
                #expect(reasons.contains { $0["code"] as? String == "care-not-ended" && $0["documentClass"] as? String == "ecec-client-records" })
                let recorded = try await api.storage.store.read(api.tenant, after: before)
                #expect(recorded.contains { $0.eventType == ErasureRefused.eventType && $0.subjects.first == person })
                #expect(try await api.registry.person(person, in: api.tenant).details != nil)
            }
            // Care ended in 2023: kept until 2029, and the answer says so.
            let kept = try await api.request(.post, "\(base)/people/\(recent)/erasure-requests", token: dpo, json: [:])
            #expect((kept.json["reasons"] as? [[String: Any]])?.first?["keptUntil"] as? String == "2029-05-31")

            // A requester must be the person or act for them.
            #expect(try await api.request(.post, "\(base)/people/\(former)/erasure-requests", token: dpo, json: ["requester": currentGuardian.description])
                .field == "requester")

            // Six years past the care: erased, for the child and then the guardian.
            try await api.projectionsCaughtUp()
            let statistics = try await api.request(.get, "\(base)/statistics?from=2018-01-01&to=2018-12-31", token: try await api.signIn("director")).text
            for person in [former, formerGuardian] {
                let answer = try await api.request(.post, "\(base)/people/\(person)/erasure-requests", token: dpo,
                                                   json: person == former ? ["requester": formerGuardian.description] : [:])
                #expect(answer.json["outcome"] as? String == "erased", "\(answer.text)")
                let position = try #require(answer.json["position"] as? Int)
                let event = try #require(try await api.storage.store.read(api.tenant, after: LogPosition(Int64(position - 1)), limit: 1).first)
                #expect(event.eventType == SubjectErasure.eventType && String(decoding: event.payload, as: UTF8.self).contains("erasure-request"))
                #expect(try await api.registry.person(person, in: api.tenant).isErased)
            }
            let director = try await api.signIn("director")
            let shown = try await api.request(.get, "\(base)/people/\(former)", token: director)
            #expect(shown.json["erased"] as? Bool == true && !shown.text.contains("Entinen74"))
            #expect(try await api.request(.post, "\(base)/people/\(former)/erasure-requests", token: dpo, json: [:]).problemCode == "erased")
            // What the statistics counted stays counted.
            try await api.projectionsCaughtUp()
            #expect(try await api.request(.get, "\(base)/statistics?from=2018-01-01&to=2018-12-31", token: director).text == statistics)
            #expect(try await api.storage.store.verifyChain(of: api.tenant).isIntact)
        }
    }

    @Test("the scheduled pass anonymises what is due in every configured tenant, on the service's clock", arguments: Backend.tested)
    func scheduledPass(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (former, guardian) = try await Self.formerChild(api, 76)
            let (current, _) = try await api.placedChild(77)
            var logger = Logger(label: "retention-test")
            logger.logLevel = .error
            let service = RetentionService(storage: api.storage, interval: .seconds(3_600), logger: logger, now: APIFixture.clock)
            await service.runOnce()
            #expect(try await api.registry.person(former, in: api.tenant).isErased)
            #expect(try await api.registry.person(guardian, in: api.tenant).isErased)
            #expect(try await api.registry.person(current, in: api.tenant).details != nil)
            let erased = try await api.storage.store.read(api.tenant).filter { $0.eventType == SubjectErasure.eventType }
            #expect(erased.count == 2 && erased.allSatisfy { $0.actor.userID == "retention-service" })
            await service.runOnce()
            #expect(try await api.storage.store.read(api.tenant).filter { $0.eventType == SubjectErasure.eventType }.count == 2, "a second pass changes nothing")
        }
    }
}
