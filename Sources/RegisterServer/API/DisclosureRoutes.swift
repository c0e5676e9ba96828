import EventLog
import Foundation
import Hummingbird
import Register

// Reading the provenance back (O10, O14): a subject's disclosures, one disclosure with the exact events behind it,
// and the subject's report "who has used or received my data". For the data-protection officer (disclosures.read,
// access-log.read), answering a subject's request.

struct DisclosureView: Encodable {
    var position: Int64
    var at: String
    var recipient: String
    /// The person it went to, for a hand-over to a guardian (`recipient` `guardian`).
    var recipientPerson: String?
    /// For a class of recipients (the voucher producers): the one it went to, the producer's unit.
    var recipientUnit: String?
    var register: String
    var channel: String
    var legalBasis: String?
    var consentPurpose: String?
    /// Who handed it over (for a feed: the partner's token).
    var actor: String
    var fields: [FeedField]
    var events: [Event]

    struct Event: Encodable {
        var position: Int64
        var hash: String
        var eventType: String
        var subject: String
        var fields: [FeedField]
        /// For one disclosure: whether the log still holds exactly this event (its hash), as the chain verifies.
        var matchesLog: Bool?
    }

    init(_ record: DisclosureRecord, only subject: PersonID? = nil, log: [RecordedEvent]? = nil) {
        position = record.position.rawValue
        at = record.recordedAt.description
        recipient = record.disclosure.recipient
        recipientPerson = record.disclosure.recipientPerson?.description
        recipientUnit = record.disclosure.recipientUnit
        register = record.disclosure.register
        channel = record.disclosure.channel
        legalBasis = record.disclosure.legalBasis
        consentPurpose = record.disclosure.consentPurpose
        actor = record.actor.userID
        let events = record.disclosure.events.filter { subject == nil || $0.subject == subject }
        fields = Array(Set(events.flatMap(\.fields))).sorted { $0.rawValue < $1.rawValue }
        self.events = events.map { event in
            Event(position: event.position, hash: event.hash, eventType: event.eventType, subject: event.subject.description, fields: event.fields,
                  matchesLog: log.map { log in log.contains { $0.position.rawValue == event.position && $0.hash.hex == event.hash } })
        }
    }
}

struct DataUseReport: Encodable {
    var subject: String
    /// Uses of the data by the controller's staff and integrations (the access log).
    var uses: [AccessLogEntryView]
    /// Hand-overs to recipients outside the controller.
    var disclosures: [DisclosureView]
}

extension RegisterAPI {
    func addDisclosureRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.get("people/:person/disclosures") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.disclosuresRead)
            let record = try await reachablePerson(try personID(context), caller, with: .disclosuresRead, opening: false)
            let id = record.id
            try await checkRequester(request, of: record, caller, channel: "disclosures-report")
            try await recordAccess(caller, [(id, .view, "person/\(id)/disclosures")])
            let records = try await DisclosureRecords(store: storage.store).disclosures(of: id, in: caller.tenant)
            return try Response.json(records.map { DisclosureView($0, only: id) })
        }

        tenant.get("disclosures/:position") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.disclosuresRead)
            guard let text = context.parameters.get("position"), let value = Int64(text), value > 0,
                  let (record, events) = try await DisclosureRecords(store: storage.store).disclosure(at: LogPosition(value), in: caller.tenant) else {
                throw Problem.notFound
            }
            try await recordAccess(caller, record.disclosure.subjects.map { ($0, .view, "disclosure/\(value)") })
            return try Response.json(DisclosureView(record, log: events))
        }

        tenant.get("people/:person/data-use") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.accessLogRead)
            try caller.grants.requireTenantWide(.disclosuresRead)
            let record = try await reachablePerson(try personID(context), caller, with: .accessLogRead, opening: false)
            let id = record.id
            try await checkRequester(request, of: record, caller, channel: "data-use-report")
            try await recordAccess(caller, [(id, .view, "person/\(id)/data-use")])
            let uses = try await storage.accessLog.entries(of: id, in: caller.tenant)
            let disclosures = try await DisclosureRecords(store: storage.store).disclosures(of: id, in: caller.tenant)
            return try Response.json(DataUseReport(
                subject: id.description,
                uses: uses.map {
                    AccessLogEntryView(position: $0.position.rawValue, at: $0.recordedAt.description, action: $0.entry.action, resource: $0.entry.resource,
                                       purpose: $0.entry.purpose, user: $0.entry.actor.userID, role: $0.entry.actor.role)
                },
                disclosures: disclosures.map { DisclosureView($0, only: id) }))
        }
    }
}

