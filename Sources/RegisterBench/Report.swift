import Foundation

/// The results as Markdown tables for docs/benchmarks.md.
struct Report {
    private var comparisons: [String] = []
    private var notes: [String] = []
    private var peerRows: [String] = []

    mutating func compare(_ ours: Measurement, with baseline: Measurement, target: Double) {
        let ratio = ours.eventsPerSecond / baseline.eventsPerSecond
        comparisons.append("| \(ours.name) | \(Self.rate(ours)) | \(baseline.name) | \(Self.rate(baseline)) | \(String(format: "%.2f", ratio)) | ≥ \(String(format: "%.1f", target)) \(ratio >= target ? "met" : "**not met**") |")
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
    }

    mutating func peer(from file: URL, ourAppend: Measurement, ourRead: Measurement) throws {
        let peer = try JSONDecoder().decode(Peer.self, from: Data(contentsOf: file))
        peerRows.append("| append, batches of 1 000 | \(Self.rate(ourAppend)) | \(Int(peer.append_events_per_second).formatted()) | \(String(format: "%.2f", ourAppend.eventsPerSecond / peer.append_events_per_second)) |")
        peerRows.append("| catch-up read of \(peer.events.formatted()) | \(Self.rate(ourRead)) | \(Int(peer.read_events_per_second).formatted()) | \(String(format: "%.2f", ourRead.eventsPerSecond / peer.read_events_per_second)) |")
        peerRows.insert("Peer: Python `\(peer.library)` \(peer.version), PostgreSQL application recorder, same server, same run.\n", at: 0)
    }

    static func rate(_ measurement: Measurement) -> String { "\(Int(measurement.eventsPerSecond).formatted())/s" }

    var markdown: String {
        var text = "### Against raw baselines (median of the rounds)\n\n"
        text += "| ours | events/s | baseline | events/s | ratio | target |\n|---|---|---|---|---|---|\n"
        text += comparisons.joined(separator: "\n") + "\n\n"
        text += "### Catch-up reads and seeding\n\n| store | what | events | time | events/s |\n|---|---|---|---|---|\n"
        text += notes.joined(separator: "\n") + "\n"
        if !peerRows.isEmpty {
            text += "\n### Peer\n\n" + peerRows[0] + "\n| operation | ours (events/s) | peer (events/s) | ours / peer |\n|---|---|---|---|\n"
            text += peerRows.dropFirst().joined(separator: "\n") + "\n"
        }
        return text
    }
}
