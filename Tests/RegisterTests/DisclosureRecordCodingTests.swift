import EventLog
import Foundation
import Register
import Testing

/// Disclosure records as the log stores them: version 2 (events grouped by type and fields) is written, and both
/// versions read back to the same value.
@Suite("Disclosure records: stored compactly, read back whole")
struct DisclosureRecordCodingTests {
    static func hash(_ seed: Int) -> String { String(repeating: String(format: "%02x", seed % 256), count: 32) }

    static let children = (0..<4).map { _ in PersonID(UUID()) }
    static let guardian = PersonID(UUID())

    /// A page of interleaved event types, one event whose fields differ from its type's others, and an event about a
    /// person the record's subjects do not list (an export lists only the subjects it was asked for).
    static var record: DataDisclosed {
        var events: [DisclosedEvent] = []
        for position in Int64(1)...40 {
            let type = ["ArrivalRecorded", "DepartureRecorded", "CareTimeBooked"][Int(position) % 3]
            let fields: [FeedField] = position == 7 ? [.date] : [.date, .time, .unit]
            events.append(DisclosedEvent(position: position * 3, hash: hash(Int(position)), eventType: type, subject: children[Int(position) % 4], fields: fields))
        }
        events.append(DisclosedEvent(position: 200, hash: hash(200), eventType: "PersonRegistered", subject: guardian, fields: [.name]))
        return DataDisclosed(recipient: "kela", register: "ecec", channel: "feed", legalBasis: "Laki 540/2018 § 6 \"quoted\"", consentPurpose: nil,
                             subjects: children, fields: [.date, .time, .unit, .name], events: events, recipientUnit: nil)
    }

    @Test("a record reads back as it was written: every event with its position, hash, type, subject and fields, in position order")
    func roundTrip() throws {
        let record = Self.record
        for encoded in [try SortedJSONEncoder().encode(record), try JSONEncoder().encode(record)] {
            let decoded = try JSONDecoder().decode(DataDisclosed.self, from: encoded)
            #expect(decoded.events == record.events)
            #expect(decoded.subjects == record.subjects)
            #expect(decoded.fields == record.fields)
            #expect(decoded.legalBasis == record.legalBasis)
            #expect(decoded.recipient == "kela" && decoded.register == "ecec" && decoded.channel == "feed")
        }
        // Shuffled events come back in position order.
        var shuffled = record
        shuffled.events.reverse()
        let decoded = try JSONDecoder().decode(DataDisclosed.self, from: try SortedJSONEncoder().encode(shuffled))
        #expect(decoded.events == record.events)
    }

    @Test("version 2 groups events by type and fields: a subject's id once, each event's hash once")
    func compact() throws {
        let record = Self.record
        let text = String(decoding: try SortedJSONEncoder().encode(record), as: UTF8.self)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let groups = try #require(json["eventGroups"] as? [[String: Any]])
        // Three types with three fields, one with one field, and the guardian's registration.
        #expect(groups.count == 5)
        #expect(json["events"] == nil)
        #expect(json["otherSubjects"] as? [String] == [Self.guardian.description])
        for child in Self.children {
            #expect(text.components(separatedBy: child.description).count - 1 == 1, "each subject's id is written once")
        }
        // Version 1 (an object per event) was about 200 bytes an event; version 2 is the hash and a little more.
        let perEvent = text.utf8.count / record.events.count
        #expect(perEvent < 100, "\(perEvent) bytes an event")
    }

    @Test("the direct writer writes the encoder's bytes, and falls back to the encoder for what it does not write")
    func directWriter() throws {
        var record = Self.record
        // With the guardian's event: a subject outside `subjects` (the fallback).
        #expect(try record.sortedJSON() == SortedJSONEncoder().encode(record))
        record.events.removeLast()
        #expect(!String(decoding: try record.sortedJSON(), as: UTF8.self).contains("otherSubjects"))
        #expect(try record.sortedJSON() == SortedJSONEncoder().encode(record))
        // Optional fields present and absent, an empty record.
        record.recipientPerson = Self.guardian
        record.recipientUnit = "päiväkoti/1"
        record.consentPurpose = "school \"transition\""
        #expect(try record.sortedJSON() == SortedJSONEncoder().encode(record))
        record.events = []
        #expect(try record.sortedJSON() == SortedJSONEncoder().encode(record))
        // A hash that is not plain hex (never written by the log; the fallback writes it escaped).
        record.events = [DisclosedEvent(position: 1, hash: "a\"b", eventType: "ArrivalRecorded", subject: Self.children[0], fields: [.date])]
        #expect(try record.sortedJSON() == SortedJSONEncoder().encode(record))
        #expect(try JSONDecoder().decode(DataDisclosed.self, from: record.sortedJSON()).events == record.events)
    }

    @Test("a version 1 record, as written before version 2, still reads")
    func version1() throws {
        let child = PersonID(UUID())
        let hash = Self.hash(0xab)
        let disclosed = try JSONDecoder().decode(DataDisclosed.self, from: Data("""
            {"recipient":"kela","register":"ecec","channel":"feed","legalBasis":"Laki 540/2018 § 6","subjects":["\(child)"],\
            "fields":["date","time","unit"],"events":[{"position":41,"hash":"\(hash)","eventType":"ArrivalRecorded","subject":"\(child)",\
            "fields":["date","time","unit"]}]}
            """.utf8))
        #expect(disclosed.events == [DisclosedEvent(position: 41, hash: hash, eventType: "ArrivalRecorded", subject: child, fields: [.date, .time, .unit])])
    }

    @Test("a damaged record is refused, not read with events missing or misattributed")
    func damaged() throws {
        let child = PersonID(UUID())
        let hash = Self.hash(1)
        for groups in [
            #"[{"eventType":"ArrivalRecorded","fields":["date"],"positions":[1,2],"hashes":["\#(hash)"],"subjectIndexes":[0,0]}]"#,
            #"[{"eventType":"ArrivalRecorded","fields":["date"],"positions":[1],"hashes":["\#(hash)"],"subjectIndexes":[1]}]"#,
            #"[{"eventType":"ArrivalRecorded","fields":["date"],"positions":[1],"hashes":["\#(hash)"],"subjectIndexes":[-1]}]"#,
        ] {
            let payload = #"{"recipient":"kela","register":"ecec","channel":"feed","subjects":["\#(child)"],"fields":["date"],"eventGroups":\#(groups)}"#
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(DataDisclosed.self, from: Data(payload.utf8)) }
        }
    }
}
