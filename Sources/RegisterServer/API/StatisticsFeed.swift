import EventLog
import Foundation
import Projections
import Register

// The statistics extract (`shape: statistics-extract`): one item per closed period — a calendar month or year from
// the feed's `from` — with the counts of the statistics read model for national reporting. A period is delivered
// once it has ended (its last day is before today); its counts are those of the read models when the page is read,
// and the item's `position` is the log position they reflect. Counts only, so its pages are not disclosures.

extension RegisterAPI {
    /// At most this many periods per page: each is a query of the read models.
    static let statisticsPageLimit = 60
    /// How long an event may have waited for a read model when a period's counts are delivered.
    static let statisticsLagAllowed = 5.0

    /// The closed periods after `cursor`, at most `limit` (and `statisticsPageLimit`).
    func statisticsPage(_ feed: FeedDefinition, after cursor: StatisticsCursor, limit: Int, tenant: TenantID) async throws
        -> (items: [FeedItem], next: StatisticsCursor) {
        guard let from = feed.from else { return ([], cursor) }
        let period = feed.period ?? .month
        let today = self.today
        // Never before the feed's first period, whatever a cursor says.
        var start = max(cursor.last.map(period.next(after:)) ?? period.start(of: from), period.start(of: from))
        var last = cursor.last
        var items: [FeedItem] = []
        // A period is delivered once, so only from read models that follow the log closely: every projection active,
        // none with an event waiting longer than `statisticsLagAllowed` (a rebuilding or stalled projection would
        // otherwise send stale counts for good; a busy tenant's read models are never exactly at the head).
        let statuses = try await storage.projections.status(of: tenant).filter { $0.state.role == .active }
        let asOf = statuses.map(\.state.position.rawValue).min() ?? 0
        guard Set(statuses.map(\.state.projection)).count == RegisterProjections.all.count,
              statuses.allSatisfy({ $0.lagSeconds <= Self.statisticsLagAllowed }) else { return ([], cursor) }
        while items.count < min(limit, Self.statisticsPageLimit), period.end(startingOn: start) < today {
            let end = period.end(startingOn: start)
            let counts = try await readModels.statistics(from: start, to: end, tenant: tenant)
            func object(_ counts: [String: Int]) -> FeedValue { .object(counts.mapValues { .int($0) }) }
            let data: [String: FeedValue] = [
                "period": .string(period.label(startingOn: start)), "from": .string(start.description), "to": .string(end.description),
                "children": .int(counts.children), "byAgeGroup": object(counts.byAgeGroup), "byArrangement": object(counts.byArrangement),
                "byLanguage": object(counts.byLanguage), "byMunicipality": object(counts.byMunicipality),
                "placementsStarted": .int(counts.placementsStarted), "placementsEnded": .int(counts.placementsEnded),
            ]
            items.append(FeedItem(cursor: StatisticsCursor(last: start).text, position: asOf, type: "StatisticsExtract",
                                  recordedAt: Timestamp(now()).description, subject: nil, data: data))
            last = start
            start = period.next(after: start)
        }
        return (items, StatisticsCursor(last: last))
    }
}
