/// Rounds of one comparison: ours and the baseline measured back to back in each round (and, for batched appends,
/// a baseline with the log's keys), so that the ratio of each round compares like with like on a noisy machine.
struct Comparison {
    var ours: [Measurement] = []
    var baseline: [Measurement] = []
    var keyed: [Measurement] = []

    mutating func add(ours: Measurement, baseline: Measurement, keyed: Measurement? = nil) {
        self.ours.append(ours)
        self.baseline.append(baseline)
        if let keyed { self.keyed.append(keyed) }
        var line = "  round \(self.ours.count): ours \(Int(ours.eventsPerSecond))/s, \(baseline.name) \(Int(baseline.eventsPerSecond))/s"
        if let keyed { line += ", with the log's keys \(Int(keyed.eventsPerSecond))/s" }
        if let cpu = ours.cpuSeconds, let baseCPU = baseline.cpuSeconds {
            line += " (client CPU per event: ours \(Int(cpu * 1e6 / Double(ours.events))) µs, baseline \(Int(baseCPU * 1e6 / Double(baseline.events))) µs)"
        }
        log(line)
    }

    /// The median of the per-round ratios ours / baseline.
    var ratio: Double { Self.median(zip(ours, baseline).map { $0.eventsPerSecond / $1.eventsPerSecond }) }
    /// The median of the per-round ratios ours / baseline with the log's keys.
    var keyedRatio: Double? { keyed.isEmpty ? nil : Self.median(zip(ours, keyed).map { $0.eventsPerSecond / $1.eventsPerSecond }) }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
