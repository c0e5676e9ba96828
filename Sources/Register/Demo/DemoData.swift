import EventLog
import Foundation

extension IdentityCode {
    /// A valid identity code in the temporary/test range (individual number 900–999) for a birth date: the only
    /// kind of code synthetic data may use.
    public static func testCode(born date: LocalDate, individual: Int) -> String {
        let number = 900 + (individual % 100)
        let century = date.year >= 2000 ? "A" : date.year >= 1900 ? "-" : "+"
        let digits = String(format: "%02d%02d%02d%03d", date.day, date.month, date.year % 100, number)
        let check = PlaintextGuard.checkCharacters[Int(digits)! % 31]
        return String(format: "%02d%02d%02d", date.day, date.month, date.year % 100) + century + String(format: "%03d", number) + String(UnicodeScalar(check))
    }
}

/// Synthetic families for a newcomer to look at: guardians and children with test-range identity codes, placements
/// in the tenant's daycare units and a few months of attendance, all written through the register's commands, so
/// every rule holds. Deterministic for a given seed.
public struct DemoData: Sendable {
    public let registry: Registry
    public var families: Int
    public var months: Int

    public init(registry: Registry, families: Int = 10, months: Int = 2) {
        self.registry = registry
        self.families = families
        self.months = months
    }

    public struct Summary: Sendable {
        public var people = 0
        public var placements = 0
        public var attendanceDays = 0
        public var feeFamilies = 0
        public var vouchers = 0
    }

