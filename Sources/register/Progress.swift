import Foundation

/// A progress line on standard error: done / total, rate and time left. On a terminal it redraws in place a few
/// times a second; otherwise (a log file, CI) it prints a line every few seconds.
final class Progress {
    private let label: String
    private let total: Int
    private let unit: String
    private let started = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private let interactive = isatty(STDERR_FILENO) == 1

    init(_ label: String, total: Int, unit: String = "events") {
        self.label = label
        self.total = total
        self.unit = unit
    }

    func update(_ done: Int) {
        let now = ContinuousClock.now
        guard now - lastPrint >= (interactive ? .milliseconds(200) : .seconds(5)) else { return }
        lastPrint = now
        write(line(done, now: now), final: false)
    }

    func finish(_ done: Int) {
        write(line(done, now: ContinuousClock.now), final: true)
    }

    private func line(_ done: Int, now: ContinuousClock.Instant) -> String {
        let elapsed = max(0.001, Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18)
        let rate = Double(done) / elapsed
        var text = "\(label): \(done.formatted()) / \(total.formatted()) \(unit), \(Int(rate).formatted())/s"
        if done < total, rate > 0 {
            text += ", \(Int((Double(total - done) / rate).rounded(.up))) s left"
        } else {
            text += String(format: ", %.1f s", elapsed)
        }
        return text
    }

    private func write(_ text: String, final: Bool) {
        let output = interactive ? "\r\u{1B}[2K" + text + (final ? "\n" : "") : text + "\n"
        FileHandle.standardError.write(Data(output.utf8))
    }
}
