import EventLog
import Foundation
import Hummingbird
import Register

// Partners' event feeds: a page of items after a cursor, optionally long-polled. Only a partner token of this tenant
// and this partner opens a feed; every page that carries personal data is recorded as a disclosure in the tenant's
// log before it is answered (FeedReader).

struct FeedPageView: Encodable {
    var items: [FeedItem]
    /// Where to continue from (`after`): past everything this page covered.
    var next: String
}

extension RegisterAPI {
    static let feedPageLimit = 1_000
    static let feedLongestWait = 30

    func addFeedRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("feeds/:partner") { request, context in
            let principal = try await principal(of: request)
            guard let tenantText = context.parameters.get("tenant"), let tenant = try? TenantID(tenantText), tenant == principal.tenant,
                  let partnerID = context.parameters.get("partner"), principal.partner == partnerID,
                  let configuration = try await tenants.configuration(of: tenant), let partner = FeedReader.Partner(partnerID, in: configuration) else {
                // Another partner's feed, another tenant's, a user's session, a partner no longer configured: all the same 404.
                throw Problem.notFound
            }
            let query = request.uri.queryParameters
            var cursor = FeedCursor(.start)
            if let text = query.get("after") {
                guard let parsed = FeedCursor(text: String(text)) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "after is a cursor from an earlier page.", field: "after")
                }
                cursor = parsed
            }
            let limit = try integerParameter(query.get("limit").map { String($0) }, name: "limit", range: 1...Self.feedPageLimit) ?? 100
            let wait = try integerParameter(query.get("wait").map { String($0) }, name: "wait", range: 0...Self.feedLongestWait) ?? 0
            let reader = FeedReader(registry: registry)
            let metadata = EventMetadata(actor: principal.actor, correlationID: UUID())
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                // Read the wake-up generation first, so an append between the scan and the wait is not missed.
                let generation = storage.store.wakeups.generation(of: tenant)
                let page = try await reader.page(for: partner, after: cursor, limit: limit, in: tenant, by: metadata)
                let remaining = deadline - ContinuousClock.now
                if !page.items.isEmpty || remaining <= .zero {
                    return try Response.json(FeedPageView(items: page.items, next: page.next.text))
                }
                cursor = page.next
                await storage.store.wakeups.wait(for: tenant, after: generation, timeout: min(remaining, .seconds(1)))
            }
        }
    }

    func integerParameter(_ text: String?, name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).", field: name)
        }
        return value
    }
}
