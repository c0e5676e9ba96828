import Foundation

/// The results as Markdown tables for docs/benchmarks.md.
struct Report {
    private var comparisons: [String] = []
    private var notes: [String] = []
    private var peerRows: [String] = []

    /// A comparison's row: median rates, and the median of the per-round ratios judged against the target.
    mutating func compare(_ comparison: Comparison, target: Double) {
        let ours = comparison.ours.median, baseline = comparison.baseline.median
        let ratio = comparison.ratio
        let keyedColumn = comparison.keyedRatio.map { "\(Self.rate(comparison.keyed.median)) (ours \(String(format: "%.2f", $0)))" } ?? "–"
        comparisons.append("| \(ours.name) | \(Self.rate(ours)) | \(baseline.name) | \(Self.rate(baseline)) | \(String(format: "%.2f", ratio)) | ≥ \(String(format: "%.1f", target)) \(ratio >= target ? "met" : "**not met**") | \(keyedColumn) | \(comparison.ours.count) |")
    }

    mutating func note(_ measurement: Measurement, store: String) {
        notes.append("| \(store) | \(measurement.name) | \(measurement.events.formatted()) | \(String(format: "%.1f", measurement.seconds)) s | \(Self.rate(measurement)) |")
    }

    struct Peer: Decodable {
        var library: String
        var version: String
        var events: Int
        var append_events_per_second: Double
        var read_events_per_second: Double
        var psycopg_impl: String?
        var payload_bytes: Int?
    }

    mutating func peer(from file: URL, ourAppend: Measurement, ourRead: Measurement) throws {
        let peer = try JSONDecoder().decode(Peer.self, from: Data(contentsOf: file))
        peerRows.append("| append in batches of 1 000 | \(Self.rate(ourAppend)) | \(Int(peer.append_events_per_second).formatted()) | \(String(format: "%.2f", ourAppend.eventsPerSecond / peer.append_events_per_second)) |")
        peerRows.append("| catch-up read of \(peer.events.formatted()) | \(Self.rate(ourRead)) | \(Int(peer.read_events_per_second).formatted()) | \(String(format: "%.2f", ourRead.eventsPerSecond / peer.read_events_per_second)) |")
        peerRows.insert("Peer: Python `\(peer.library)` \(peer.version) (psycopg \(peer.psycopg_impl ?? "?")), its PostgreSQL application recorder, on the same server in the same run, \(peer.events.formatted()) events of \(peer.payload_bytes ?? 0) bytes. Ours: the PostgreSQL store (sealed payloads, hash chain, row-level security, three unique keys); the peer: opaque payloads, no chain, one table lock per append.\n", at: 0)
    }

    static func rate(_ measurement: Measurement) -> String { "\(Int(measurement.eventsPerSecond).formatted())/s" }

    var markdown: String {
        var text = "### Against raw baselines\n\nRates are medians of the rounds; the ratio is the median of the rounds' own ratios (ours and the baseline run back to back in each round).\n\n"
        text += "| ours | events/s | baseline | events/s | ratio | target | baseline with the log's keys and indexes | rounds |\n|---|---|---|---|---|---|---|---|\n"
        text += comparisons.joined(separator: "\n") + "\n\n"
        text += "### Components, catch-up reads\n\n| store | what | events | time | events/s |\n|---|---|---|---|---|\n"
        text += notes.joined(separator: "\n") + "\n"
        if !peerRows.isEmpty {
            text += "\n### Peer\n\n" + peerRows[0] + "\n| operation | ours (events/s) | peer (events/s) | ours / peer |\n|---|---|---|---|\n"
            text += peerRows.dropFirst().joined(separator: "\n") + "\n"
        }
        return text
    }
}
