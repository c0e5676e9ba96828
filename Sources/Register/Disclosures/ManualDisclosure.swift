import EventLog
import Foundation

/// A hand-over refused, with the reason, recorded like the hand-overs themselves (O10): the log shows what was
/// asked for and why it did not leave. On the stream `disclosure/<recipient>`; ids and field names only.
public struct DisclosureRefused: RegisterEvent {
    public static let eventType = "DisclosureRefused"
    public var recipient: String
    /// The person asking, when the recipient is a person (`guardian`).
    public var recipientPerson: PersonID?
    /// How it would have left (`manual`, `printed-report`, `data-use-report`); absent in records made before it was kept.
    public var channel: String?
    public var subjects: [PersonID]
    public var fields: [FeedField]
    /// A stable code: `no-legal-basis`, `no-consent`, `fields-not-covered`, `protected-data`, `not-representative`,
    /// `minor-prohibition`, `restricted`.
    public var reason: String
    public var detail: String
}

/// A manual hand-over (a report to an authority, data to a school with consent, a printed report): checked against
/// the recipient's basis, then recorded with every event whose data it carries, or refused and the refusal recorded.
public struct ManualDisclosure: Sendable {
    public let registry: Registry
    public init(registry: Registry) { self.registry = registry }

    public struct Request: Sendable {
        /// A regular recipient of the tenant file, or another (an authority asking on a stated statute).
        public var recipient: String
        public var subjects: [PersonID]
        public var fields: [FeedField]
        /// The statute, for a recipient the tenant file does not list (or to name a narrower one).
        public var legalBasis: String?
        /// `manual` (handed over) or `printed-report`.
        public var channel: String
        /// For `recipient` `guardian`: the guardian (or trustee, or representative) the data goes to.
        public var guardian: PersonID?
        /// The register whose data leaves; by default the recipient's own register (or the tenant's only one).
        public var register: String?

        public init(recipient: String, subjects: [PersonID], fields: [FeedField], legalBasis: String?, channel: String,
                    guardian: PersonID? = nil, register: String? = nil) {
            self.recipient = recipient
            self.subjects = subjects
            self.fields = fields
            self.legalBasis = legalBasis
            self.channel = channel
            self.guardian = guardian
            self.register = register
        }
    }

    /// The recipient id of hand-overs to a subject's guardian, trustee or representative (who is named by `guardian`).
    public static let guardianRecipient = "guardian"
    /// What a hand-over to a guardian rests on: the guardian acts for the child.
    public static let guardianBasis = "Laki lapsen huollosta ja tapaamisoikeudesta 361/1983, 4 §; laki sosiaalihuollon asiakkaan asemasta ja oikeuksista 812/2000, 10–11 §"

    public enum Outcome: Sendable {
        /// Recorded: hand over exactly these items (the fields of the events the record names).
        case disclosed(position: LogPosition, items: [FeedItem])
        case refused(position: LogPosition, reason: String, detail: String)
    }

