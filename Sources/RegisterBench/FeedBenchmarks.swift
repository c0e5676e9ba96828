import EventLog
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Register
import RegisterServer
import ServiceLifecycle

// The feeds' benchmarks, against the real server on loopback:
// - append-to-delivery latency: partners follow their feeds (Server-Sent Events, or long polls) while attendance is
//   appended at a steady rate; for every item every partner receives, the time from the start of the append that
//   wrote it to the moment the partner's client has it;
// - catch-up: one partner reads a large tenant's feed from the start, page by page, against the raw catch-up read
//   of the same log in the same run.
// Each delivered page is recorded as a disclosure (a DataDisclosed event) before it leaves, as in production.

struct FeedBenchmarks {
    let configuration: RegisterConfiguration
    let logger: Logger
    let partners: Int
    let eventsPerSecond: Int
    let seconds: Int
    let children: Int
    let catchUpEvents: Int

    static let tenant = try! TenantID("bench-feeds")
    static let catchUpTenant = try! TenantID("bench-feeds-catch-up")
    /// What every partner's feed carries: the attendance the writer appends (no person lookups beyond the scope rules).
    static let feedEvents = ["CareTimeBooked", "ArrivalRecorded", "DepartureRecorded", "AbsenceMarked"]

    struct Latency {
        let mode: String
        let delivered: Int
        let expected: Int
        let p50: Double
        let p99: Double
        let max: Double
        let appended: Int
        let achievedRate: Double
    }

