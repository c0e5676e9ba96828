import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import Register

// Partners' event feeds: a page of items after a cursor, optionally long-polled, or the same as Server-Sent Events. Only a partner token of this tenant
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
            let query = request.uri.queryParameters
            var cursor = FeedCursor(.start)
            if let text = query.get("after") {
                guard let parsed = FeedCursor(text: String(text)) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "after is a cursor from an earlier page.", field: "after")
                }
                cursor = parsed
            }
            let limit = try integerParameter(query.get("limit").map { String($0) }, name: "limit", range: 1...Self.feedPageLimit) ?? 100
            let reader = FeedReader(registry: registry)
            if request.headers[.accept]?.contains("text/event-stream") == true {
                if let last = request.headers[Self.lastEventID] {
                    guard let parsed = FeedCursor(text: last) else {
                        throw Problem(status: .badRequest, code: "invalid-field", detail: "Last-Event-ID is an event id from this feed.", field: "Last-Event-ID")
                    }
                    cursor = parsed
                }
                let open = try integerParameter(query.get("wait").map { String($0) }, name: "wait", range: 1...Self.streamLongestOpen) ?? Self.streamLongestOpen
                return eventStream(reader: reader, tenant: tenant, from: cursor, limit: limit, open: .seconds(open), partnerID: partner.recipient.id,
                                   authorised: authorised)
            }
            let wait = try integerParameter(query.get("wait").map { String($0) }, name: "wait", range: 0...Self.feedLongestWait) ?? 0
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                // Read the wake-up generation first, so an append between the scan and the wait is not missed.
                let generation = storage.store.wakeups.generation(of: tenant)
                let (_, metadata, partner) = try await authorised()
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

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// How long an event stream stays open before the server ends it (the client reconnects with Last-Event-ID).
    static let streamLongestOpen = 300
    static let heartbeat = Duration.seconds(15)

    /// The feed as Server-Sent Events: each item an event whose id is its cursor, pages recorded as disclosures before
    /// they are written, a comment line as heartbeat every 15 seconds, the stream ended by the server after `open`.
    func eventStream(reader: FeedReader, tenant: TenantID, from start: FeedCursor, limit: Int, open: Duration, partnerID: String,
                     authorised: @escaping @Sendable () async throws -> (TenantID, EventMetadata, FeedReader.Partner)) -> Response {
        let wakeups = storage.store.wakeups
        let body = ResponseBody { writer in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var cursor = start
            let end = ContinuousClock.now + open
            var lastWrite = ContinuousClock.now
            try await writer.write(ByteBuffer(string: ": \(partnerID) feed\n\n"))
            while ContinuousClock.now < end {
                let generation = wakeups.generation(of: tenant)
                // A token revoked or a feed removed meanwhile ends the stream.
                guard let (_, metadata, partner) = try? await authorised() else { break }
                let page = try await reader.page(for: partner, after: cursor, limit: limit, in: tenant, by: metadata)
                cursor = page.next
                if !page.items.isEmpty {
                    var text = ""
                    for item in page.items {
                        text += "id: \(item.cursor)\nevent: \(item.type)\ndata: \(String(decoding: try encoder.encode(item), as: UTF8.self))\n\n"
                    }
                    try await writer.write(ByteBuffer(string: text))
                    lastWrite = ContinuousClock.now
                    continue
                }
                if ContinuousClock.now - lastWrite >= Self.heartbeat {
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    lastWrite = ContinuousClock.now
                }
                await wakeups.wait(for: tenant, after: generation, timeout: max(.zero, min(.seconds(1), end - ContinuousClock.now)))
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
