import EventLog
import Foundation
import Register
import Testing

@Suite("Feed cursors")
struct FeedCursorTests {
    /// What the cursors were before they were written out by hand: Foundation's base64 made URL-safe, no padding.
    static func foundation(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("an event feed's cursor is stable (the same text as ever) and reads back as its position")
    func eventCursors() throws {
        for value: Int64 in [0, 1, 9, 10, 99, 100, 999, 12_345, 1_000_000, 987_654_321, Int64.max] {
            let cursor = FeedCursor(LogPosition(value))
            #expect(cursor.text == Self.foundation("f1:\(value)"), "position \(value)")
            #expect(FeedCursor(text: cursor.text)?.position == LogPosition(value))
            #expect(!cursor.text.contains("=") && !cursor.text.contains("+") && !cursor.text.contains("/"))
        }
        // Inside a lifted restriction's release at position 90: delivered up to the held event at 40.
        let within = FeedCursor(LogPosition(90), within: LogPosition(40))
        #expect(within.text == Self.foundation("f1:90/40") && FeedCursor(text: within.text) == within)
        let largest = FeedCursor(LogPosition(Int64.max), within: LogPosition(Int64.max - 1))
        #expect(FeedCursor(text: largest.text) == largest)
        for bad in ["", "garbage", Self.foundation("f1:-5"), Self.foundation("f2:5"), Self.foundation("s1:2026-01-01"), String(repeating: "A", count: 70),
                    Self.foundation("f1:90/90"), Self.foundation("f1:90/"), Self.foundation("f1:90/x"), Self.foundation("f1:90/-1"), Self.foundation("f1:0/0")] {
            #expect(FeedCursor(text: bad) == nil, "\(bad)")
        }
    }

    @Test("a statistics extract's cursor names the last period delivered, or none")
    func statisticsCursors() throws {
        for last in [nil, try LocalDate("2026-10-01"), try LocalDate("2024-01-01")] {
            let cursor = StatisticsCursor(last: last)
            #expect(cursor.text == Self.foundation("s1:\(last?.description ?? "-")"))
            #expect(StatisticsCursor(text: cursor.text) == cursor)
        }
        #expect(StatisticsCursor(text: FeedCursor(LogPosition(5)).text) == nil, "an event feed's cursor is of another kind")
        #expect(StatisticsCursor(text: Self.foundation("s1:2026-13-01")) == nil)
    }
}
