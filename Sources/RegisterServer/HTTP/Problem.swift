import EventLog
import Foundation
import Hummingbird

/// An RFC 9457 problem document: how every error leaves the server.
public struct Problem: Codable, Sendable, Error {
    /// `urn:register:problem:<code>`, stable for clients to branch on.
    public var type: String
    public var title: String
    public var status: Int
    /// What went wrong, safe to show: never personal data, SQL, stack traces or paths.
    public var detail: String
    public var requestID: String?

    public init(status: HTTPResponse.Status, code: String, detail: String, requestID: String? = nil) {
        self.type = "urn:register:problem:\(code)"
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.requestID = requestID
    }

    func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)) ?? Data(#"{"status":500,"title":"Internal Server Error"}"#.utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error thrown below it into a problem document, once, at the edge; logs internals server-side only.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response()
        } catch let error as HTTPError {
            return Problem(status: error.status, code: Self.code(for: error.status), detail: error.body ?? error.status.reasonPhrase, requestID: context.id).response()
        } catch let error as EventLogError {
            let status = Self.status(for: error.code)
            if status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            return Problem(status: status, code: error.code.description, detail: error.message, requestID: context.id).response()
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(status: .internalServerError, code: "internal", detail: "The server failed to answer; the request id names the log entry.",
                           requestID: context.id).response()
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
        default: "http-\(status.code)"
        }
    }
}
