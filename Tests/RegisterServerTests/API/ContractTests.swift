import Foundation
import Hummingbird
import Register
import RegisterServer
import Testing
import Yams

@Suite("HTTP API: the contract (docs/openapi.yaml) and the router agree")
struct ContractTests {
    @Test("every route is in the document and every documented operation is a route")
    func routesMatchDocument() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("register-contract-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = RegisterConfiguration(database: .sqlite(path: directory.appendingPathComponent("register.sqlite").path),
                                                  masterKey: .defaultFile(path: directory.appendingPathComponent("master.key").path), port: 0)
        let storage = try await RegisterStorage.open(configuration, logger: .init(label: "contract"))
        let router = buildRouter(storage: storage)
        let routes = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })

        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../docs/openapi.yaml")
        let document = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var documented = Set<String>()
        for (path, item) in paths {
            for key in (item as? [String: Any] ?? [:]).keys where methods.contains(key) {
                documented.insert("\(key.uppercased()) \(path)")
            }
        }
        #expect(routes.subtracting(documented).sorted() == [], "routes missing from docs/openapi.yaml")
        #expect(documented.subtracting(routes).sorted() == [], "documented operations the router does not have")
        #expect(routes.count > 20)
    }
}
