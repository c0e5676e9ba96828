/// An error of the event log, with a stable code for callers and a message that is safe to show.
///
/// Messages name positions, event ids, stream refs and subject ids — never personal data, SQL or file paths.
/// Underlying driver errors are kept in `underlying` for the server's own log (`String(reflecting:)`).
public struct EventLogError: Error, Sendable, CustomStringConvertible {
    /// A stable, extensible error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidArgument
            case personalDataInClear
            case wrongExpectedVersion
            case eventIDConflict
            case subjectErased
            case keyUnavailable
            case masterKeyMismatch
            case chainBroken
            case importRejected
            case schemaMismatch
            case storageFailure
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Input that is malformed or out of range.
        public static let invalidArgument = Code(.invalidArgument)
        /// Something that must be sealed or opaque was given in clear (an identity code in an envelope field or payload).
        public static let personalDataInClear = Code(.personalDataInClear)
        /// Optimistic concurrency: a stream was not at the version the caller expected.
        public static let wrongExpectedVersion = Code(.wrongExpectedVersion)
        /// An event id was already used by a different event, or a retried batch differs from the original.
        public static let eventIDConflict = Code(.eventIDConflict)
        /// The subject's key has been shredded: nothing new can be sealed for it.
        public static let subjectErased = Code(.subjectErased)
        /// A key needed to seal or open is missing or cannot be unwrapped.
        public static let keyUnavailable = Code(.keyUnavailable)
        /// The master key is not the one this database's tenant keys were wrapped with.
        public static let masterKeyMismatch = Code(.masterKeyMismatch)
        /// The hash chain does not verify.
        public static let chainBroken = Code(.chainBroken)
        /// An import file was refused; nothing of it was kept.
        public static let importRejected = Code(.importRejected)
        /// The database schema is missing, older or newer than this build expects.
        public static let schemaMismatch = Code(.schemaMismatch)
        /// The database failed (connection, disk, constraint the log did not expect).
        public static let storageFailure = Code(.storageFailure)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// A sentence safe to show to a client or an operator.
    public var message: String
    /// The driver's error, for the server's log only.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "\(code): \(message)" }
}

extension EventLogError: CustomDebugStringConvertible {
    public var debugDescription: String {
        guard let underlying else { return description }
        return "\(description) [\(String(reflecting: underlying))]"
    }
}
