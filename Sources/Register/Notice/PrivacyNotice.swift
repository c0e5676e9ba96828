import EventLog
import Foundation

/// A register's privacy notice (O22), generated from the same tenant configuration the platform enforces: the
/// controller and its contacts, the purposes, legal bases, data categories, sources, recipients, transfers and
/// retention, and the subject's rights and how to use them. Because rules and notice come from one source, the
/// notice cannot say one thing while the platform does another.
///
/// Built as sections of plain text, rendered as Markdown or HTML (escaped), in Finnish or English.
public struct PrivacyNotice: Sendable, Hashable {
    public enum Language: String, Sendable, CaseIterable {
        case fi, en
    }

    public struct Section: Sendable, Hashable {
        /// A stable id (`controller`, `purposes` …), also the section's class in HTML.
        public let id: String
        public let heading: String
        public var paragraphs: [String] = []
        public var items: [String] = []
        /// Paragraphs after the list.
        public var notes: [String] = []
    }

    public let title: String
    public let language: Language
    public let sections: [Section]

    /// The notice of `register` as the configuration states it, in `language`.
    public init(register: RegisterDefinition, of configuration: TenantConfiguration, language: Language, generatedOn date: LocalDate) {
        self.language = language
        let l = Words(language)
        func text(_ value: LocalizedText) -> String { value.text(in: language.rawValue) }
        func contact(_ contact: Contact) -> String {
            var parts = [text(contact.title)]
            if let address = contact.address { parts.append("\(address.street), \(address.postalCode) \(address.city)") }
            if let phone = contact.phone { parts.append("\(l.phone) \(phone)") }
            if let email = contact.email { parts.append(email) }
            return parts.joined(separator: ", ")
        }
        title = "\(l.noticeTitle): \(text(register.name))"
        var sections: [Section] = []

        var controller = Section(id: "controller", heading: l.controller)
        controller.paragraphs.append("\(text(configuration.name)) (\(l.businessID) \(configuration.businessID))")
        if let website = configuration.website { controller.paragraphs.append(website) }
        for joint in configuration.jointControllers ?? [] {
            controller.items.append("\(l.jointController): \(text(joint.name))\(joint.businessID.map { " (\(l.businessID) \($0))" } ?? "") – \(text(joint.responsibilities))")
        }
        sections.append(controller)

        sections.append(Section(id: "contacts", heading: l.contacts, items: configuration.contacts.map(contact)))
        sections.append(Section(id: "data-protection-officer", heading: l.dataProtectionOfficer, paragraphs: [contact(configuration.dataProtectionOfficer)]))
        sections.append(Section(id: "register", heading: l.registerName, paragraphs: [text(register.name)]))
        sections.append(Section(id: "purposes", heading: l.purposes, items: register.purposes.map(text)))
        sections.append(Section(id: "legal-bases", heading: l.legalBases, items: register.legalBases.map { basis in
            var parts = [l.gdprBasis(basis.basis)]
            if let statute = basis.statute { parts.append(statute) }
            if let description = basis.description { parts.append(text(description)) }
            return parts.joined(separator: " – ")
        }))
        sections.append(Section(id: "data-categories", heading: l.dataCategories, items: register.dataCategories.map {
            text($0.description) + ($0.special == true ? " (\(l.special))" : "")
        }))
        sections.append(Section(id: "sources", heading: l.sources, items: register.sources.map(text)))

        var recipients = Section(id: "recipients", heading: l.recipients)
        recipients.paragraphs.append(l.noDisclosureByDefault)
        recipients.items = register.recipients.map { recipient in
            let basis = recipient.requiresConsent == true ? l.withConsent : (recipient.legalBasis ?? "")
            return "\(text(recipient.name)): \(text(recipient.purpose)) (\(basis))"
        }
        recipients.notes.append(l.protectedAddresses)
        recipients.notes.append(l.provenance)
        if register.scope == .familyServices { recipients.notes.append(l.minorsProhibition) }
        sections.append(recipients)

        sections.append(Section(id: "transfers", heading: l.transfers,
                                paragraphs: [register.transfersOutsideEEA ? l.transfersYes : l.transfersNo]))
        sections.append(Section(id: "retention", heading: l.retention, paragraphs: [l.retentionEnforced], items: register.retention.map { rule in
            var parts = ["\(rule.documentClass): " + l.period(rule)]
            if let days = rule.keepPermanentlyIfBornOnDays, !days.isEmpty { parts.append(l.bornOnDays(days)) }
            if let basis = rule.basis { parts.append(text(basis)) }
            parts.append(l.validity(rule.validFrom, rule.validUntil))
            return parts.joined(separator: "; ")
        }))
        sections.append(Section(id: "automated-decisions", heading: l.automatedDecisions,
                                paragraphs: [register.automatedDecisions ? l.automatedYes : l.automatedNo, register.marketing ? l.marketingYes : l.marketingNo]))
        sections.append(Section(id: "security", heading: l.security, items: l.securityPrinciples))
        sections.append(Section(id: "rights", heading: l.rights, paragraphs: [l.howToUse(contact(configuration.dataProtectionOfficer))],
                                items: l.rightsList(consent: register.legalBases.contains { $0.basis == .consent } || register.recipients.contains { $0.requiresConsent == true })))
        sections.append(Section(id: "generated", heading: l.aboutNotice, paragraphs: [l.generated(date)]))
        self.sections = sections
    }

