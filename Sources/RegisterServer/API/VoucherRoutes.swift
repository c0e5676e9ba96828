import EventLog
import Foundation
import Hummingbird
import Register

// Service vouchers over HTTP (O24): voucher decisions (vouchers.write: the municipality's voucher officers), the
// producer's view of its own children and its service records (voucher-services.write, scoped to the producer's
// units), and monthly settlements (vouchers.read to preview, vouchers.write to freeze).

struct NewVoucher: Decodable {
    var producer: String
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var hoursPerWeek: Int
    var assistancePercent: Int?
}

struct VoucherEnd: Decodable {
    var end: LocalDate
}

struct NewVoucherService: Decodable {
    var month: BillingMonth
    var careDays: Int
}

struct SettleBody: Decodable {
    var month: BillingMonth
}

struct VoucherView: Encodable {
    var id: String
    var producer: String
    var validFrom: LocalDate
    var validUntil: LocalDate?
    var hoursPerWeek: Int
    var assistancePercent: Int
    /// Care days the producer recorded, by month (`YYYY-MM`).
    var services: [String: Int]

    init(_ voucher: Voucher) {
        id = voucher.id.lowercasedString
        producer = voucher.producer
        validFrom = voucher.validFrom
        validUntil = voucher.validUntil
        hoursPerWeek = voucher.hoursPerWeek
        assistancePercent = voucher.assistancePercent
        services = Dictionary(uniqueKeysWithValues: voucher.services.map { ($0.key.description, $0.value) })
    }
}

struct ProducerChildView: Encodable {
    var child: String
    var name: PersonName?
    var birthDate: LocalDate?
    var vouchers: [VoucherView]
}

struct SettlementView: Encodable {
    var producer: String
    /// Who is paid (`operatedBy` in the tenant file): as frozen with the month, or for a preview as the file says now.
    var operatedBy: Operator?
    var month: BillingMonth
    /// `frozen` (recorded on or after the cut-off day) or `preview`.
    var state: String
    var cutOff: LocalDate
    /// The day it was frozen (absent for a preview): the cut-off day, or later when it was settled late.
    var frozenOn: LocalDate?
    var totalCents: Int
    var lines: [Line]
    var position: Int64?

    struct Operator: Encodable {
        var name: String
        var businessID: String
        var tenant: String?
    }

    struct Line: Encodable {
        var child: String
        var voucher: String
        var period: BillingMonth
        var status: SettlementLineStatus
        var operationalDays: Int
        var coveredDays: Int
        var careDays: Int
        var valueCents: Int
        var coPaymentCents: Int
        var dueCents: Int
        var paidBeforeCents: Int
        var amountCents: Int
    }

    init(_ settlement: Settlement, cutOff: LocalDate) {
        producer = settlement.producer
        operatedBy = settlement.payee.map { Operator(name: $0.name, businessID: $0.businessID.value, tenant: $0.tenant?.rawValue) }
        month = settlement.month
        state = settlement.position == nil ? "preview" : "frozen"
        self.cutOff = cutOff
        frozenOn = settlement.frozenOn
        totalCents = settlement.totalCents
        position = settlement.position?.rawValue
        lines = settlement.lines.map {
            Line(child: $0.child.description, voucher: $0.voucher.lowercasedString, period: $0.period, status: $0.status, operationalDays: $0.operationalDays,
                 coveredDays: $0.coveredDays, careDays: $0.careDays, valueCents: $0.valueCents, coPaymentCents: $0.coPaymentCents, dueCents: $0.dueCents,
                 paidBeforeCents: $0.paidBeforeCents, amountCents: $0.amountCents)
        }
    }
}

