import EventLog
import Foundation
import GRDB
import GRDBSQLite

/// Binds and steps a prepared statement through SQLite's C API.
///
/// Only for the append's hot statements (its INSERT and the erased-subject probe): GRDB's general-purpose arguments box every value in an
/// existential, which cost more per event than SQLite's own work on it. Values are bound with SQLITE_TRANSIENT
/// (SQLite copies them), and the statement is reset after each row so GRDB can keep caching it.
package struct SQLiteRowWriter {
    private let statement: SQLiteStatement
    private let connection: SQLiteConnection?
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    package init(_ statement: Statement, in db: Database) {
        self.statement = statement.sqliteStatement
        self.connection = db.sqliteConnection
    }

    package func bind(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { bytes in
            if let base = bytes.baseAddress {
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { _ = sqlite3_bind_text(statement, index, $0, Int32(bytes.count), Self.transient) }
            } else {
                _ = sqlite3_bind_text(statement, index, "", 0, Self.transient)
            }
        }
    }

    package func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
    }

    /// A BLOB (never NULL: an empty value binds a zero-length blob).
    package func bind(_ index: Int32, bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, bytes.count > 0 {
            sqlite3_bind_blob(statement, index, base, Int32(bytes.count), Self.transient)
        } else {
            sqlite3_bind_zeroblob(statement, index, 0)
        }
    }

    package func bind(_ index: Int32, _ data: Data) {
        data.withUnsafeBytes { bind(index, bytes: $0) }
    }

    package func bind(_ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { bind(index, bytes: $0) }
    }

    package func bind(_ index: Int32, _ uuid: UUID?) {
        guard let uuid else {
            sqlite3_bind_null(statement, index)
            return
        }
        withUnsafeBytes(of: uuid.uuid) { bind(index, bytes: $0) }
    }

    /// Runs a query once: whether it produced a row. Resets it.
    package func producesRow() throws -> Bool {
        let code = sqlite3_step(statement)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
            let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            throw DatabaseError(resultCode: ResultCode(rawValue: extended), message: message)
        }
    }

    /// Steps through every row the statement yields, handing each to `row`; resets it. The event reads use this:
    /// GRDB's row cursor builds a table of lower-cased column names for every query and converts each column through
    /// its general-purpose value types, which showed in profiles of the API's reads.
    package func rows<T>(_ row: (SQLiteColumns) throws -> T) throws -> [T] {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        var rows: [T] = []
        let columns = SQLiteColumns(statement: statement)
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW: rows.append(try row(columns))
            case SQLITE_DONE: return rows
            case let code: throw error(code)
            }
        }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: extended), message: message)
    }

    /// Runs the statement once and resets it; a failure becomes GRDB's `DatabaseError` with SQLite's extended code.
    package func step() throws {
        let code = sqlite3_step(statement)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        guard code == SQLITE_DONE else {
            let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
            let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            throw DatabaseError(resultCode: ResultCode(rawValue: extended), message: message)
        }
    }
}

/// The columns of the row a statement is on, read through SQLite's C API (valid until the next step).
package struct SQLiteColumns {
    let statement: SQLiteStatement

    package func int64(_ index: Int32) -> Int64 {
        sqlite3_column_int64(statement, index)
    }

    package func text(_ index: Int32) -> String {
        guard let text = sqlite3_column_text(statement, index) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, index))), as: UTF8.self)
    }

    /// A BLOB's bytes (empty for NULL).
    package func withBytes<T>(_ index: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let base = sqlite3_column_blob(statement, index)
        return try body(UnsafeRawBufferPointer(start: base, count: base == nil ? 0 : Int(sqlite3_column_bytes(statement, index))))
    }

    package func data(_ index: Int32) -> Data {
        withBytes(index) { Data($0) }
    }

    package func bytes(_ index: Int32) -> [UInt8] {
        withBytes(index) { Array($0) }
    }

    /// A 16-byte BLOB as a UUID; nil for NULL or any other length.
    package func uuid(_ index: Int32) -> UUID? {
        withBytes(index) { StorageCoding.uuid(from: $0) }
    }
}
