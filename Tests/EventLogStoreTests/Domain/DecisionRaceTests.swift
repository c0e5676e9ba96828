import EventLog
import Foundation
import Register
import Synchronization
import TestSupport
import Testing

/// A feed page decides what may leave (restrictions, consents, scope, non-disclosure) and then records the
/// disclosure; what is recorded in between must not be overtaken. These tests put a restriction or a consent
/// withdrawal exactly there, on real stores, through a store that runs it just before the page's record is appended.
@Suite("Decisions that change while they are made: feeds, hand-overs, commands")
struct DecisionRaceTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-registry", role: "registry"))
    static let partnerMetadata = EventMetadata(actor: try! Actor(userID: "token:test", role: "partner"))

    /// The real store, with `before` run once just before the first append of an event of `types` (by default, those
    /// that record a disclosure).
    final class InterleavingStore: EventStore {
        let inner: any EventStore
        let types: Set<String>
        let before: Mutex<(@Sendable () async throws -> Void)?>

        init(_ inner: any EventStore, types: Set<String> = [DataDisclosed.eventType, FeedItemsHeld.eventType], before: @escaping @Sendable () async throws -> Void) {
            self.inner = inner
            self.types = types
            self.before = Mutex(before)
        }

        func append(_ events: [ProposedEvent], to tenant: TenantID, metadata: EventMetadata, expecting: [StreamRef: ExpectedVersion]) async throws -> AppendResult {
            if events.contains(where: { types.contains($0.eventType) }),
               let hook = before.withLock({ hook in defer { hook = nil }; return hook }) {
                try await hook()
            }
            return try await inner.append(events, to: tenant, metadata: metadata, expecting: expecting)
        }
        func read(_ tenant: TenantID, after position: LogPosition, through: LogPosition?, limit: Int, filter: EventFilter) async throws -> [RecordedEvent] {
            try await inner.read(tenant, after: position, through: through, limit: limit, filter: filter)
        }
        func readStream(_ stream: StreamRef, of tenant: TenantID, afterVersion: Int64, limit: Int) async throws -> [RecordedEvent] {
            try await inner.readStream(stream, of: tenant, afterVersion: afterVersion, limit: limit)
        }
        func head(of tenant: TenantID) async throws -> LogHead { try await inner.head(of: tenant) }
        func tenants() async throws -> [TenantID] { try await inner.tenants() }
        func shred(_ subject: SubjectID, in tenant: TenantID, recordedBy event: ProposedEvent, metadata: EventMetadata) async throws -> AppendResult {
            try await inner.shred(subject, in: tenant, recordedBy: event, metadata: metadata)
        }
        func importLog(_ source: any LogImportSource, into tenant: TenantID) async throws -> LogImportSummary { try await inner.importLog(source, into: tenant) }
        var wakeups: LogWakeups { inner.wakeups }
        func tenantKey(of tenant: TenantID) async throws -> StoredTenantKey? { try await inner.tenantKey(of: tenant) }
        func insertTenantKey(_ key: StoredTenantKey, of tenant: TenantID) async throws -> StoredTenantKey { try await inner.insertTenantKey(key, of: tenant) }
        func subjectKeys(_ subjects: [SubjectID], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
            try await inner.subjectKeys(subjects, of: tenant)
        }
        func insertSubjectKeys(_ keys: [SubjectID: Data], of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] {
            try await inner.insertSubjectKeys(keys, of: tenant)
        }
        func allSubjectKeys(of tenant: TenantID) async throws -> [SubjectID: StoredSubjectKey] { try await inner.allSubjectKeys(of: tenant) }
    }

    /// Two placed children of the tenant, each with consent to disclosure to the school.
    static func children(_ registry: Registry, _ configuration: TenantConfiguration, _ tenant: TenantID) async throws -> [PersonID] {
        var children: [PersonID] = []
        let guardian = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Huoltaja", last: "Kilpa")), source: .client,
                                                   in: tenant, by: metadata)
        for name in ["Eka", "Toka"] {
            let child = try await registry.register(.child, details: PersonDetails(name: PersonName(first: name, last: "Kilpa"), birthDate: try LocalDate("2022-04-04")),
                                                    source: .client, in: tenant, by: metadata)
            _ = try await registry.place(child, unit: RegistryTests.unit, arrangement: .municipal, start: try LocalDate("2026-08-01"), end: nil,
                                         serviceNeed: ServiceNeed(hoursPerWeek: 40), configuration: configuration, in: tenant, by: metadata)
            try await registry.addRelationship(.guardian, of: guardian, to: child, source: .client, in: tenant, by: metadata)
            try await registry.giveConsent("school-disclosure", for: child, givenBy: guardian, in: tenant, by: metadata)
            children.append(child)
        }
        return children
    }

    @Test("a restriction or a consent withdrawal recorded while a page is made: the page is made again, and nothing of the person leaves",
          arguments: StoreKind.tested, ["restriction", "withdrawal"])
    func decisionOvertaken(kind: StoreKind, change: String) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let direct = Registry(store: fixture.store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let children = try await Self.children(direct, configuration, tenant)
            let target = children[0]
            let store = InterleavingStore(fixture.store) {
                if change == "restriction" {
                    try await direct.restrict(target, grounds: .objection, reason: "Vastustaa", in: tenant, by: Self.metadata)
                } else {
                    try await direct.withdrawConsent("school-disclosure", for: target, withdrawnBy: nil, in: tenant, by: Self.metadata)
                }
            }
            let registry = Registry(store: store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let partner = try #require(FeedReader.Partner(change == "restriction" ? "varda" : "school", in: configuration))
            let page = try await FeedReader(registry: registry).page(for: partner, after: FeedCursor(.start), limit: 100, in: tenant, by: Self.partnerMetadata)

            let subjects = Set(page.items.compactMap(\.subject))
            #expect(!subjects.contains(target.description) && subjects.contains(children[1].description), "the other child left, this one did not")
            let records = try await fixture.store.readStream(DisclosureStreams.recipient(partner.recipient.id), of: tenant)
                .filter { $0.eventType == DataDisclosed.eventType }.map { try JSONDecoder().decode(DataDisclosed.self, from: $0.payload) }
            #expect(records.count == 1 && !records[0].subjects.contains(target), "the record made on the overtaken decision was never written")
            if change == "restriction" {
                #expect(!(try await fixture.store.readStream(FeedItemsHeld.stream(recipient: "varda", person: target), of: tenant)).isEmpty,
                        "held for the lift")
            }
        }
    }

    @Test("a consent withdrawn while a hand-over is decided: it is decided again, refused, and the refusal recorded", arguments: StoreKind.tested)
    func handOverOvertaken(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let direct = Registry(store: fixture.store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let child = try await Self.children(direct, configuration, tenant)[0]
            let store = InterleavingStore(fixture.store) {
                try await direct.withdrawConsent("school-disclosure", for: child, withdrawnBy: nil, in: tenant, by: Self.metadata)
            }
            let registry = Registry(store: store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let outcome = try await ManualDisclosure(registry: registry).record(
                .init(recipient: "school", subjects: [child], fields: [.name], legalBasis: nil, channel: "manual"), configuration: configuration, in: tenant, by: Self.metadata)
            guard case .refused(_, let reason, _) = outcome else {
                Issue.record("handed over after the consent was withdrawn: \(outcome)")
                return
            }
            #expect(reason == "no-consent")
            let records = try await fixture.store.readStream(DisclosureStreams.recipient("school"), of: tenant).map(\.eventType)
            #expect(records == [DisclosureRefused.eventType], "no disclosure record, the refusal recorded")
        }
    }

    @Test("a restriction recorded while a change of the person is made: the change is refused, and nothing of it written", arguments: StoreKind.tested,
          ["details", "care-time"])
    func commandOvertaken(kind: StoreKind, command: String) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let configuration = try RegistryTests.configuration(tenant)
            let direct = Registry(store: fixture.store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let child = try await Self.children(direct, configuration, tenant)[0]
            let store = InterleavingStore(fixture.store, types: [PersonDetailsChanged.eventType, CareTimeBooked.eventType]) {
                try await direct.restrict(child, grounds: .accuracyContested, reason: "Kiistää", in: tenant, by: Self.metadata)
            }
            let registry = Registry(store: store, keyRing: fixture.keyRing, now: ProjectionFixture.clock)
            let error = await #expect(throws: DomainError.self) {
                if command == "details" {
                    try await registry.changeDetails(of: child, PersonDetailsPatch(phone: "040 123 4567"), source: .client, in: tenant, by: Self.metadata)
                } else {
                    try await registry.bookCareTime(for: child, on: try LocalDate("2026-11-25"), from: try LocalTime(minutes: 480), to: try LocalTime(minutes: 960),
                                                    in: tenant, by: Self.metadata)
                }
            }
            #expect(error?.code == "restricted")
            let written = try await fixture.store.read(tenant, after: .start, through: nil, limit: 10_000, filter: EventFilter(eventTypes: [PersonDetailsChanged.eventType, CareTimeBooked.eventType]))
            #expect(written.isEmpty, "nothing of the change was written after the restriction")
        }
    }
}
