import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Keeps the write-ahead log short without making the writer copy it into the database.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses its threshold (1 000 WAL frames, about
/// 4 MB): that commit — and every append grouped into it, and every append queued behind it — waits while the WAL is
/// copied into the database file and both are fsynced. Under the HTTP API's load this was a visible share of the
/// slowest answers (docs/benchmarks.md). Here a WAL hook on the writer replaces the automatic checkpoint:
///
/// - when the WAL reaches `backgroundFrames`, a *passive* checkpoint runs on a connection of its own, on its own
///   thread, while the writer goes on committing (a passive checkpoint never waits for readers or the writer);
/// - the frames committed while it ran are left over, and a passive checkpoint cannot reset a WAL that is still
///   growing: the writer's next commit checkpoints that short tail itself, after which the next write transaction
///   starts the WAL over from the beginning (SQLite resets it once every frame is in the database);
/// - if the WAL nevertheless reaches `writerFrames` (a long read pinned old frames, or the background fell behind),
///   the writer checkpoints in place, as SQLite's automatic checkpoint would have.
///
/// Durability does not change: a commit is durable when its frames are fsynced to the WAL (synchronous=FULL);
/// checkpoints only move committed pages into the database file.
final class SQLiteCheckpointer: Sendable {
    /// The WAL size (frames) at which a background checkpoint starts: SQLite's default automatic threshold.
    static let backgroundFrames: Int32 = 1_000
    /// The WAL size (frames) at which the writer checkpoints in place.
    static let writerFrames: Int32 = 20_000

    private struct State {
        /// A background checkpoint is queued or running.
        var running = false
        /// The WAL's size when the last background checkpoint was started (0 after the WAL started over).
        var startedAt: Int32 = 0
        /// The last background checkpoint left frames behind: the writer's next commit copies them.
        var tailLeft = false
    }

    private let state = Mutex(State())
    /// The checkpoint's own connection (GRDB runs it on its own serial queue).
    private let connection: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "register.sqlite.checkpoint"
        // As the store's pool: another process may hold a lock briefly while this connection opens. (A passive
        // checkpoint itself never waits.)
        configuration.busyMode = .timeout(30)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Installs the WAL hook on the writer (replacing SQLite's automatic checkpoint). The hook holds this object
    /// unretained: its owner keeps it for as long as the writer lives.
    func install(on writer: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(writer.sqliteConnection, { context, connection, _, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<SQLiteCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(walFrames: frames, writer: connection)
            return SQLITE_OK
        }, context)
    }

    /// Closes the checkpoint's connection (after the writer's: no commit can call the hook any more).
    func close() throws {
        try connection.close()
    }

    /// After each commit, on the writer: `frames` is the WAL's size.
    private func committed(walFrames frames: Int32, writer: OpaquePointer?) {
        enum Action { case none, background, inPlace }
        let action: Action = state.withLock { state in
            if frames < state.startedAt { state.startedAt = 0 }  // the WAL started over
            if frames >= Self.writerFrames || (state.tailLeft && !state.running) { return .inPlace }
            guard !state.running, frames >= Self.backgroundFrames, frames - state.startedAt >= Self.backgroundFrames else { return .none }
            state.running = true
            state.startedAt = frames
            return .background
        }
        switch action {
        case .none:
            break
        case .inPlace:
            // What SQLite's automatic checkpoint does, on the frames the background left. Until every frame is in the
            // database (a reader may still need some), it is tried again after each commit, as SQLite's would be.
            var inWAL: Int32 = 0, copied: Int32 = 0
            let result = sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, &inWAL, &copied)
            state.withLock { $0.tailLeft = result != SQLITE_OK || copied < inWAL }
        case .background:
            connection.asyncWriteWithoutTransaction { db in
                // Passive: copies what no reader still needs, never waits. A failure (the writer checkpointing in
                // place) leaves the frames to the next round. Either way the writer copies what was committed
                // meanwhile: a WAL is only started over once all of it is in the database.
                _ = try? db.checkpoint(.passive)
                self.state.withLock { state in
                    state.running = false
                    state.tailLeft = true
                }
            }
        }
    }
}
