import ArgumentParser
import EventLog
import Foundation
import Projections
import Register
import RegisterServer

/// `register projections …`: the read models, where they stand, and rebuilding them.
struct ProjectionCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections", abstract: "List the read models, show where they stand, rebuild them.",
        subcommands: [List.self, Status.self, Rebuild.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the projections of this build: name, version, tables, event types.")

        func run() async throws {
            for projection in RegisterProjections.all {
                print("\(projection.name) v\(projection.version)")
                print("  tables: \(projection.tables.map(\.name).joined(separator: ", "))")
                print("  events: \(projection.eventTypes.sorted().joined(separator: ", "))")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each tenant's projections: version, slot, role, checkpoint, head, lag and any failure.",
            discussion: "Exits with status 1 when a projection has stopped at an event it cannot apply.")

        @OptionGroup var storage: StorageOptions
        @Option(help: "Only this tenant.") var tenant: String?
        @Flag(help: "Also show retired generations (swapped out by a rebuild).") var all = false

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try self.tenant.map(tenantID)
            let statuses = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    try await storage.projections.status(of: tenant, includingRetired: all)
                }
            }
            if statuses.isEmpty {
                print("no projection has run yet\(tenant.map { " for \($0)" } ?? "") (they start with `register serve` or `register projections rebuild`)")
                return
            }
            print("tenant\tprojection\tversion\tslot\trole\tposition\thead\tlag\tlag-seconds\tstatus")
            for status in statuses {
                let state = status.state
                let health = state.failedPosition.map { "FAILED at \($0): \(state.failure ?? "")" } ?? (status.current ? "ok" : "old version")
                print([state.tenant.rawValue, state.projection, "v\(state.version)", state.slot.rawValue, state.role.rawValue, "\(state.position)",
                       "\(status.head)", "\(status.lagEvents)", String(format: "%.1f", status.lagSeconds), health].joined(separator: "\t"))
            }
            if statuses.contains(where: { $0.state.failedPosition != nil }) { throw ExitCode(1) }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild read models from the log, blue/green, while the service keeps serving the current ones.",
            discussion: """
                Each tenant's projection is built into its shadow tables and swapped in once it has caught up with \
                the log; a running service keeps answering from the current tables meanwhile and picks up the new \
                ones at the swap. A rebuild that was interrupted resumes where it stopped (--restart starts over). \
                Rebuilds have no side effects: no feed delivery, no notification.
                """)

        @OptionGroup var storage: StorageOptions
        @Option(help: "Only this tenant (default: every tenant).") var tenant: String?
        @Option(help: "Only this projection (default: all; see `register projections list`).") var projection: String?
        @Flag(help: "Start an interrupted rebuild over instead of resuming it.") var restart = false

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let only = try tenant.map(tenantID)
            if let projection, !RegisterProjections.all.contains(where: { $0.name == projection }) {
                throw ValidationError("there is no projection \(projection); known: \(RegisterProjections.all.map(\.name).joined(separator: ", "))")
            }
            let failures = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let engine = storage.projections
                    try await storage.readModels.prepare(engine.projections)
                    let tenants = try await storage.store.tenants().filter { $0 != Accounts.platformTenant && (only == nil || $0 == only) }
                    if let only, tenants.isEmpty { throw ValidationError("the log has no tenant \(only)") }
                    var failures: [String] = []
                    for tenant in tenants {
                        for projection in engine.projections where self.projection == nil || projection.name == self.projection {
                            let progress = Progress("rebuilding \(tenant) \(projection.name) v\(projection.version)",
                                                    total: Int(try await storage.store.head(of: tenant).position.rawValue))
                            var last = 0
                            let outcome = try await engine.rebuild(projection, tenant: tenant, restart: restart) { step in
                                last = Int(step.done)
                                progress.update(last)
                            }
                            progress.finish(last)
                            if case .failed(let position, let message) = outcome {
                                failures.append("\(tenant) \(projection.name): stopped at position \(position): \(message)")
                            }
                        }
                    }
                    return failures
                }
            }
            guard failures.isEmpty else {
                for failure in failures { FileHandle.standardError.write(Data("error: \(failure)\n".utf8)) }
                throw ExitCode(1)
            }
        }
    }
}