    // MARK: Rendering

    public var markdown: String {
        var text = "# \(Self.markdownEscaped(title))\n"
        for section in sections {
            var blocks = section.paragraphs.map(Self.markdownEscaped)
            if !section.items.isEmpty { blocks.append(section.items.map { "- " + Self.markdownEscaped($0) }.joined(separator: "\n")) }
            blocks += section.notes.map(Self.markdownEscaped)
            text += "\n## \(Self.markdownEscaped(section.heading))\n\n" + blocks.joined(separator: "\n\n") + "\n"
        }
        return text
    }

    /// The notice as a page of its own.
    public var html: String { Self.htmlPage([self], language: language) }

    /// One HTML page holding `notices` (a tenant's registers), one after the other.
    public static func htmlPage(_ notices: [PrivacyNotice], language: Language) -> String {
        let title = notices.count == 1 ? notices[0].title : notices.map(\.title).joined(separator: " · ")
        var text = """
            <!DOCTYPE html>
            <html lang="\(language.rawValue)">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>\(htmlEscaped(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5}h2{margin-top:2rem}</style></head>
            <body>

            """
        for notice in notices {
            text += "<article>\n<h1>\(htmlEscaped(notice.title))</h1>\n"
            for section in notice.sections {
                text += "<section class=\"\(section.id)\">\n<h2>\(htmlEscaped(section.heading))</h2>\n"
                for paragraph in section.paragraphs { text += "<p>\(htmlEscaped(paragraph))</p>\n" }
                if !section.items.isEmpty {
                    text += "<ul>\n" + section.items.map { "<li>\(htmlEscaped($0))</li>\n" }.joined() + "</ul>\n"
                }
                for note in section.notes { text += "<p>\(htmlEscaped(note))</p>\n" }
                text += "</section>\n"
            }
            text += "</article>\n"
        }
        return text + "</body>\n</html>\n"
    }

