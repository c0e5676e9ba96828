import EventLog
import Foundation
import TestSupport
import Testing

/// Looks for personal data in clear where an attacker with the database files would look.
enum PlaintextScan {
    /// Expects none of `secrets`, and no identity-code-shaped token at all, in the store's files:
    /// the SQLite database and its WAL, or a `pg_dump` of the PostgreSQL schema (bytea both as text and as hex).
    /// `bytes` are looked for as they are and as hex (how a dump shows bytea).
    static func expectNone(of secrets: [String], bytes: [[UInt8]] = [], in fixture: StoreFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let blobs: [(String, Data)]
        switch fixture.kind {
        case .sqlite:
            let path = try #require(fixture.sqlitePath)
            blobs = [path, path + "-wal"].compactMap { file in FileManager.default.contents(atPath: file).map { (file, $0) } }
            #expect(blobs.count == 2, "both the database and its WAL exist", sourceLocation: sourceLocation)
        case .postgres:
            blobs = [("pg_dump", try pgDump(try #require(fixture.postgres)))]
        }
        for (name, data) in blobs {
            let blob = [UInt8](data)
            #expect(!PlaintextGuard.containsIdentityCode(blob), "\(name) holds an identity code in clear", sourceLocation: sourceLocation)
            for (index, secret) in (secrets.map({ Array($0.utf8) }) + bytes).enumerated() {
                let hex = Array(secret.map { String(format: "%02x", $0) }.joined().utf8)
                // The index says which secret (the value itself stays out of test output).
                #expect(!contains(blob, secret) && !contains(blob, hex), "\(name) holds secret value #\(index)", sourceLocation: sourceLocation)
            }
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first, Array(haystack[index..<index + needle.count]) == needle { return true }
            index += 1
        }
        return false
    }

    /// Every row of the register schema as `pg_dump --data-only` writes it.
    static func pgDump(_ database: PostgresTestDatabase, schema: String = "register") throws -> Data {
        let bin = ProcessInfo.processInfo.environment["REGISTER_TEST_PG_BIN"].map { $0 + "/pg_dump" } ?? "/usr/bin/pg_dump"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["--data-only", "--schema=\(schema)", "-h", database.superuser.host, "-p", String(database.superuser.port),
                             "-U", database.superuser.username, "-d", database.name]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "pg_dump succeeded")
        #expect(data.count > 1_000, "the dump holds the log")
        return data
    }
}
