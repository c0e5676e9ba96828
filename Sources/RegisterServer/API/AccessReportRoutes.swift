import EventLog
import Foundation
import Hummingbird
import Projections
import Register

// The right of access (O19): everything the tenant stores about a person — their data opened from the log, their
// read-model rows, the disclosures of their data and a summary of the access log — as JSON or as a printable HTML
// page in Finnish or English, or the statement that nothing is stored. For the roles that handle subjects' requests
// (subject-requests.manage, tenant-wide: the data-protection officer). Producing it is recorded
// (AccessReportProduced), and a refusal on legal grounds keeps its written explanation (AccessReportRefused).
// The same roles restrict processing and lift restrictions (O21).

struct AccessReportRequest: Decodable {
    /// The person, by id…
    var person: UUID?
    /// …or by identity code (in the body, never in a URL).
    var identityCode: String?
    /// Whom the report is for, when not the subject themself.
    var requester: UUID?
    /// `json` (default) or `html`.
    var format: String?
    /// `fi` (default) or `en`, for the HTML page.
    var lang: String?
}

struct NewRestriction: Decodable {
    var grounds: RestrictionGrounds
    var reason: String
}

struct LiftedRestriction: Decodable {
    var reason: String
}

struct AccessReportRefusal: Decodable {
    var person: UUID
    var requester: UUID?
    var explanation: String
}

struct AccessReportView: Encodable {
    var subject: String?
    var producedAt: String
    var requester: String?
    /// True when the tenant stores nothing about the person asked for.
    var nothingStored: Bool
    /// Less than a year since the previous report: a reasonable fee may be charged (GDPR Art. 12(5)).
    var feeMayApply: Bool
    var previousReport: String?
    var person: PersonData?
    /// Every event of the log about the person, their sealed fields opened (another person's never).
    var events: [EventData]
    /// Their rows in the read models.
    var readModels: [RegisterReadModels.RowAbout]
    /// Every disclosure that carried their data.
    var disclosures: [DisclosureView]
    /// The access log about them, summarised: who (by role) used the data, how, for what, how often, first and last.
    var uses: [UseSummary]

    struct PersonData: Encodable {
        var kind: String
        var details: PersonDetails?
        var erased: Bool
        var nonDisclosure: Bool
        /// A restriction of processing in force.
        var restriction: RestrictionView?
        var relationships: [[String: String]]
    }

    struct EventData: Encodable {
        var position: Int64
        var recordedAt: String
        var type: String
        var stream: String
        var data: JSONValue
    }

    struct UseSummary: Encodable {
        var role: String
        var action: String
        var purpose: String
        var count: Int
        var first: String
        var last: String
    }
}