extension RegisterAPI {
    /// A subject's report answered for someone (`requester`, a person id): the subject themself, or their guardian,
    /// trustee or representative, whom no prohibition of the minor's (O9) covers in a family-services register of the
    /// tenant. The access log does not say which register a use concerned, so a prohibition refuses the whole report;
    /// the refusal is recorded like a refused hand-over.
    func checkRequester(_ request: Request, of record: PersonRecord, _ caller: Caller, channel: String) async throws {
        var requester: PersonID?
        if let text = request.uri.queryParameters.get("requester") {
            guard let uuid = UUID(canonical: text) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "requester is the id of the person the report is for.", field: "requester")
            }
            requester = PersonID(uuid)
        }
        try await checkRequester(requester, of: try await registry.personStructure(record.id, in: caller.tenant), caller, channel: channel)
    }

    /// The check itself, for `subject` as its stream stands: every report about a person goes through it.
    func checkRequester(_ requester: PersonID?, of subject: PersonRecord, _ caller: Caller, channel: String) async throws {
        guard let requester else {
            // Answered without saying for whom: only when no minor's prohibition could be at stake.
            if !subject.guardianProhibitions.isEmpty {
                throw Problem(status: .badRequest, code: "invalid-field",
                              detail: "A prohibition of disclosure to a guardian is in force: name whom the report is for (requester).", field: "requester")
            }
            return
        }
        guard let (reason, detail) = registry.guardianOutputRefusal(of: subject, to: requester, registers: caller.grants.configuration.registers) else { return }
        let position = try await registry.recordRefusedOutput(to: requester, subjects: [subject.id], reason: reason, detail: detail, channel: channel,
                                                              in: caller.tenant, by: caller.metadata)
        throw Problem(status: .forbidden, code: reason, detail: "\(detail) The refusal is recorded at position \(position).", field: "requester")
    }
}

struct NewDisclosure: Decodable {
    var recipient: String
    var subjects: [UUID]
    var fields: [FeedField]
    var legalBasis: String?
    var channel: String?
    /// For `recipient` `guardian`: the guardian (trustee, representative) the data goes to.
    var guardian: UUID?
    /// The register whose data is handed over, when the tenant keeps several.
    var register: String?
}

struct DisclosureMade: Encodable {
    /// The disclosure's position in the log.
    var disclosure: Int64
    /// What to hand over: exactly the fields of the events the disclosure names.
    var items: [FeedItem]
}

extension RegisterAPI {
    func addManualDisclosureRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("disclosures") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.disclosuresWrite)
            let body = try await decodeBody(NewDisclosure.self, from: request, context: context)
            let channel = body.channel ?? "manual"
            guard ["manual", "printed-report"].contains(channel) else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "channel is manual or printed-report.", field: "channel")
            }
            guard (1...500).contains(body.subjects.count), Set(body.subjects).count == body.subjects.count else {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "subjects names 1 to 500 different people.", field: "subjects")
            }
            guard !body.fields.isEmpty else { throw Problem(status: .badRequest, code: "invalid-field", detail: "fields names at least one field.", field: "fields") }
            _ = try Check.code(body.recipient, field: "recipient")
            if let basis = body.legalBasis, !(1...300).contains(basis.count) {
                throw Problem(status: .badRequest, code: "invalid-field", detail: "legalBasis names the statute in at most 300 characters.", field: "legalBasis")
            }
            let subjects = body.subjects.map(PersonID.init)
            // A restricted subject is refused by the hand-over itself, so that the refusal is recorded (O21).
            for subject in subjects { _ = try await reachablePerson(subject, caller, with: .disclosuresWrite, opening: false, allowingRestricted: true) }
            let outcome = try await ManualDisclosure(registry: registry).record(
                .init(recipient: body.recipient, subjects: subjects, fields: body.fields, legalBasis: body.legalBasis, channel: channel,
                      guardian: body.guardian.map(PersonID.init), register: body.register),
                configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            switch outcome {
            case .refused(let position, let reason, let detail):
                throw Problem(status: .unprocessableContent, code: reason, detail: "\(detail) The refusal is recorded at position \(position).")
            case .disclosed(let position, let items):
                try await recordAccess(caller, subjects.map { ($0, .export, "disclosure/\(position)") })
                return try Response.json(DisclosureMade(disclosure: position.rawValue, items: items), status: .created)
            }
        }
    }
}

struct NewRectification: Decodable {
    var change: PersonDetailsPatch
    var requestedBy: UUID?
    var reason: String
}

struct RectificationRefusal: Decodable {
    var fields: [PersonField]
    var requestedBy: UUID?
    var explanation: String
}

struct RectificationDone: Encodable {
    /// Partners whose feeds now carry a rectification notice: they had received a replaced value.
    var notified: [String]
    /// Hand-overs outside the feeds that carried a replaced value: to follow up by hand.
    var followUp: [RectificationFollowUp]
}

struct RectificationView: Encodable {
    var position: Int64
    var at: String
    var outcome: String
    var fields: [PersonField]
    var requestedBy: String?
    var reason: String?
    var explanation: String?
    var notified: [String]?
    var followUp: [RectificationFollowUp]?
}

