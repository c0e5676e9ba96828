import EventLog
import Foundation
import Register
import TestSupport
import Testing

@Suite("Population-register import (JSON Lines)")
struct PopulationImportTests {
    static let metadata = EventMetadata(actor: try! Actor(userID: "import-job", role: "population-register-import"))

    @Test("a malformed file is reported line by line and nothing is parsed into changes")
    func malformed() throws {
        let file = """
            {"identityCode": "\(IdentityCodes.testCode(seed: 1))", "homeMunicipality": "444"}

            {"identityCode": "010101A900S", "homeMunicipality": "444"}
            {"identityCode": "\(IdentityCodes.testCode(seed: 2))", "homeMunicipality": 444}
            not json
            {"identityCode": "\(IdentityCodes.testCode(seed: 3))", "street": "Kotikatu 1"}
            {"identityCode": "\(IdentityCodes.testCode(seed: 4))"}
            {"identityCode": "\(IdentityCodes.testCode(seed: 5))", "nonDisclosure": 1}
            {"identityCode": "\(IdentityCodes.testCode(seed: 1))", "motherTongue": "sv"}
            """
        let error = try #require(throws: PopulationFileError.self) { try PopulationFile.parse(Data(file.utf8)) }
        #expect(error.problems.map(\.line) == [3, 4, 5, 6, 7, 8, 9])
        #expect(error.problems[0].message.contains("identityCode"))
        #expect(error.problems[3].message.contains("unknown key street"))
        #expect(!error.description.contains("010101A900S"), "the report does not repeat identity codes")
    }

    @Test("changes become events naming the population register and the file's line; the same file again changes nothing", arguments: StoreKind.tested)
    func importChanges(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing)
            let child = try await registry.register(.child, details: PersonDetails(
                identityCode: IdentityCodes.testCode(seed: 11), name: PersonName(first: "Aino", last: "Virtanen"),
                address: PostalAddress(street: "Vanha tie 1", postalCode: "08100", city: "Lohja"), homeMunicipality: try MunicipalityCode("444"), motherTongue: "fi"),
                source: .client, in: tenant, by: Self.metadata)
            let file = Data("""
                {"identityCode": "\(IdentityCodes.testCode(seed: 11))", "effective": "2026-11-20", "address": {"street": "Uusi tie 2", "postalCode": "08200", "city": "Lohja"}, "nonDisclosure": true}
                {"identityCode": "\(IdentityCodes.testCode(seed: 12))", "homeMunicipality": "049"}
                """.utf8)
            let updates = try PopulationFile.parse(file)
            let summary = try await registry.importPopulation(updates, fileDigest: PopulationFile.digest(file), in: tenant, by: Self.metadata)
            #expect(summary.peopleChanged == 1 && summary.events == 2 && summary.notInRegister == 1)
            let record = try await registry.person(child, in: tenant)
            #expect(record.details?.address?.street == "Uusi tie 2")
            #expect(record.nonDisclosure)
            let events = try await fixture.store.readStream(RegisterStreams.person(child), of: tenant)
            let text = String(decoding: events[1].payload, as: UTF8.self)
            #expect(text.contains("population-register") && text.contains("sha256:\(PopulationFile.digest(file))#1"))
            #expect(!text.contains("Uusi tie"))

            let head = try await fixture.store.head(of: tenant)
            let again = try await registry.importPopulation(updates, fileDigest: PopulationFile.digest(file), in: tenant, by: Self.metadata)
            #expect(again.unchanged == 1 && again.events == 0)
            #expect(try await fixture.store.head(of: tenant) == head)
        }
    }

    @Test("where protected addresses are not stored (seed 002's register), none is imported, registered or given, and an order clears the address",
          arguments: StoreKind.tested)
    func protectedAddressesNotStored(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { fixture in
            let tenant = Events.tenant()
            let registry = Registry(store: fixture.store, keyRing: fixture.keyRing)
            let address = PostalAddress(street: "Näkyvä tie 1", postalCode: "08100", city: "Lohja")
            let known = try await registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: 21), name: PersonName(first: "Eino", last: "Ahonen"),
                                                                                   address: address), source: .client, storesProtectedAddresses: false,
                                                    in: tenant, by: Self.metadata)
            let protected = try await registry.register(.child, details: PersonDetails(identityCode: IdentityCodes.testCode(seed: 22), name: PersonName(first: "Siiri", last: "Salo"),
                                                                                       address: PostalAddress(street: "Salainen 2", postalCode: "08100", city: "Lohja")),
                                                        nonDisclosure: true, source: .client, storesProtectedAddresses: false, in: tenant, by: Self.metadata)
            #expect(try await registry.person(protected, in: tenant).details?.address == nil, "registered without the address")
            let refused = await #expect(throws: DomainError.self) {
                try await registry.changeDetails(of: protected, PersonDetailsPatch(address: address), source: .staff, storesProtectedAddresses: false,
                                                 in: tenant, by: Self.metadata)
            }
            #expect(refused?.code == "address-not-stored" && refused?.field == "address")
            // The population register places an order on the first child and sends the second one's new address.
            let file = Data("""
                {"identityCode": "\(IdentityCodes.testCode(seed: 21))", "address": {"street": "Muutettu tie 3", "postalCode": "08100", "city": "Lohja"}, "nonDisclosure": true}
                {"identityCode": "\(IdentityCodes.testCode(seed: 22))", "address": {"street": "Salainen 4", "postalCode": "08100", "city": "Lohja"}}
                """.utf8)
            let summary = try await registry.importPopulation(try PopulationFile.parse(file), fileDigest: PopulationFile.digest(file), storesProtectedAddresses: false,
                                                              in: tenant, by: Self.metadata)
            #expect(summary.peopleChanged == 1 && summary.unchanged == 1)
            let cleared = try await registry.person(known, in: tenant)
            #expect(cleared.nonDisclosure && cleared.details?.address == nil)
            #expect(try await registry.person(protected, in: tenant).details?.address == nil)
            // Where addresses are stored, an order keeps it (hidden by the order, not removed).
            let elsewhere = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Aila", last: "Aho"), address: address),
                                                        source: .client, in: tenant, by: Self.metadata)
            try await registry.setNonDisclosure(of: elsewhere, to: true, source: .populationRegister, in: tenant, by: Self.metadata)
            #expect(try await registry.person(elsewhere, in: tenant).details?.address == address)
            let other = try await registry.register(.guardian, details: PersonDetails(name: PersonName(first: "Olli", last: "Aho"), address: address),
                                                    source: .client, storesProtectedAddresses: false, in: tenant, by: Self.metadata)
            try await registry.setNonDisclosure(of: other, to: true, source: .populationRegister, storesProtectedAddresses: false, in: tenant, by: Self.metadata)
            #expect(try await registry.person(other, in: tenant).details?.address == nil)
        }
    }
}
