import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO

extension PostgresEventStore {
    /// Holds a dedicated connection on `LISTEN <schema>_log` and turns notifications into wake-ups.
    ///
    /// Notifications are hints: after every (re)connection all subscribers are woken to re-read, so nothing
    /// appended while the channel was down is missed; they also poll as a fallback.
    func listen() async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 0, logger: logger)
                var failure: (any Error)?
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: channel) { notifications in
                            wakeups.signalAll()
                            delay = .milliseconds(200)
                            for try await notification in notifications {
                                if let (tenant, types) = Self.notified(notification.payload) { wakeups.signal(tenant, eventTypes: types) }
                            }
                        }
                    } onCancel: {
                        // Ends the `for await` above; the close is awaited below.
                        let closing: EventLoopFuture<Void> = connection.close()
                        _ = closing
                    }
                } catch {
                    failure = error
                }
                // Closed on every path before the connection goes away (postgres-nio requires it).
                try? await connection.close()
                if let failure { throw failure }
            } catch {
                if Task.isCancelled { return }
                logger.warning("the notification connection failed; subscriptions poll until it is back",
                               metadata: ["error": "\(PostgresErrors.summary(of: error))", "retryIn": "\(delay)"])
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(10))
        }
    }
}
