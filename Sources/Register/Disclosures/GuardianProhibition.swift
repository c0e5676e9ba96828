import EventLog
import Foundation

// The minor's prohibition of disclosure to a guardian (O9; Act on the status and rights of social-welfare clients
// 812/2000, § 11): a minor who can assess the matter may, for a weighty reason, forbid disclosing their data to
// their legal representative. It binds a family-services register only (DOMAIN.md: ECEC follows other rules), so a
// prohibition names the register, and each output to a guardian — a hand-over, a printed report, the report of who
// has used the child's data — checks it (`Registry.guardianOutputRefusal`).

/// A minor forbade disclosing their data in a family-services register to one of their guardians. On the child's
/// stream; the reason is sealed under the child's key (it often is the weighty reason itself).
public struct GuardianDisclosureProhibited: RegisterEvent {
    public static let eventType = "GuardianDisclosureProhibited"
    public var guardian: PersonID
    /// The family-services register whose data the prohibition covers.
    public var register: String
    public var reason: Personal<String>
}

/// The prohibition no longer holds (the minor withdrew it, or it was found clearly against the minor's interest).
public struct GuardianDisclosureProhibitionLifted: RegisterEvent {
    public static let eventType = "GuardianDisclosureProhibitionLifted"
    public var guardian: PersonID
    public var register: String
    public var reason: Personal<String>
}

extension PersonRecord {
    /// A prohibition in force: the guardian it names and the register it covers.
    public struct GuardianProhibition: Sendable, Hashable {
        public var guardian: PersonID
        public var register: String
        public var since: Timestamp
        /// Nil when read without keys.
        public var reason: String?
    }

    /// Whether this child has forbidden disclosing their data in `register` to `guardian`.
    public func forbidsDisclosure(to guardian: PersonID, in register: String) -> Bool {
        guardianProhibitions.contains { $0.guardian == guardian && $0.register == register }
    }
}

extension Registry {
    /// The age below which a person is a minor.
    static let majority = 18

    /// Records a minor's prohibition of disclosing their data in a family-services register to one of their guardians.
    public func prohibitDisclosureToGuardian(of child: PersonID, guardian: PersonID, register: String, reason: String,
                                             configuration: TenantConfiguration, in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        try Self.familyServicesRegister(register, in: configuration)
        let today = LocalDate.today(at: now())
        // The child's own request: a restriction of processing does not stop it.
        try await execute(on: child, in: tenant, by: metadata, whileRestricted: true) { record in
            try Self.requireChild(record)
            guard record.isLinked(guardian, as: [.guardian]) else {
                throw DomainError(.rule, "not-a-guardian", "\(guardian) is not a guardian of this child.", field: "guardian")
            }
            guard let born = try await person(child, in: tenant).details?.birthDate else {
                throw DomainError(.rule, "birth-date-unknown", "The child's birth date is not recorded, so it is not known that they are a minor.")
            }
            guard born.years(until: today) < Self.majority else {
                throw DomainError(.rule, "not-a-minor", "The prohibition is a minor's right; this person is of age, and their data goes to no guardian.")
            }
            if record.forbidsDisclosure(to: guardian, in: register) { return [] }
            let prohibited = GuardianDisclosureProhibited(guardian: guardian, register: register, reason: .clear(reason, subject: child))
            // The child is the subject; the guardian is named in the payload only, so the guardian's own access report
            // does not reveal the prohibition (it often protects the child from that guardian).
            return [try await event(child, prohibited, subjects: [child], in: tenant)]
        }
    }

    /// Lifts a prohibition in force.
    public func liftGuardianProhibition(of child: PersonID, guardian: PersonID, register: String, reason: String,
                                        in tenant: TenantID, by metadata: EventMetadata) async throws {
        let reason = try Check.text(reason, field: "reason", limit: 2_000)
        try await execute(on: child, in: tenant, by: metadata) { record in
            guard record.forbidsDisclosure(to: guardian, in: register) else {
                throw DomainError(.notFound, "not-found", "No prohibition of disclosure to \(guardian) in \(register) is in force.", field: "guardian")
            }
            let lifted = GuardianDisclosureProhibitionLifted(guardian: guardian, register: register, reason: .clear(reason, subject: child))
            return [try await event(child, lifted, subjects: [child], in: tenant)]
        }
    }

    /// Why an output of `subject`'s data in `registers` to `recipient` (acting as their guardian) may not be made, or
    /// nil when it may: `recipient` must be the subject themself or their current guardian, trustee or authorised
    /// representative, and no prohibition of the minor's may cover one of the registers.
    public func guardianOutputRefusal(of subject: PersonRecord, to recipient: PersonID, registers: [RegisterDefinition]) -> (reason: String, detail: String)? {
        if recipient == subject.id { return nil }
        guard subject.isLinked(recipient, as: [.guardian, .trustee, .representative]) else {
            return ("not-representative", "\(recipient) is not a guardian, trustee or representative of \(subject.id).")
        }
        for register in registers where register.scope == .familyServices && subject.forbidsDisclosure(to: recipient, in: register.id) {
            return ("minor-prohibition", "\(subject.id) has forbidden disclosing their data in \(register.id) to this guardian (O9).")
        }
        return nil
    }

    /// Records a refused output to a person (a guardian asking for a report), like any refused hand-over.
    public func recordRefusedOutput(to recipient: PersonID, subjects: [PersonID], reason: String, detail: String, channel: String,
                                    in tenant: TenantID, by metadata: EventMetadata) async throws -> LogPosition {
        let refused = DisclosureRefused(recipient: ManualDisclosure.guardianRecipient, recipientPerson: recipient, channel: channel, subjects: subjects,
                                        fields: [], reason: reason, detail: detail)
        let result = try await store.append([ProposedEvent(stream: DisclosureStreams.recipient(ManualDisclosure.guardianRecipient), eventType: DisclosureRefused.eventType,
                                                           subjects: subjects, payload: try JSONEncoder().encode(refused))], to: tenant, metadata: metadata)
        return result.positions[0]
    }

    @discardableResult
    static func familyServicesRegister(_ id: String, in configuration: TenantConfiguration) throws(DomainError) -> RegisterDefinition {
        guard let register = configuration.registers.first(where: { $0.id == id }) else {
            throw DomainError(.invalid, "unknown-register", "The tenant keeps no register \(id.prefix(64)).", field: "register")
        }
        guard register.scope == .familyServices else {
            throw DomainError(.rule, "not-family-services",
                              "A minor's prohibition of disclosure to a guardian binds family-services registers; \(register.id) follows the \(register.scope.rawValue) rules.",
                              field: "register")
        }
        return register
    }
}
