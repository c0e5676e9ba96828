import EventLog
import Foundation
import Logging

/// Applies the log to read models: catch-up of a generation to a position, live following, and rebuilds.
///
/// Every batch commits its writes and its checkpoint in one transaction of the read-model store, and only if the
/// checkpoint is still where the batch started: two runners of the same generation (a server and a CLI rebuild, two
/// servers) never apply an event twice; the slower one learns it was overtaken (`ProjectionError.moved`) and re-reads.
public struct ProjectionEngine: Sendable {
    public let log: any EventStore
    public let readModels: any ReadModelStore
    public let projections: [any Projection]
    public let logger: Logger
    /// Events applied per transaction when following the log: small, so a batch is visible soon.
    public var batchSize = 2_000
    /// Events applied per transaction in a rebuild: large, because each commit rewrites every table page it touches,
    /// and a rebuild's batch touches pages all over its tables (a day of attendance is one row for every child).
    public var rebuildBatchSize = 20_000

    public init(log: any EventStore, readModels: any ReadModelStore, projections: [any Projection], logger: Logger) {
        self.log = log
        self.readModels = readModels
        self.projections = projections
        self.logger = logger
    }

    public func projection(named name: String) throws -> any Projection {
        guard let projection = projections.first(where: { $0.name == name }) else {
            throw ProjectionError(.unknown, "there is no projection \(name); known: \(projections.map(\.name).joined(separator: ", "))")
        }
        return projection
    }

    /// How a catch-up ended.
    public enum CatchUpOutcome: Sendable, Equatable {
        /// Every event up to the position is applied.
        case reached(LogPosition)
        /// The event at the position could not be applied; everything before it is.
        case failed(LogPosition, String)
    }

    /// Applies a generation's events from `position` through `target`, batch by batch, reporting each committed position.
    /// Stops at an event that fails, recording the failure with the generation (its status) and in the log (an alert).
    ///
    /// The three stages overlap: while a batch is applied, the next one is read from the log and the previous one is
    /// committed (commits stay in order, each conditional on the one before). On two cores this is most of a
    /// rebuild's speed: reading, decoding and writing each take a comparable share.
    public func catchUp(_ projection: any Projection, tenant: TenantID, slot: ReadModelSlot, from position: LogPosition, through target: LogPosition,
                        batchSize: Int? = nil, progress: (LogPosition) -> Void = { _ in }) async throws -> CatchUpOutcome {
        let batchSize = batchSize ?? self.batchSize
        let filter = EventFilter(eventTypes: projection.eventTypes)
        // The scan of one batch is bounded, so the checkpoint also moves across long runs of events the projection skips.
        let window = Int64(batchSize) * 8
        let log = self.log, readModels = self.readModels
        func read(after start: LogPosition) -> Task<([RecordedEvent], LogPosition), any Error> {
            Task {
                let upper = LogPosition(min(target.rawValue, start.rawValue + window))
                let events = try await log.read(tenant, after: start, through: upper, limit: batchSize, filter: filter)
                return (events, events.count == batchSize ? events[events.count - 1].position : upper)
            }
        }
        var committed = position
        var batchStart = position
        var pendingRead = position < target ? read(after: position) : nil
        var pendingCommit: Task<LogPosition, any Error>?
        func awaitCommit() async throws {
            guard let commit = pendingCommit else { return }
            pendingCommit = nil
            committed = try await commit.value
            progress(committed)
        }
        func pipeline() async throws -> CatchUpOutcome {
            while let current = pendingRead {
                try Task.checkCancellation()
                let (events, readThrough) = try await current.value
                pendingRead = readThrough < target ? read(after: readThrough) : nil
                var reached = readThrough
                var writes = ReadModelWrites()
                var failure: (LogPosition, String)?
                for (index, event) in events.enumerated() {
                    do {
                        try projection.apply(event, to: &writes)
                        writes.eventCount += 1
                    } catch {
                        failure = (event.position, String(describing: error))
                        reached = LogPosition(event.position.rawValue - 1)
                        // An event that fails may have written part of its rows: apply the ones before it again, cleanly.
                        writes = ReadModelWrites()
                        for earlier in events[..<index] { try projection.apply(earlier, to: &writes) }
                        break
                    }
                }
                try await awaitCommit()
                if reached > batchStart {
                    let from = batchStart, to = reached, batch = writes
                    pendingCommit = Task {
                        try await readModels.commit(batch, of: projection, tenant: tenant, slot: slot, from: from, to: to, at: .now())
                        return to
                    }
                    batchStart = reached
                }
                if let (failedAt, message) = failure {
                    pendingRead?.cancel()
                    pendingRead = nil
                    try await awaitCommit()
                    try await readModels.recordFailure(of: projection, tenant: tenant, slot: slot, at: failedAt, message: message, time: .now())
                    logger.error("projection stopped at an event it cannot apply", metadata: [
                        "tenant": "\(tenant)", "projection": "\(projection.name)", "version": "\(projection.version)", "slot": "\(slot.rawValue)",
                        "position": "\(failedAt)", "error": "\(message)",
                    ])
                    return .failed(failedAt, message)
                }
            }
            try await awaitCommit()
            return .reached(committed)
        }
        do {
            return try await pipeline()
        } catch {
            // Whatever ends the run (a cancellation, a failed read), no commit is left running behind the caller's back:
            // the state it reads next is final.
            pendingRead?.cancel()
            _ = try? await pendingCommit?.value
            throw error
        }
    }

