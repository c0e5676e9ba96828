import Foundation
import EventLog
import Testing

/// Runs the built `register` executable, as an operator would.
struct RegisterBinary {
    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// `.build/debug/register` next to the package (or `REGISTER_BINARY`).
    static let path: String = {
        if let explicit = ProcessInfo.processInfo.environment["REGISTER_BINARY"] { return explicit }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/register").path
    }()

    /// Runs `register ARGUMENTS` in `directory` with a clean REGISTER_* environment plus `environment`.
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("REGISTER_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Both pipes are drained at once (standard error on another thread), so a child that fills one of them
        // cannot block while the other is being read.
        let errorReader = PipeReader(errors.fileHandleForReading)
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = errorReader.wait()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self), errors: String(decoding: errData, as: UTF8.self))
    }

    /// Starts `register ARGUMENTS` in the background; the caller terminates it.
    static func start(_ arguments: [String], in directory: URL, logTo log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("REGISTER_") }
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }
}

/// A store in `directory` that a tenant file was applied to through the binary, as an operator starts: its master
/// key (written to a key file the commands read), its SQLite path, and the options that name both.
struct AppliedStore {
    let key: MasterKey
    let path: String
    let options: [String]

    static let tenants = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    init(applying tenantFile: String, in directory: URL) throws {
        key = MasterKey.generate()
        let keyFile = directory.appendingPathComponent("master.key").path
        FileManager.default.createFile(atPath: keyFile, contents: Data(key.base64.utf8), attributes: [.posixPermissions: 0o600])
        path = directory.appendingPathComponent("register.sqlite").path
        options = ["--database", "sqlite:" + path, "--master-key-file", keyFile]
        let apply = try RegisterBinary.run(["tenant", "apply", Self.tenants.appendingPathComponent(tenantFile).path, "--actor", "op-1"] + options, in: directory)
        #expect(apply.status == 0, "\(apply.errors)")
    }
}

/// A scratch directory removed after the test.
func withScratchDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Reads a pipe to its end on a background thread.
final class PipeReader: @unchecked Sendable {
    // @unchecked: `data` is written once by the reading thread before `done` is signalled and read only after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
