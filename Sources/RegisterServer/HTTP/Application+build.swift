import EventLog
import Foundation
import Hummingbird
import Logging
import Projections
import Register

/// The build's version, reported by `/health` and `register --version`.
public let registerVersion = "0.1.0"

/// Builds the HTTP application on opened storage; `register serve` runs it and tests call it too.
public func buildApplication(configuration: RegisterConfiguration, storage: RegisterStorage, logger: Logger,
                             now: @escaping @Sendable () -> Date = { Date() }) -> some ApplicationProtocol {
    // Read models follow every tenant's log for as long as the server runs (and rebuild new projection versions).
    let projections = ProjectionService(engine: storage.projections, logger: logger, excluding: [Accounts.platformTenant])
    var app = Application(
        router: buildRouter(storage: storage, projections: projections, now: now),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "register"),
        services: storage.services + [projections]
            + (configuration.retentionIntervalHours > 0
                ? [RetentionService(storage: storage, interval: .seconds(configuration.retentionIntervalHours * 3_600), logger: logger, now: now)] : []),
        logger: logger
    )
    app.beforeServerStarts {
        try await storage.readiness()
        logger.info("serving", metadata: ["address": "\(configuration.host):\(configuration.port)", "database": "\(configuration.database)"])
    }
    return app
}

/// The routes: operations probes, the contract and the API under /v1.
public func buildRouter(storage: RegisterStorage, projections: ProjectionService? = nil,
                        now: @escaping @Sendable () -> Date = { Date() }) -> Router<RegisterRequestContext> {
    let router = Router(context: RegisterRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    RegisterAPI(storage: storage, projectionService: projections, now: now).addRoutes(to: router)
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
    // Prometheus text format: how far each tenant's read models trail its log. No personal data: tenant ids and counts.
    router.get("/metrics") { _, _ in
        var text = """
            # HELP register_projection_lag_events Events of the tenant's log not yet applied to the projection's active generation.
            # TYPE register_projection_lag_events gauge
            # HELP register_projection_lag_seconds How long the oldest event not yet applied has waited.
            # TYPE register_projection_lag_seconds gauge
            # HELP register_projection_failed 1 when the projection stopped at an event it cannot apply.
            # TYPE register_projection_failed gauge

            """
        // Active generations, and rebuilds under way (a rebuild that stopped at an event shows as failed too).
        for status in try await storage.projections.status() {
            let labels = "tenant=\"\(status.state.tenant)\",projection=\"\(status.state.projection)\",role=\"\(status.state.role.rawValue)\""
            text += "register_projection_lag_events{\(labels)} \(status.lagEvents)\n"
            text += "register_projection_lag_seconds{\(labels)} \(status.lagSeconds)\n"
            text += "register_projection_failed{\(labels)} \(status.state.failedPosition == nil ? 0 : 1)\n"
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
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
