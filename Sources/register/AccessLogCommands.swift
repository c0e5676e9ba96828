import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `register access-log …`: reading the tenants' access logs (O14).
struct AccessLogCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-log", abstract: "Sample a tenant's access log for review, or list one subject's entries.",
        subcommands: [Sample.self, Subject.self])

    struct Sample: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print entries drawn at random from a tenant's access log, for the periodic review.")

        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "How many entries.") var count = 20

        func run() async throws {
            guard count > 0 else { throw ValidationError("--count is a positive number") }
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let records = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in try await storage.accessLog.sample(count, in: tenant) }
            }
            AccessLogCommands.print(records)
        }
    }

    struct Subject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every access-log entry about one data subject (for their own request).")

        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "The subject's id.") var subject: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let subject: SubjectID
            do { subject = try SubjectID(self.subject) } catch { throw ValidationError(error.message) }
            let records = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in try await storage.accessLog.entries(of: subject, in: tenant) }
            }
            AccessLogCommands.print(records)
        }
    }

    static func print(_ records: [AccessRecord]) {
        Swift.print("position\ttime\tuser\trole\taction\tsubject\tresource\tpurpose")
        for record in records {
            let entry = record.entry
            Swift.print("\(record.position)\t\(record.recordedAt)\t\(entry.actor.userID)\t\(entry.actor.role)\t\(entry.action.rawValue)\t\(entry.subject)\t\(entry.resource)\t\(entry.purpose)")
        }
    }
}
