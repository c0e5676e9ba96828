import EventLog
import EventLogPostgres
import Foundation
import Projections
import Register
import TestSupport
import Testing

/// A log store with a read-model store beside it, as the service opens them: another SQLite file, or the
/// `register_readmodels` schema of the same PostgreSQL database (migrated by the owner, used by the application role).
struct ProjectionFixture: Sendable {
    let log: StoreFixture
    let readModels: any ReadModelStore
    let registry: Registry

    func engine(_ projections: [any Projection] = RegisterProjections.all, batchSize: Int = 2_000) -> ProjectionEngine {
        var engine = ProjectionEngine(log: log.store, readModels: readModels, projections: projections, logger: TestLogging.logger)
        engine.batchSize = batchSize
        engine.rebuildBatchSize = batchSize
        return engine
    }

    var queries: RegisterReadModels { RegisterReadModels(store: readModels, keyRing: log.keyRing) }

    static let clock: @Sendable () -> Date = { ISO8601DateFormatter().date(from: "2026-11-24T10:00:00Z")! }

    static func with(_ kind: StoreKind, projections: [any Projection] = RegisterProjections.all, _ body: (ProjectionFixture) async throws -> Void) async throws {
        try await StoreFixture.with(kind) { log in
            let registry = Registry(store: log.store, keyRing: log.keyRing, now: clock)
            switch kind {
            case .sqlite:
                let store = try SQLiteReadModelStore(path: SQLiteReadModelStore.path(besideLog: try #require(log.sqlitePath)))
                try await store.prepare(projections)
                try await body(ProjectionFixture(log: log, readModels: store, registry: registry))
                try store.close()
            case .postgres:
                let database = try #require(log.postgres)
                try await PostgresReadModelStore.migrate(ownerURL: database.ownerURL, applicationRole: PostgresTestServer.appRole,
                                                         projections: projections, logger: TestLogging.logger)
                let store = try PostgresReadModelStore(url: database.appURL, maximumConnections: 4, logger: TestLogging.logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await store.run() }
                    defer { group.cancelAll() }
                    try await store.prepare(projections)
                    try await body(ProjectionFixture(log: log, readModels: store, registry: registry))
                }
            }
        }
    }

    /// Every row of every table of the projections' active generations for a tenant, sorted, by table.
    func snapshot(_ tenant: TenantID, _ projections: [any Projection] = RegisterProjections.all) async throws -> [String: [ReadModelRow]] {
        var result: [String: [ReadModelRow]] = [:]
        for projection in projections {
            let rows = try await readModels.read(projection.tables.map { ReadModelQuery(projection, $0) }, tenant: tenant)
            for (table, tableRows) in zip(projection.tables, rows) {
                result["\(projection.name).\(table.name)"] = tableRows.sorted { "\($0)" < "\($1)" }
            }
        }
        return result
    }

    /// The active generation of a projection of a tenant.
    func active(_ projection: String, _ tenant: TenantID) async throws -> ProjectionState? {
        try await readModels.states(of: tenant).first { $0.projection == projection && $0.role == .active }
    }

    /// Catches every projection of the tenant up with the head of its log, in its active generation (starting one if needed).
    func catchUp(_ tenant: TenantID, engine: ProjectionEngine) async throws {
        let head = try await log.store.head(of: tenant).position
        for projection in engine.projections {
            var state = try await active(projection.name, tenant)
            if state == nil {
                state = try await readModels.startGeneration(of: projection, tenant: tenant, slot: .a, role: .active, at: .now())
            }
            let outcome = try await engine.catchUp(projection, tenant: tenant, slot: state!.slot, from: state!.position, through: head)
            #expect(outcome == .reached(head))
        }
    }
}

/// Drives the register's commands from a list of numbers, so that property tests generate valid domain histories:
/// people, links, non-disclosure, details, placements with ends and service needs, consents, bookings, arrivals,
/// departures and absences. Commands the rules refuse are skipped (a refusal writes nothing).
struct HistoryGenerator {
    let registry: Registry
    let tenant: TenantID
    let configuration: TenantConfiguration
    static let metadata = EventMetadata(actor: try! Actor(userID: "u-generator", role: "director"))
    static let units = ["paivakoti-esimerkki", "perhepaivahoito-esimerkki", "yksityinen-paivakoti-esimerkki"]
    static let start = try! LocalDate("2026-08-01")

    var children: [PersonID] = []
    var guardians: [PersonID] = []
    var placements: [(child: PersonID, id: UUID, unit: String, start: LocalDate)] = []
    var consents: [(PersonID, String)] = []
    var seed: Int

    init(registry: Registry, tenant: TenantID, configuration: TenantConfiguration, seed: Int) {
        self.registry = registry
        self.tenant = tenant
        self.configuration = configuration
        self.seed = seed
    }

