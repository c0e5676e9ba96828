import EventLog
import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import RegisterServer
import Testing

@Suite("HTTP: operations endpoints")
struct OperationsEndpointTests {
    /// An application on a fresh embedded database in a temporary directory.
    static func withApplication(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-server-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = RegisterConfiguration(database: .sqlite(path: directory.appendingPathComponent("register.sqlite").path),
                                                  masterKey: .defaultFile(path: directory.appendingPathComponent("master.key").path), port: 0)
        var logger = Logger(label: "register.tests")
        logger.logLevel = .error
        let storage = try await RegisterStorage.open(configuration, logger: logger)
        try await buildApplication(configuration: configuration, storage: storage, logger: logger).test(.router) { client in
            try await body(client)
        }
    }

    @Test("/health and /ready answer with the version")
    func probes() async throws {
        try await Self.withApplication { client in
            for path in ["/health", "/ready"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))
                    #expect(body["version"] == registerVersion)
                }
            }
        }
    }

    @Test("/openapi.yaml serves docs/openapi.yaml")
    func contract() async throws {
        let documented = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml"), encoding: .utf8)
        try await Self.withApplication { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                #expect(String(buffer: response.body) == documented)
            }
        }
    }

    @Test("errors are problem documents without internals")
    func problems() async throws {
        try await Self.withApplication { client in
            try await client.execute(uri: "/no/such/path", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try JSONDecoder().decode(Problem.self, from: Data(buffer: response.body))
                #expect(problem.type == "urn:register:problem:not-found")
                #expect(problem.status == 404)
                #expect(problem.requestID != nil)
            }
        }
    }
}
