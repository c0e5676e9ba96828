import Foundation
import Synchronization

/// Per-tenant wake-up signals for live subscriptions.
///
/// A store signals a tenant after each committed append (in-process), and the PostgreSQL store also after each
/// `NOTIFY` from other processes. A signal is only a hint: subscribers always re-read from their own position,
/// so a lost or duplicated signal costs latency, never an event.
public final class LogWakeups: Sendable {
    private struct Waiter: Sendable {
        let tenant: TenantID
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State: Sendable {
        var generations: [TenantID: UInt64] = [:]
        var globalGeneration: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// A counter that changes whenever the tenant (or every tenant) is signalled. Read it before reading the log,
    /// then `wait(for:after:)` with it: a signal that arrives in between is not missed.
    public func generation(of tenant: TenantID) -> UInt64 {
        state.withLock { $0.globalGeneration &+ ($0.generations[tenant] ?? 0) }
    }

    /// Wakes the tenant's waiting subscribers.
    public func signal(_ tenant: TenantID) {
        let woken = state.withLock { state -> [Waiter] in
            state.generations[tenant, default: 0] &+= 1
            let ids = state.waiters.filter { $0.value.tenant == tenant }.map(\.key)
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

    /// Returns when the tenant's generation has moved past `seen`, after `timeout`, or on cancellation.
    public func wait(for tenant: TenantID, after seen: UInt64, timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.state.withLock { state -> Bool in
                            let current = state.globalGeneration &+ (state.generations[tenant] ?? 0)
                            if current != seen || Task.isCancelled { return true }
                            state.waiters[id] = Waiter(tenant: tenant, continuation: continuation)
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
                let generation = s.store.wakeups.generation(of: s.tenant)
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
                await s.store.wakeups.wait(for: s.tenant, after: generation, timeout: s.pollInterval)
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