extension RegisterAPI {
    func addAccessReportRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("access-reports") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.subjectRequestsManage)
            let body = try await decodeBody(AccessReportRequest.self, from: request, context: context)
            let format = body.format ?? "json"
            guard ["json", "html"].contains(format) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "format is json or html.", field: "format")
            }
            guard let language = PrivacyNotice.Language(rawValue: body.lang ?? "fi") else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "lang is fi or en.", field: "lang")
            }
            guard (body.person == nil) != (body.identityCode == nil) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "Name the person by person or by identityCode, one of the two.", field: "person")
            }
            var subject = body.person.map(PersonID.init)
            if let code = body.identityCode {
                guard let parsed = try? IdentityCode(code, today: self.now()) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "identityCode is not a valid personal identity code.", field: "identityCode")
                }
                subject = try await registry.person(withIdentityCode: parsed.value, in: caller.tenant)
            }
            let now = Timestamp(self.now()).description
            var structure: PersonRecord?
            if let subject {
                do {
                    structure = try await registry.personStructure(subject, in: caller.tenant)
                } catch let error as DomainError where error.kind == .notFound {
                    structure = nil  // Any other failure is an error, never "nothing is stored".
                }
            }
            guard let subject, let structure else {
                // Nothing stored: the statement, and nothing recorded about a person the register does not hold.
                let empty = AccessReportView(subject: nil, producedAt: now, requester: nil, nothingStored: true, feeMayApply: false, previousReport: nil, person: nil,
                                             events: [], readModels: [], disclosures: [], uses: [])
                return try reportResponse(empty, format: format, language: language)
            }
            let requester = body.requester.map(PersonID.init)
            try await checkRequester(requester, of: structure, caller, channel: "access-report")
            let record = try await registry.person(subject, in: caller.tenant)
            // For someone acting for the subject, a non-disclosure order still hides the protected fields (O15).
            let hideProtected = requester != nil && requester != subject && record.nonDisclosure
            var events: [AccessReportView.EventData] = []
            for event in try await registry.events(about: subject, in: caller.tenant) {
                var data = try await storage.keyRing.openedPayload(of: event, for: subject)
                if event.eventType == DataDisclosed.eventType { data = try Self.withEventsListed(data, payload: event.payload) }
                if [DataDisclosed.eventType, DisclosureRefused.eventType].contains(event.eventType) {
                    data = Self.onlyAbout(subject, data)
                }
                events.append(.init(position: event.position.rawValue, recordedAt: event.recordedAt.description, type: event.eventType,
                                    stream: "\(event.stream.type)/\(event.stream.id)", data: hideProtected ? Self.withoutProtected(data) : data))
            }
            let rows = try await readModels.rows(about: subject, tenant: caller.tenant).map {
                hideProtected ? RegisterReadModels.RowAbout(projection: $0.projection, table: $0.table, columns: $0.columns.mapValues(Self.withoutProtected)) : $0
            }
            let disclosures = try await DisclosureRecords(store: storage.store).disclosures(of: subject, in: caller.tenant).map { DisclosureView($0, only: subject) }
            var uses: [String: AccessReportView.UseSummary] = [:]
            for entry in try await storage.accessLog.entries(of: subject, in: caller.tenant) {
                let key = "\(entry.entry.actor.role)|\(entry.entry.action)|\(entry.entry.purpose)"
                let at = entry.recordedAt.description
                if var summary = uses[key] {
                    summary.count += 1
                    summary.last = at
                    uses[key] = summary
                } else {
                    uses[key] = .init(role: entry.entry.actor.role, action: "\(entry.entry.action)", purpose: entry.entry.purpose, count: 1, first: at, last: at)
                }
            }
            let details = hideProtected ? record.details?.withoutProtectedFields() : record.details
            let (feeMayApply, previous) = try await registry.recordAccessReport(of: subject, requester: requester, format: format, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(subject, .export, "person/\(subject)/access-report")])
            let report = AccessReportView(
                subject: subject.description, producedAt: now, requester: requester?.description, nothingStored: false, feeMayApply: feeMayApply,
                previousReport: previous?.description,
                person: .init(kind: record.kind.rawValue, details: details, erased: record.isErased, nonDisclosure: record.nonDisclosure,
                              restriction: try await registry.restrictions(in: caller.tenant)[subject].map(RestrictionView.init),
                              relationships: record.relationships.map { ["person": $0.person.description, "kind": $0.kind.rawValue] }),
                events: events, readModels: rows, disclosures: disclosures, uses: uses.values.sorted { ($0.first, $0.role) < ($1.first, $1.role) })
            return try reportResponse(report, format: format, language: language)
        }

        tenant.post("access-reports/refusals") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.subjectRequestsManage)
            let body = try await decodeBody(AccessReportRefusal.self, from: request, context: context)
            let subject = PersonID(body.person)
            guard let structure = try? await registry.personStructure(subject, in: caller.tenant) else { throw Problem.notFound }
            if let requester = body.requester.map(PersonID.init), requester != subject,
               !structure.isLinked(requester, as: [.guardian, .trustee, .representative]) {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "requester is the person or their guardian, trustee or representative.",
                              field: "requester")
            }
            try await registry.refuseAccessReport(of: subject, requester: body.requester.map(PersonID.init), explanation: body.explanation,
                                                  in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(subject, .change, "person/\(subject)/access-report")])
            return Response(status: .created)
        }
    }

    func addRestrictionRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("people/:person/restriction") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.subjectRequestsManage)
            let person = try personID(context)
            let body = try await decodeBody(NewRestriction.self, from: request, context: context)
            try await registry.restrict(person, grounds: body.grounds, reason: body.reason, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/restriction")])
            return Response(status: .created)
        }

        tenant.delete("people/:person/restriction") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.subjectRequestsManage)
            let person = try personID(context)
            let body = try await decodeBody(LiftedRestriction.self, from: request, context: context)
            try await registry.liftRestriction(of: person, reason: body.reason, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/restriction")])
            return Response(status: .noContent)
        }
    }

    /// A disclosure record (or refusal) as far as it concerns `subject`: one hand-over often covers many people, and
    /// the report names no one else.
    /// A disclosure record as its subject reads it: every event listed with its type, subject and fields, as version
    /// 1 stored them (version 2 stores them grouped, see `DataDisclosed`), so that `onlyAbout` can keep the subject's.
    static func withEventsListed(_ value: JSONValue, payload: Data) throws -> JSONValue {
        guard case .object(var fields) = value, fields["eventGroups"] != nil else { return value }
        let disclosure = try JSONDecoder().decode(DataDisclosed.self, from: payload)
        fields["events"] = try JSONDecoder().decode(JSONValue.self, from: SortedJSONEncoder().encode(disclosure.events))
        fields.removeValue(forKey: "eventGroups")
        fields.removeValue(forKey: "otherSubjects")
        return .object(fields)
    }

    static func onlyAbout(_ subject: PersonID, _ value: JSONValue) -> JSONValue {
        guard case .object(var fields) = value else { return value }
        let id = JSONValue.string(subject.description)
        if case .array(let subjects)? = fields["subjects"] {
            // A refusal's detail may name another person of the same request (and why): kept only when it was about
            // this subject alone.
            if subjects.contains(where: { $0 != id }) { fields.removeValue(forKey: "detail") }
            fields["subjects"] = .array(subjects.filter { $0 == id })
        }
        if case .array(let events)? = fields["events"] {
            fields["events"] = .array(events.filter { if case .object(let event) = $0 { return event["subject"] == id } else { return false } })
        }
        return .object(fields)
    }

    /// The fields a non-disclosure order protects, removed wherever they appear in an opened payload or row.
    static func withoutProtected(_ value: JSONValue) -> JSONValue {
        let protected = Set(FeedField.protected.map(\.rawValue))
        switch value {
        case .object(let fields):
            return .object(fields.filter { !protected.contains($0.key) }.mapValues(withoutProtected))
        case .array(let values):
            return .array(values.map(withoutProtected))
        default:
            return value
        }
    }

    func reportResponse(_ report: AccessReportView, format: String, language: PrivacyNotice.Language) throws -> Response {
        if format == "json" { return try Response.json(report, status: report.nothingStored ? .ok : .created) }
        let html = AccessReportPage(report: report, language: language).html
        return Response(status: report.nothingStored ? .ok : .created,
                        headers: [.contentType: "text/html; charset=utf-8", .contentLanguage: language.rawValue, .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The access report as a printable page.
struct AccessReportPage {
    let report: AccessReportView
    let language: PrivacyNotice.Language

    func t(_ finnish: String, _ english: String) -> String { language == .fi ? finnish : english }

    static func escaped(_ text: String) -> String { PrivacyNotice.htmlEscaped(text) }

    /// A JSON value as readable text: `key: value` pairs, nested in parentheses.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "–"
        case .bool(let value): return value ? "✓" : "✗"
        case .int(let value): return "\(value)"
        case .double(let value): return "\(value)"
        case .string(let value): return value
        case .array(let values): return values.map(text).joined(separator: ", ")
        case .object(let fields):
            if fields["$otherPerson"] != nil { return "(…)" }
            if fields["$erased"] != nil { return "(erased)" }
            return fields.sorted { $0.key < $1.key }.map { "\($0.key): \(text($0.value))" }.joined(separator: "; ")
        }
    }

    var html: String {
        var body = ""
        func table(_ headings: [String], _ rows: [[String]]) {
            body += "<table><thead><tr>" + headings.map { "<th>\(Self.escaped($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            for row in rows { body += "<tr>" + row.map { "<td>\(Self.escaped($0))</td>" }.joined() + "</tr>\n" }
            body += "</tbody></table>\n"
        }
        let title = t("Tietopyyntö: rekisteröidyn tiedot", "Subject access report")
        body += "<h1>\(Self.escaped(title))</h1>\n<p>\(Self.escaped(t("Muodostettu", "Produced"))) \(Self.escaped(report.producedAt))</p>\n"
        if report.nothingStored {
            body += "<p>\(Self.escaped(t("Rekisterissä ei ole tietoja tästä henkilöstä.", "The register holds no data about this person.")))</p>\n"
        } else {
            if report.feeMayApply {
                body += "<p>\(Self.escaped(t("Edellisestä tietopyynnöstä on alle vuosi (\(report.previousReport ?? "")); kohtuullinen maksu voidaan periä.", "Less than a year has passed since the previous report (\(report.previousReport ?? "")); a reasonable fee may be charged.")))</p>\n"
            }
            if let person = report.person {
                body += "<h2>\(Self.escaped(t("Henkilötiedot", "Personal data")))</h2>\n"
                var rows: [[String]] = [[t("Laji", "Kind"), person.kind]]
                if let details = person.details, let data = try? JSONEncoder().encode(details), let value = try? JSONDecoder().decode(JSONValue.self, from: data),
                   case .object(let fields) = value {
                    rows += fields.sorted { $0.key < $1.key }.map { [$0.key, Self.text($0.value)] }
                }
                if person.erased { rows.append([t("Poistettu", "Erased"), "✓"]) }
                if person.nonDisclosure { rows.append([t("Turvakielto", "Non-disclosure order"), "✓"]) }
                if let restriction = person.restriction {
                    rows.append([t("Käsittelyä rajoitettu", "Processing restricted"), "\(restriction.grounds.rawValue), \(restriction.since)"])
                }
                table([t("Tieto", "Field"), t("Arvo", "Value")], rows)
            }
            body += "<h2>\(Self.escaped(t("Tapahtumat", "Events")))</h2>\n"
            table(["#", t("Aika", "When"), t("Tapahtuma", "Event"), t("Tiedot", "Data")],
                  report.events.map { ["\($0.position)", $0.recordedAt, $0.type, Self.text($0.data)] })
            body += "<h2>\(Self.escaped(t("Koosteet", "Read models")))</h2>\n"
            table([t("Taulu", "Table"), t("Tiedot", "Data")], report.readModels.map { ["\($0.projection).\($0.table)", Self.text(.object($0.columns))] })
            body += "<h2>\(Self.escaped(t("Luovutukset", "Disclosures")))</h2>\n"
            table([t("Aika", "When"), t("Vastaanottaja", "Recipient"), t("Peruste", "Basis"), t("Tiedot", "Fields")],
                  report.disclosures.map { [$0.at, $0.recipient, $0.legalBasis ?? ($0.consentPurpose.map { t("suostumus: ", "consent: ") + $0 } ?? ""),
                                            $0.fields.map(\.rawValue).joined(separator: ", ")] })
            body += "<h2>\(Self.escaped(t("Tietojen käyttö", "Uses of the data")))</h2>\n"
            table([t("Rooli", "Role"), t("Toiminto", "Action"), t("Tarkoitus", "Purpose"), t("Kertaa", "Times"), t("Ensimmäinen", "First"), t("Viimeisin", "Last")],
                  report.uses.map { [$0.role, $0.action, $0.purpose, "\($0.count)", $0.first, $0.last] })
        }
        return """
            <!DOCTYPE html>
            <html lang="\(language.rawValue)">
            <head><meta charset="utf-8"><title>\(Self.escaped(title))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:1.5rem}td,th{border:1px solid #999;padding:.25rem .5rem;text-align:left;vertical-align:top}@media print{body{margin:0}}</style></head>
            <body>
            \(body)</body>
            </html>

            """
    }
}
