import EventLog
import Foundation
import Register
import TestSupport
import Testing

@Suite("Access log (O14)")
struct AccessLogTests {
    static let staff = try! Actor(userID: "u-staff-7", role: "unit-staff")
    static let director = try! Actor(userID: "u-director-1", role: "director")

    @Test("entries are recorded durably and found again by subject, with who, role, action, resource and purpose", arguments: StoreKind.tested)
    func recordAndQuery(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            try await fixture.withSiblingStore { store in
                let log = AccessLog(store: store)
                let tenant = Events.tenant(), elsewhere = Events.tenant()
                let child = SubjectID.random(), sibling = SubjectID.random()
                try await log.record([
                    AccessEntry(subject: child, action: .view, resource: "child/\(child)", purpose: "ecec-daily-work", actor: Self.staff),
                    AccessEntry(subject: sibling, action: .view, resource: "unit/poco/roster/2026-11-24", purpose: "ecec-daily-work", actor: Self.staff),
                ], in: tenant)
                try await log.record([AccessEntry(subject: child, action: .print, resource: "child/\(child)/plan", purpose: "ecec-plan", actor: Self.director)], in: tenant)
                try await log.record([AccessEntry(subject: child, action: .view, resource: "child/\(child)", purpose: "ecec-daily-work", actor: Self.staff)], in: elsewhere)

                let entries = try await log.entries(of: child, in: tenant)
                #expect(entries.map(\.entry.action) == [.view, .print])
                #expect(entries.map(\.entry.actor) == [Self.staff, Self.director])
                #expect(entries[1].entry.resource == "child/\(child)/plan" && entries[1].entry.purpose == "ecec-plan")
                #expect(try await log.entries(of: sibling, in: tenant).count == 1)
                #expect(try await log.entries(of: child, in: elsewhere).count == 1, "each tenant has its own access log")
                #expect(try await store.verifyChain(of: tenant).isIntact)
                // The payload is written by hand: it must be what JSONEncoder with sorted keys writes.
                let stored = try await store.read(tenant, limit: 3).map { String(decoding: $0.payload, as: UTF8.self) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let expected = try [("view", "child/\(child)", "ecec-daily-work"), ("view", "unit/poco/roster/2026-11-24", "ecec-daily-work"),
                                    ("print", "child/\(child)/plan", "ecec-plan")].map {
                    String(decoding: try encoder.encode(["action": $0.0, "resource": $0.1, "purpose": $0.2]), as: UTF8.self)
                }
                #expect(stored == expected)

                let refused = await #expect(throws: EventLogError.self) {
                    try await log.record([AccessEntry(subject: child, action: .view, resource: "child/Aino Virtanen", purpose: "x", actor: Self.staff)], in: tenant)
                }
                #expect(refused?.code == .invalidArgument)
                #expect(try await store.head(of: tenant).position == LogPosition(3))
            }
        }
    }

    @Test("concurrent requests share commits, and every entry is durable when its call returns", arguments: StoreKind.tested)
    func groupCommit(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            try await fixture.withSiblingStore { store in
                let log = AccessLog(store: store)
                let tenant = Events.tenant()
                let subjects = (0..<40).map { _ in SubjectID.random() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for subject in subjects {
                        group.addTask {
                            try await log.record([AccessEntry(subject: subject, action: .view, resource: "child/\(subject)", purpose: "ecec-daily-work", actor: Self.staff)], in: tenant)
                            // Durable on return: the entry is readable at once (here through the same store).
                            #expect(try await store.readStream(StreamRef(type: "subject", id: subject.description), of: tenant).count == 1)
                        }
                    }
                    try await group.waitForAll()
                }
                let events = try await store.read(tenant, limit: 100)
                #expect(events.count == 40)
                #expect(Set(events.flatMap(\.subjects)) == Set(subjects))
                // Each commit stamps its batch with one recording time: fewer distinct times than calls means shared commits.
                let commits = Set(events.map(\.recordedAt)).count
                #expect(commits < 40, "\(commits) commits for 40 calls")
                #expect(try await store.verifyChain(of: tenant).isIntact)
            }
        }
    }

    @Test("a sample draws distinct entries in log order", arguments: StoreKind.tested)
    func sampling(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            try await fixture.withSiblingStore { store in
                let log = AccessLog(store: store)
                let tenant = Events.tenant()
                let subjects = (0..<30).map { _ in SubjectID.random() }
                try await log.record(subjects.map { AccessEntry(subject: $0, action: .view, resource: "child/\($0)", purpose: "ecec-daily-work", actor: Self.staff) },
                                     in: tenant)
                let sample = try await log.sample(10, in: tenant)
                #expect(sample.count == 10)
                #expect(sample.map(\.position) == sample.map(\.position).sorted())
                #expect(Set(sample.map(\.position)).count == 10)
                #expect(try await log.sample(100, in: tenant).count == 30)
                #expect(try await log.sample(5, in: Events.tenant()).isEmpty)
            }
        }
    }
}
