import EventLog
import Foundation
import Hummingbird
import Register

// Client fees over HTTP (O23): fee families, incomes, fee decisions with their explanation, and invoices. Reading
// needs fees.read tenant-wide (billing, the director), changing needs fees.write (billing). Every read of a family's
// data is logged for each member; incomes are sealed in the log and shown only here.

struct NewFeeFamily: Decodable {
    var adults: [UUID]
    var children: [UUID]
    var validFrom: LocalDate
    var source: DataSource?
}

struct NewComposition: Decodable {
    var adults: [UUID]
    var children: [UUID]
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var source: DataSource?
}

struct NewIncome: Decodable {
    /// Gross earned income a month, cents.
    var earnedCents: Int?
    var capitalCents: Int?
    var acceptsMaximumFee: Bool?
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var source: DataSource?
}

struct FeeFamilyCreated: Encodable {
    var id: String
    var number: Int64
}

struct FeeFamilyView: Encodable {
    var id: String
    var number: Int64
    var compositions: [Composition]
    var decisions: [FeeDecisionView]
    var invoices: [InvoiceView]

    struct Composition: Encodable {
        var validFrom: LocalDate
        var validUntil: LocalDate?
        var adults: [String]
        var children: [String]
        var source: DataSource
    }

    init(_ family: FeeFamilyRecord) {
        id = family.id.lowercasedString
        number = family.number
        compositions = family.compositions.map {
            Composition(validFrom: $0.validFrom, validUntil: $0.validUntil, adults: $0.adults.map(\.description), children: $0.children.map(\.description),
                        source: $0.source)
        }
        decisions = family.decisions.map(FeeDecisionView.init)
        invoices = family.invoices.map(InvoiceView.init)
    }
}

struct FeeDecisionView: Encodable {
    var id: String
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var status: FeeDecisionStatus
    var reason: String?
    var payer: String?
    /// The month's fees together, euros (status fee).
    var total: Int?
    /// Every step of the act's formula and its inputs (status fee).
    var calculation: FeeCalculation?
    var recordedAt: String
    var position: Int64

    init(_ decision: FeeDecision) {
        id = decision.id.lowercasedString
        validFrom = decision.validFrom
        validUntil = decision.validUntil
        status = decision.status
        reason = decision.reason
        payer = decision.payer?.description
        total = decision.calculation?.total
        calculation = decision.calculation
        recordedAt = decision.recordedAt.description
        position = decision.position.rawValue
    }
}

struct InvoiceView: Encodable {
    var id: String
    var number: String
    var kind: InvoiceKind
    var month: BillingMonth
    var issued: LocalDate
    var due: LocalDate
    var reference: String
    var internationalReference: String
    var payer: String
    var totalCents: Int?
    var lines: [Line]?
    var position: Int64

    /// An invoice line with its ids written as everywhere else in the API (lower case).
    struct Line: Encodable {
        var child: String
        var period: BillingMonth
        var rule: ChargeRule
        var monthlyFee: Int
        var operationalDays: Int
        var careDays: Int
        var sickDays: Int
        var absentDays: Int
        var dueCents: Int
        var billedBeforeCents: Int
        var amountCents: Int
        var decisions: [String]

        init(_ line: InvoiceLine) {
            child = line.child.description
            period = line.period
            rule = line.rule
            monthlyFee = line.monthlyFee
            operationalDays = line.operationalDays
            careDays = line.careDays
            sickDays = line.sickDays
            absentDays = line.absentDays
            dueCents = line.dueCents
            billedBeforeCents = line.billedBeforeCents
            amountCents = line.amountCents
            decisions = line.decisions.map(\.lowercasedString)
        }
    }

    init(_ invoice: Invoice) {
        id = invoice.id.lowercasedString
        number = invoice.number
        kind = invoice.kind
        month = invoice.month
        issued = invoice.issued
        due = invoice.due
        reference = invoice.reference
        internationalReference = invoice.internationalReference
        payer = invoice.payer.description
        totalCents = invoice.content?.totalCents
        lines = invoice.content?.lines.map(Line.init)
        position = invoice.position.rawValue
    }
}

struct IncomeView: Encodable {
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var earnedCents: Int?
    var capitalCents: Int?
    var acceptsMaximumFee: Bool?
    var source: DataSource
}

struct MonthInvoicesView: Encodable {
    var month: BillingMonth
    var invoices: [Entry]

    struct Entry: Encodable {
        var family: String
        var invoice: InvoiceView
    }
}

