import EventLog
import Foundation
import Hummingbird
import Projections
import Register

/// An RFC 9457 problem document: how every error leaves the server.
public struct Problem: Codable, Sendable, Error {
    /// `urn:register:problem:<code>`, stable for clients to branch on.
    public var type: String
    public var title: String
    public var status: Int
    /// What went wrong, safe to show: never personal data, SQL, stack traces or paths.
    public var detail: String
    public var requestID: String?
    /// The input field at fault (`details.identityCode`), for validation errors.
    public var field: String?

    public init(status: HTTPResponse.Status, code: String, detail: String, requestID: String? = nil, field: String? = nil) {
        self.type = "urn:register:problem:\(code)"
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.requestID = requestID
        self.field = field?.isEmpty == true ? nil : field
    }

    /// The stable code (the last part of `type`).
    public var code: String { String(type.dropFirst("urn:register:problem:".count)) }

    func response() -> Response {
        let body = (try? SortedJSONEncoder().encode(self)) ?? Data(#"{"status":500,"title":"Internal Server Error"}"#.utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error thrown below it into a problem document, once, at the edge; logs internals server-side only.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch var problem as Problem {
            problem.requestID = problem.requestID ?? context.id
            return problem.response()
        } catch let error as DomainError {
            return Problem(status: Self.status(for: error.kind), code: error.code, detail: error.detail, requestID: context.id, field: error.field).response()
        } catch let error as HTTPError {
            return Problem(status: error.status, code: Self.code(for: error.status), detail: error.body ?? error.status.reasonPhrase, requestID: context.id).response()
        } catch let error as ProjectionError where error.code == .notReady {
            // A read model being built (a new tenant, a new projection version): worth asking again in a moment.
            var response = Problem(status: .serviceUnavailable, code: "read-model-not-ready",
                                   detail: "This read model is being built from the log; ask again in a moment.", requestID: context.id).response()
            response.headers[.retryAfter] = "2"
            return response
        } catch let error as EventLogError {
            let status = Self.status(for: error.code)
            if Task.isCancelled {
                // The server is shutting down (or the client left) under a request still waiting on the database:
                // nothing failed that an operator needs to see.
                context.logger.debug("request cancelled", metadata: ["error": "\(String(reflecting: error))"])
            } else if status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            return Problem(status: status, code: Self.kebab(error.code.description), detail: error.message, requestID: context.id).response()
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(status: .internalServerError, code: "internal", detail: "The server failed to answer; the request id names the log entry.",
                           requestID: context.id).response()
        }
    }

    /// `subjectErased` → `subject-erased`: problem codes are kebab-case like the domain's.
    static func kebab(_ code: String) -> String {
        code.reduce(into: "") { text, character in
            if character.isUppercase { text += "-" + character.lowercased() } else { text.append(character) }
        }
    }

    static func status(for kind: DomainError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalid: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .rule: .unprocessableContent
        }
    }

    static func status(for code: EventLogError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidArgument, .personalDataInClear: .badRequest
        case .wrongExpectedVersion, .eventIDConflict: .conflict
        case .subjectErased: .gone
        case .importRejected: .unprocessableContent
        case .schemaMismatch, .storageFailure: .serviceUnavailable
        default: .internalServerError
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not-found"
        case .methodNotAllowed: "method-not-allowed"
        case .badRequest: "bad-request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .contentTooLarge: "body-too-large"
        default: "http-\(status.code)"
        }
    }
}
