import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization
import Register

// Partners' event feeds: a page of items after a cursor, optionally long-polled, or the same as Server-Sent Events. Only a partner token of this tenant
// and this partner opens a feed; every page that carries personal data is recorded as a disclosure in the tenant's
// log before it is answered (FeedReader).

/// How many feed requests each partner of each tenant has open, so that one partner cannot hold the server's
/// connections and tasks with streams and long polls (each one re-reads and re-records what it delivers).
public final class FeedConnections: Sendable {
    /// Open requests a partner may hold at once; one more is refused (429) or, as an event stream, ended at once.
    public static let limit = 4
    private let open = Mutex<[String: Int]>([:])

    /// Takes a place for `key`, or answers false when the partner already holds `limit`.
    func enter(_ key: String) -> Bool {
        open.withLock { open in
            guard open[key, default: 0] < Self.limit else { return false }
            open[key, default: 0] += 1
            return true
        }
    }

    func leave(_ key: String) {
        open.withLock { open in
            open[key, default: 1] -= 1
            if open[key] == 0 { open.removeValue(forKey: key) }
        }
    }
}

extension RegisterAPI {
    static let feedPageLimit = 1_000
    static let feedLongestWait = 30

    /// One page of a feed after a cursor (its text).
    typealias FeedPages = @Sendable (_ after: String?, _ limit: Int) async throws -> FeedPageOut

    struct FeedPageOut: Sendable {
        var items: [FeedItem]
        /// Each item as JSON.
        var json: [Data]
        /// The cursor to continue from.
        var next: String
        /// Whether the page reached the head: a page that did not has more to scan without waiting.
        var reachedHead: Bool
        /// The event types whose appends can bring the feed more (nil: any append), for waiting (`LogWakeups`).
        var interest: Set<String>?
    }

