import EventLog
import Foundation
import Register
import Testing

@Suite("Tenant files")
struct TenantFileTests {
    static let tenantsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tenants").standardized

    static func poco() throws -> String {
        try String(contentsOf: tenantsDirectory.appendingPathComponent("poco-sipoo.yaml"), encoding: .utf8)
    }

    /// The shipped file with one text replacement, parsed as poco-sipoo.yaml.
    static func parse(replacing target: String, with replacement: String) throws -> Result<TenantConfiguration, TenantFileError> {
        let text = try poco()
        #expect(text.contains(target), "the fixture still contains \(target)")
        return Result { () throws(TenantFileError) in try TenantFile.parse(text.replacingOccurrences(of: target, with: replacement), file: "Tenants/poco-sipoo.yaml") }
    }

    static func line(of text: String, in document: String) -> Int? {
        document.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(text) }.map { $0 + 1 }
    }

    @Test("every shipped tenant file is valid, and each is named after its id")
    func shippedFilesAreValid() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.tenantsDirectory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 1)
        for file in files {
            let configuration = try TenantFile.load(Self.tenantsDirectory.appendingPathComponent(file))
            #expect("\(configuration.id).yaml" == file)
            #expect(configuration.registers.allSatisfy { !$0.transfersOutsideEEA && !$0.marketing && !$0.automatedDecisions })
        }
    }

    @Test("a unit's operator that is a tenant here must be that private daycare, with its business id", arguments: [
        ("poco-sipoo", "0000000-0", nil),
        ("poco-sipoo", "1234567-1", "poco-sipoo has business id 0000000-0, not 1234567-1"),
        ("lieto", "0000000-0", "lieto is not a private daycare"),
        ("kuvitteellinen", "0000000-0", "no tenant kuvitteellinen is known here"),
    ])
    func operatorTenants(tenant: String, businessID: String, expected: String?) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tenants-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["esimerkkila", "lieto", "poco-sipoo"] {
            var text = try String(contentsOf: Self.tenantsDirectory.appendingPathComponent("\(name).yaml"), encoding: .utf8)
            if name == "esimerkkila" {
                let shipped = "operatedBy: { name: Esimerkin Yksityispäiväkoti Oy (demo), businessID: \"0000000-0\" }"
                #expect(text.contains(shipped))
                text = text.replacingOccurrences(of: shipped, with: "operatedBy: { name: Esimerkin Yksityispäiväkoti Oy (demo), businessID: \"\(businessID)\", tenant: \(tenant) }")
            }
            try text.write(to: directory.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        do {
            let loaded = try TenantFile.loadDirectory(directory)
            #expect(expected == nil, "accepted")
            let unit = try #require(loaded.first { $0.id.rawValue == "esimerkkila" }?.units.first { $0.operatedBy != nil })
            #expect(unit.operatedBy?.tenant?.rawValue == "poco-sipoo")
        } catch let error as TenantFileError {
            let expected = try #require(expected, "refused: \(error)")
            #expect(error.file.hasSuffix("esimerkkila.yaml") && error.description.contains(expected), "\(error)")
            let text = try String(contentsOf: directory.appendingPathComponent("esimerkkila.yaml"), encoding: .utf8)
            #expect(error.issues.first?.line == Self.line(of: "operatedBy:", in: text), "the line of the operator")
        }
    }

    @Test("a problem is reported with the file, the line and what is wrong", arguments: [
        // A missing key is reported at the mapping that lacks it.
        ("    arrangements: [private]", "    arrangement: [private]", "  - code: poco-joensuunraitti", "units[0]: 'arrangements' is missing"),
        ("        period: P6Y", "        period: P6Q", "        period: P6Q", "a period is written like P10Y"),
        ("    transfersOutsideEEA: false", "    transfersOutsideEEA: true", "transfersOutsideEEA: true", "nothing outside the EU/EEA"),
        ("businessID: \"0000000-0\"", "businessID: \"0000000-1\"", "businessID", "check digit is wrong"),
        ("  - code: poco-joensuunraitti", "  - code: Poco Main", "  - code: Poco Main", "units[0].code: an id is"),
        ("    scope: units", "    scope: units\n    colour: blue", "colour: blue", "unknown key"),
        ("        from: care-ended", "        from: care-endd", "from: care-endd", "not one of the allowed values"),
        ("id: poco-sipoo", "id: poco", "id: poco", "the id must equal the file's name"),
        ("name: { fi: Laskutus, en: Billing }", "name: { fi: Laskutus, maksut, en: Billing }", "Laskutus, maksut", "unquoted comma"),
    ])
    func reportsProblems(target: String, replacement: String, lineText: String, expected: String) throws {
        let document = try Self.poco().replacingOccurrences(of: target, with: replacement)
        let result = try Self.parse(replacing: target, with: replacement)
        guard case .failure(let error) = result else {
            Issue.record("the file was accepted")
            return
        }
        #expect(error.description.hasPrefix("Tenants/poco-sipoo.yaml:"))
        #expect(error.description.contains(expected), "\(error)")
        if let line = Self.line(of: lineText, in: document) {
            #expect(error.issues.contains { $0.line == line }, "expected line \(line): \(error)")
        }
    }

    @Test("a statistics extract names its first period and lists no events, fields or people; guardian is no recipient id", arguments: [
        ("      - id: thl\n", "      - id: guardian\n", "guardian is reserved"),
        ("          from: 2026-01-01\n", "", "names the date its first period holds"),
        ("          period: month\n", "          period: month\n          events: [PlacementMade]\n", "lists no events or fields"),
        ("          period: month\n", "          period: month\n          protectedData: true\n", "carries no person"),
        ("          period: month\n", "          period: week\n", "not one of the allowed values"),
        ("          shape: care-relationships\n", "          shape: care-relationships\n          period: month\n", "belong to a statistics extract"),
    ])
    func statisticsExtractDefinition(target: String, replacement: String, expected: String) throws {
        let text = try String(contentsOf: Self.tenantsDirectory.appendingPathComponent("esimerkkila.yaml"), encoding: .utf8)
        #expect(text.contains(target))
        do {
            _ = try TenantFile.parse(text.replacingOccurrences(of: target, with: replacement), file: "Tenants/esimerkkila.yaml")
            Issue.record("the file was accepted")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("syntax errors and overlapping retention rules are refused")
    func syntaxAndOverlaps() throws {
        let broken = try Self.parse(replacing: "kind: private-daycare", with: "kind: [private-daycare")
        guard case .failure(let syntax) = broken else { Issue.record("accepted"); return }
        #expect(syntax.description.contains("not valid YAML"))

        let overlapping = try Self.parse(replacing: "    transfersOutsideEEA: false", with: """
                  - documentClass: ecec-client-records
                    period: P10Y
                    from: care-ended
                    validFrom: "2020-01-01"
                transfersOutsideEEA: false
            """)
        guard case .failure(let overlap) = overlapping else { Issue.record("accepted"); return }
        #expect(overlap.description.contains("overlaps another rule for 'ecec-client-records'"))
    }

    @Test("values: business ids, municipality codes, periods, dates")
    func values() throws {
        #expect(try BusinessID("1068322-0").value == "1068322-0")
        #expect(throws: ConfigurationValueError.self) { try BusinessID("1068322-1") }
        #expect(throws: ConfigurationValueError.self) { try MunicipalityCode("49") }
        #expect(try MunicipalityCode("049").value == "049")
        let period = try RetentionPeriod("P1Y6M")
        #expect(period.years == 1 && period.months == 6 && period.description == "P1Y6M")
        #expect(throws: ConfigurationValueError.self) { try RetentionPeriod("P") }
        #expect(throws: ConfigurationValueError.self) { try RetentionPeriod("P1Y1Y") }
        #expect(throws: ConfigurationValueError.self) { try LocalDate("2023-02-29") }
        #expect(try LocalDate("2024-02-29") < LocalDate("2024-03-01"))
    }
}
