import EventLog
import Foundation
import Hummingbird
import NIOPosix
import Projections
import Register

/// Everything the API's routes share: the domain, accounts, sessions, configurations and the access log.
struct RegisterAPI: Sendable {
    let storage: RegisterStorage
    let registry: Registry
    let accounts: Accounts
    let sessions: SessionStore
    let tenants: TenantDirectory
    /// The read models' queries.
    let readModels: RegisterReadModels
    /// The projections running in this process (nil where only the routes are built, as in some tests).
    let projectionService: ProjectionService?
    /// Feed requests each partner has open (long polls and event streams hold one each).
    let feedConnections = FeedConnections()
    let now: @Sendable () -> Date

    init(storage: RegisterStorage, projectionService: ProjectionService? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.storage = storage
        self.readModels = RegisterReadModels(store: storage.readModels, keyRing: storage.keyRing)
        self.projectionService = projectionService
        self.registry = Registry(store: storage.store, keyRing: storage.keyRing, now: now)
        // bcrypt on NIO's blocking pool (one thread per core): sign-ins wait there, requests keep flowing.
        self.accounts = Accounts(store: storage.store, keyRing: storage.keyRing) { work in
            (try? await NIOThreadPool.singleton.runIfActive { work() }) ?? false
        }
        self.sessions = SessionStore()
        self.tenants = TenantDirectory(store: storage.store)
        self.now = now
    }

    var today: LocalDate { LocalDate.today(at: now()) }

    /// One authenticated request in one tenant.
    struct Caller: Sendable {
        let tenant: TenantID
        let grants: Grants
        let requestID: String
        var principal: Principal { grants.principal }
        var metadata: EventMetadata { EventMetadata(actor: principal.actor, correlationID: UUID()) }
    }

    /// The principal behind the request's bearer token; 401 when there is none or it is not valid.
    func principal(of request: Request) async throws -> Principal {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem(status: .unauthorized, code: "unauthorized", detail: "Sign in and send the session or API token as Authorization: Bearer <token>.")
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        if token.hasPrefix("rs."), let (principal, needsCheck) = await sessions.principal(forSession: token) {
            guard needsCheck else { return principal }
            // `register user disable` runs in another process: the session learns of it from the log.
            if try await accounts.isActive(principal.id, in: principal.tenant) {
                await sessions.confirmed(token)
                return principal
            }
            await sessions.end(token)
        }
        if token.hasPrefix("rt.") {
            if let principal = await sessions.cachedToken(token) { return principal }
            if let principal = try await accounts.verifyToken(token, now: Timestamp(now())) {
                await sessions.cache(token: token, as: principal)
                return principal
            }
        }
        throw Problem(status: .unauthorized, code: "unauthorized", detail: "The token is not valid, has expired or was revoked.")
    }

    /// Authenticates the request for the tenant in its path. A caller of another tenant, and an unknown or
    /// unconfigured tenant, get the same 404 as a resource that does not exist.
    func caller(_ request: Request, _ context: RegisterRequestContext) async throws -> Caller {
        let principal = try await principal(of: request)
        guard let text = context.parameters.get("tenant"), let tenant = try? TenantID(text), tenant == principal.tenant,
              tenant != Accounts.platformTenant, let configuration = try await tenants.configuration(of: tenant) else {
            throw Problem.notFound
        }
        return Caller(tenant: tenant, grants: Grants(principal: principal, configuration: configuration), requestID: context.id)
    }

    /// The purpose recorded in the access log: the tenant's register that the API serves (its first ECEC register,
    /// else its first register).
    func purpose(of caller: Caller) -> String {
        let registers = caller.grants.configuration.registers
        return (registers.first { $0.scope == .ecec } ?? registers.first)?.id ?? "register"
    }

    /// Records uses of personal data durably before the response leaves (O14).
    func recordAccess(_ caller: Caller, _ uses: [(subject: PersonID, action: AccessAction, resource: String)]) async throws {
        guard !uses.isEmpty else { return }
        let purpose = purpose(of: caller)
        try await storage.accessLog.record(uses.map {
            AccessEntry(subject: $0.subject, action: $0.action, resource: $0.resource, purpose: purpose, actor: caller.principal.actor)
        }, in: caller.tenant)
    }