    mutating func run(_ operation: Int) async throws {
        let pick = abs(operation)
        do {
            let operation = children.count < 2 ? 0 : guardians.isEmpty ? 1 : pick % 14
            switch operation {
            case 0:
                seed += 1
                let details = PersonDetails(identityCode: IdentityCodes.testCode(seed: seed), name: PersonName(first: "Lapsi\(seed)", last: "Testinen"),
                                            homeMunicipality: try MunicipalityCode(pick % 2 == 0 ? "049" : "091"), motherTongue: pick % 3 == 0 ? "sv" : "fi")
                children.append(try await registry.register(.child, details: details, nonDisclosure: pick % 7 == 0, source: .client, in: tenant, by: Self.metadata))
            case 1 where guardians.count < 4:
                // (with four guardians, operation 1 links instead, as 2 does)
                seed += 1
                let details = PersonDetails(name: PersonName(first: "Huoltaja\(seed)", last: "Testinen"), birthDate: try LocalDate("1990-01-01"),
                                            phone: "+358 40 000 \(1000 + seed % 9000)")
                guardians.append(try await registry.register(.guardian, details: details, source: .client, in: tenant, by: Self.metadata))
            case 1, 2:
                try await registry.addRelationship(.guardian, of: guardians[pick % guardians.count], to: children[pick % children.count], source: .client,
                                                   in: tenant, by: Self.metadata)
            case 3 where (pick / 14) % 10 == 7:
                // Now and then a child is erased on request (no retention rule keeps anything here): later operations
                // on them are refused, as in real histories.
                var registers = configuration.registers
                for index in registers.indices { registers[index].retention = [] }
                _ = try await registry.requestErasure(of: children[pick % children.count], requester: nil, registers: registers, in: tenant, by: Self.metadata)
            case 3:
                try await registry.endRelationship(.guardian, of: guardians[pick % guardians.count], to: children[pick % children.count], in: tenant, by: Self.metadata)
            case 4:
                let start = Self.start.adding(days: pick % 60)
                let end: LocalDate? = pick % 3 == 0 ? start.adding(days: 20 + pick % 40) : nil
                let child = children[pick % children.count]
                let unit = Self.units[pick % 3]
                let arrangement: Arrangement = unit == "yksityinen-paivakoti-esimerkki" ? .serviceVoucher : pick % 5 == 0 ? .purchasedService : .municipal
                let id = try await registry.place(child, unit: unit, arrangement: arrangement, start: start, end: end,
                                                  serviceNeed: ServiceNeed(hoursPerWeek: 20 + pick % 20), configuration: configuration, in: tenant, by: Self.metadata)
                placements.append((child, id, unit, start))
            case 5 where !placements.isEmpty:
                let placement = placements[pick % placements.count]
                try await registry.endPlacement(placement.id, of: placement.child, on: Self.start.adding(days: 30 + pick % 60), in: tenant, by: Self.metadata)
            case 6 where !placements.isEmpty:
                let placement = placements[pick % placements.count]
                try await registry.changeServiceNeed(of: placement.id, child: placement.child, from: Self.start.adding(days: pick % 90),
                                                     to: ServiceNeed(hoursPerWeek: 10 + pick % 30), in: tenant, by: Self.metadata)
            case 7:
                let purpose = ["photo-permission", "school-disclosure"][(pick / 14) % 2]
                if (pick / 28) % 3 == 0, !consents.isEmpty {
                    let (child, given) = consents.remove(at: pick % consents.count)
                    try await registry.withdrawConsent(given, for: child, withdrawnBy: nil, in: tenant, by: Self.metadata)
                } else {
                    // A child's consent is given by a guardian: link one first (a link that exists already is refused, harmlessly).
                    let child = children[pick % children.count], guardian = guardians[pick % guardians.count]
                    try? await registry.addRelationship(.guardian, of: guardian, to: child, source: .client, in: tenant, by: Self.metadata)
                    try await registry.giveConsent(purpose, for: child, givenBy: guardian, validFrom: Self.start, in: tenant, by: Self.metadata)
                    if !consents.contains(where: { $0.0 == child && $0.1 == purpose }) { consents.append((child, purpose)) }
                }
            case 8, 9:
                guard !placements.isEmpty else { return }
                let placement = placements[pick % placements.count]
                let date = placement.start.adding(days: pick % 15)
                try await registry.recordArrival(of: placement.child, on: date, at: try LocalTime(minutes: 420 + pick % 120), unit: placement.unit, in: tenant, by: Self.metadata)
                if pick % 4 != 0 {
                    try await registry.recordDeparture(of: placement.child, on: date, at: try LocalTime(minutes: 900 + pick % 60), in: tenant, by: Self.metadata)
                }
            case 10 where !placements.isEmpty:
                let placement = placements[pick % placements.count]
                try await registry.bookCareTime(for: placement.child, on: placement.start.adding(days: pick % 15), from: try LocalTime(minutes: 480),
                                                to: try LocalTime(minutes: 960 - pick % 60), in: tenant, by: Self.metadata)
            case 11 where !placements.isEmpty:
                let placement = placements[pick % placements.count]
                try await registry.markAbsence(of: placement.child, on: placement.start.adding(days: pick % 15), kind: AbsenceKind.allCases[pick % 4],
                                               in: tenant, by: Self.metadata)
            case 12 where (pick / 14) % 4 == 1:
                _ = try await registry.rectify(children[pick % children.count], PersonDetailsPatch(motherTongue: pick % 2 == 0 ? "sv" : "fi"),
                                               requestedBy: nil, reason: "Korjattu väestötietojen mukaan", in: tenant, by: Self.metadata)
            case 12:
                try await registry.changeDetails(of: children[pick % children.count], PersonDetailsPatch(motherTongue: pick % 2 == 0 ? "en" : "fi"),
                                                 source: .populationRegister, in: tenant, by: Self.metadata)
            case 13:
                try await registry.setNonDisclosure(of: children[pick % children.count], to: pick % 2 == 0, source: .populationRegister, in: tenant, by: Self.metadata)
            default:
                break
            }
        } catch is DomainError {
            // Refused by a rule: nothing was written, which is part of a valid history too.
        } catch let error as EventLogError where error.code == .subjectErased {
            // Refused by the store: new sealed data about an erased person.
        }
    }
}
