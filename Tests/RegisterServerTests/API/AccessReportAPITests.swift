import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import TestSupport
import Testing

/// The right of access over HTTP: a person's report with their data, read-model rows, disclosures and uses; by
/// identity code; for a guardian; "nothing stored"; a fee note on a repeated request; refusals recorded.
@Suite("HTTP API: subject access reports")
struct AccessReportAPITests {
    @Test("a person's report holds their events, rows, disclosures and uses and nothing of anyone else; producing and refusing are recorded",
          arguments: Backend.tested)
    func accessReport(backend: Backend) async throws {
        try await APIFixture.with(backend) { api in
            let (child, guardian) = try await api.placedChild(41)
            let (other, _) = try await api.placedChild(42)
            // A use (the unit's staff read the child) and a disclosure (VARDA's feed).
            #expect(try await api.request(.get, "/v1/tenants/\(api.tenant)/children/\(child)", token: try await api.signIn("staff")).status == .ok)
            _ = try await FeedAPITests.readAll(api, "varda", token: try await FeedAPITests.partnerToken(api, "varda"), limit: 1_000)
            try await api.projectionsCaughtUp()

            let dpo = try await api.signIn("dpo")
            let path = "/v1/tenants/\(api.tenant)/access-reports"
            let answer = try await api.request(.post, path, token: dpo, json: ["person": child.description])
            #expect(answer.status == .created, "\(answer.text)")
            let report = answer.json
            #expect(report["nothingStored"] as? Bool == false && report["feeMayApply"] as? Bool == false)
            let details = try #require((report["person"] as? [String: Any])?["details"] as? [String: Any])
            #expect((details["name"] as? [String: Any])?["first"] as? String == "Aino41")
            let logged = try await api.storage.store.read(api.tenant, after: .start, through: nil, limit: 10_000, filter: .all)
            let positions = (report["events"] as? [[String: Any]] ?? []).compactMap { $0["position"] as? Int }
            let expected = logged.filter { $0.subjects.contains(child) && $0.eventType != AccessReportProduced.eventType }.map { Int($0.position.rawValue) }
            #expect(Set(expected).isSubset(of: Set(positions)) && !positions.isEmpty, "every event about the child")
            #expect(positions.allSatisfy { position in logged.first { $0.position.rawValue == position }?.subjects.contains(child) ?? true },
                    "only events about the child")
            #expect(!answer.text.contains("Aino42") && !answer.text.contains(other.description), "nothing of another child, not even in a disclosure of both")
            #expect(!answer.text.contains("Maija41"), "the guardian's own fields are not the child's")
            #expect(!answer.text.contains("$sealed"))
            let tables = Set((report["readModels"] as? [[String: Any]] ?? []).compactMap { $0["table"] as? String })
            #expect(tables.isSuperset(of: ["people", "placements"]), "\(tables)")
            #expect((report["disclosures"] as? [[String: Any]] ?? []).contains { $0["recipient"] as? String == "varda" })
            #expect((report["uses"] as? [[String: Any]] ?? []).contains { $0["role"] as? String == "staff" })

            // Recorded; a second within a year may be charged for.
            let stream = try await api.storage.store.readStream(RegisterStreams.person(child), of: api.tenant)
            #expect(stream.filter { $0.eventType == AccessReportProduced.eventType }.count == 1)
            let again = try await api.request(.post, path, token: dpo, json: ["person": child.description, "format": "html", "lang": "en"])
            #expect(again.status == .created && again.contentType?.hasPrefix("text/html") == true)
            #expect(again.text.contains("Subject access report") && again.text.contains("Aino41") && again.text.contains("a reasonable fee may be charged"))

            // By identity code; someone the register does not hold; a malformed code.
            let byCode = try await api.request(.post, path, token: dpo, json: ["identityCode": IdentityCodes.testCode(seed: 41)])
            #expect(byCode.json["subject"] as? String == child.description)
            let nobody = try await api.request(.post, path, token: dpo, json: ["identityCode": IdentityCodes.testCode(seed: 99)])
            #expect(nobody.status == .ok && nobody.json["nothingStored"] as? Bool == true)
            #expect(try await api.request(.post, path, token: dpo, json: ["identityCode": "010101-0000"]).field == "identityCode")
            #expect(try await api.request(.post, path, token: dpo, json: [:]).field == "person")

            // For the guardian: answered; for someone else: refused and recorded.
            #expect(try await api.request(.post, path, token: dpo, json: ["person": child.description, "requester": guardian.description]).status == .created)
            let stranger = try await api.request(.post, path, token: dpo, json: ["person": child.description, "requester": other.description])
            #expect(stranger.status == .forbidden && stranger.problemCode == "not-representative")

            // Only the data-protection officer's permissions produce one.
            #expect(try await api.request(.post, path, token: try await api.signIn("director"), json: ["person": child.description]).status == .forbidden)

            // A refusal on legal grounds keeps its written explanation, sealed.
            let refusal = try await api.request(.post, path + "/refusals", token: dpo, json: ["person": child.description, "explanation": "Perusteeton pyyntö 4711"])
            #expect(refusal.status == .created, "\(refusal.text)")
            let refused = try #require(try await api.storage.store.readStream(RegisterStreams.person(child), of: api.tenant).last)
            #expect(refused.eventType == AccessReportRefused.eventType && !String(decoding: refused.payload, as: UTF8.self).contains("4711"))
        }
    }
}