    /// A path parameter that is a person's id; a malformed one is a 404 like any unknown id.
    func personID(_ context: RegisterRequestContext, _ name: String = "person") throws -> PersonID {
        guard let text = context.parameters.get(name), let uuid = UUID(canonical: text) else { throw Problem.notFound }
        return PersonID(uuid)
    }

    func uuid(_ context: RegisterRequestContext, _ name: String) throws -> UUID {
        guard let text = context.parameters.get(name), let uuid = UUID(canonical: text) else { throw Problem.notFound }
        return uuid
    }

    /// Loads a person the caller's permission reaches, or answers 404.
    /// - Parameter allowingRestricted: the route decides on restriction itself (a hand-over is refused and recorded).
    func reachablePerson(_ id: PersonID, _ caller: Caller, with permission: Permission, opening: Bool = true,
                         allowingRestricted: Bool = false) async throws -> PersonRecord {
        try await reachable(id, caller, with: permission, opening: opening, allowingRestricted: allowingRestricted).record
    }

    /// `reachablePerson` as one reading of the store: the person with the tenant's restrictions (for the check, and
    /// for answers that mark restricted people) and, with `linked`, the people the record links to.
    func reachable(_ id: PersonID, _ caller: Caller, with permission: Permission, opening: Bool = true,
                   allowingRestricted: Bool = false, linked: Bool = false, alongWith streams: [StreamRef] = []) async throws -> PersonReading {
        try caller.grants.require(permission)
        let reading: PersonReading
        do {
            reading = try await registry.personReading(id, in: caller.tenant, opening: opening, linked: linked, alongWith: streams)
        } catch let error as DomainError where error.kind == .notFound {
            throw Problem.notFound
        }
        try caller.grants.reaches(reading.record, with: permission, today: today)
        // A person whose processing is restricted is read only by roles that handle subjects' requests (O21).
        if !allowingRestricted, !caller.grants.has(.subjectRequestsManage), reading.restrictions[id] != nil {
            throw Problem(status: .forbidden, code: "restricted",
                          detail: "Processing of this person's data is restricted; only roles that handle subjects' requests read it.")
        }
        return reading
    }
}

/// Decodes a JSON body into `T`, answering a malformed body with 400 naming the field (never echoing the value).
func decodeBody<T: Decodable>(_ type: T.Type, from request: Request, context: RegisterRequestContext) async throws -> T {
    let buffer: ByteBuffer
    do {
        buffer = try await request.body.collect(upTo: context.maxUploadSize)
    } catch {
        throw Problem(status: .contentTooLarge, code: "body-too-large", detail: "A request body has at most \(context.maxUploadSize / 1024) KiB.")
    }
    guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
        throw Problem(status: .unsupportedMediaType, code: "unsupported-media-type", detail: "Send the body as application/json.")
    }
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
    } catch let error as DecodingError {
        throw Problem.malformed(error)
    } catch {
        throw Problem(status: .badRequest, code: "malformed-body", detail: "The body is not valid JSON.")
    }
}

extension Problem {
    static func malformed(_ error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return Problem(status: .badRequest, code: "invalid-field", detail: "\(field) is required.", field: field)
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = path(context.codingPath)
            return Problem(status: .badRequest, code: "invalid-field", detail: "\(field) has the wrong type.", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return Problem(status: .badRequest, code: "malformed-body", detail: "The body is not valid JSON.") }
            // Only our value types' own messages ("a date is written YYYY-MM-DD"), which never repeat the input;
            // the standard library's (an unknown enum value) quote it, so they are not passed on.
            if let reason = context.underlyingError as? ConfigurationValueError {
                return Problem(status: .badRequest, code: "invalid-field", detail: "\(field): \(reason.message)", field: field)
            }
            return Problem(status: .badRequest, code: "invalid-field", detail: "\(field) has a value that is not allowed here.", field: field)
        @unknown default:
            return Problem(status: .badRequest, code: "malformed-body", detail: "The body could not be read.")
        }
    }
}

extension Response {
    /// A JSON response with sorted keys, so answers are stable.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try SortedJSONEncoder().encodeBytes(value))))
    }
}
