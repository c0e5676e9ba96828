import Foundation

/// Reads an export file line by line and verifies it as it goes: the header, the keys, then every event's
/// position, chain link and hash, and at the end that the file reaches the header's head.
///
/// Any problem throws `importRejected` naming the line, so a store importing from it rolls back.
public final class LogExportReader: LogImportSource {
    public let tenant: TenantID
    public private(set) var tenantKey: StoredTenantKey?
    public private(set) var subjectKeys: [SubjectID: StoredSubjectKey] = [:]
    /// The head the export says it ends at.
    public let expectedHead: LogHead
    public let includesKeys: Bool

    private let lines: LineReader
    private let decoder = JSONDecoder()
    private var pendingLine: (number: Int, data: Data)?
    private var verified = LogHead.empty
    private var finished = false
    // What an append would have refused is refused here too: the hashes carry no key, so a file that is
    // consistent with itself proves nothing about where it came from.
    private var streamVersions: [StreamRef: Int64] = [:]
    private var eventIDs = Set<UUID>()
    /// A checkpoint the log must pass through (position and hash), if the importer asked for one.
    public var requiredCheckpoint: (position: LogPosition, hash: EventDigest)?
    private var checkpointSeen = false

    /// Opens a file and reads its header and keys.
    public convenience init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw EventLogError(.importRejected, "the export file cannot be opened")
        }
        try self.init(handle: handle)
    }

    /// Reads an export from an open handle (a file or standard input).
    public init(handle: FileHandle) throws {
        lines = LineReader(handle: handle)
        guard let first = try lines.next() else { throw EventLogError(.importRejected, "line 1: the file is empty") }
        let header: ExportHeader
        do { header = try decoder.decode(ExportHeader.self, from: first.data) } catch {
            throw EventLogError(.importRejected, "line 1: not a register log export header", underlying: error)
        }
        guard header.type == "header", header.format == ExportFormat.name else {
            throw EventLogError(.importRejected, "line 1: not a register log export header")
        }
        guard header.version == ExportFormat.version else {
            throw EventLogError(.importRejected, "line 1: export format version \(header.version) is not supported (this build reads version \(ExportFormat.version))")
        }
        tenant = header.tenant
        includesKeys = header.includesKeys
        expectedHead = LogHead(position: header.head.position, hash: try Self.digest(header.head.hash, line: 1), recordedAt: Timestamp(rawValue: 0))
        try readKeys()
    }

    private func readKeys() throws {
        while let line = try lines.next() {
            let type = try lineType(line)
            switch type {
            case "tenant-key":
                guard tenantKey == nil else { throw EventLogError(.importRejected, "line \(line.number): a second tenant key") }
                let key = try decode(ExportTenantKey.self, line)
                tenantKey = StoredTenantKey(masterKeyID: key.masterKeyID, wrapped: key.wrapped)
            case "subject-key":
                let key = try decode(ExportSubjectKey.self, line)
                guard subjectKeys[key.subject] == nil else {
                    throw EventLogError(.importRejected, "line \(line.number): a second key for subject \(key.subject)")
                }
                switch (key.wrapped, key.shreddedAt) {
                case (let wrapped?, nil): subjectKeys[key.subject] = .active(wrapped: wrapped)
                case (nil, let at?): subjectKeys[key.subject] = .shredded(at: at)
                default: throw EventLogError(.importRejected, "line \(line.number): a subject key is either wrapped or shredded")
                }
            case "event":
                pendingLine = line
                return
            default:
                throw EventLogError(.importRejected, "line \(line.number): unknown line type '\(type.prefix(40))'")
            }
        }
    }

    public func nextBatch(limit: Int) throws -> [RecordedEvent]? {
        guard !finished else { return nil }
        var batch: [RecordedEvent] = []
        batch.reserveCapacity(limit)
        while batch.count < limit {
            let line: (number: Int, data: Data)
            if let pending = pendingLine {
                line = pending
                pendingLine = nil
            } else if let next = try lines.next() {
                line = next
            } else {
                try finish()
                return batch.isEmpty ? nil : batch
            }
            let type = try lineType(line)
            guard type == "event" else {
                throw EventLogError(.importRejected, "line \(line.number): expected an event, found '\(type.prefix(40))'")
            }
            let exported = try decode(ExportEvent.self, line)
            let event: RecordedEvent
            do { event = try exported.recorded(in: tenant) } catch {
                throw EventLogError(.importRejected, "line \(line.number): \(error.message)")
            }
            if let reason = HashChain.mismatch(of: event, after: verified) {
                throw EventLogError(.importRejected, "line \(line.number): event at position \(event.position) does not verify: \(reason)")
            }
            if event.position > expectedHead.position {
                throw EventLogError(.importRejected, "line \(line.number): position \(event.position) lies beyond the header's head \(expectedHead.position)")
            }
            try checkAsAppend(event, line: line.number)
            if let checkpoint = requiredCheckpoint, checkpoint.position == event.position {
                guard checkpoint.hash == event.hash else {
                    throw EventLogError(.importRejected, "line \(line.number): the log does not pass through the checkpoint at position \(event.position)")
                }
                checkpointSeen = true
            }
            verified = LogHead(position: event.position, hash: event.hash, recordedAt: event.recordedAt)
            batch.append(event)
        }
        return batch
    }

    /// The rules an append enforces, applied to an imported event.
    private func checkAsAppend(_ event: RecordedEvent, line: Int) throws {
        let proposed = ProposedEvent(eventID: event.eventID, stream: event.stream, eventType: event.eventType, schemaVersion: event.schemaVersion,
                                     subjects: event.subjects, payload: event.payload)
        do {
            try AppendValidation.check([proposed], metadata: EventMetadata(actor: event.actor))
        } catch {
            throw EventLogError(.importRejected, "line \(line): \(error.message.replacingOccurrences(of: "event 1 of the batch", with: "the event"))")
        }
        guard eventIDs.insert(event.eventID).inserted else {
            throw EventLogError(.importRejected, "line \(line): event id \(event.eventID.lowercasedString) appears a second time")
        }
        let expected = (streamVersions[event.stream] ?? 0) + 1
        guard event.streamVersion == expected else {
            throw EventLogError(.importRejected, "line \(line): stream \(event.stream) jumps to version \(event.streamVersion), expected \(expected)")
        }
        streamVersions[event.stream] = expected
        // Five minutes of slack for the clocks of the source and this machine.
        guard event.recordedAt >= verified.recordedAt, event.recordedAt.rawValue <= Timestamp.now().rawValue + 300_000_000 else {
            throw EventLogError(.importRejected, "line \(line): the recording time goes back in time or lies in the future")
        }
    }

    private func finish() throws {
        finished = true
        if let checkpoint = requiredCheckpoint, !checkpointSeen {
            throw EventLogError(.importRejected, "the file does not reach the checkpoint at position \(checkpoint.position)")
        }
        guard verified.position == expectedHead.position, verified.hash == expectedHead.hash else {
            throw EventLogError(.importRejected, "the file ends at position \(verified.position), but its header says the log ends at \(expectedHead.position): it is truncated or altered")
        }
    }

    private func lineType(_ line: (number: Int, data: Data)) throws -> String {
        try decode(ExportLineType.self, line).type
    }

    private func decode<T: Decodable>(_ type: T.Type, _ line: (number: Int, data: Data)) throws -> T {
        do { return try decoder.decode(type, from: line.data) } catch {
            throw EventLogError(.importRejected, "line \(line.number): malformed (\(Self.describe(error)))", underlying: error)
        }
    }

    private static func digest(_ hex: String, line: Int) throws -> EventDigest {
        do { return try EventDigest(hex: hex) } catch {
            throw EventLogError(.importRejected, "line \(line): \(error.message)")
        }
    }

    /// Names the field a decoding error is about, without echoing the line's content.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "not JSON" }
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not valid JSON" : "bad field '\(path)'"
        @unknown default: return "not valid JSON"
        }
    }
}

/// Splits a file into lines without loading it whole.
final class LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    private var offset = 0
    private var atEnd = false
    private var lineNumber = 0

    init(handle: FileHandle) { self.handle = handle }

    /// The next non-empty line and its 1-based number, or nil at the end of the file.
    func next() throws -> (number: Int, data: Data)? {
        while true {
            if let newline = buffer[offset...].firstIndex(of: 0x0A) {
                let line = buffer[offset..<newline]
                offset = newline + 1
                lineNumber += 1
                if line.isEmpty { continue }
                return (lineNumber, Data(line))
            }
            if atEnd {
                guard offset < buffer.count else { return nil }
                let line = buffer[offset...]
                offset = buffer.count
                lineNumber += 1
                return (lineNumber, Data(line))
            }
            buffer.removeSubrange(0..<offset)
            offset = 0
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { atEnd = true } else { buffer.append(chunk) }
        }
    }
}