    /// Decides, records and returns the outcome; the caller hands the data over only on `.disclosed`.
    ///
    /// The record is appended expecting the restrictions and each subject's record as the decision read them: a
    /// restriction, a consent withdrawn or an order placed meanwhile makes the hand-over be decided again.
    public func record(_ request: Request, configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws -> Outcome {
        for _ in 1..<FeedReader.attempts {
            do {
                return try await decide(request, configuration: configuration, in: tenant, by: metadata)
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        // The last attempt: its error, if any, is the caller's.
        return try await decide(request, configuration: configuration, in: tenant, by: metadata)
    }

    func decide(_ request: Request, configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws -> Outcome {
        let stream = DisclosureStreams.recipient(request.recipient)
        let toGuardian = request.recipient == Self.guardianRecipient
        guard toGuardian == (request.guardian != nil) else {
            throw DomainError(.invalid, "invalid-field", "guardian names the person when, and only when, the recipient is guardian.", field: "guardian")
        }
        let known = toGuardian ? nil
            : configuration.regularRecipient(request.recipient)
        // The register whose data leaves: named, or the recipient's own, or the tenant's only one.
        let register: RegisterDefinition
        if let named = request.register {
            guard let found = configuration.registers.first(where: { $0.id == named }) else {
                throw DomainError(.invalid, "unknown-register", "The tenant keeps no register \(named.prefix(64)).", field: "register")
            }
            register = found
        } else if let own = known?.0 {
            register = own
        } else if configuration.registers.count == 1, let only = configuration.registers.first {
            register = only
        } else {
            throw DomainError(.invalid, "invalid-field", "register names the register whose data is handed over (the tenant keeps several).", field: "register")
        }
        let basis = toGuardian ? Self.guardianBasis : request.legalBasis ?? known?.1.legalBasis
        let consentPurpose = known?.1.requiresConsent == true ? (known?.1.consentPurpose ?? known?.1.feed?.consentPurpose) : nil
        let entitled = known?.1.feed?.protectedData == true
        var records: [PersonRecord] = []
        for subject in request.subjects {
            records.append(try await registry.person(subject, in: tenant))
        }
        func refuse(_ reason: String, _ detail: String) async throws -> Outcome {
            let refused = DisclosureRefused(recipient: request.recipient, recipientPerson: request.guardian, channel: request.channel, subjects: request.subjects,
                                            fields: request.fields, reason: reason, detail: detail)
            let result = try await registry.store.append([ProposedEvent(stream: stream, eventType: DisclosureRefused.eventType, subjects: request.subjects,
                                                                        payload: try JSONEncoder().encode(refused))], to: tenant, metadata: metadata)
            return .refused(position: result.positions[0], reason: reason, detail: detail)
        }
        if let guardian = request.guardian {
            // Each subject's guardian (trustee, representative), and no prohibition of the minor's (O9). Events do not say
            // which register they belong to, so a prohibition in any family-services register of the tenant stops every
            // hand-over of the child's data to that guardian, whichever register the request names.
            for record in records {
                if let (reason, detail) = registry.guardianOutputRefusal(of: record, to: guardian, registers: configuration.registers) {
                    return try await refuse(reason, detail)
                }
            }
        } else if known?.1.requiresConsent == true {
            guard let purpose = consentPurpose else {
                return try await refuse("no-consent", "The recipient depends on consent, and the tenant file names no consent purpose for it.")
            }
            if let missing = records.first(where: { $0.consents[purpose]?.inForce != true }) {
                return try await refuse("no-consent", "No consent for \(purpose) is in force for \(missing.id).")
            }
        } else if basis == nil {
            return try await refuse("no-legal-basis", "The recipient is not a regular recipient with a legal basis, and none was stated.")
        }
        // A recipient whose feed the tenant file defines receives, by hand too, no more than its feed's fields.
        if let allowed = known?.1.feed?.fields, let extra = request.fields.first(where: { !allowed.contains($0) }) {
            return try await refuse("fields-not-covered", "\(request.recipient) receives \(allowed.map(\.rawValue).joined(separator: ", ")), not \(extra.rawValue).")
        }
        let protected = Set(request.fields).intersection(FeedField.protected)
        if !protected.isEmpty, !entitled, let person = records.first(where: \.nonDisclosure) {
            return try await refuse("protected-data", "\(person.id) is under a non-disclosure order; the recipient is not entitled to \(protected.map(\.rawValue).sorted().joined(separator: ", ")).")
        }
        let (restrictionsVersion, restrictions) = try await registry.restrictionState(in: tenant)
        if let restricted = records.first(where: { restrictions[$0.id] != nil }) {
            return try await refuse("restricted", "Processing of \(restricted.id)'s data is restricted (O21): nothing of them is handed over.")
        }
        if let erased = records.first(where: \.isErased) {
            throw DomainError(.rule, "erased", "\(erased.id) has been erased; nothing of them can be handed over.", field: "subjects")
        }
        // The events whose data leaves: each subject's events that carry one of the fields handed over.
        let feed = FeedDefinition(events: Array(FeedField.eventTypes), fields: request.fields, protectedData: entitled)
        let reader = FeedReader(registry: registry)
        var disclosed: [DisclosedEvent] = []
        var items: [FeedItem] = []
        for record in records {
            var events = try await registry.store.readStream(RegisterStreams.person(record.id), of: tenant)
            let attendanceFields: Set<FeedField> = [.date, .time, .absence]
            if !attendanceFields.isDisjoint(with: request.fields) {
                // Attendance lives in a stream per month: every month of every placement, up to today.
                let today = LocalDate.today(at: registry.now())
                var months = Set<String>()
                for placement in record.placements {
                    var day = LocalDate.firstOfMonth(placement.start)
                    let last = min(placement.end ?? today, today)
                    while day <= last {
                        months.insert(day.monthKey)
                        day = LocalDate.firstOfMonth(day.adding(days: 31))
                    }
                }
                for month in months.sorted() {
                    events += try await registry.store.readStream(RegisterStreams.attendance(record.id, month: month), of: tenant)
                }
            }
            // Only the values in force: of a person's details, each field from the event that set its current value
            // (an old address, or a value since rectified as wrong, is not handed over).
            let current = try Self.currentValueEvents(events).mapValues(\.position.rawValue)
            for event in events where FeedField.eventTypes.contains(event.eventType) {
                guard var data = try await reader.data(of: event, for: feed, record: record) else { continue }
                if FeedReader.detailEvents.contains(event.eventType) {
                    data = data.filter { current[$0.key] == event.position.rawValue }
                }
                guard !data.isEmpty else { continue }
                disclosed.append(DisclosedEvent(position: event.position.rawValue, hash: event.hash.hex, eventType: event.eventType, subject: record.id,
                                                fields: request.fields.filter { data[$0.rawValue] != nil }))
                items.append(FeedItem(cursor: FeedCursor(event.position).text, position: event.position.rawValue, type: event.eventType,
                                      recordedAt: event.recordedAt.description, subject: record.id.description, data: data))
            }
        }
        disclosed.sort { $0.position < $1.position }
        items.sort { $0.position < $1.position }
        let recorded = DataDisclosed(recipient: request.recipient, recipientPerson: request.guardian, register: register.id, channel: request.channel,
                                     legalBasis: known?.1.requiresConsent == true ? nil : basis,
                                     consentPurpose: consentPurpose, subjects: request.subjects, fields: request.fields, events: disclosed)
        let payload = try recorded.sortedJSON()
        guard payload.count <= 900_000 else {
            throw DomainError(.invalid, "too-large", "This hand-over names \(disclosed.count) events, more than one record holds; split it (fewer subjects or fields).",
                              field: "subjects")
        }
        var expecting: [StreamRef: ExpectedVersion] = [RestrictionStreams.all: restrictionsVersion == 0 ? .noStream : .exact(restrictionsVersion)]
        for record in records { expecting[RegisterStreams.person(record.id)] = .exact(record.version) }
        let result = try await registry.store.append([ProposedEvent(stream: stream, eventType: DataDisclosed.eventType, schemaVersion: DataDisclosed.schemaVersion,
                                                                    subjects: request.subjects,
                                                                    payload: payload)], to: tenant, metadata: metadata, expecting: expecting)
        return .disclosed(position: result.positions[0], items: items)
    }
}

extension TenantConfiguration {
    /// A regular recipient of one of the tenant's registers, with that register.
    public func regularRecipient(_ id: String) -> (RegisterDefinition, Recipient)? {
        registers.lazy.compactMap { register in register.recipients.first { $0.id == id }.map { (register, $0) } }.first
    }
}

extension ManualDisclosure {
    /// For each field of a person's details (by its feed field name), the event of the person's stream that set its
    /// current value: what a hand-over of that field names as its source.
    static func currentValueEvents(_ events: [RecordedEvent]) throws -> [String: RecordedEvent] {
        var current: [String: RecordedEvent] = [:]
        for event in events {
            switch event.eventType {
            case PersonRegistered.eventType:
                for field in PersonField.allCases { current[field.rawValue] = event }
                for field in [FeedField.identityCode, .birthDate, .kind] { current[field.rawValue] = event }
            case PersonDetailsChanged.eventType:
                for field in try JSONDecoder().decode(PersonDetailsChanged.self, from: event.payload).fields { current[field.rawValue] = event }
            case PersonDetailsRectified.eventType:
                for field in try JSONDecoder().decode(PersonDetailsRectified.self, from: event.payload).fields { current[field.rawValue] = event }
            default:
                break
            }
        }
        return current
    }
}

extension LocalDate {
    /// The first day of this date's month.
    static func firstOfMonth(_ date: LocalDate) -> LocalDate { (try? LocalDate(year: date.year, month: date.month, day: 1)) ?? date }
}