extension RegisterAPI {
    func addRectificationRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("people/:person/rectifications") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            let id = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false).id
            let body = try await decodeBody(NewRectification.self, from: request, context: context)
            if body.change.fields.contains(where: PersonField.protected.contains) { try caller.grants.require(.peopleReadProtected) }
            let outcome = try await registry.rectify(id, body.change, requestedBy: body.requestedBy.map(PersonID.init), reason: body.reason,
                                                     in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(id, .change, "person/\(id)/rectifications")])
            return try Response.json(RectificationDone(notified: outcome.notified, followUp: outcome.followUp), status: .created)
        }

        tenant.post("people/:person/rectifications/refusals") { request, context in
            let caller = try await caller(request, context)
            try caller.grants.requireTenantWide(.peopleWrite)
            // Refusing the subject's own request is recorded while their processing is restricted too.
            let id = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false, allowingRestricted: true).id
            let body = try await decodeBody(RectificationRefusal.self, from: request, context: context)
            try await registry.refuseRectification(of: id, fields: body.fields, requestedBy: body.requestedBy.map(PersonID.init), explanation: body.explanation,
                                                   in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(id, .change, "person/\(id)/rectifications")])
            return Response(status: .noContent)
        }

        // The requester sees when it was done (or why not): the person's rectifications and refusals, opened.
        tenant.get("people/:person/rectifications") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleRead, opening: false)
            let events = try await storage.store.readStream(RegisterStreams.person(record.id), of: caller.tenant)
                .filter { [PersonDetailsRectified.eventType, RectificationRefused.eventType].contains($0.eventType) }
            var views: [RectificationView] = []
            for event in events {
                if event.eventType == PersonDetailsRectified.eventType {
                    let done = try await storage.keyRing.open(PersonDetailsRectified.self, from: event)
                    views.append(RectificationView(position: event.position.rawValue, at: event.recordedAt.description, outcome: "rectified", fields: done.fields,
                                                   requestedBy: done.requestedBy?.description, reason: done.reason.value, notified: done.notified, followUp: done.followUp))
                } else {
                    let refused = try await storage.keyRing.open(RectificationRefused.self, from: event)
                    views.append(RectificationView(position: event.position.rawValue, at: event.recordedAt.description, outcome: "refused", fields: refused.fields,
                                                   requestedBy: refused.requestedBy?.description, explanation: refused.explanation.value))
                }
            }
            try await recordAccess(caller, [(record.id, .view, "person/\(record.id)/rectifications")])
            return try Response.json(views)
        }
    }
}

struct NewGuardianProhibition: Decodable {
    var guardian: UUID
    var register: String
    var reason: String
}

struct LiftedGuardianProhibition: Decodable {
    var register: String
    var reason: String
}

struct GuardianProhibitionView: Encodable {
    var guardian: String
    var register: String
    var since: String
    /// Shown only to roles that read protected data: it often is the weighty reason itself.
    var reason: String?
}

extension RegisterAPI {
    /// A minor's prohibitions of disclosure to a guardian (O9): recorded, lifted and listed by staff who may change
    /// the child's data; honoured by every output to a guardian (hand-overs, printed reports, the subject's reports).
    func addGuardianProhibitionRoutes(_ tenant: RouterGroup<RegisterRequestContext>) {
        tenant.post("people/:person/guardian-prohibitions") { request, context in
            let caller = try await caller(request, context)
            let child = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false).id
            let body = try await decodeBody(NewGuardianProhibition.self, from: request, context: context)
            try await registry.prohibitDisclosureToGuardian(of: child, guardian: PersonID(body.guardian), register: body.register, reason: body.reason,
                                                            configuration: caller.grants.configuration, in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(child, .change, "person/\(child)/guardian-prohibitions")])
            return Response(status: .created)
        }

        tenant.delete("people/:person/guardian-prohibitions/:guardian") { request, context in
            let caller = try await caller(request, context)
            let child = try await reachablePerson(try personID(context), caller, with: .peopleWrite, opening: false).id
            let body = try await decodeBody(LiftedGuardianProhibition.self, from: request, context: context)
            try await registry.liftGuardianProhibition(of: child, guardian: try personID(context, "guardian"), register: body.register, reason: body.reason,
                                                       in: caller.tenant, by: caller.metadata)
            try await recordAccess(caller, [(child, .change, "person/\(child)/guardian-prohibitions")])
            return Response(status: .noContent)
        }

        tenant.get("people/:person/guardian-prohibitions") { request, context in
            let caller = try await caller(request, context)
            let record = try await reachablePerson(try personID(context), caller, with: .peopleRead)
            let reasons = caller.grants.canReach(record, with: .peopleReadProtected, today: today)
            try await recordAccess(caller, [(record.id, .view, "person/\(record.id)/guardian-prohibitions")])
            return try Response.json(record.guardianProhibitions.map {
                GuardianProhibitionView(guardian: $0.guardian.description, register: $0.register, since: $0.since.description, reason: reasons ? $0.reason : nil)
            })
        }
    }
}
