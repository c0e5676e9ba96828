import EventLog
import Foundation
import Hummingbird
import Register

// Retention and erasure over HTTP (O16–O18): the plan (a dry run) and legal holds for the roles that manage
// retention (retention.manage: the archivist); erasure requests for the roles that handle subjects' requests
// (subject-requests.manage: the data-protection officer). `register retention run` and the scheduled pass in
// `register serve` do the erasing that retention calls for.

struct LegalHoldChange: Decodable {
    var reason: String
}

struct ErasureRequestBody: Decodable {
    /// Who asked, when not the subject themself (a guardian, trustee or representative).
    var requester: UUID?
}

struct ErasureView: Encodable {
    /// `erased` or `refused`.
    var outcome: String
    /// The position of the `SubjectErased` event.
    var position: Int64?
    var reasons: [ErasureRefused.Reason]
}

extension RegisterAPI {
    func addRetentionRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("retention/plan") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.retentionManage)
            var date = LocalDate.today(at: self.now())
            if let text = request.uri.queryParameters.get("at") {
                guard let parsed = try? LocalDate(String(text)) else {
                    throw Problem(status: .badRequest, code: "invalid-field", detail: "at is a date, YYYY-MM-DD.", field: "at")
                }
                date = parsed
            }
            let plan = try await registry.retentionPlan(in: caller.tenant, registers: caller.grants.configuration.registers, on: date)
            // The plan names people by id only; its reading is logged like any list of people.
            try await recordAccess(caller, plan.map { ($0.person, .view, "retention/plan") })
            return try Response.json(RetentionPlanReport(tenant: caller.tenant.description, on: date, plan: plan))
        }

        tenant.post("people/:person/legal-hold") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.retentionManage)
            let person = try personID(context)
            let body = try await decodeBody(LegalHoldChange.self, from: request, context: context)
            try await registry.placeLegalHold(on: person, reason: body.reason, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/legal-hold")])
            return Response(status: .created)
        }

        tenant.delete("people/:person/legal-hold") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.retentionManage)
            let person = try personID(context)
            let body = try await decodeBody(LegalHoldChange.self, from: request, context: context)
            try await registry.liftLegalHold(on: person, reason: body.reason, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/legal-hold")])
            return Response(status: .noContent)
        }

        tenant.post("people/:person/erasure-requests") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.subjectRequestsManage)
            let person = try personID(context)
            let body = try await decodeBody(ErasureRequestBody.self, from: request, context: context)
            guard let structure = try? await registry.personStructure(person, in: caller.tenant) else { throw Problem.notFound }
            let requester = body.requester.map(PersonID.init)
            if let requester, requester != person, !structure.isLinked(requester, as: [.guardian, .trustee, .representative]) {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "requester is the person or their guardian, trustee or representative.",
                              field: "requester")
            }
            let outcome = try await registry.requestErasure(of: person, requester: requester, registers: caller.grants.configuration.registers,
                                                            in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/erasure")])
            switch outcome {
            case .erased(let position):
                return try Response.json(ErasureView(outcome: "erased", position: position.rawValue, reasons: []))
            case .refused(let reasons):
                return try Response.json(ErasureView(outcome: "refused", position: nil, reasons: reasons))
            }
        }
    }
}

/// The plan as JSON: one entry per person.
public struct RetentionPlanReport: Encodable, Sendable {
    public var tenant: String
    public var on: LocalDate
    public var plan: [Entry]

    public init(tenant: String, on date: LocalDate, plan: [SubjectRetention]) {
        self.tenant = tenant
        self.on = date
        self.plan = plan.map { Entry(person: $0.person.description, kind: $0.kind.rawValue, verdict: Self.verdict($0, on: date),
                                     dueOn: $0.status?.dueDate, classes: $0.classes.map(ClassRow.init)) }
    }

    public struct Entry: Encodable, Sendable {
        var person: String
        var kind: String
        /// `due`, `kept`, `legal-hold`, `restricted`, `no-rule` or `erased`.
        var verdict: String
        var dueOn: LocalDate?
        var classes: [ClassRow]
    }

    public struct ClassRow: Encodable, Sendable {
        public var register: String
        public var documentClass: String
        public var rule: String
        public var from: String
        public var anchorDate: String?
        /// A date, `permanent`, `born-on-sampling-day`, or why the clock has not started.
        public var until: String
        /// Whose records decide it, when they are a child's the person is linked to.
        public var through: String?

        public init(_ entry: ClassRetention) {
            register = entry.register
            documentClass = entry.rule.documentClass
            rule = "valid from \(entry.rule.validFrom)" + (entry.rule.permanent == true ? ", permanent" : entry.rule.period.map { ", \($0)" } ?? "")
                + ((entry.rule.action).map { ", \($0.rawValue)" } ?? "")
            from = (entry.rule.from ?? .recorded).rawValue
            anchorDate = entry.anchorDate?.description
            until = entry.status.dueDate?.description ?? entry.status.code
            through = entry.through?.description
        }
    }

    public static func verdict(_ subject: SubjectRetention, on date: LocalDate) -> String {
        if subject.erased { return "erased" }
        if subject.held { return "legal-hold" }
        if subject.restricted { return "restricted" }
        guard subject.status != nil else { return "no-rule" }
        return subject.isDue(on: date) ? "due" : "kept"
    }
}
