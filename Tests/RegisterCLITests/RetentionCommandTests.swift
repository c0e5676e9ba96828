import EventLog
import EventLogSQLite
import Foundation
import Register
import TestSupport
import Testing

@Suite("register: retention plan and run", .serialized)
struct RetentionCommandTests {
    static let tenants = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    @Test("plan lists who is due under which rule and changes nothing; run anonymises them once, and again does nothing")
    func planAndRun() async throws {
        try await withScratchDirectory { directory in
            let applied = try AppliedStore(applying: "poco-sipoo.yaml", in: directory)
            let (key, path, options) = (applied.key, applied.path, applied.options)

            // A child whose care at Poco ended in 2018 (the daycare keeps client records 6 years), and one in care now.
            let tenant = try TenantID("poco-sipoo")
            var configuration = try TenantFile.load(Self.tenants.appendingPathComponent("poco-sipoo.yaml"))
            configuration.id = tenant
            let store = try SQLiteEventStore(path: path)
            let registry = Registry(store: store, keyRing: KeyRing(masterKey: key, store: store))
            let metadata = EventMetadata(actor: try Actor(userID: "u-cli", role: "director"))
            var children: [PersonID] = []
            for (seed, end) in [(31, "2018-05-31"), (32, nil)] as [(Int, String?)] {
                let child = try await registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: seed),
                                                                                       name: PersonName(first: "Muisto\(seed)", last: "Lapsi")),
                                                        source: .client, in: tenant, by: metadata)
                _ = try await registry.place(child, unit: "poco-joensuunraitti", arrangement: .private, start: try LocalDate("2016-08-01"),
                                             end: try end.map { try LocalDate($0) }, serviceNeed: ServiceNeed(hoursPerWeek: 30), configuration: configuration,
                                             in: tenant, by: metadata)
                children.append(child)
            }
            try store.close()

            let plan = try RegisterBinary.run(["retention", "plan", "--tenant", "poco-sipoo"] + options, in: directory)
            #expect(plan.status == 0, "\(plan.errors)")
            #expect(plan.output.contains("2 people, 1 due, 1 kept"), "\(plan.output)")
            let dueLine = try #require(plan.output.split(separator: "\n").first { $0.hasPrefix(children[0].description) })
            #expect(dueLine.contains("\tdue\t") && dueLine.contains("ecec-client-records") && dueLine.contains("care-ended") && dueLine.contains("2024-05-31"))
            #expect(plan.output.split(separator: "\n").contains { $0.hasPrefix(children[1].description) && $0.contains("\tkept\t") && $0.contains("care-not-ended") })
            #expect(!plan.output.contains("Muisto"), "ids and dates only")

            // As of a day before it fell due, nobody; as JSON, only those due.
            let earlier = try RegisterBinary.run(["retention", "plan", "--tenant", "poco-sipoo", "--at", "2024-05-30", "--due-only", "--json"] + options, in: directory)
            #expect(earlier.status == 0, "\(earlier.errors)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(earlier.output.utf8)) as? [String: Any])
            #expect((report["plan"] as? [Any])?.isEmpty == true && report["on"] as? String == "2024-05-30")
            let badDate = try RegisterBinary.run(["retention", "plan", "--tenant", "poco-sipoo", "--at", "30.5.2024"] + options, in: directory)
            #expect(badDate.status != 0 && badDate.errors.contains("--at"))
            let unconfigured = try RegisterBinary.run(["retention", "plan", "--tenant", "lohja"] + options, in: directory)
            #expect(unconfigured.status != 0 && unconfigured.errors.contains("register tenant apply"))

            let noActor = try RegisterBinary.run(["retention", "run"] + options, in: directory)
            #expect(noActor.status != 0 && noActor.errors.contains("--actor"))
            let run = try RegisterBinary.run(["retention", "run", "--actor", "archivist-1"] + options, in: directory)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output.contains("poco-sipoo: 1 anonymised, 1 kept, 0 erased earlier, 0 failed"), "\(run.output)")
            let again = try RegisterBinary.run(["retention", "run", "--tenant", "poco-sipoo", "--actor", "archivist-1"] + options, in: directory)
            #expect(again.output.contains("poco-sipoo: 0 anonymised, 1 kept, 1 erased earlier, 0 failed"), "\(again.output)")
            let verify = try RegisterBinary.run(["verify"] + options, in: directory)
            #expect(verify.status == 0, "\(verify.errors)")

            let reopened = try SQLiteEventStore(path: path)
            let after = Registry(store: reopened, keyRing: KeyRing(masterKey: key, store: reopened))
            #expect(try await after.person(children[0], in: tenant).isErased)
            #expect(try await after.person(children[1], in: tenant).details?.name.first == "Muisto32")
            let erased = try await reopened.read(tenant).filter { $0.eventType == SubjectErasure.eventType }
            #expect(erased.count == 1 && erased[0].actor.userID == "archivist-1")
            try reopened.close()
        }
    }
}