    /// Runs every feed benchmark against one store and returns the Markdown rows: latency rows, then the catch-up row.
    func run(storeName: String) async throws -> (latency: [String], catchUp: String) {
        let storage = try await RegisterStorage.open(configuration, logger: logger)
        let app = buildApplication(configuration: configuration, storage: storage, logger: logger)
        var latencyRows: [String] = []
        var catchUpRow = ""
        // Stopped by a graceful shutdown, as SIGTERM stops `register serve`: the projections stop before the stores'
        // connection pools (cancelling everything at once can leave a projection waiting for a pool that is gone).
        let server = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { Task { await server.triggerGracefulShutdown() } }
            try await waitUntilServing()
            let setup = EventMetadata(actor: try Actor(userID: "bench", role: "platform-operator"))
            var tokens: [String] = []
            for tenant in [Self.tenant, Self.catchUpTenant] {
                let configuration = try Self.tenantConfiguration(tenant, partners: partners)
                _ = try await TenantConfigurations(store: storage.store).apply(configuration, file: nil, metadata: setup)
                let accounts = Accounts(store: storage.store, keyRing: storage.keyRing)
                for index in (tenant == Self.tenant ? 0..<partners : 0..<1) {
                    let id = Self.partnerID(index)
                    let token = try await accounts.issueToken(label: "bench \(id)", roles: [], partner: id, configuration: configuration, in: tenant, by: setup).token
                    tokens.append(token)
                }
            }
            let catchUpToken = tokens.removeLast()  // the catch-up tenant's one partner, issued last

            let demo = DemoLog(tenant: Self.tenant, children: children)
            log("\(storeName): \(children) families for the live feeds")
            let placed = try await demo.appendFamilies(storage.store, keyRing: storage.keyRing)
            var day = 0
            for mode in ["sse", "long-poll"] {
                log("\(storeName): \(partners) \(mode) partners, \(eventsPerSecond) events/s for \(seconds) s")
                let latency = try await self.latency(mode: mode, storage: storage, demo: demo, placed: placed, tokens: tokens, firstDay: &day)
                latencyRows.append("| \(storeName) | \(partners) \(mode == "sse" ? "Server-Sent Events streams" : "long-poll clients (`wait=30`)") | "
                    + "\(Int(latency.achievedRate.rounded()).formatted()) | \(latency.delivered.formatted()) of \(latency.expected.formatted()) | "
                    + "\(Self.ms(latency.p50)) | \(Self.ms(latency.p99)) | \(Self.ms(latency.max)) | \(latency.p99 < 50 ? "met" : "**not met**") |")
            }

            let catchUpDemo = DemoLog(tenant: Self.catchUpTenant, children: 2_000)
            log("\(storeName): seeding about \(catchUpEvents) events for the catch-up")
            _ = try await catchUpDemo.seed(storage.store, keyRing: storage.keyRing, days: DemoLog.days(for: catchUpEvents, children: 2_000))
            let head = try await storage.store.head(of: Self.catchUpTenant).position
            var rawCount = 0
            let rawSeconds = try await Stopwatch.time {
                var position = LogPosition.start
                while position < head {
                    let page = try await storage.store.read(Self.catchUpTenant, after: position, through: head, limit: 1_000, filter: .all)
                    guard let last = page.last else { break }
                    rawCount += page.count
                    position = last.position
                }
            }
            log("\(storeName): one partner reads the whole feed")
            var items = 0
            var pages = 0
            let feedSeconds = try await Stopwatch.time {
                try await HTTPConnection.with(port: configuration.port) { client in
                var after = FeedCursor(.start).text
                while true {
                    let (status, body) = try await client.get("/v1/tenants/\(Self.catchUpTenant)/feeds/\(Self.partnerID(0))?limit=1000&after=\(after)", token: catchUpToken)
                    guard status == .ok else { throw BenchmarkFailure("the feed answered \(status): \(String(buffer: body))") }
                    let page = try JSONDecoder().decode(PageSummary.self, from: body)
                    items += page.items.count
                    pages += 1
                    after = page.next
                    if let last = page.items.last, last.position >= head.rawValue - 1 { break }
                    if page.items.isEmpty, FeedCursor(text: page.next).map({ $0.position >= head }) ?? true { break }
                }
                }
            }
            let feedRate = Double(items) / feedSeconds, rawRate = Double(rawCount) / rawSeconds
            catchUpRow = "| \(storeName) | \(head.rawValue.formatted()) | \(items.formatted()) in \(pages.formatted()) pages | \(String(format: "%.1f", feedSeconds)) s | "
                + "\(Int(feedRate).formatted())/s | \(Int(rawRate).formatted())/s | \(String(format: "%.2f", feedRate / rawRate)) |"
        }
        return (latencyRows, catchUpRow)
    }

    /// Partners follow the feed from the head while the writer appends `eventsPerSecond` for `seconds`.
    func latency(mode: String, storage: RegisterStorage, demo: DemoLog, placed: [(child: PersonID, unit: String)], tokens: [String],
                 firstDay: inout Int) async throws -> Latency {
        let start = FeedCursor(try await storage.store.head(of: Self.tenant).position).text
        let receipts = Receipts(partners: tokens.count)
        let opened = Counter()
        let port = configuration.port
        let appendSize = 10
        // The writer's appends: the positions each wrote and when it started.
        var appends: [(positions: [LogPosition], started: ContinuousClock.Instant)] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, token) in tokens.enumerated() {
                let path = "/v1/tenants/\(Self.tenant)/feeds/\(Self.partnerID(index))"
                group.addTask {
                    try await HTTPConnection.with(port: port) { client in
                    if mode == "sse" {
                        try await client.stream(path + "?limit=1000&after=\(start)", token: token, opened: { await opened.add() }) { positions, at in
                            receipts.record(index, positions, at)
                        }
                    } else {
                        var after = start
                        await opened.add()
                        while !Task.isCancelled {
                            let (status, body) = try await client.get(path + "?limit=1000&wait=30&after=\(after)", token: token)
                            let at = ContinuousClock.now
                            guard status == .ok else { throw BenchmarkFailure("a long poll answered \(status): \(String(buffer: body))") }
                            // Scanned, not decoded: the clients share the server's cores, and a real partner's parsing
                            // would run on its own machine.
                            let bytes = Array(buffer: body)
                            receipts.record(index, PageScan.positions(in: bytes[...]), at)
                            guard let next = PageScan.next(in: bytes) else { throw BenchmarkFailure("a long poll answered a page without a cursor") }
                            after = next
                        }
                    }
                    }
                }
            }
            while await opened.value < tokens.count { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(500))

            // Appends start on a fixed schedule, each in its own task, as independent requests would (at most 64 in flight).
            let metadata = EventMetadata(actor: try Actor(userID: "bench", role: "staff"))
            let clock = ContinuousClock()
            let interval = Duration.nanoseconds(1_000_000_000 * appendSize / eventsPerSecond)
            let began = clock.now
            let end = began + .seconds(seconds)
            var queue: [ProposedEvent] = []
            var next = began
            appends = try await withThrowingTaskGroup(of: ([LogPosition], ContinuousClock.Instant).self) { writers in
                var inFlight = 0
                var done: [([LogPosition], ContinuousClock.Instant)] = []
                while clock.now < end {
                    if queue.count < appendSize {
                        queue += try demo.day(400 + firstDay, of: placed)
                        firstDay += 1
                    }
                    let batch = Array(queue.prefix(appendSize))
                    queue.removeFirst(batch.count)
                    if inFlight >= 64, let finished = try await writers.next() {
                        done.append(finished)
                        inFlight -= 1
                    }
                    writers.addTask {
                        let started = clock.now
                        return (try await storage.store.append(batch, to: Self.tenant, metadata: metadata).positions, started)
                    }
                    inFlight += 1
                    next = next + interval
                    if next > clock.now { try await Task.sleep(until: next, clock: clock) }
                }
                for try await finished in writers { done.append(finished) }
                return done
            }
            let appendedSeconds = (clock.now - began).seconds
            // Let the partners receive the last appends (at most 30 s), then hang up.
            let last = appends.flatMap(\.positions).max() ?? .start
            let deadline = clock.now + .seconds(30)
            while receipts.minimumLast() < last.rawValue, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            group.cancelAll()
            receipts.appendedSeconds = appendedSeconds
        }
        var started: [Int64: ContinuousClock.Instant] = [:]
        for append in appends { for position in append.positions { started[position.rawValue] = append.started } }
        var latencies: [Double] = []
        var delivered = 0
        for partner in 0..<tokens.count {
            var seen = Set<Int64>()
            for (position, at) in receipts.items(of: partner) {
                guard let from = started[position], seen.insert(position).inserted else { continue }
                delivered += 1
                latencies.append((at - from).seconds * 1_000)
            }
        }
        latencies.sort()
        guard !latencies.isEmpty else { throw BenchmarkFailure("no item was delivered") }
        return Latency(mode: mode, delivered: delivered, expected: started.count * tokens.count,
                       p50: latencies[latencies.count / 2], p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)], max: latencies.last!,
                       appended: started.count, achievedRate: Double(started.count) / receipts.appendedSeconds)
    }

    func waitUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let status = try? await HTTPConnection.with(port: configuration.port) { client in try await client.get("/health", token: nil).0 }
            if status == .ok { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkFailure("the server did not start on port \(configuration.port)")
    }

    static func partnerID(_ index: Int) -> String { String(format: "partner-%03d", index + 1) }

    static func ms(_ value: Double) -> String { String(format: value < 10 ? "%.1f ms" : "%.0f ms", value) }

    /// The demo tenant's file with `partners` recipients that each read the attendance feed on a statute.
    static func tenantConfiguration(_ tenant: TenantID, partners: Int) throws -> TenantConfiguration {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants/esimerkkila.yaml").standardized
        var configuration = try TenantFile.load(file)
        configuration.id = tenant
        let fields: [FeedField] = [.date, .time, .unit, .absence]
        for index in 0..<partners {
            let recipient: [String: Any] = [
                "id": partnerID(index), "name": ["fi": "Kumppani \(index + 1)"], "legalBasis": "Benchmark statute", "purpose": ["fi": "Benchmark"],
                "feed": ["events": feedEvents, "fields": fields.map(\.rawValue)],
            ]
            configuration.registers[0].recipients.append(try JSONDecoder().decode(Recipient.self, from: JSONSerialization.data(withJSONObject: recipient)))
        }
        return configuration
    }
}

