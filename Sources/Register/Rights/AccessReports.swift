import EventLog
import Foundation

// The right of access (O19): producing a subject's access report is recorded on their stream, with whether a fee may
// apply (GDPR Art. 12(5): a repeated request within a year); a refusal on legal grounds keeps its written explanation.

/// A subject access report was produced. Ids and codes only.
public struct AccessReportProduced: RegisterEvent {
    public static let eventType = "AccessReportProduced"
    /// Whom it was produced for, when not the subject themself (a guardian, trustee or representative).
    public var requester: PersonID?
    /// `json` or `html`.
    public var format: String
    /// Less than a year since the previous report: the controller may charge a reasonable fee.
    public var feeMayApply: Bool
}

/// A subject access request refused on legal grounds, with the written explanation (sealed under the subject's key).
public struct AccessReportRefused: RegisterEvent {
    public static let eventType = "AccessReportRefused"
    public var requester: PersonID?
    public var explanation: Personal<String>
}

extension Registry {
    /// How long after a report a new one counts as a repeated request.
    static let repeatedRequestWindow = 365

    /// Records that `subject`'s access report was produced; answers whether a fee may apply and when the previous
    /// report was produced.
    public func recordAccessReport(of subject: PersonID, requester: PersonID?, format: String, in tenant: TenantID,
                                   by metadata: EventMetadata) async throws -> (feeMayApply: Bool, previous: Timestamp?) {
        let stream = try await store.readStream(RegisterStreams.person(subject), of: tenant)
        let reports = stream.filter { $0.eventType == AccessReportProduced.eventType }
        let previous = reports.last?.recordedAt
        // A year from the last report given free: one a year is free, whatever was charged in between (O19).
        let lastFree = try reports.last { try !JSONDecoder().decode(AccessReportProduced.self, from: $0.payload).feeMayApply }?.recordedAt
        let today = LocalDate.today(at: now())
        let feeMayApply = lastFree.map { LocalDate.today(at: Date(timeIntervalSince1970: Double($0.rawValue) / 1_000_000)).adding(days: Self.repeatedRequestWindow) > today } ?? false
        // No sealed field, so it is recorded for an erased subject too (the report says what is left).
        let produced = AccessReportProduced(requester: requester, format: format, feeMayApply: feeMayApply)
        _ = try await store.append([ProposedEvent(stream: RegisterStreams.person(subject), eventType: AccessReportProduced.eventType,
                                                  subjects: [subject] + (requester.map { [$0] } ?? []), payload: try JSONEncoder().encode(produced))],
                                   to: tenant, metadata: metadata)
        return (feeMayApply, previous)
    }

    /// Records a refused access request with its written explanation.
    public func refuseAccessReport(of subject: PersonID, requester: PersonID?, explanation: String, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let explanation = try Check.text(explanation, field: "explanation", limit: 4_000)
        try await execute(on: subject, in: tenant, by: metadata, whileRestricted: true) { _ in
            let refused = AccessReportRefused(requester: requester, explanation: .clear(explanation, subject: subject))
            return [try await event(subject, refused, subjects: [subject] + (requester.map { [$0] } ?? []), in: tenant)]
        }
    }

    /// Every event of the tenant's log about `subject` (naming them among its subjects), in log order.
    public func events(about subject: PersonID, in tenant: TenantID) async throws -> [RecordedEvent] {
        var found: [RecordedEvent] = []
        var position = LogPosition.start
        while true {
            let page = try await store.read(tenant, after: position, through: nil, limit: 5_000, filter: EventFilter(subject: subject))
            guard let last = page.last else { break }
            found += page
            position = last.position
        }
        return found
    }
}