    /// Text for HTML: the five characters markup could read escaped (also the access report's page).
    public static func htmlEscaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Characters Markdown would read as markup (the configuration is text, never markup).
    static func markdownEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\`*_[]<>#|".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

/// The notice's fixed wording in one language.
private struct Words {
    let fi: Bool
    init(_ language: PrivacyNotice.Language) { fi = language == .fi }
    func t(_ finnish: String, _ english: String) -> String { fi ? finnish : english }

    var noticeTitle: String { t("Tietosuojaseloste", "Privacy notice") }
    var controller: String { t("Rekisterinpitäjä", "Controller") }
    var businessID: String { t("Y-tunnus", "business ID") }
    var jointController: String { t("Yhteisrekisterinpitäjä", "Joint controller") }
    var contacts: String { t("Yhteystiedot", "Contacts") }
    var phone: String { t("puh.", "tel.") }
    var dataProtectionOfficer: String { t("Tietosuojavastaava", "Data protection officer") }
    var registerName: String { t("Rekisterin nimi", "Name of the register") }
    var purposes: String { t("Henkilötietojen käsittelyn tarkoitukset", "Purposes of processing") }
    var legalBases: String { t("Käsittelyn oikeusperusteet", "Legal bases of processing") }
    var dataCategories: String { t("Rekisterin tietosisältö", "Categories of personal data") }
    var special: String { t("erityinen henkilötietoryhmä", "a special category of personal data") }
    var sources: String { t("Säännönmukaiset tietolähteet", "Regular sources of data") }
    var recipients: String { t("Tietojen säännönmukaiset luovutukset", "Regular disclosures of data") }
    var withConsent: String { t("asiakkaan suostumuksella", "with the client's consent") }
    var noDisclosureByDefault: String {
        t("Tietoja luovutetaan vain asiakkaan suostumuksella tai lakiin perustuen. Säännönmukaiset vastaanottajat ja luovutusten perusteet:",
          "Data is disclosed only with the client's consent or on a basis in law. Regular recipients and the bases of disclosure:")
    }
    var protectedAddresses: String {
        t("Turvakiellon alaisen henkilön osoite-, kotikunta- ja yhteystietoja ei luovuteta eikä näytetä muille kuin niihin oikeutetuille.",
          "The address, home municipality and contact details of a person under a non-disclosure order are neither disclosed nor shown to anyone not entitled to them.")
    }
    var provenance: String {
        t("Jokainen luovutus kirjataan: kenelle, milloin, mitä tietoja ja millä perusteella.",
          "Every disclosure is recorded: to whom, when, which data and on what basis.")
    }
    var minorsProhibition: String {
        t("Alaikäinen voi painavasta syystä kieltää tietojensa antamisen lailliselle edustajalleen; kielto estää tietojen antamisen tälle huoltajalle.",
          "A minor may, for a weighty reason, forbid disclosing their data to their legal representative; the prohibition stops disclosure to that guardian.")
    }
    var transfers: String { t("Tietojen siirto EU:n tai ETA:n ulkopuolelle", "Transfers outside the EU or EEA") }
    var transfersNo: String { t("Tietoja ei siirretä EU:n tai ETA:n ulkopuolelle.", "Data is not transferred outside the EU or EEA.") }
    var transfersYes: String { t("Tietoja siirretään EU:n tai ETA:n ulkopuolelle.", "Data is transferred outside the EU or EEA.") }
    var retention: String { t("Tietojen säilytysajat", "Retention periods") }
    var retentionEnforced: String {
        t("Säilytysajan päätyttyä tiedot hävitetään tai anonymisoidaan; oikeudellinen pito keskeyttää säilytysajan kulumisen.",
          "When a retention period ends, the data is erased or anonymised; a legal hold stops the clock.")
    }
    var automatedDecisions: String { t("Automaattinen päätöksenteko ja suoramarkkinointi", "Automated decisions and direct marketing") }
    var automatedNo: String { t("Tietoja ei käytetä automaattiseen päätöksentekoon eikä profilointiin.", "The data is not used for automated decisions or profiling.") }
    var automatedYes: String { t("Tietoja käytetään automaattiseen päätöksentekoon.", "The data is used for automated decisions.") }
    var marketingNo: String { t("Tietoja ei luovuteta suoramarkkinointiin.", "The data is not disclosed for direct marketing.") }
    var marketingYes: String { t("Tietoja luovutetaan suoramarkkinointiin.", "The data is disclosed for direct marketing.") }
    var security: String { t("Rekisterin suojauksen periaatteet", "How the register is protected") }
    var securityPrinciples: [String] {
        [t("Tietoja käsittelevät vain ne, joiden tehtävät sitä edellyttävät, ja vain siinä laajuudessa kuin tehtävät edellyttävät.",
           "Only those whose tasks require it process the data, and only as far as their tasks require."),
         t("Jokainen henkilötietojen käyttö kirjataan käyttölokiin.", "Every use of personal data is recorded in an access log."),
         t("Henkilötiedot tallennetaan salattuina, ja rekisterin muutoshistoria on muuttumaton.",
           "Personal data is stored encrypted, and the register's history of changes cannot be altered.")]
    }
    var rights: String { t("Rekisteröidyn oikeudet ja niiden käyttäminen", "Your rights and how to use them") }
    func howToUse(_ contact: String) -> String {
        t("Oikeuksiaan voi käyttää ottamalla yhteyttä rekisterinpitäjän tietosuojavastaavaan: \(contact).",
          "To use your rights, contact the controller's data protection officer: \(contact).")
    }
    func rightsList(consent: Bool) -> [String] {
        var list = [
            t("Oikeus tarkastaa itseään koskevat tiedot.", "The right of access to the data about you."),
            t("Oikeus vaatia virheellisen tiedon korjaamista; korjauksesta ilmoitetaan niille, joille virheellinen tieto on luovutettu.",
              "The right to have inaccurate data rectified; those who received the inaccurate data are told of the rectification."),
            t("Oikeus vaatia tietojen poistamista siltä osin kuin laki ei velvoita niiden säilyttämiseen.",
              "The right to have data erased, as far as the law does not require keeping it."),
            t("Oikeus vaatia käsittelyn rajoittamista ja vastustaa käsittelyä.", "The right to restriction of processing and to object to processing."),
        ]
        if consent {
            list.append(t("Oikeus peruuttaa suostumus milloin tahansa; peruutus ei vaikuta aiemman käsittelyn lainmukaisuuteen.",
                          "The right to withdraw consent at any time, without affecting the lawfulness of earlier processing."))
        }
        list.append(t("Oikeus tehdä valitus valvontaviranomaiselle, tietosuojavaltuutetun toimistolle (tietosuoja.fi).",
                      "The right to lodge a complaint with the supervisory authority, the Office of the Data Protection Ombudsman (tietosuoja.fi)."))
        return list
    }
    var aboutNotice: String { t("Tästä selosteesta", "About this notice") }
    func generated(_ date: LocalDate) -> String {
        t("Seloste on muodostettu \(date) rekisterinpitäjän voimassa olevista asetuksista, joiden mukaan järjestelmä myös toimii.",
          "This notice was generated on \(date) from the controller's configuration in force, the same configuration the system enforces.")
    }

    func gdprBasis(_ basis: GDPRBasis) -> String {
        switch basis {
        case .consent: t("Suostumus (tietosuoja-asetus 6 art. 1 a)", "Consent (GDPR Art. 6(1)(a))")
        case .contract: t("Sopimus (6 art. 1 b)", "Contract (GDPR Art. 6(1)(b))")
        case .legalObligation: t("Lakisääteinen velvoite (6 art. 1 c)", "Legal obligation (GDPR Art. 6(1)(c))")
        case .vitalInterests: t("Elintärkeä etu (6 art. 1 d)", "Vital interests (GDPR Art. 6(1)(d))")
        case .publicTask: t("Yleisen edun mukainen tehtävä tai julkisen vallan käyttö (6 art. 1 e)", "Public task (GDPR Art. 6(1)(e))")
        case .legitimateInterests: t("Oikeutettu etu (6 art. 1 f)", "Legitimate interests (GDPR Art. 6(1)(f))")
        }
    }

    func period(_ rule: RetentionRule) -> String {
        if rule.permanent == true { return t("säilytetään pysyvästi", "kept permanently") }
        guard let period = rule.period else { return "" }
        var parts: [String] = []
        if period.years > 0 { parts.append(t("\(period.years) vuotta", "\(period.years) years")) }
        if period.months > 0 { parts.append(t("\(period.months) kuukautta", "\(period.months) months")) }
        if period.days > 0 { parts.append(t("\(period.days) päivää", "\(period.days) days")) }
        var text = parts.joined(separator: " ")
        if let from = rule.from { text += " " + anchor(from) }
        switch rule.action {
        case .anonymise?: text += t(", sitten anonymisoidaan", ", then anonymised")
        case .erase?: text += t(", sitten hävitetään", ", then erased")
        case nil: break
        }
        return text
    }

    func anchor(_ anchor: RetentionAnchor) -> String {
        switch anchor {
        case .careEnded: t("hoidon päättymisestä", "after care ends")
        case .serviceEnded: t("palvelun päättymisestä", "after the service ends")
        case .lastServiceEvent: t("viimeisestä palvelutapahtumasta", "after the last service event")
        case .caseClosed: t("asian päättymisestä", "after the case closes")
        case .birth: t("lapsen syntymästä", "from the child's birth")
        case .death: t("kuolemasta", "after death")
        case .recorded: t("kirjaamisesta", "from when it was recorded")
        }
    }

    func bornOnDays(_ days: [Int]) -> String {
        let list = days.map(String.init).joined(separator: ", ")
        return t("kuukauden \(list). päivänä syntyneiden tiedot säilytetään pysyvästi", "data of persons born on day \(list) of a month is kept permanently")
    }

    func validity(_ from: LocalDate, _ until: LocalDate?) -> String {
        if let until { return t("voimassa \(from)–\(until)", "in force \(from) to \(until)") }
        return t("voimassa \(from) alkaen", "in force from \(from)")
    }
}
