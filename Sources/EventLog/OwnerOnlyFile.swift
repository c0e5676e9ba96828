import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that hold secrets or sealed data (the master key, the database, exports), created readable by their
/// owner only from the first byte.
///
/// `FileManager.createFile(atPath:contents:attributes:)` writes a temporary file with the default mode, renames
/// it and only then applies the permissions; in that window the file is readable by others, and two processes
/// creating the same file both "succeed". `open(O_CREAT | O_EXCL, 0600)` has neither problem.
package enum OwnerOnlyFile {
    package enum Outcome: Equatable {
        case created
        case alreadyExists
    }

    /// Creates `path` with mode 0600 and `contents`, fsynced; leaves an existing file untouched.
    package static func create(_ path: String, contents: Data = Data()) throws -> Outcome {
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor < 0 {
            if errno == EEXIST { return .alreadyExists }
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: contents)
        try handle.synchronize()
        try handle.close()
        return .created
    }

    /// Opens `path` for writing from the start, creating it with mode 0600 or truncating it and setting 0600.
    package static func openForWriting(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        // An existing file keeps its mode on O_TRUNC; narrow it before anything is written.
        guard fchmod(descriptor, 0o600) == 0 else {
            close(descriptor)
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}
