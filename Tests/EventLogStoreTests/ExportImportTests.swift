import EventLog
import Foundation
import TestSupport
import Testing

/// A source and a target store for moving a log (SQLite → PostgreSQL is the expected use).
struct StorePair: Sendable, CustomTestStringConvertible {
    let source: StoreKind
    let target: StoreKind
    var testDescription: String { "\(source.testDescription) → \(target.testDescription)" }

    static var tested: [StorePair] {
        StoreKind.tested.flatMap { source in StoreKind.tested.map { StorePair(source: source, target: $0) } }
    }
}

@Suite("Conformance: export and import")
struct ExportImportTests {
    @Test("export → import keeps positions, hashes and sealed payloads", arguments: StorePair.tested)
    func roundTrip(pair: StorePair) async throws {
        try await StoreFixture.with(pair.source) { source in
            let tenant = Events.tenant()
            let (file, people) = try await Self.exportSample(from: source, tenant: tenant)
            defer { try? FileManager.default.removeItem(atPath: file) }
            try await StoreFixture.with(pair.target, masterKey: source.keyRing.masterKey) { target in
                let summary = try await target.store.importLog(try LogExportReader(path: file), into: tenant)
                #expect(summary.events == 8)
                let original = try await source.store.read(tenant)
                let imported = try await target.store.read(tenant)
                #expect(imported == original)
                #expect(try await target.store.head(of: tenant) == source.store.head(of: tenant))
                #expect(try await target.store.verifyChain(of: tenant).isIntact)
                let opened = try await target.keyRing.open(ChildRecorded.self, from: imported[0])
                #expect(opened.childName.value == people[0].name)
                let erased = try await target.keyRing.open(ChildRecorded.self, from: imported[2])
                #expect(erased.childName.isErased, "a shredded subject stays shredded after the move")
                // The target continues the chain.
                let next = try await target.store.append([Events.event()], to: tenant, metadata: StoreFixture.metadata)
                #expect(next.positions == [LogPosition(9)])
                #expect(try await target.store.verifyChain(of: tenant).isIntact)
            }
        }
    }

    @Test("a corrupted, reordered or truncated export is refused by line, and nothing of it is kept", arguments: StoreKind.tested)
    func tamperedExports(kind: StoreKind) async throws {
        try await StoreFixture.with(.sqlite) { source in
            let tenant = Events.tenant()
            let (file, _) = try await Self.exportSample(from: source, tenant: tenant)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
            let firstEvent = try #require(lines.firstIndex { $0.contains(#""type":"event""#) })
            var forged = lines
            forged[firstEvent + 3] = forged[firstEvent + 3].replacingOccurrences(of: #""schemaVersion":1"#, with: #""schemaVersion":2"#)
            var swapped = lines
            swapped.swapAt(firstEvent + 1, firstEvent + 2)
            let truncated = Array(lines.dropLast())
            var garbage = lines
            garbage[firstEvent + 5] = "{not json"
            let cases: [(String, [String], String)] = [
                ("altered", forged, "line \(firstEvent + 4)"),
                ("reordered", swapped, "line \(firstEvent + 2)"),
                ("truncated", truncated, "truncated"),
                ("garbage", garbage, "line \(firstEvent + 6)"),
            ]
            try await StoreFixture.with(kind, masterKey: source.keyRing.masterKey) { target in
                for (name, content, expected) in cases {
                    let path = file + "." + name
                    try (content.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    let error = await #expect(throws: EventLogError.self, "\(name)") {
                        try await target.store.importLog(try LogExportReader(path: path), into: tenant)
                    }
                    #expect(error?.code == .importRejected, "\(name)")
                    #expect(error?.message.contains(expected) == true, "\(name): \(error?.message ?? "")")
                    #expect(try await target.store.head(of: tenant) == .empty, "\(name): nothing kept")
                    #expect(try await target.store.tenantKey(of: tenant) == nil, "\(name): no key kept")
                }
                // The intact file still imports afterwards; a second import into the now non-empty tenant is refused.
                _ = try await target.store.importLog(try LogExportReader(path: file), into: tenant)
                let again = await #expect(throws: EventLogError.self) {
                    try await target.store.importLog(try LogExportReader(path: file), into: tenant)
                }
                #expect(again?.message.contains("only into an empty tenant") == true)
            }
        }
    }

