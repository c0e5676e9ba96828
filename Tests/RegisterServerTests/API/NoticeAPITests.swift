import EventLog
import Foundation
import Hummingbird
import Register
import RegisterServer
import Testing

/// The privacy notice over HTTP: public, generated from the configuration in force, in Finnish or English, as HTML
/// or Markdown.
@Suite("HTTP API: the privacy notice")
struct NoticeAPITests {
    @Test("published without sign-in from the configuration in force, in both languages and both formats")
    func publishedFromConfiguration() async throws {
        try await APIFixture.with(.sqlite) { api in
            // A purpose added to the configuration in force (before anything reads it: the API caches it briefly).
            var configuration = try await api.configuration()
            configuration.registers[0].purposes.append(LocalizedText(fi: "Testitarkoitus 4711", en: "Test purpose 4711"))
            _ = try await TenantConfigurations(store: api.storage.store).apply(configuration, file: nil,
                                                                              metadata: EventMetadata(actor: try Actor(userID: "test-setup", role: "platform-operator")))
            let path = "/tenants/\(api.tenant)/privacy-notice"
            let finnish = try await api.request(.get, path)
            #expect(finnish.status == .ok && finnish.contentType?.hasPrefix("text/html") == true)
            #expect(finnish.text.contains("<h1>Tietosuojaseloste: Varhaiskasvatuksen asiakasrekisteri</h1>"), "\(finnish.text.prefix(300))")
            #expect(finnish.text.contains("Testitarkoitus 4711"), "the notice says what the configuration in force says")
            #expect(finnish.text.contains("Tietoja ei siirretä EU:n tai ETA:n ulkopuolelle."))

            let english = try await api.request(.get, path + "?lang=en")
            #expect(english.text.contains("Privacy notice") && english.text.contains("Test purpose 4711") && english.text.contains("<html lang=\"en\">"))
            let preferred = try await api.request(.get, path, headers: [.acceptLanguage: "en-GB,en;q=0.9,fi;q=0.5"])
            #expect(preferred.text.contains("<html lang=\"en\">"))

            let markdown = try await api.request(.get, path + "?format=md&register=ecec-clients")
            #expect(markdown.contentType?.hasPrefix("text/markdown") == true && markdown.text.hasPrefix("# Tietosuojaseloste"))
            #expect(try await api.request(.get, path, headers: [.accept: "text/markdown"]).text.hasPrefix("# Tietosuojaseloste"))

            #expect(try await api.request(.get, path + "?register=no-such").status == .notFound)
            #expect(try await api.request(.get, "/tenants/no-such-tenant/privacy-notice").status == .notFound)
            #expect(try await api.request(.get, "/tenants/platform/privacy-notice").status == .notFound)
            #expect(try await api.request(.get, path + "?lang=sv").field == "lang")
            #expect(try await api.request(.get, path + "?format=pdf").field == "format")
        }
    }
}
