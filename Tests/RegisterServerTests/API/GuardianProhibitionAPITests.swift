import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import Testing

/// A minor's prohibition of disclosure to a guardian (O9), end to end: recorded only in a family-services register,
/// for a minor and one of their guardians; honoured by hand-overs and the subject's reports to that guardian (each
/// refusal recorded), not by outputs of other registers or to the other guardian; lifted, and the reason sealed.
@Suite("HTTP API: a minor's prohibition of disclosure to a guardian")
struct GuardianProhibitionAPITests {
    static let familyServices = "family-services"
    static let ecec = "ecec-clients"

    /// Gives the test tenant a family-services register beside its ECEC one. Called before any request reads the
    /// configuration (the API caches it for a few seconds).
    static func addFamilyServices(_ api: APIFixture) async throws {
        var configuration = try await api.configuration()
        var register = configuration.registers[0]
        register.id = familyServices
        register.scope = .familyServices
        register.recipients = []
        configuration.registers.append(register)
        _ = try await TenantConfigurations(store: api.storage.store).apply(configuration, file: nil,
                                                                          metadata: EventMetadata(actor: try Actor(userID: "test-setup", role: "platform-operator")))
    }

    static func list(_ answer: APIFixture.Answer) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: answer.body)) as? [[String: Any]] ?? []
    }

    @Test("recorded for a minor's guardian in a family-services register; hand-overs and reports to that guardian refused and recorded; lifted",
          arguments: Backend.tested)
    func endToEnd(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            try await Self.addFamilyServices(api)
            let (child, guardian) = try await api.placedChild(21)
            let other = try await api.registry.register(.guardian, details: PersonDetails(
                identityCode: APIFixture.adultCode(22), name: PersonName(first: "Matti22", last: "Virtanen")), source: .client, in: api.tenant, by: api.metadata)
            try await api.registry.addRelationship(.guardian, of: other, to: child, source: .populationRegister, in: api.tenant, by: api.metadata)
            let director = try await api.signIn("director")
            let path = "/v1/tenants/\(api.tenant)/people/\(child)/guardian-prohibitions"
            let reason = "Painava syy 4711"
            func prohibit(_ person: PersonID, _ register: String, reason: String = reason, token: String? = nil) async throws -> APIFixture.Answer {
                try await api.request(.post, path, token: token ?? director, json: ["guardian": person.description, "register": register, "reason": reason])
            }

            // Refused without a trace: another register's rules, someone who is not the child's guardian, no reason,
            // a role that may not change the child's data.
            let staff = try await api.signIn("staff")
            let before = try await api.heads()
            #expect(try await prohibit(guardian, Self.ecec).problemCode == "not-family-services", "ECEC follows other rules")
            #expect(try await prohibit(guardian, "no-such-register").field == "register")
            #expect(try await prohibit(PersonID.random(), Self.familyServices).problemCode == "not-a-guardian")
            #expect(try await prohibit(guardian, Self.familyServices, reason: " ").field == "reason")
            #expect(try await prohibit(guardian, Self.familyServices, token: staff).status == .forbidden)
            #expect(try await api.heads()[0] == before[0], "a refused prohibition writes nothing to the register")

            #expect(try await prohibit(guardian, Self.familyServices).status == .created)
            #expect(try await prohibit(guardian, Self.familyServices).status == .created, "recording it again changes nothing")
            let listed = Self.list(try await api.request(.get, path, token: director))
            #expect(listed.count == 1 && listed.first?["guardian"] as? String == guardian.description && listed.first?["register"] as? String == Self.familyServices)
            #expect(listed.first?["reason"] == nil, "the reason only for roles that read protected data")
            #expect(Self.list(try await api.request(.get, path, token: try await api.signIn("registry"))).first?["reason"] as? String == reason)
            let stored = try await api.storage.store.readStream(RegisterStreams.person(child), of: api.tenant)
            let prohibited = try #require(stored.first { $0.eventType == GuardianDisclosureProhibited.eventType })
            #expect(!String(decoding: prohibited.payload, as: UTF8.self).contains("4711"), "the reason is sealed in the log")

            // Hand-overs to a guardian: refused (and recorded) for that guardian and the family-services register only.
            let disclosures = "/v1/tenants/\(api.tenant)/disclosures"
            func handOver(_ person: PersonID, _ register: String) async throws -> APIFixture.Answer {
                try await api.request(.post, disclosures, token: director, json: [
                    "recipient": "guardian", "guardian": person.description, "register": register, "subjects": [child.description], "fields": ["name", "unit"],
                ])
            }
            let head = try await api.heads()[0]
            let refused = try await handOver(guardian, Self.familyServices)
            #expect(refused.status == .unprocessableContent && refused.problemCode == "minor-prohibition", "\(refused.text)")
            #expect(!refused.text.contains("4711"), "the refusal does not give the reason away")
            #expect(try await api.heads()[0].rawValue == head.rawValue + 1, "the refusal, and nothing else, is recorded")
            let refusals = try await api.storage.store.readStream(DisclosureStreams.recipient("guardian"), of: api.tenant)
                .filter { $0.eventType == DisclosureRefused.eventType }.map { try JSONDecoder().decode(DisclosureRefused.self, from: $0.payload) }
            #expect(refusals.last?.recipientPerson == guardian && refusals.last?.reason == "minor-prohibition" && refusals.last?.subjects == [child])

            // Events do not say which register they belong to: naming another register does not get round it.
            #expect(try await handOver(guardian, Self.ecec).problemCode == "minor-prohibition")
            #expect(try await handOver(other, Self.familyServices).status == .created, "the prohibition names one guardian, not the other")
            let given = try await api.storage.store.readStream(DisclosureStreams.recipient("guardian"), of: api.tenant)
                .filter { $0.eventType == DataDisclosed.eventType }.map { try JSONDecoder().decode(DataDisclosed.self, from: $0.payload) }
            #expect(given.map(\.recipientPerson) == [other] && given.map(\.register) == [Self.familyServices])
            #expect(try await handOver(PersonID.random(), Self.ecec).problemCode == "not-representative")
            let unnamed = try await api.request(.post, disclosures, token: director, json: ["recipient": "guardian", "subjects": [child.description], "fields": ["name"]])
            #expect(unnamed.field == "guardian")

            // The subject's reports, answered for someone: refused (and recorded) for the prohibited guardian.
            let dpo = try await api.signIn("dpo")
            let dataUse = "/v1/tenants/\(api.tenant)/people/\(child)/data-use"
            let report = try await api.request(.get, dataUse + "?requester=\(guardian)", token: dpo)
            #expect(report.status == .forbidden && report.problemCode == "minor-prohibition")
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/people/\(child)/disclosures?requester=\(guardian)", token: dpo).problemCode == "minor-prohibition")
            #expect(try await api.request(.get, dataUse + "?requester=\(other)", token: dpo).status == .ok)
            #expect(try await api.request(.get, dataUse + "?requester=\(child)", token: dpo).status == .ok)
            #expect(try await api.request(.get, dataUse, token: dpo).field == "requester", "while a prohibition holds, the report says for whom")
            #expect(try await api.request(.get, dataUse + "?requester=\(PersonID.random())", token: dpo).problemCode == "not-representative")
            #expect(try await api.request(.get, dataUse + "?requester=nobody", token: dpo).field == "requester")
            let reportRefusals = try await api.storage.store.readStream(DisclosureStreams.recipient("guardian"), of: api.tenant)
                .filter { $0.eventType == DisclosureRefused.eventType }.map { try JSONDecoder().decode(DisclosureRefused.self, from: $0.payload) }
            #expect(reportRefusals.contains { $0.channel == "data-use-report" && $0.recipientPerson == guardian && $0.reason == "minor-prohibition" })

            // Lifted: the guardian receives the family-services data again.
            let lift = try await api.request(.delete, path + "/\(guardian)", token: director, json: ["register": Self.familyServices, "reason": "Lapsi peruutti kiellon"])
            #expect(lift.status == .noContent, "\(lift.text)")
            #expect(Self.list(try await api.request(.get, path, token: director)).isEmpty)
            #expect(try await handOver(guardian, Self.familyServices).status == .created)
            #expect(try await api.request(.get, dataUse + "?requester=\(guardian)", token: dpo).status == .ok)
            #expect(try await api.request(.get, dataUse, token: dpo).status == .ok, "the data-protection officer's own view")
            #expect(try await api.request(.delete, path + "/\(guardian)", token: director, json: ["register": Self.familyServices, "reason": "Uudelleen"]).status == .notFound)
        }
    }

    @Test("only a minor forbids: a person of age has no guardian to forbid")
    func onlyMinors() async throws {
        try await APIFixture.with(.sqlite) { api in
            try await Self.addFamilyServices(api)
            let adult = try await api.registry.register(.child, details: PersonDetails(
                name: PersonName(first: "Aikuinen", last: "Lapsi"), birthDate: try LocalDate("2005-03-01")), source: .client, in: api.tenant, by: api.metadata)
            let (_, guardian) = try await api.placedChild(23)
            try await api.registry.addRelationship(.guardian, of: guardian, to: adult, source: .populationRegister, in: api.tenant, by: api.metadata)
            let answer = try await api.request(.post, "/v1/tenants/\(api.tenant)/people/\(adult)/guardian-prohibitions", token: try await api.signIn("director"),
                                               json: ["guardian": guardian.description, "register": Self.familyServices, "reason": "Syy"])
            #expect(answer.problemCode == "not-a-minor", "\(answer.text)")
        }
    }
}