extension RegisterAPI {
    func addVoucherRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("children/:person/vouchers") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.vouchersWrite)
            let child = try await reachablePerson(try personID(context), caller, with: .vouchersWrite, opening: false)
            let body = try await decodeBody(NewVoucher.self, from: request, context: context)
            let id = try await registry.grantVoucher(to: child.id, producer: body.producer, validFrom: body.validFrom, validUntil: body.validUntil,
                                                     hoursPerWeek: body.hoursPerWeek, assistancePercent: body.assistancePercent ?? 100,
                                                     configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(child.id, .change, "child/\(child.id)/vouchers")])
            return try Response.json(["id": id.lowercasedString], status: .created)
        }

        tenant.get("children/:person/vouchers") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.vouchersRead)
            let child = try await reachablePerson(try personID(context), caller, with: .vouchersRead, opening: false)
            try await recordAccess(caller, [(child.id, .view, "child/\(child.id)/vouchers")])
            return try Response.json(child.vouchers.map(VoucherView.init))
        }

        tenant.post("children/:person/vouchers/:voucher/end") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.vouchersWrite)
            let child = try await reachablePerson(try personID(context), caller, with: .vouchersWrite, opening: false)
            let voucher = try uuid(context, "voucher")
            let body = try await decodeBody(VoucherEnd.self, from: request, context: context)
            guard child.vouchers.contains(where: { $0.id == voucher }) else { throw Problem.notFound }
            try await registry.endVoucher(voucher, of: child.id, on: body.end, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(child.id, .change, "child/\(child.id)/vouchers")])
            return Response(status: .noContent)
        }

        // The producer's record of the care it gave on a voucher in a month: only for its own children.
        tenant.post("children/:person/vouchers/:voucher/services") { request, context in
            let caller = try await caller(request, context)
            _ = try caller.grants.require(.voucherServicesWrite)
            let id = try personID(context)
            let voucherID = try uuid(context, "voucher")
            guard let child = try? await registry.personStructure(id, in: caller.tenant),
                  let voucher = child.vouchers.first(where: { $0.id == voucherID }), (try? caller.grants.covers(unit: voucher.producer, with: .voucherServicesWrite)) != nil
            else { throw Problem.notFound }
            if try await registry.restrictions(in: caller.tenant)[id] != nil {
                throw Problem(status: .forbidden, code: "restricted", detail: "Processing of this child's data is restricted; nothing is recorded until it is lifted.")
            }
            let body = try await decodeBody(NewVoucherService.self, from: request, context: context)
            try await registry.recordVoucherService(voucherID, of: id, month: body.month, careDays: body.careDays, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(id, .change, "child/\(id)/vouchers/\(voucherID.lowercasedString)/services")])
            return Response(status: .created)
        }

        // What a producer's staff see: the children with a voucher for the producer in a month. A disclosure to the
        // producer, recorded before the answer leaves.
        tenant.get("producers/:unit/children") { request, context in
            let caller = try await caller(request, context)
            guard let unit = context.parameters.get("unit"), caller.grants.configuration.units.contains(where: { $0.code == unit && $0.arrangements.contains(.serviceVoucher) })
            else { throw Problem.notFound }
            try caller.grants.covers(unit: unit, with: .voucherServicesWrite)
            guard caller.grants.configuration.vouchers != nil else {
                throw Problem(status: .conflict, code: "no-voucher-rules", detail: "The tenant file has no voucher rules.")
            }
            let month = try monthParameter(request)
            let children = try await registry.producerChildren(unit, month: month, in: caller.tenant)
            try await registry.recordProducerAccess(unit, children: children, configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, children.map { ($0.id, .view, "producers/\(unit)/children") })
            return try Response.json(children.map { child in
                ProducerChildView(child: child.id.description, name: child.details?.name, birthDate: child.details?.birthDate,
                                  vouchers: child.vouchers.filter { $0.producer == unit }.map(VoucherView.init))
            })
        }

        tenant.get("settlements/:unit") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.vouchersRead)
            let (unit, rules) = try voucherProducer(caller, context)
            let month = try monthParameter(request)
            let settlement = try await registry.settleVouchers(producer: unit, month: month, rules: rules, feeRules: caller.grants.configuration.fees,
                                                               payee: caller.grants.configuration.units.first { $0.code == unit }?.operatedBy, commit: false,
                                                               in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, Set(settlement.lines.map(\.child)).map { ($0, .view, "settlements/\(unit)/\(month)") })
            return try Response.json(SettlementView(settlement, cutOff: rules.cutOff(of: month)))
        }

        tenant.post("settlements/:unit") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.vouchersWrite)
            let (unit, rules) = try voucherProducer(caller, context)
            let body = try await decodeBody(SettleBody.self, from: request, context: context)
            let settlement = try await registry.settleVouchers(producer: unit, month: body.month, rules: rules, feeRules: caller.grants.configuration.fees,
                                                               payee: caller.grants.configuration.units.first { $0.code == unit }?.operatedBy,
                                                               commit: true, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, Set(settlement.lines.map(\.child)).map { ($0, .change, "settlements/\(unit)/\(body.month)") })
            return try Response.json(SettlementView(settlement, cutOff: rules.cutOff(of: body.month)), status: settlement.alreadyFrozen ? .ok : .created)
        }
    }

    /// The `month` query parameter, `YYYY-MM`.
    private func monthParameter(_ request: Request) throws -> BillingMonth {
        guard let text = request.uri.queryParameters.get("month"), let month = try? BillingMonth(String(text)) else {
            throw Problem(status: .badRequest, code: "invalid-field", detail: "month is YYYY-MM.", field: "month")
        }
        return month
    }

    /// A unit of the tenant that offers voucher care, and the tenant's voucher rules.
    private func voucherProducer(_ caller: Caller, _ context: RegisterRequestContext) throws -> (String, VoucherRules) {
        guard let unit = context.parameters.get("unit"),
              caller.grants.configuration.units.contains(where: { $0.code == unit && $0.arrangements.contains(.serviceVoucher) }) else { throw Problem.notFound }
        guard let rules = caller.grants.configuration.vouchers else {
            throw Problem(status: .conflict, code: "no-voucher-rules", detail: "The tenant file has no voucher rules.")
        }
        return (unit, rules)
    }
}