/// What the benchmark reads of a feed page.
struct PageSummary: Decodable {
    struct Item: Decodable { let position: Int64 }
    let items: [Item]
    let next: String
}

/// What the latency clients need of a page or an event stream, found by scanning bytes: an item's position is its
/// only `"position":` key (a string value holding those characters would have its quotes escaped).
enum PageScan {
    static let positionKey = Array(#""position":"#.utf8), nextKey = Array(#""next":""#.utf8)

    static func positions(in bytes: ArraySlice<UInt8>) -> [Int64] {
        var positions: [Int64] = []
        var index = bytes.startIndex
        while let found = find(positionKey, in: bytes, from: index) {
            var cursor = found + positionKey.count, value: Int64 = 0, digits = 0
            while cursor < bytes.endIndex, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39 {
                value = value * 10 + Int64(bytes[cursor] - 0x30)
                cursor += 1
                digits += 1
            }
            if digits > 0 { positions.append(value) }
            index = cursor
        }
        return positions
    }

    /// The page's `next` cursor.
    static func next(in bytes: [UInt8]) -> String? {
        guard let found = find(nextKey, in: bytes[...], from: 0) else { return nil }
        let start = found + nextKey.count
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The index just after the last blank line (`\n\n`), which ends the last complete event.
    static func lastBlankLine(in bytes: [UInt8]) -> Int? {
        var index = bytes.endIndex - 1
        while index > bytes.startIndex {
            if bytes[index] == 0x0A, bytes[index - 1] == 0x0A { return index + 1 }
            index -= 1
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        guard let first = needle.first, bytes.endIndex - start >= needle.count else { return nil }
        var index = start
        while index <= bytes.endIndex - needle.count {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

/// Every partner's received positions with the moment its client had them.
final class Receipts: @unchecked Sendable {
    private let lock = NSLock()
    private var received: [[(Int64, ContinuousClock.Instant)]]
    private var last: [Int64]
    var appendedSeconds = 1.0

    init(partners: Int) {
        received = Array(repeating: [], count: partners)
        last = Array(repeating: 0, count: partners)
    }

    func record(_ partner: Int, _ positions: [Int64], _ at: ContinuousClock.Instant) {
        lock.withLock {
            for position in positions { received[partner].append((position, at)) }
            if let highest = positions.max() { last[partner] = max(last[partner], highest) }
        }
    }

    func minimumLast() -> Int64 { lock.withLock { last.min() ?? 0 } }
    func items(of partner: Int) -> [(Int64, ContinuousClock.Instant)] { lock.withLock { received[partner] } }
}

actor Counter {
    var value = 0
    func add() { value += 1 }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A minimal HTTP/1.1 client on one keep-alive loopback connection: enough for pages and event streams.
final class HTTPConnection {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    private init(inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Connects to the server on 127.0.0.1, runs `body` with the connection, and closes it.
    static func with<T: Sendable>(port: Int, _ body: (HTTPConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try Channel(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(HTTPConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound))
        }
    }

    private func head(_ path: String, token: String?, accept: String) -> HTTPRequestHead {
        var headers: HTTPHeaders = ["Host": "127.0.0.1", "Accept": accept]
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
    }

    /// One request on the connection; the whole body.
    func get(_ path: String, token: String?) async throws -> (HTTPResponseStatus, ByteBuffer) {
        try await outbound.write(contentsOf: [.head(head(path, token: token, accept: "application/json")), .end(nil)])
        var status = HTTPResponseStatus.ok
        var body = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let head): status = head.status
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end: return (status, body)
            }
        }
        throw BenchmarkFailure("the server closed the connection")
    }

    /// An event stream: calls `received` with the positions of the items in each chunk as it arrives, until cancelled.
    func stream(_ path: String, token: String, opened: @Sendable () async -> Void,
                received: @Sendable ([Int64], ContinuousClock.Instant) -> Void) async throws {
        try await outbound.write(contentsOf: [.head(head(path, token: token, accept: "text/event-stream")), .end(nil)])
        var carry: [UInt8] = []
        while let part = try await inbound.next() {
            switch part {
            case .head(let head):
                guard head.status == .ok else { throw BenchmarkFailure("the event stream answered \(head.status)") }
                await opened()
            case .body(let chunk):
                let at = ContinuousClock.now
                carry += chunk.readableBytesView
                // Complete events end with a blank line; the position is the item's `"position":N`.
                guard let cut = PageScan.lastBlankLine(in: carry) else { continue }
                let positions = PageScan.positions(in: carry[..<cut])
                carry.removeSubrange(..<cut)
                if !positions.isEmpty { received(positions, at) }
            case .end:
                return
            }
        }
    }
}
