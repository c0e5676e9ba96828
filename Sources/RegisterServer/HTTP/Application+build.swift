import EventLog
import Foundation
import Hummingbird
import Logging

/// The build's version, reported by `/health` and `register --version`.
public let registerVersion = "0.1.0"

/// Builds the HTTP application on opened storage; `register serve` runs it and tests call it too.
public func buildApplication(configuration: RegisterConfiguration, storage: RegisterStorage, logger: Logger,
                             now: @escaping @Sendable () -> Date = { Date() }) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(storage: storage, now: now),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "register"),
        services: storage.services,
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.readiness()
        logger.info("serving", metadata: ["address": "\(configuration.host):\(configuration.port)", "database": "\(configuration.database)"])
    }
    return app
}

/// The routes: operations probes, the contract and the API under /v1.
public func buildRouter(storage: RegisterStorage, now: @escaping @Sendable () -> Date = { Date() }) -> Router<RegisterRequestContext> {
    let router = Router(context: RegisterRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    RegisterAPI(storage: storage, now: now).addRoutes(to: router)
    router.get("/health") { _, _ in Health(status: "ok", version: registerVersion) }
    router.get("/ready") { _, context in
        do {
            try await storage.readiness()
            _ = try await storage.store.tenants()
        } catch {
            context.logger.warning("not ready", metadata: ["error": "\(String(reflecting: error))"])
            throw Problem(status: .serviceUnavailable, code: "not-ready", detail: "The database is not reachable or not at this build's schema version.")
        }
        return Health(status: "ready", version: registerVersion)
    }
    router.get("/openapi.yaml") { _, _ in
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let contract = try? Data(contentsOf: url) else {
            throw Problem(status: .internalServerError, code: "internal", detail: "The contract is missing from this build.")
        }
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: contract)))
    }
    return router
}

struct Health: ResponseCodable {
    var status: String
    var version: String
}
