import ArgumentParser
import EventLog
import Foundation
import RegisterServer

/// `register log …`: moving a log between stores and handing its state to a witness.
struct LogCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Export, import and checkpoint a tenant's log.",
        subcommands: [Export.self, Import.self, Checkpoint.self, VerifyCheckpoint.self, PublicKey.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a tenant's log as JSON Lines, sealed as stored, with positions and hashes.",
            discussion: """
                The file also carries the tenant's wrapped keys (unless --no-keys), so another store can open the \
                payloads with the same master key. Treat it like a backup: a later shred does not reach it. \
                Written to FILE.partial and renamed when complete, with owner-only permissions.
                """)

        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant to export.") var tenant: String
        @Option(name: .shortAndLong, help: "The file to write (standard output if omitted).") var output: String?
        @Flag(help: "Leave the keys out: the target can then not open payloads unless it has the keys already.") var noKeys = false

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let sink = try ExportSink(path: output)
            let head = try await reportingFailures {
                do {
                    return try await RegisterStorage.with(configuration, logger: logger) { storage in
                        let total = Int(try await storage.store.head(of: tenant).position.rawValue)
                        let progress = Progress("exporting \(tenant)", total: total)
                        let head = try await LogExporter(store: storage.store).export(tenant, includeKeys: !noKeys, write: sink.write) { done, _ in
                            progress.update(done)
                        }
                        progress.finish(Int(head.position.rawValue))
                        return head
                    }
                } catch {
                    sink.abandon()
                    throw error
                }
            }
            try sink.complete()
            FileHandle.standardError.write(Data("exported \(tenant) up to position \(head.position), head \(head.hash)\n".utf8))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read an exported log into this store (an empty tenant), verifying the chain as it goes.",
            discussion: "A corrupted, reordered or truncated file is refused with its line number, and nothing of it is kept.")

        @OptionGroup var storage: StorageOptions
        @Argument(help: "The export file.") var file: String
        @Option(help: "The tenant the file must hold (checked against its header).") var tenant: String?
        @Option(help: "A signed checkpoint (from `register log checkpoint` at the source) the log must pass through.") var checkpoint: String?
        @Option(help: "The public key the checkpoint must be signed with (default: this installation's).") var publicKey: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let summary = try await reportingFailures {
                let reader = try LogExportReader(path: file)
                if let tenant, try tenantID(tenant) != reader.tenant {
                    throw CommandFailure("the file holds tenant \(reader.tenant), not \(tenant)")
                }
                return try await RegisterStorage.with(configuration, logger: logger) { storage in
                    if let key = reader.tenantKey {
                        try storage.keyRing.checkWrappedKeys(of: reader.tenant, tenantKey: key, subjectKeys: reader.subjectKeys)
                    }
                    if let checkpoint {
                        let signed = try SignedCheckpoint.read(from: checkpoint)
                        let expected = try publicKey ?? storage.keyRing.masterKey.checkpointSigningKey().publicKey.rawRepresentation.base64EncodedString()
                        guard signed.tenant == reader.tenant, signed.hasValidSignature(expectedPublicKey: expected) else {
                            throw CommandFailure("the checkpoint is not a valid signature of the expected key for tenant \(reader.tenant)")
                        }
                        reader.requiredCheckpoint = (signed.position, try EventDigest(hex: signed.hash))
                    }
                    if !reader.includesKeys {
                        logger.warning("the file carries no keys: payloads open only if this store already holds the tenant's keys")
                    }
                    let source = ProgressSource(reader, progress: Progress("importing \(reader.tenant)", total: Int(reader.expectedHead.position.rawValue)))
                    let summary = try await storage.store.importLog(source, into: reader.tenant)
                    source.progress.finish(summary.events)
                    return summary
                }
            }
            print("imported \(summary.events) events and \(summary.subjectKeys) subject keys; the chain verified up to position \(summary.head.position), head \(summary.head.hash)")
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a signed checkpoint (Ed25519) of a tenant's chain head, for a witness to keep.")

        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant.") var tenant: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let checkpoint = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    try SignedCheckpoint.sign(try await storage.store.head(of: tenant), of: tenant, with: try storage.keyRing.masterKey.checkpointSigningKey())
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(checkpoint), as: UTF8.self))
        }
    }

    struct VerifyCheckpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a signed checkpoint against the log: valid signature, same hash at its position, intact chain up to it.")

        @OptionGroup var storage: StorageOptions
        @Argument(help: "The checkpoint file.") var file: String
        @Option(help: "The public key the checkpoint must be signed with (base64; default: this installation's key).")
        var publicKey: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let checkpoint = try SignedCheckpoint.read(from: file)
            let problem = try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage -> String? in
                    let expected = try publicKey ?? storage.keyRing.masterKey.checkpointSigningKey().publicKey.rawRepresentation.base64EncodedString()
                    if let problem = try await storage.store.verify(checkpoint, expectedPublicKey: expected) { return problem }
                    let chain = try await storage.store.verifyChain(of: checkpoint.tenant)
                    if let failure = chain.failure, failure.position <= checkpoint.position {
                        return "the chain of \(checkpoint.tenant) is broken at position \(failure.position), before the checkpoint"
                    }
                    return nil
                }
            }
            if let problem {
                print("checkpoint does NOT hold: \(problem)")
                throw ExitCode(1)
            }
            print("checkpoint holds: \(checkpoint.tenant) had hash \(checkpoint.hash) at position \(checkpoint.position), signed \(checkpoint.signedAt)")
        }
    }

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print this installation's checkpoint public key (base64), for witnesses.")

        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let key = try await reportingFailures { try configuration.loadMasterKey(logger: logger).checkpointSigningKey() }
            print(key.publicKey.rawRepresentation.base64EncodedString())
        }
    }
}

/// Reports progress while a store pulls batches from an export.
final class ProgressSource: LogImportSource {
    let reader: LogExportReader
    let progress: Progress
    private var done = 0

    init(_ reader: LogExportReader, progress: Progress) {
        self.reader = reader
        self.progress = progress
    }

    var tenant: TenantID { reader.tenant }
    var tenantKey: StoredTenantKey? { reader.tenantKey }
    var subjectKeys: [SubjectID: StoredSubjectKey] { reader.subjectKeys }

    func nextBatch(limit: Int) throws -> [RecordedEvent]? {
        let batch = try reader.nextBatch(limit: limit)
        done += batch?.count ?? 0
        progress.update(done)
        return batch
    }
}

/// Where an export goes: standard output, or FILE.partial renamed to FILE only when the export completed.
final class ExportSink {
    private let handle: FileHandle
    private let path: String?

    init(path: String?) throws {
        self.path = path
        guard let path else {
            handle = .standardOutput
            return
        }
        let partial = path + ".partial"
        do {
            handle = try OwnerOnlyFile.openForWriting(partial)
        } catch {
            throw CommandFailure("cannot write \(partial)")
        }
    }

    func write(_ data: Data) throws { try handle.write(contentsOf: data) }

    func complete() throws {
        guard let path else { return }
        try handle.close()
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: path + ".partial", toPath: path)
    }

    func abandon() {
        guard let path else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path + ".partial")
    }
}

extension SignedCheckpoint {
    /// Reads a checkpoint file written by `register log checkpoint`.
    static func read(from path: String) throws -> SignedCheckpoint {
        guard let data = FileManager.default.contents(atPath: path), let checkpoint = try? JSONDecoder().decode(SignedCheckpoint.self, from: data) else {
            throw CommandFailure("\(path) is not a readable checkpoint")
        }
        return checkpoint
    }
}