    static let firstNames = ["Aino", "Eino", "Helmi", "Väinö", "Sofia", "Leo", "Olivia", "Onni", "Ella", "Elias", "Lilja", "Oliver", "Isla", "Toivo",
                             "Aada", "Eetu", "Venla", "Niilo", "Siiri", "Veeti"]
    static let adultNames = ["Maija", "Juha", "Anna", "Mikko", "Laura", "Antti", "Kaisa", "Jukka", "Hanna", "Timo", "Sari", "Pekka"]
    static let lastNames = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen", "Järvinen",
                            "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi", "Heikkilä", "Kinnunen"]

    /// Generates the families of one tenant; `progress` is called after each family.
    public func generate(in configuration: TenantConfiguration, seed: UInt64, by metadata: EventMetadata,
                         progress: (Int, Int) -> Void = { _, _ in }) async throws -> Summary {
        var random = SeededRandom(seed: seed)
        let tenant = configuration.id
        let today = LocalDate.today(at: registry.now())
        let careUnits = configuration.units.filter { $0.kind != .familyServicesOffice }
        let municipality = configuration.municipalityCode
        var summary = Summary()
        // Fees and vouchers draw from a generator of their own, so adding them left the rest of the data as it was.
        var money = SeededRandom(seed: seed ^ 0x5EED_FEE5)
        for family in 0..<families {
            let last = Self.lastNames[random.next(Self.lastNames.count)]
            let street = "Demokatu \(family + 1)"
            let address = PostalAddress(street: street, postalCode: careUnits.first?.address.postalCode ?? "99999",
                                        city: careUnits.first?.address.city ?? configuration.units.first?.address.city ?? "Esimerkkilä")
            var guardians: [PersonID] = []
            for adult in 0..<(random.next(10) < 6 ? 2 : 1) {
                let born = try LocalDate(year: 1980 + random.next(15), month: 1 + random.next(12), day: 1 + random.next(28))
                let name = Self.adultNames[random.next(Self.adultNames.count)]
                let details = PersonDetails(identityCode: IdentityCode.testCode(born: born, individual: family * 7 + adult + Int(seed % 50)),
                                            name: PersonName(first: name, last: last), address: address, homeMunicipality: municipality,
                                            motherTongue: random.next(10) < 8 ? "fi" : "sv", serviceLanguage: "fi",
                                            phone: String(format: "040 %03d %04d", random.next(1000), random.next(10_000)),
                                            email: "\(name.lowercased().folding(options: .diacriticInsensitive, locale: nil)).\(family)@example.invalid")
                guardians.append(try await register(.guardian, details, tenant: tenant, metadata: metadata))
            }
            summary.people += guardians.count
            var children: [(id: PersonID, start: LocalDate?)] = []
            for childIndex in 0..<(1 + random.next(2)) {
                let born = try LocalDate(year: today.year - 1 - random.next(5), month: 1 + random.next(12), day: 1 + random.next(28))
                let details = PersonDetails(identityCode: IdentityCode.testCode(born: born, individual: family * 7 + 3 + childIndex + Int(seed % 50)),
                                            name: PersonName(first: Self.firstNames[random.next(Self.firstNames.count)], last: last), address: address,
                                            homeMunicipality: municipality, motherTongue: "fi", serviceLanguage: "fi")
                let child = try await register(.child, details, tenant: tenant, metadata: metadata)
                children.append((child, nil))
                summary.people += 1
                for guardian in guardians {
                    try await registry.addRelationship(.guardian, of: guardian, to: child, source: .demo, in: tenant, by: metadata)
                }
                if random.next(3) == 0 {
                    try await registry.giveConsent("photo-permission", for: child, givenBy: guardians[0], in: tenant, by: metadata)
                }
                guard !careUnits.isEmpty else { continue }
                let unit = careUnits[random.next(careUnits.count)]
                let start = try LocalDate(year: today.year, month: today.month, day: 1).adding(days: -31 * months)
                let firstOfMonth = try LocalDate(year: start.year, month: start.month, day: 1)
                let hours = [20, 25, 30, 35, 40, 45][random.next(6)]
                _ = try await registry.place(child, unit: unit.code, arrangement: unit.arrangements[0], start: firstOfMonth, end: nil,
                                             serviceNeed: ServiceNeed(hoursPerWeek: hours), configuration: configuration, in: tenant, by: metadata)
                summary.placements += 1
                children[children.count - 1].start = firstOfMonth
                if unit.arrangements[0] == .serviceVoucher, configuration.vouchers != nil {
                    let voucher = try await registry.grantVoucher(to: child, producer: unit.code, validFrom: firstOfMonth, validUntil: nil, hoursPerWeek: hours,
                                                                  configuration: configuration, in: tenant, by: metadata)
                    summary.vouchers += 1
                    // The producer has recorded every finished month in full.
                    var month = BillingMonth(containing: firstOfMonth)
                    while month < BillingMonth(containing: today) {
                        let days = BillingCalendar.operationalDays(in: month).count
                        try await registry.recordVoucherService(voucher, of: child, month: month, careDays: days, in: tenant, by: metadata)
                        month = month.adding(months: 1)
                    }
                }
                var day = firstOfMonth
                while day < today {
                    defer { day = day.adding(days: 1) }
                    guard day.isoWeekday <= 5 else { continue }
                    let roll = random.next(100)
                    if roll < 5 {
                        try await registry.markAbsence(of: child, on: day, kind: .sick, in: tenant, by: metadata)
                    } else if roll < 8 {
                        try await registry.markAbsence(of: child, on: day, kind: .holiday, in: tenant, by: metadata)
                    } else {
                        let arrival = try LocalTime(hour: 7, minute: 30 + random.next(30))
                        let departure = try LocalTime(hour: hours >= 35 ? 15 + random.next(2) : 13, minute: random.next(60))
                        try await registry.bookCareTime(for: child, on: day, from: try LocalTime(hour: 7, minute: 30), to: try LocalTime(hour: 16, minute: 30),
                                                        in: tenant, by: metadata)
                        try await registry.recordArrival(of: child, on: day, at: arrival, unit: unit.code, in: tenant, by: metadata)
                        try await registry.recordDeparture(of: child, on: day, at: departure, in: tenant, by: metadata)
                    }
                    summary.attendanceDays += 1
                }
            }
            // The fee family from the first placement: one in ten accepts the maximum fee, the others state incomes.
            if configuration.fees != nil, let start = children.compactMap(\.start).min() {
                _ = try await registry.createFeeFamily(adults: guardians, children: children.map(\.id), validFrom: start, source: .demo, in: tenant, by: metadata)
                for guardian in guardians {
                    let statement = money.next(10) == 0 ? IncomeStatement(acceptsMaximumFee: true)
                        : IncomeStatement(earnedCents: 150_000 + money.next(450) * 1_000, capitalCents: money.next(4) == 0 ? money.next(300) * 100 : 0)
                    try await registry.recordIncome(of: guardian, statement, validFrom: start, validUntil: nil, source: .demo, in: tenant, by: metadata)
                }
                summary.feeFamilies += 1
            }
            progress(family + 1, families)
        }
        return summary
    }

    /// Registers a person under the first free test-range identity code for their birth date.
    private func register(_ kind: PersonKind, _ details: PersonDetails, tenant: TenantID, metadata: EventMetadata) async throws -> PersonID {
        var details = details
        guard let code = details.identityCode, let birth = try? IdentityCode(code).birthLocalDate else {
            return try await registry.register(kind, details: details, source: .demo, in: tenant, by: metadata)
        }
        for individual in 0..<100 {
            details.identityCode = IdentityCode.testCode(born: birth, individual: (Int(code.dropFirst(7).prefix(3)) ?? 900) + individual)
            if try await registry.person(withIdentityCode: details.identityCode!, in: tenant) == nil { break }
        }
        return try await registry.register(kind, details: details, source: .demo, in: tenant, by: metadata)
    }
}

/// A small deterministic generator (SplitMix64), so the same seed gives the same demo data.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func nextValue() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func next(_ bound: Int) -> Int { Int(nextValue() % UInt64(bound)) }
}
