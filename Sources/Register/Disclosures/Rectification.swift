import EventLog
import Foundation

/// Details corrected at someone's request (O20): the correct values, what was wrong, who asked and why, and who had
/// received the wrong values: partners whose feeds get a notice, and manual recipients to follow up by hand.
/// Applied to the person like `PersonDetailsChanged`.
public struct PersonDetailsRectified: RegisterEvent {
    public static let eventType = "PersonDetailsRectified"
    /// The correct values.
    public var change: Personal<PersonDetailsPatch>
    /// What was wrong: the values the correction replaces.
    public var previous: Personal<PersonDetailsPatch>
    public var fields: [PersonField]
    /// Who asked (the person, a guardian), when it was one of the register's people.
    public var requestedBy: PersonID?
    /// Why, in the requester's or the registrar's words (personal data: sealed).
    public var reason: Personal<String>
    /// Partners that received a wrong value through their feed: the notice goes into their feeds.
    public var notified: [String]
    /// Hand-overs outside the feeds that carried a wrong value, to follow up by hand.
    public var followUp: [RectificationFollowUp]
}

public struct RectificationFollowUp: Codable, Sendable, Hashable {
    public var recipient: String
    /// The disclosure that carried the wrong value.
    public var disclosure: Int64
    public var channel: String
}

/// A rectification refused, with the written explanation the requester is given (O20).
public struct RectificationRefused: RegisterEvent {
    public static let eventType = "RectificationRefused"
    public var fields: [PersonField]
    public var requestedBy: PersonID?
    public var explanation: Personal<String>
}

extension Registry {
    public struct RectificationOutcome: Sendable {
        public let notified: [String]
        public let followUp: [RectificationFollowUp]
    }

    /// Corrects a person's details, and works out from the provenance who received the values it replaces: exactly
    /// the recipients of a disclosure that carried, for a corrected field, the event that set its current value.
    public func rectify(_ id: PersonID, _ patch: PersonDetailsPatch, requestedBy: PersonID?, reason: String,
                        in tenant: TenantID, by metadata: EventMetadata) async throws -> RectificationOutcome {
        let patch = try Check.patch(patch)
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        guard !patch.fields.isEmpty else { throw DomainError.invalid("fields", "a rectification corrects at least one field") }
        var outcome = RectificationOutcome(notified: [], followUp: [])
        try await execute(on: id, in: tenant, by: metadata) { structure in
            // Read on every attempt: a hand-over recorded meanwhile must be followed up too.
            let disclosures = try await DisclosureRecords(store: store).disclosures(of: id, in: tenant)
            let record = try await person(id, in: tenant)
            guard let details = record.details else { throw DomainError(.rule, "erased", "This person's data has been erased.") }
            // Where each corrected field got its current (wrong) value: the last event on the person's stream that set it.
            var setAt: [PersonField: Int64] = [:]
            for event in try await store.readStream(RegisterStreams.person(id), of: tenant) {
                switch event.eventType {
                case PersonRegistered.eventType:
                    for field in PersonField.allCases { setAt[field] = event.position.rawValue }
                case PersonDetailsChanged.eventType:
                    for field in try JSONDecoder().decode(PersonDetailsChanged.self, from: event.payload).fields { setAt[field] = event.position.rawValue }
                case PersonDetailsRectified.eventType:
                    for field in try JSONDecoder().decode(PersonDetailsRectified.self, from: event.payload).fields { setAt[field] = event.position.rawValue }
                default:
                    break
                }
            }
            var notified = Set<String>()
            var followUp: [RectificationFollowUp] = []
            for record in disclosures {
                let carried = record.disclosure.events.contains { event in
                    event.subject == id && patch.fields.contains { field in
                        setAt[field] == event.position && event.fields.contains { $0.rawValue == field.rawValue }
                    }
                }
                guard carried else { continue }
                if record.disclosure.channel == "feed" {
                    notified.insert(record.disclosure.recipient)
                } else {
                    followUp.append(RectificationFollowUp(recipient: record.disclosure.recipient, disclosure: record.position.rawValue, channel: record.disclosure.channel))
                }
            }
            outcome = RectificationOutcome(notified: notified.sorted(), followUp: followUp)
            let previous = PersonDetailsPatch(
                name: patch.name.map { _ in details.name }, address: patch.address.map { _ in details.address } ?? nil,
                homeMunicipality: patch.homeMunicipality.map { _ in details.homeMunicipality } ?? nil, motherTongue: patch.motherTongue.map { _ in details.motherTongue } ?? nil,
                serviceLanguage: patch.serviceLanguage.map { _ in details.serviceLanguage } ?? nil, phone: patch.phone.map { _ in details.phone } ?? nil,
                email: patch.email.map { _ in details.email } ?? nil, profession: patch.profession.map { _ in details.profession } ?? nil)
            let subjects = [id] + (requestedBy.map { $0 == id ? [] : [$0] } ?? [])
            let rectified = PersonDetailsRectified(change: .clear(patch, subject: id), previous: .clear(previous, subject: id), fields: patch.fields,
                                                   requestedBy: requestedBy, reason: .clear(reason, subject: id), notified: outcome.notified, followUp: followUp)
            _ = structure
            return [try await event(id, rectified, subjects: subjects, in: tenant)]
        }
        return outcome
    }

    /// Records a refused rectification with the written explanation the requester is given.
    public func refuseRectification(of id: PersonID, fields: [PersonField], requestedBy: PersonID?, explanation: String,
                                    in tenant: TenantID, by metadata: EventMetadata) async throws {
        let explanation = try Check.text(explanation, field: "explanation", limit: 2_000)
        guard !fields.isEmpty else { throw DomainError.invalid("fields", "name the fields the request concerned") }
        try await execute(on: id, in: tenant, by: metadata, whileRestricted: true) { _ in
            let subjects = [id] + (requestedBy.map { $0 == id ? [] : [$0] } ?? [])
            return [try await event(id, RectificationRefused(fields: fields, requestedBy: requestedBy, explanation: .clear(explanation, subject: id)),
                                    subjects: subjects, in: tenant)]
        }
    }
}
