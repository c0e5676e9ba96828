import EventLog
import Foundation
import Hummingbird
import Register

// The privacy notice (O22), published without sign-in: generated on each request from the tenant configuration in
// force, the same one the platform enforces. Holds no personal data (the configuration holds none).

extension RegisterAPI {
    func addNoticeRoutes(to router: Router<RegisterRequestContext>) {
        router.get("tenants/:tenant/privacy-notice") { request, context in
            guard let tenant = context.parameters.get("tenant").flatMap({ try? TenantID($0) }), tenant != Accounts.platformTenant,
                  let configuration = try await tenants.configuration(of: tenant) else {
                throw Problem.notFound
            }
            let query = request.uri.queryParameters
            // The language: `lang`, else the browser's preference (English when it asks for it first), else Finnish.
            let language: PrivacyNotice.Language
            if let text = query.get("lang") {
                guard let chosen = PrivacyNotice.Language(rawValue: String(text)) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "lang is fi or en.", field: "lang")
                }
                language = chosen
            } else {
                language = request.headers[.acceptLanguage]?.lowercased().hasPrefix("en") == true ? .en : .fi
            }
            var registers = configuration.registers
            if let id = query.get("register") {
                registers = registers.filter { $0.id == String(id) }
                guard !registers.isEmpty else {
                    throw Problem(status: .notFound, code: "not-found", detail: "The tenant keeps no such register.", field: "register")
                }
            }
            let notices = registers.map { PrivacyNotice(register: $0, of: configuration, language: language, generatedOn: today) }
            let markdown: Bool
            switch query.get("format").map({ String($0) }) {
            case "md"?: markdown = true
            case "html"?: markdown = false
            case nil: markdown = request.headers[.accept]?.contains("text/markdown") == true
            default: throw Problem(status: .badRequest, code: "invalid-field", detail: "format is html or md.", field: "format")
            }
            let body = markdown ? notices.map(\.markdown).joined(separator: "\n---\n\n") : PrivacyNotice.htmlPage(notices, language: language)
            return Response(status: .ok, headers: [.contentType: markdown ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8",
                                                   .contentLanguage: language.rawValue],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }
}