extension RegisterAPI {
    func addFeeRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("fee-families") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesWrite)
            let body = try await decodeBody(NewFeeFamily.self, from: request, context: context)
            let (id, number) = try await registry.createFeeFamily(adults: body.adults.map(PersonID.init), children: body.children.map(PersonID.init),
                                                                  validFrom: body.validFrom, source: body.source ?? .staff, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, (body.adults + body.children).map { (PersonID($0), .change, "fee-family/\(id.lowercasedString)") })
            return try Response.json(FeeFamilyCreated(id: id.lowercasedString, number: number), status: .created)
        }

        tenant.get("fee-families/:family") { request, context in
            let caller = try await caller(request, context)
            let family = try await readableFamily(caller, context)
            return try Response.json(FeeFamilyView(family))
        }

        tenant.post("fee-families/:family/compositions") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesWrite)
            let id = try uuid(context, "family")
            let body = try await decodeBody(NewComposition.self, from: request, context: context)
            _ = try await existingFamily(id, caller)
            try await registry.composeFeeFamily(id, adults: body.adults.map(PersonID.init), children: body.children.map(PersonID.init), validFrom: body.validFrom,
                                                validUntil: body.validUntil, source: body.source ?? .staff, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, (body.adults + body.children).map { (PersonID($0), .change, "fee-family/\(id.lowercasedString)") })
            return Response(status: .created)
        }

        // Brings the family's decisions up to date now (an invoicing run does the same for every family).
        tenant.post("fee-families/:family/decisions") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesWrite)
            let family = try await existingFamily(try uuid(context, "family"), caller)
            guard let rules = caller.grants.configuration.fees else {
                throw Problem(status: .conflict, code: "no-fee-rules", detail: "The tenant file has no fee rules.")
            }
            let recorded = try await registry.reviseFeeDecisions(of: family.id, rules: rules, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, family.members.map { ($0, .change, "fee-family/\(family.id.lowercasedString)/decisions") })
            return try Response.json(recorded.map(FeeDecisionView.init), status: recorded.isEmpty ? .ok : .created)
        }

        tenant.get("people/:person/incomes") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesRead)
            let record = try await reachablePerson(try personID(context), caller, with: .feesRead)
            try await recordAccess(caller, [(record.id, .view, "person/\(record.id)/incomes")])
            return try Response.json(record.incomes.map {
                IncomeView(validFrom: $0.validFrom, validUntil: $0.validUntil, earnedCents: $0.statement?.earnedCents, capitalCents: $0.statement?.capitalCents,
                           acceptsMaximumFee: $0.statement?.acceptsMaximumFee, source: $0.source)
            })
        }

        tenant.post("people/:person/incomes") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesWrite)
            let person = try personID(context)
            let body = try await decodeBody(NewIncome.self, from: request, context: context)
            _ = try await reachablePerson(person, caller, with: .feesWrite, opening: false)
            guard body.earnedCents != nil || body.capitalCents != nil || body.acceptsMaximumFee == true else {
                throw Problem(status: .badRequest, code: "invalid-field",
                              detail: "An income statement gives earnedCents or capitalCents, or acceptsMaximumFee true.", field: "earnedCents")
            }
            let statement = IncomeStatement(earnedCents: body.earnedCents ?? 0, capitalCents: body.capitalCents ?? 0, acceptsMaximumFee: body.acceptsMaximumFee ?? false)
            try await registry.recordIncome(of: person, statement, validFrom: body.validFrom, validUntil: body.validUntil, source: body.source ?? .client,
                                            in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(person, .change, "person/\(person)/incomes")])
            return Response(status: .created)
        }

        // The invoices of one invoicing run's month, every family's.
        tenant.get("invoices") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.feesRead)
            guard let text = request.uri.queryParameters.get("month"), let month = try? BillingMonth(String(text)) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "month is YYYY-MM.", field: "month")
            }
            let restrictions = try await registry.restrictions(in: caller.tenant)
            var entries: [MonthInvoicesView.Entry] = []
            var uses: [(subject: PersonID, action: AccessAction, resource: String)] = []
            for id in try await registry.feeFamilies(in: caller.tenant) {
                let family = try await registry.feeFamily(id, in: caller.tenant)
                for invoice in family.invoices where invoice.month == month {
                    let people = [invoice.payer] + (invoice.content?.lines.map(\.child) ?? [])
                    // A restricted person's invoices are not processed further here (O21).
                    if !caller.grants.has(.subjectRequestsManage), people.contains(where: { restrictions[$0] != nil }) { continue }
                    entries.append(.init(family: id.lowercasedString, invoice: InvoiceView(invoice)))
                    uses += Set(people).map { ($0, .view, "invoices/\(month)") }
                }
            }
            try await recordAccess(caller, uses)
            return try Response.json(MonthInvoicesView(month: month, invoices: entries))
        }
    }

    /// A family of the caller's tenant, or 404.
    private func existingFamily(_ id: UUID, _ caller: Caller) async throws -> FeeFamilyRecord {
        do { return try await registry.feeFamily(id, in: caller.tenant) } catch let error as DomainError where error.kind == .notFound { throw Problem.notFound }
    }

    /// A family the caller may read (fees.read tenant-wide, no member under a restriction unless the caller handles
    /// subjects' requests); its reading is logged for every member.
    private func readableFamily(_ caller: Caller, _ context: RegisterRequestContext) async throws -> FeeFamilyRecord {
        try caller.grants.requireTenantWide(.feesRead)
        let family = try await existingFamily(try uuid(context, "family"), caller)
        let restrictions = try await registry.restrictions(in: caller.tenant)
        if !caller.grants.has(.subjectRequestsManage), family.members.contains(where: { restrictions[$0] != nil }) {
            throw Problem(status: .forbidden, code: "restricted",
                          detail: "Processing of a member's data is restricted; only roles that handle subjects' requests read it.")
        }
        try await recordAccess(caller, family.members.map { ($0, .view, "fee-family/\(family.id.lowercasedString)") })
        return family
    }
}