    @Test("a file refused after a thousand events were already written keeps none of them", arguments: StoreKind.tested)
    func refusedLateInTheFile(kind: StoreKind) async throws {
        try await StoreFixture.with(.sqlite) { source in
            let tenant = Events.tenant()
            for _ in 0..<3 {
                _ = try await source.store.append((0..<600).map { _ in Events.event() }, to: tenant, metadata: StoreFixture.metadata)
            }
            var data = Data()
            _ = try await LogExporter(store: source.store).export(tenant) { data.append($0) }
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            let line = try #require(lines.firstIndex { $0.contains(#""position":1500,"#) })
            lines[line] = lines[line].replacingOccurrences(of: #""schemaVersion":1"#, with: #""schemaVersion":3"#)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("late-\(UUID().uuidString).jsonl").path
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            // Annotated: with every `try` inside a macro, the closure would otherwise be inferred as non-throwing.
            try await StoreFixture.with(kind, masterKey: source.keyRing.masterKey) { (target: StoreFixture) async throws in
                let error = await #expect(throws: EventLogError.self) {
                    try await target.store.importLog(try LogExportReader(path: path), into: tenant)
                }
                #expect(error?.message.contains("position 1500") == true, "\(error?.message ?? "")")
                #expect(try await target.store.head(of: tenant) == .empty)
                #expect(try await target.store.read(tenant, limit: 10).isEmpty, "the first 1 000 rows were rolled back")
            }
        }
    }

    @Test("an export that is consistent with itself but breaks the rules of an append is refused")
    func forgedButConsistent() async throws {
        try await StoreFixture.with(.sqlite) { source in
            let tenant = Events.tenant()
            _ = try await source.store.append([Events.event(), Events.event()], to: tenant, metadata: StoreFixture.metadata)
            let events = try await source.store.read(tenant)
            // Rebuild the chain around a forged second event: an identity code in clear, hashes recomputed.
            var forged = events[1]
            forged.payload = Data(#"{"hetu":"010101A900R"}"#.utf8)
            forged.hash = HashChain.hash(of: forged)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var data = Data()
            _ = try await LogExporter(store: source.store).export(tenant, includeKeys: false) { data.append($0) }
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            lines[0] = lines[0].replacingOccurrences(of: events[1].hash.hex, with: forged.hash.hex)
            let original = try #require(lines.firstIndex { $0.contains(events[1].hash.hex) })
            lines[original] = lines[original]
                .replacingOccurrences(of: events[1].hash.hex, with: forged.hash.hex)
                .replacingOccurrences(of: events[1].payload.base64EncodedString(), with: forged.payload.base64EncodedString())
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("forged-\(UUID().uuidString).jsonl").path
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            try await StoreFixture.with(.sqlite) { (target: StoreFixture) async throws in
                let error = await #expect(throws: EventLogError.self) {
                    try await target.store.importLog(try LogExportReader(path: path), into: tenant)
                }
                #expect(error?.code == .importRejected)
                #expect(error?.message.contains("identity code") == true, "\(error?.message ?? "")")
                #expect(try await target.store.head(of: tenant) == .empty)
            }
        }
    }

    /// Writes a tenant with sealed events (one subject shredded) and exports it to a temporary file.
    static func exportSample(from fixture: StoreFixture, tenant: TenantID) async throws -> (String, [SyntheticPerson]) {
        let people = (10..<14).map(SyntheticPerson.init)
        var events: [ProposedEvent] = []
        for (child, guardian) in [(people[0], people[1]), (people[2], people[3])] {
            let payload = try await fixture.keyRing.seal(ChildRecorded.about(child, guardian: guardian), subjects: [child.subject, guardian.subject], in: tenant)
            events.append(ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [child.subject, guardian.subject], payload: payload))
        }
        _ = try await fixture.store.append(events, to: tenant, metadata: StoreFixture.metadata)
        let payload = try await fixture.keyRing.seal(ChildRecorded.about(people[2], guardian: people[3]), subjects: [people[2].subject, people[3].subject], in: tenant)
        _ = try await fixture.store.append([ProposedEvent(stream: Events.stream(), eventType: "ChildRecorded", subjects: [people[2].subject, people[3].subject], payload: payload)]
                                           + (0..<4).map { _ in Events.event() }, to: tenant, metadata: StoreFixture.metadata)
        _ = try await fixture.keyRing.shred(people[2].subject, in: tenant, store: fixture.store, metadata: StoreFixture.metadata, reason: "erasure-request")
        var data = Data()
        let head = try await LogExporter(store: fixture.store).export(tenant) { data.append($0) }
        #expect(head.position == LogPosition(8))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString).jsonl").path
        try data.write(to: URL(fileURLWithPath: path))
        return (path, people)
    }
}
