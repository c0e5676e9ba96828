import EventLog
import Foundation
import Register
import Testing

/// The privacy notice generated from each shipped tenant file: every element its seed notice states, every value
/// the configuration holds, in Finnish and English, as Markdown and as escaped HTML.
@Suite("Privacy notices")
struct PrivacyNoticeTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized
    static let today = try! LocalDate("2026-11-24")

    /// The elements each seed notice (`../shared/seeds/00N_*.txt`) states, as the generated notice's section ids. Every
    /// notice also gets the rest (rights, automated decisions …), which the GDPR requires even where a seed left them out.
    static let seedElements: [String: [String]] = [
        // 000: the municipal ECEC client register (a form with the controller left blank).
        "esimerkkila": ["controller", "register", "purposes", "legal-bases", "data-categories", "sources", "recipients", "transfers", "retention", "security"],
        // 001: Musiikkipäiväkoti Poco.
        "poco-sipoo": ["controller", "contacts", "register", "purposes", "legal-bases", "data-categories", "sources", "recipients", "transfers", "retention",
                       "security", "rights"],
        // 002: Lohja's service vouchers in PSOP.
        "lohja": ["controller", "contacts", "data-protection-officer", "register", "purposes", "legal-bases", "data-categories", "sources", "transfers",
                  "retention", "security", "rights", "automated-decisions"],
        // 003: Pieksämäki's family services.
        "pieksamaki": ["controller", "contacts", "data-protection-officer", "register", "purposes", "legal-bases", "data-categories", "sources", "recipients",
                       "transfers", "retention", "security", "rights"],
        // 004: Lieto's services for families with children.
        "lieto": ["controller", "contacts", "data-protection-officer", "register", "purposes", "legal-bases", "data-categories", "sources", "recipients",
                  "transfers", "retention", "security", "rights", "automated-decisions"],
    ]

    static func configurations() throws -> [TenantConfiguration] {
        try FileManager.default.contentsOfDirectory(atPath: tenantsDirectory.path).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { try TenantFile.load(tenantsDirectory.appendingPathComponent($0)) }
    }

    static func html(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }

    @Test("each seed tenant's notice has every element its seed states, and every value of its configuration, in both languages")
    func everyElement() throws {
        let configurations = try Self.configurations()
        #expect(Set(configurations.map(\.id.rawValue)) == Set(Self.seedElements.keys), "a notice's elements are listed for every shipped tenant")
        for configuration in configurations {
            for register in configuration.registers {
                for language in PrivacyNotice.Language.allCases {
                    let notice = PrivacyNotice(register: register, of: configuration, language: language, generatedOn: Self.today)
                    let where_ = "\(configuration.id) \(register.id) \(language)"
                    let sections = Dictionary(uniqueKeysWithValues: notice.sections.map { ($0.id, $0) })
                    for element in Self.seedElements[configuration.id.rawValue] ?? [] {
                        let section = try #require(sections[element], "\(where_): \(element)")
                        #expect(!(section.paragraphs + section.items + section.notes).isEmpty, "\(where_): \(element) says something")
                    }
                    let all = notice.sections.flatMap { [$0.heading] + $0.paragraphs + $0.items + $0.notes }.joined(separator: "\n")
                    func text(_ value: LocalizedText) -> String { value.text(in: language.rawValue) }
                    var expected = [text(configuration.name), configuration.businessID.description, text(register.name),
                                    text(configuration.dataProtectionOfficer.title)]
                    expected += configuration.dataProtectionOfficer.email.map { [$0] } ?? []
                    expected += configuration.contacts.map { text($0.title) }
                    expected += register.purposes.map(text) + register.sources.map(text) + register.dataCategories.map { text($0.description) }
                    expected += register.legalBases.compactMap(\.statute) + register.legalBases.compactMap { $0.description.map(text) }
                    expected += register.recipients.flatMap { [text($0.name), text($0.purpose)] + ($0.legalBasis.map { [$0] } ?? []) }
                    expected += register.retention.flatMap { [$0.documentClass] + ($0.basis.map { [text($0)] } ?? []) }
                    expected += (configuration.jointControllers ?? []).flatMap { [text($0.name), text($0.responsibilities)] }
                    for value in expected {
                        #expect(all.contains(value), "\(where_): \(value)")
                    }
                    #expect(all.contains(language == .fi ? "ei siirretä EU:n tai ETA:n ulkopuolelle" : "not transferred outside the EU or EEA"))
                    #expect(all.contains("tietosuoja.fi"), "\(where_): where to complain")
                    #expect(notice.sections.first { $0.id == "recipients" }?.notes.contains { $0.contains(language == .fi ? "kieltää" : "forbid") }
                        == (register.scope == .familyServices), "\(where_): the minor's prohibition only in family services")

                    // Rendered: every heading and value, escaped, nothing else of the configuration.
                    let page = notice.html
                    #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("<html lang=\"\(language)\">"))
                    for section in notice.sections {
                        for value in [section.heading] + section.paragraphs + section.items + section.notes {
                            #expect(page.contains(Self.html(value)), "\(where_): HTML has \(value)")
                        }
                    }
                    let markdown = notice.markdown
                    #expect(notice.sections.allSatisfy { markdown.contains("\n## \($0.heading)\n") })
                }
            }
        }
    }

    @Test("values are text, never markup: HTML and Markdown characters in the configuration are escaped")
    func escaping() throws {
        var configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"))
        configuration.registers[0].purposes[0] = LocalizedText(fi: "<script>alert(1)</script> & *tärkeä* [linkki](http://x)")
        let notice = PrivacyNotice(register: configuration.registers[0], of: configuration, language: .fi, generatedOn: Self.today)
        #expect(!notice.html.contains("<script>") && notice.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; *tärkeä*"))
        #expect(notice.markdown.contains(#"\<script\>alert(1)\</script\> & \*tärkeä\* \[linkki\](http://x)"#))
    }
}
