import EventLog
import Foundation
import PropertyBased
import Testing

@Suite("Hash chain")
struct HashChainTests {
    static func sample(note: String = "a") throws -> RecordedEvent {
        var event = RecordedEvent(
            tenant: try TenantID("lohja"), position: LogPosition(1), eventID: UUID(), stream: try StreamRef(type: "child", id: "c-1"), streamVersion: 1,
            eventType: "ChildNoted", schemaVersion: 1, recordedAt: Timestamp(rawValue: 1_700_000_000_000_000), actor: try Actor(userID: "u-1", role: "registrar"),
            correlationID: UUID(), causationID: nil, subjects: [SubjectID.random()], payload: Data(#"{"note":"\#(note)"}"#.utf8),
            previousHash: .genesis, hash: .genesis)
        event.hash = HashChain.hash(of: event)
        return event
    }

    @Test("the hash covers every envelope field and the payload")
    func everyFieldCounts() throws {
        let event = try Self.sample()
        #expect(HashChain.mismatch(of: event, after: .empty) == nil)
        var variants: [RecordedEvent] = []
        var copy = event
        copy.tenant = try TenantID("lieto"); variants.append(copy); copy = event
        copy.eventID = UUID(); variants.append(copy); copy = event
        copy.stream = try StreamRef(type: "child", id: "c-2"); variants.append(copy); copy = event
        copy.streamVersion = 2; variants.append(copy); copy = event
        copy.eventType = "ChildNotd"; variants.append(copy); copy = event
        copy.schemaVersion = 2; variants.append(copy); copy = event
        copy.recordedAt = Timestamp(rawValue: 1_700_000_000_000_001); variants.append(copy); copy = event
        copy.actor = try Actor(userID: "u-2", role: "registrar"); variants.append(copy); copy = event
        copy.correlationID = nil; variants.append(copy); copy = event
        copy.causationID = UUID(); variants.append(copy); copy = event
        copy.subjects = []; variants.append(copy); copy = event
        copy.payload = Data(#"{"note":"b"}"#.utf8); variants.append(copy); copy = event
        for variant in variants {
            #expect(HashChain.hash(of: variant) != event.hash)
            #expect(HashChain.mismatch(of: variant, after: .empty) != nil)
        }
    }

    @Test("length prefixes keep field boundaries apart")
    func boundaries() throws {
        var a = try Self.sample()
        var b = a
        a.stream = try StreamRef(type: "ab", id: "c")
        b.stream = try StreamRef(type: "a", id: "bc")
        #expect(HashChain.hash(of: a) != HashChain.hash(of: b))
    }

    @Test("a chain of any length verifies link by link, and a changed payload breaks it at that event")
    func chains() async {
        await propertyCheck(count: 50, input: Gen.int(in: 1...40), Gen.int(in: 0...39)) { length, tamperIndex in
            var head = LogHead.empty
            var chain: [RecordedEvent] = []
            for index in 0..<length {
                guard var event = try? Self.sample(note: "n\(index)") else { return }
                event.position = head.position.next
                event.previousHash = head.hash
                event.hash = HashChain.hash(of: event)
                head = LogHead(position: event.position, hash: event.hash, recordedAt: event.recordedAt)
                chain.append(event)
            }
            let target = tamperIndex % length
            chain[target].payload = Data(#"{"note":"forged"}"#.utf8)
            var verified = LogHead.empty
            var firstBad: Int?
            for event in chain {
                if HashChain.mismatch(of: event, after: verified) != nil { firstBad = Int(event.position.rawValue); break }
                verified = LogHead(position: event.position, hash: event.hash, recordedAt: event.recordedAt)
            }
            #expect(firstBad == target + 1)
        }
    }
}
