import EventLog
import Foundation
import TestSupport
import Testing

@Suite("Conformance: sealed personal data and crypto-shredding")
struct SealingTests {
    @Test("shredding one subject erases their fields only; no plaintext in the database files before or after", arguments: StoreKind.tested)
    func shredding(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let ring = fixture.keyRing
            let people = (0..<4).map(SyntheticPerson.init)
            let (aino, mother, eino, father) = (people[0], people[1], people[2], people[3])
            var events: [ProposedEvent] = []
            for (child, guardian) in [(aino, mother), (eino, father)] {
                let payload = try await ring.seal(ChildRecorded.about(child, guardian: guardian), subjects: [child.subject, guardian.subject], in: tenant)
                events.append(ProposedEvent(stream: try StreamRef(type: "child", id: child.subject.description), eventType: "ChildRecorded",
                                            subjects: [child.subject, guardian.subject], payload: payload))
            }
            _ = try await fixture.store.append(events, to: tenant, metadata: StoreFixture.metadata)
            try await PlaintextScan.expectNone(of: people.flatMap(\.secrets), in: fixture)

            guard case .active(let wrappedKey)? = try await fixture.store.subjectKeys([aino.subject], of: tenant)[aino.subject] else {
                Issue.record("the subject has no key to shred")
                return
            }
            let result = try await ring.shred(aino.subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "erasure-request")
            // The wrapped key's bytes are gone from the database files (SQLite: file and WAL; PostgreSQL: the live
            // rows a dump shows — dead tuples until vacuum are documented in docs/architecture.md).
            try await PlaintextScan.expectNone(of: [], bytes: [[UInt8](wrappedKey)], in: fixture)
            #expect(result.positions == [LogPosition(3)])

            // A fresh key ring (another process, or after the cache expired) sees the same.
            let reader = KeyRing(masterKey: ring.masterKey, store: fixture.store)
            let stored = try await fixture.store.read(tenant)
            #expect(stored.last?.eventType == SubjectErasure.eventType)
            #expect(stored.last?.subjects == [aino.subject])
            for ring in [ring, reader] {
                let first = try await ring.open(ChildRecorded.self, from: stored[0])
                #expect(first.childName.isErased && first.identityCode.isErased && first.address.isErased)
                #expect(first.guardianName.value == mother.name, "the guardian's own field is not erased")
                let second = try await ring.open(ChildRecorded.self, from: stored[1])
                #expect(second.childName.value == eino.name)
                #expect(second.identityCode.value == eino.identityCode)
                #expect(second.address.value?.street == eino.street)
            }
            #expect(try await fixture.store.verifyChain(of: tenant).isIntact)

            let sealAgain = await #expect(throws: EventLogError.self) {
                try await ring.seal(ChildRecorded.about(aino, guardian: mother), subjects: [aino.subject, mother.subject], in: tenant)
            }
            #expect(sealAgain?.code == .subjectErased)
            let twice = await #expect(throws: EventLogError.self) {
                try await ring.shred(aino.subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "erasure-request")
            }
            #expect(twice?.code == .subjectErased)
            try await PlaintextScan.expectNone(of: people.flatMap(\.secrets), in: fixture)
        }
    }

    @Test("the store refuses new sealed data about a subject erased by another process, and fields of subjects the event does not name", arguments: StoreKind.tested)
    func erasedElsewhere(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let child = SyntheticPerson(21), guardian = SyntheticPerson(22)
            // This process sealed with a key it still has cached; another process (another ring) shreds the child.
            let payload = try await fixture.keyRing.seal(ChildRecorded.about(child, guardian: guardian), subjects: [child.subject, guardian.subject], in: tenant)
            let elsewhere = KeyRing(masterKey: fixture.keyRing.masterKey, store: fixture.store)
            _ = try await elsewhere.shred(child.subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "erasure-request")
            let late = ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [child.subject, guardian.subject], payload: payload)
            let refused = await #expect(throws: EventLogError.self) {
                try await fixture.store.append([Events.event(), late], to: tenant, metadata: StoreFixture.metadata)
            }
            #expect(refused?.code == .subjectErased)
            #expect(try await fixture.store.head(of: tenant).position == LogPosition(1), "only the SubjectErased event")
            // An event may still name the erased subject, as long as it seals nothing of theirs.
            _ = try await fixture.store.append([ProposedEvent(stream: Events.stream(), eventType: "RetentionApplied", subjects: [child.subject], payload: Events.payload())],
                                               to: tenant, metadata: StoreFixture.metadata)

            let stranger = ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [guardian.subject], payload: payload)
            let undeclared = await #expect(throws: EventLogError.self) {
                try await fixture.store.append([stranger], to: tenant, metadata: StoreFixture.metadata)
            }
            #expect(undeclared?.code == .invalidArgument)
            #expect(undeclared?.message.contains("not among the event's subjects") == true)
        }
    }

    @Test("a retried shred returns the original position", arguments: StoreKind.tested)
    func idempotentShred(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let subject = SubjectID.random()
            let id = UUID()
            let first = try await fixture.keyRing.shred(subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "retention:ecec-10y", eventID: id)
            let again = try await fixture.keyRing.shred(subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "retention:ecec-10y", eventID: id)
            #expect(again.deduplicated && again.positions == first.positions)
            let prose = #expect(throws: EventLogError.self) { try SubjectErasure.event(for: subject, reason: "Aino asked for it") }
            #expect(prose?.code == .invalidArgument)
        }
    }

    @Test("keys survive the process; a different master key is refused by name", arguments: StoreKind.tested)
    func masterKey(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let person = SyntheticPerson(7), guardian = SyntheticPerson(8)
            let payload = try await fixture.keyRing.seal(ChildRecorded.about(person, guardian: guardian), subjects: [person.subject, guardian.subject], in: tenant)
            _ = try await fixture.store.append([ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [person.subject, guardian.subject], payload: payload)],
                                               to: tenant, metadata: StoreFixture.metadata)
            let event = try #require(try await fixture.store.read(tenant).first)
            let later = KeyRing(masterKey: try MasterKey(base64: fixture.keyRing.masterKey.base64), store: fixture.store)
            #expect(try await later.open(ChildRecorded.self, from: event).childName.value == person.name)

            let wrong = KeyRing(masterKey: .generate(), store: fixture.store)
            let error = await #expect(throws: EventLogError.self) { try await wrong.open(ChildRecorded.self, from: event) }
            #expect(error?.code == .masterKeyMismatch)

            // Without keys the fields stay sealed rather than failing.
            let sealed = try PayloadOpener(keys: nil).open(ChildRecorded.self, from: event.payload)
            if case .sealed = sealed.childName {} else { Issue.record("expected the field to stay sealed") }
        }
    }

    @Test("blind indexes match within a tenant and differ across tenants", arguments: StoreKind.tested)
    func blindIndexes(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let a = Events.tenant(), b = Events.tenant()
            let code = IdentityCodes.testCode(seed: 3)
            let first = try await fixture.keyRing.blindIndex(code, kind: .identityCode, in: a)
            let again = try await KeyRing(masterKey: fixture.keyRing.masterKey, store: fixture.store).blindIndex(" \(code.lowercased()) ", kind: .identityCode, in: a)
            let elsewhere = try await fixture.keyRing.blindIndex(code, kind: .identityCode, in: b)
            #expect(first == again)
            #expect(first != elsewhere)
            #expect(!first.digest.contains(code))
        }
    }
}
