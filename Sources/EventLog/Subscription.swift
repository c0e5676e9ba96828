import Foundation
import Synchronization

/// Per-tenant wake-up signals for live subscriptions.
///
/// A store signals a tenant after each committed append (in-process), and the PostgreSQL store also after each
/// `NOTIFY` from other processes. A signal is only a hint: subscribers always re-read from their own position,
/// so a lost or duplicated signal costs latency, never an event.
///
/// A signal names the event types it committed, and a subscriber may wait for some types only (`interest`): a feed
/// that carries attendance is not woken by the disclosure records the other partners' pages append. Without this, a
/// hundred partners following one tenant woke each other a hundred times per append (each page's record is an
/// append), and each wake made a page that found nothing. A signal without types (an import, a shredded key, a
/// notification from an older process) wakes every subscriber of the tenant.
public final class LogWakeups: Sendable {
    private struct Waiter: Sendable {
        let tenant: TenantID
        let interest: Set<String>?
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct Counters: Sendable {
        /// Every signal.
        var all: UInt64 = 0
        /// Signals that named no types (relevant to every interest).
        var untyped: UInt64 = 0
        /// Per event type, the signals that named it.
        var typed: [String: UInt64] = [:]

        func generation(for interest: Set<String>?) -> UInt64 {
            guard let interest else { return all }
            // A sum of counters that only grow changes exactly when one of them does.
            return interest.reduce(untyped) { $0 &+ (typed[$1] ?? 0) }
        }
    }

    private struct State: Sendable {
        var tenants: [TenantID: Counters] = [:]
        var globalGeneration: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0

        func generation(of tenant: TenantID, interest: Set<String>?) -> UInt64 {
            globalGeneration &+ (tenants[tenant]?.generation(for: interest) ?? 0)
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// A counter that changes whenever the tenant (or every tenant) is signalled — with `interest`, only by signals
    /// that name one of those event types (or none). Read it before reading the log, then `wait(for:after:interest:)`
    /// with it and the same interest: a signal that arrives in between is not missed.
    public func generation(of tenant: TenantID, interest: Set<String>? = nil) -> UInt64 {
        state.withLock { $0.generation(of: tenant, interest: interest) }
    }

    /// Wakes the tenant's waiting subscribers: all of them when `eventTypes` is nil, otherwise those whose interest
    /// includes one of the types.
    public func signal(_ tenant: TenantID, eventTypes: Set<String>? = nil) {
        let woken = state.withLock { state -> [Waiter] in
            var counters = state.tenants[tenant, default: Counters()]
            counters.all &+= 1
            if let eventTypes {
                for type in eventTypes { counters.typed[type, default: 0] &+= 1 }
            } else {
                counters.untyped &+= 1
            }
            state.tenants[tenant] = counters
            let ids = state.waiters.filter { _, waiter in
                guard waiter.tenant == tenant else { return false }
                guard let interest = waiter.interest, let eventTypes else { return true }
                return !interest.isDisjoint(with: eventTypes)
            }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Wakes every subscriber (after a lost database notification channel is re-established, for instance).
    public func signalAll() {
        let woken = state.withLock { state -> [Waiter] in
            state.globalGeneration &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Returns when the tenant's generation for `interest` has moved past `seen`, after `timeout`, or on cancellation.
    public func wait(for tenant: TenantID, after seen: UInt64, interest: Set<String>? = nil, timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.state.withLock { state -> Bool in
                            if state.generation(of: tenant, interest: interest) != seen || Task.isCancelled { return true }
                            state.waiters[id] = Waiter(tenant: tenant, interest: interest, continuation: continuation)
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.resume(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.resume(id)
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func resume(_ id: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.continuation.resume()
    }
}

/// A live subscription to one tenant's log: catches up from a position, then follows new events as they commit,
/// each exactly once and in position order.
///
/// Woken by the store's `LogWakeups`; it also polls every `pollInterval` as a fallback. Errors from the store end
/// the sequence; the consumer resumes from the last position it processed.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: any EventStore
    let tenant: TenantID
    let start: LogPosition
    let filter: EventFilter
    let batchSize: Int
    let pollInterval: Duration

    public init(store: any EventStore, tenant: TenantID, after start: LogPosition, filter: EventFilter = .all, batchSize: Int = 500, pollInterval: Duration = .seconds(2)) {
        self.store = store
        self.tenant = tenant
        self.start = start
        self.filter = filter
        self.batchSize = batchSize
        self.pollInterval = pollInterval
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(subscription: self, position: start)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let subscription: EventSubscription
        /// Everything up to here has been delivered or skipped by the filter.
        var position: LogPosition
        var buffer: [RecordedEvent] = []
        var bufferIndex = 0

        public mutating func next() async throws -> RecordedEvent? {
            while true {
                if bufferIndex < buffer.count {
                    defer { bufferIndex += 1 }
                    return buffer[bufferIndex]
                }
                try Task.checkCancellation()
                let s = subscription
                let generation = s.store.wakeups.generation(of: s.tenant, interest: s.filter.eventTypes)
                if s.filter.isAll {
                    buffer = try await s.store.read(s.tenant, after: position, through: nil, limit: s.batchSize, filter: .all)
                    bufferIndex = 0
                    if let last = buffer.last {
                        position = last.position
                        continue
                    }
                } else {
                    // With a filter, bound the scan by the head so the cursor can move past events that do not match.
                    let head = try await s.store.head(of: s.tenant).position
                    if head > position {
                        let through = LogPosition(Swift.min(head.rawValue, position.rawValue + Int64(s.batchSize) * 20))
                        buffer = try await s.store.read(s.tenant, after: position, through: through, limit: s.batchSize, filter: s.filter)
                        bufferIndex = 0
                        position = buffer.count == s.batchSize ? (buffer.last?.position ?? through) : through
                        continue
                    }
                }
                await s.store.wakeups.wait(for: s.tenant, after: generation, interest: s.filter.eventTypes, timeout: s.pollInterval)
                if Task.isCancelled { return nil }
            }
        }
    }
}

extension EventStore {
    /// A live subscription to a tenant's log after `position`.
    public func subscribe(_ tenant: TenantID, after position: LogPosition = .start, filter: EventFilter = .all) -> EventSubscription {
        EventSubscription(store: self, tenant: tenant, after: position, filter: filter)
    }
}