    func addFeedRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("feeds/:partner") { request, context in
            let tenantText = context.parameters.get("tenant"), partnerID = context.parameters.get("partner")
            // Who may read, and what: checked before each page, so a revoked token or a changed feed definition takes
            // effect within seconds on long polls and event streams too (tokens and configurations are cached 5 s).
            @Sendable func authorised() async throws -> (TenantID, EventMetadata, FeedReader.Partner) {
                let principal = try await principal(of: request)
                guard let tenantText, let tenant = try? TenantID(tenantText), tenant == principal.tenant, let partnerID, principal.partner == partnerID,
                      let configuration = try await tenants.configuration(of: tenant), let partner = FeedReader.Partner(partnerID, in: configuration) else {
                    // Another partner's feed, another tenant's, a user's session, a partner no longer configured: all the same 404.
                    throw Problem.notFound
                }
                return (tenant, EventMetadata(actor: principal.actor, correlationID: UUID()), partner)
            }
            let (tenant, _, partner) = try await authorised()
            let statistics = partner.feed.shape == .statisticsExtract
            let reader = FeedReader(registry: registry)
            let pages: FeedPages = { after, limit in
                let (_, metadata, partner) = try await authorised()
                if partner.feed.shape == .statisticsExtract {
                    let page = try await statisticsPage(partner.feed, after: after.flatMap(StatisticsCursor.init(text:)) ?? StatisticsCursor(last: nil), limit: limit,
                                                        tenant: tenant)
                    return FeedPageOut(items: page.items, json: try page.items.map { try FeedReader.encoder.encode($0) }, next: page.next.text,
                                       reachedHead: true, interest: nil)
                }
                let page = try await reader.page(for: partner, after: after.flatMap(FeedCursor.init(text:)) ?? FeedCursor(.start), limit: limit, in: tenant, by: metadata)
                return FeedPageOut(items: page.items, json: page.itemsJSON, next: page.next.text, reachedHead: page.reachedHead,
                                   interest: FeedReader.interest(of: partner))
            }
            // A cursor of this feed's kind (positions in the log, or periods of a statistics extract).
            func cursor(_ text: String, field: String, detail: String) throws -> String {
                guard statistics ? StatisticsCursor(text: text) != nil : FeedCursor(text: text) != nil else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: detail, field: field)
                }
                return text
            }
            let query = request.uri.queryParameters
            var after = try query.get("after").map { try cursor(String($0), field: "after", detail: "after is a cursor from an earlier page.") }
            let limit = try integerParameter(query.get("limit").map { String($0) }, name: "limit", range: 1...Self.feedPageLimit) ?? 100
            if request.headers[.accept]?.contains("text/event-stream") == true {
                if let last = request.headers[Self.lastEventID] {
                    after = try cursor(last, field: "Last-Event-ID", detail: "Last-Event-ID is an event id from this feed.")
                }
                let open = try integerParameter(query.get("wait").map { String($0) }, name: "wait", range: 1...Self.streamLongestOpen) ?? Self.streamLongestOpen
                return eventStream(pages, tenant: tenant, interest: FeedReader.interest(of: partner), from: after, limit: limit, open: .seconds(open), partnerID: partner.recipient.id,
                                   connection: "\(tenant)/\(partner.recipient.id)", logger: context.logger)
            }
            let wait = try integerParameter(query.get("wait").map { String($0) }, name: "wait", range: 0...Self.feedLongestWait) ?? 0
            let connection = "\(tenant)/\(partner.recipient.id)"
            guard feedConnections.enter(connection) else { throw Self.tooManyFeedRequests }
            defer { feedConnections.leave(connection) }
            let deadline = ContinuousClock.now + .seconds(wait)
            var interest = FeedReader.interest(of: partner)
            while true {
                // Read the wake-up generation first, so an append between the scan and the wait is not missed.
                let generation = storage.store.wakeups.generation(of: tenant, interest: interest)
                let page = try await pages(after, limit)
                let remaining = deadline - ContinuousClock.now
                if !page.items.isEmpty || remaining <= .zero {
                    // The items' JSON as the reader made it (shared by the partners that read the same events).
                    var body = ByteBuffer(string: #"{"items":["#)
                    for (index, json) in page.json.enumerated() {
                        if index > 0 { body.writeStaticString(",") }
                        body.writeBytes(json)
                    }
                    body.writeString(#"],"next":"\#(page.next)"}"#)
                    return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: .init(byteBuffer: body))
                }
                after = page.next
                // The feed's definition may have changed meanwhile: the next generation is read for what it is now.
                guard page.interest == interest else {
                    interest = page.interest
                    continue
                }
                if !page.reachedHead { continue }
                await storage.store.wakeups.wait(for: tenant, after: generation, interest: interest, timeout: min(remaining, .seconds(1)))
            }
        }
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    static var tooManyFeedRequests: Problem {
        Problem(status: .tooManyRequests, code: "too-many-requests",
                detail: "This partner already has \(FeedConnections.limit) feed requests open; finish one (or use one event stream) first.")
    }
    /// How long an event stream stays open before the server ends it (the client reconnects with Last-Event-ID).
    static let streamLongestOpen = 300
    static let heartbeat = Duration.seconds(15)

    /// The feed as Server-Sent Events: each item an event whose id is its cursor, pages recorded as disclosures before
    /// they are written, a comment line as heartbeat every 15 seconds, the stream ended by the server after `open`.
    func eventStream(_ pages: @escaping FeedPages, tenant: TenantID, interest: Set<String>?, from start: String?, limit: Int, open: Duration, partnerID: String,
                     connection: String, logger: Logger) -> Response {
        let wakeups = storage.store.wakeups
        let connections = feedConnections
        let body = ResponseBody { writer in
            // Counted while the stream runs (here, so that a stream that never starts holds no place). One too many
            // ends at once, telling the client to come back in a minute.
            guard connections.enter(connection) else {
                try await writer.write(ByteBuffer(string: "retry: 60000\n: too many open feed requests for \(partnerID)\n\n"))
                try await writer.finish(nil)
                return
            }
            defer { connections.leave(connection) }
            var cursor = start
            let end = ContinuousClock.now + open
            var lastWrite = ContinuousClock.now
            try await writer.write(ByteBuffer(string: ": \(partnerID) feed\n\n"))
            var interest = interest
            while ContinuousClock.now < end {
                let generation = wakeups.generation(of: tenant, interest: interest)
                let page: FeedPageOut
                do {
                    page = try await pages(cursor, limit)
                } catch is Problem {
                    break  // A token revoked or a feed removed meanwhile ends the stream (401, 404).
                } catch {
                    // Ends the stream; the partner resumes from its last event id.
                    if !Task.isCancelled { logger.warning("feed stream ended by an error", metadata: ["error": "\(String(reflecting: error))"]) }
                    break
                }
                cursor = page.next
                // The feed's definition may have changed meanwhile: the next generation is read for what it is now.
                let sameInterest = page.interest == interest
                interest = page.interest
                if !page.items.isEmpty {
                    var text = ByteBuffer()
                    for (item, json) in zip(page.items, page.json) {
                        text.writeString("id: \(item.cursor)\nevent: \(item.type)\ndata: ")
                        text.writeBytes(json)
                        text.writeStaticString("\n\n")
                    }
                    try await writer.write(text)
                    lastWrite = ContinuousClock.now
                    // A page that reached the head waits like an empty one: making another at once would find nothing
                    // (unless a relevant append came meanwhile, which the generation read before this page shows).
                    if !page.reachedHead || !sameInterest { continue }
                    await wakeups.wait(for: tenant, after: generation, interest: interest, timeout: max(.zero, min(.seconds(1), end - ContinuousClock.now)))
                    continue
                }
                if ContinuousClock.now - lastWrite >= Self.heartbeat {
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    lastWrite = ContinuousClock.now
                }
                if !page.reachedHead || !sameInterest { continue }  // More of the log to scan: no reason to wait for an append.
                await wakeups.wait(for: tenant, after: generation, interest: interest, timeout: max(.zero, min(.seconds(1), end - ContinuousClock.now)))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    func integerParameter(_ text: String?, name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).", field: name)
        }
        return value
    }
}
