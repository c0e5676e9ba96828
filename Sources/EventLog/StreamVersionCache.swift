import Foundation
import Synchronization

/// What each stream's last version is, per tenant, as of a known head: lets an append skip looking versions up.
///
/// Entries are valid only at the head they were recorded for. A store consults the cache while it holds the
/// tenant's append lock and has just read the head: if the head is the one the entry was recorded at, nobody
/// (in this or another process) has appended since, so the versions are exact; otherwise the entry is dropped
/// and the store reads versions from the database. Entries are recorded only after a commit.
package final class StreamVersionCache: Sendable {
    private struct Entry: Sendable {
        /// Position and hash: a restored or failed-over database can reach the same position with other events.
        var head: LogHead
        /// 0 means the stream was known not to exist.
        var versions: [StreamRef: Int64]
    }

    private let entries = Mutex<[TenantID: Entry]>([:])
    private let maximumStreamsPerTenant: Int

    package init(maximumStreamsPerTenant: Int = 200_000) {
        self.maximumStreamsPerTenant = maximumStreamsPerTenant
    }

    /// The versions known at `head` (0 for streams known not to exist), and the streams that must be read.
    package func lookup(_ streams: [StreamRef], in tenant: TenantID, at head: LogHead) -> (known: [StreamRef: Int64], missing: [StreamRef]) {
        entries.withLock { entries in
            guard let entry = entries[tenant], entry.head.position == head.position, entry.head.hash == head.hash else {
                entries[tenant] = nil
                return ([:], streams)
            }
            var known: [StreamRef: Int64] = [:]
            var missing: [StreamRef] = []
            for stream in streams {
                if let version = entry.versions[stream] { known[stream] = version } else { missing.append(stream) }
            }
            return (known, missing)
        }
    }

    /// Records the versions an append left behind, moving the tenant's entry from `base` to `head`.
    package func record(_ versions: [StreamRef: Int64], in tenant: TenantID, from base: LogHead, to head: LogHead) {
        let limit = maximumStreamsPerTenant
        entries.withLock { entries in
            // Taken out of the table while it changes: a copy left behind would make the merge copy every version.
            guard var entry = entries.removeValue(forKey: tenant) else {
                entries[tenant] = Entry(head: head, versions: versions)
                return
            }
            if entry.head.position == base.position && entry.head.hash == base.hash {
                if entry.versions.count + versions.count > limit { entry.versions.removeAll(keepingCapacity: true) }
                entry.versions.merge(versions) { _, new in new }
                entry.head = head
                entries[tenant] = entry
            } else if entry.head.position > head.position {
                // A later append of this process got here first; its entry is newer and still exact.
                entries[tenant] = entry
            }
        }
    }

    /// Forgets a tenant (after an import, for instance).
    package func forget(_ tenant: TenantID) {
        _ = entries.withLock { $0.removeValue(forKey: tenant) }
    }
}

extension UUID {
    /// A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then random bits.
    /// Event ids made this way land at the right edge of the event-id index instead of at random pages.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1_000))
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            RandomBytes.shared.fill(raw)
            for index in 0..<6 { raw[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
            raw[6] = 0x70 | (raw[6] & 0x0F)
            raw[8] = 0x80 | (raw[8] & 0x3F)
        }
        return UUID(uuid: bytes)
    }

    /// Parses the 36-character text form (either case), as `UUID(uuidString:)` does but without Foundation's parser,
    /// which goes through `sscanf` (it showed in profiles of feeds and reads: subject ids are parsed from stream
    /// ids and payloads all the time).
    public init?(canonical text: some StringProtocol) {
        var text = String(text)
        guard let uuid = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = uuid
    }

    /// Parses the 36-character text form from UTF-8 bytes.
    package static func parse(_ text: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard text.count == 36, text[8] == 0x2D, text[13] == 0x2D, text[18] == 0x2D, text[23] == 0x2D else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &bytes) { raw -> Bool in
            var out = 0
            var index = 0
            while index < 36 {
                if index == 8 || index == 13 || index == 18 || index == 23 { index += 1 }
                guard let high = hexNibble(text[index]), let low = hexNibble(text[index + 1]) else { return false }
                raw[out] = high << 4 | low
                out += 1
                index += 2
            }
            return true
        }
        return ok ? UUID(uuid: bytes) : nil
    }

    /// The canonical lower-case text form, without Foundation's formatter (which goes through sprintf).
    public var lowercasedString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        withUnsafeBytes(of: uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
