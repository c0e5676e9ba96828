import EventLog
import Foundation
import Register
import Testing

/// The register's own values, written by the project's encoder and by Foundation's: the same bytes. Answers, feed
/// items and records written before `SortedJSONEncoder` came were Foundation's, and hashes cover stored payloads.
@Suite("SortedJSONEncoder on the register's values")
struct RegisterJSONTests {
    static func both<Value: Encodable>(_ value: Value) throws -> (ours: String, foundation: String) {
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (String(decoding: try SortedJSONEncoder().encode(value), as: UTF8.self),
                String(decoding: try foundation.encode(value), as: UTF8.self))
    }

    @Test("every shipped tenant file's configuration, and feed items, disclosures and people as Foundation writes them")
    func sameBytes() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized
        let configurations = try TenantFile.loadDirectory(directory)
        #expect(configurations.count >= 5)
        for configuration in configurations {
            let (ours, foundation) = try Self.both(configuration)
            #expect(ours == foundation, "\(configuration.id.rawValue)")
        }

        let child = PersonID(UUID())
        let item = FeedItem(cursor: FeedCursor(LogPosition(41)).text, position: 41, type: "ArrivalRecorded", recordedAt: "2026-11-24T07:59:00.123456Z",
                            subject: child.description, data: ["date": .string("2026-11-24"), "time": .string("07:59"), "unit": .string("päiväkoti/1"),
                                                               "details": .object(["a": .int(-3), "b": .bool(true), "c": .string("\"quoted\"\n")])])
        // Records are read back from the log: one decoded from the JSON a feed page writes.
        let hash = String(repeating: "ab", count: 32)
        let disclosed = try JSONDecoder().decode(DataDisclosed.self, from: Data("""
            {"channel":"feed","events":[{"eventType":"ArrivalRecorded","fields":["date","time","unit"],"hash":"\(hash)","position":41,\
            "subject":"\(child)"}],"fields":["date","time","unit"],"legalBasis":"Laki 540/2018 § 6","recipient":"kela","register":"ecec",\
            "subjects":["\(child)"]}
            """.utf8))
        let details = PersonDetails(identityCode: "010190-900P", name: PersonName(first: "Aino", last: "Äkäslompolo"), birthDate: try LocalDate("1990-01-01"),
                                    phone: "040 123 4567")
        for (ours, foundation) in [try Self.both(item), try Self.both(disclosed), try Self.both(details), try Self.both([details, details])] {
            #expect(ours == foundation)
        }
    }
}