    /// Rebuilds a projection of a tenant blue/green: fills the shadow slot from the log while the active generation keeps
    /// serving and following, then swaps it in once it has caught up with the head. A rebuild that was interrupted
    /// resumes from its checkpoint; with `restart`, a pending rebuild starts over.
    public func rebuild(_ projection: any Projection, tenant: TenantID, restart: Bool = false,
                        progress: (RebuildProgress) -> Void = { _ in }) async throws -> CatchUpOutcome {
        let states = try await readModels.states(of: tenant).filter { $0.projection == projection.name }
        let active = states.first { $0.role == .active }
        var building = states.first { $0.role == .building && $0.version == projection.version }
        if restart { building = nil }
        let state: ProjectionState
        if let building {
            state = building
            logger.info("resuming a rebuild", metadata: ["tenant": "\(tenant)", "projection": "\(projection.name)", "position": "\(building.position)"])
        } else {
            // A tenant's first generation too is built aside and swapped in at the head, so no reader ever sees a
            // read model that holds only part of the log.
            let slot = active.map { $0.version == projection.version ? $0.slot.other : .a } ?? .a
            state = try await readModels.startGeneration(of: projection, tenant: tenant, slot: slot, role: .building, at: .now())
        }
        let started = ContinuousClock.now
        let first = state.position
        var position = state.position
        while true {
            let head = try await log.head(of: tenant).position
            let target = head
            let outcome: CatchUpOutcome
            do {
                outcome = try await catchUp(projection, tenant: tenant, slot: state.slot, from: position, through: target,
                                            batchSize: rebuildBatchSize) { reached in
                    progress(RebuildProgress(tenant: tenant, projection: projection.name, done: reached.rawValue, total: target.rawValue,
                                             startedAt: first.rawValue, elapsed: ContinuousClock.now - started))
                }
            } catch let error as ProjectionError where error.code == .moved {
                // Another runner applies this generation too (a server resuming it, a second rebuild): go on from its checkpoint.
                guard let current = try await generation(of: projection, tenant: tenant, slot: state.slot), current.role != .retired else {
                    return .reached(position)
                }
                position = current.position
                continue
            }
            guard case .reached(let reached) = outcome else { return outcome }
            position = reached
            progress(RebuildProgress(tenant: tenant, projection: projection.name, done: reached.rawValue, total: target.rawValue,
                                     startedAt: first.rawValue, elapsed: ContinuousClock.now - started))
            if state.role == .active { return .reached(position) }
            // Caught up with the head as it was read: swap. If someone else moved the checkpoint, read it again and go on.
            do {
                try await readModels.swap(projection, tenant: tenant, building: state.slot, at: position, time: .now())
                logger.info("rebuild swapped in", metadata: ["tenant": "\(tenant)", "projection": "\(projection.name)", "version": "\(projection.version)",
                                                             "slot": "\(state.slot.rawValue)", "position": "\(position)"])
                // Events appended since the head was read: applied now, so a quiet tenant's new generation does not wait
                // for the next write to be current (a live follower of the old generation learns of the swap at its next
                // commit and moves over; the conditional checkpoint keeps the two from applying anything twice).
                let head = try await log.head(of: tenant).position
                if head > position {
                    if case .reached(let reached)? = try? await catchUp(projection, tenant: tenant, slot: state.slot, from: position, through: head) {
                        position = reached
                    }
                }
                return .reached(position)
            } catch let error as ProjectionError where error.code == .moved {
                guard let current = try await generation(of: projection, tenant: tenant, slot: state.slot), current.role == .building else {
                    return .reached(position)
                }
                position = current.position
            }
        }
    }

    func generation(of projection: any Projection, tenant: TenantID, slot: ReadModelSlot) async throws -> ProjectionState? {
        try await readModels.states(of: tenant).first { $0.projection == projection.name && $0.version == projection.version && $0.slot == slot }
    }
}

/// Progress of a rebuild, for a progress bar: events done of the log's head when it started, rate and ETA.
public struct RebuildProgress: Sendable {
    public let tenant: TenantID
    public let projection: String
    public let done: Int64
    public let total: Int64
    /// Where this run started (a resumed rebuild starts past 0).
    public let startedAt: Int64
    public let elapsed: Duration

    public var rate: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(done - startedAt) / seconds : 0
    }

    public var remaining: Duration? {
        let rate = rate
        guard rate > 0 else { return nil }
        return .seconds(Double(max(0, total - done)) / rate)
    }
}
