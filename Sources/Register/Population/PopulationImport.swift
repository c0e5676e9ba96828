import Crypto
import EventLog
import Foundation

/// One person's changes from the population information system (DVV), as one line of an import file.
///
/// The file is JSON Lines (see docs/population-import.md): one object per line with `identityCode` and at least one
/// of `address` (an object, or null when the register no longer gives one), `homeMunicipality`, `motherTongue`,
/// `nonDisclosure`; optionally `effective` (the date the register recorded the change).
public struct PopulationUpdate: Sendable, Hashable {
    public var line: Int
    public var identityCode: String
    public var effective: LocalDate?
    /// nil: no change; `.some(nil)`: the address is removed.
    public var address: PostalAddress??
    public var homeMunicipality: MunicipalityCode?
    public var motherTongue: String?
    public var nonDisclosure: Bool?
}

/// The problems of an import file, each with its line; when there are any, nothing of the file is applied.
public struct PopulationFileError: Error, Sendable, CustomStringConvertible {
    public var problems: [(line: Int, message: String)]
    public var description: String {
        problems.map { "line \($0.line): \($0.message)" }.joined(separator: "\n")
    }
}

/// What an import did.
public struct PopulationImportSummary: Sendable, Hashable {
    public var lines = 0
    /// Lines about people this tenant's register does not hold (the population register sends the whole municipality's).
    public var notInRegister = 0
    /// Lines that matched the register already.
    public var unchanged = 0
    public var peopleChanged = 0
    public var events = 0
}

public enum PopulationFile {
    static let keys: Set<String> = ["identityCode", "effective", "address", "homeMunicipality", "motherTongue", "nonDisclosure"]
    /// One import is one atomic append; larger files are split by the adapter.
    public static let maximumLines = 5_000

    /// Parses and checks a whole file; every problem is reported with its line number (at most 100 of them).
    public static func parse(_ data: Data, today: Date = Date()) throws(PopulationFileError) -> [PopulationUpdate] {
        var updates: [PopulationUpdate] = []
        var problems: [(Int, String)] = []
        var seen: [String: Int] = [:]
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() where problems.count < 100 {
            let number = index + 1
            let text = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw[...]
            if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                let update = try parseLine(Data(text), line: number, today: today)
                if let first = seen[update.identityCode] {
                    problems.append((number, "the same person as on line \(first); give one line per person"))
                    continue
                }
                seen[update.identityCode] = number
                updates.append(update)
            } catch {
                problems.append((number, error.detail))
            }
        }
        if updates.count > maximumLines { problems.append((maximumLines + 1, "a file has at most \(maximumLines) lines; split it")) }
        guard problems.isEmpty else { throw PopulationFileError(problems: problems) }
        return updates
    }

    private static func parseLine(_ data: Data, line: Int, today: Date) throws(DomainError) -> PopulationUpdate {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalid("", "not a JSON object")
        }
        if let unknown = object.keys.filter({ !keys.contains($0) }).sorted().first {
            // Named only when it is a plain word: a key could be anything, an identity code included.
            let named = unknown.count <= 40 && unknown.allSatisfy { $0.isASCII && $0.isLetter }
            throw .invalid(named ? unknown : "", named ? "unknown key \(unknown)" : "a key that is not one of the format's")
        }
        guard let code = object["identityCode"] as? String else { throw .invalid("identityCode", "identityCode is required, as a string") }
        let identity: IdentityCode
        do { identity = try IdentityCode(code, today: today) } catch {
            throw .invalid("identityCode", "identityCode is not a valid personal identity code (\(Check.identityProblem(error)))")
        }
        var update = PopulationUpdate(line: line, identityCode: identity.value)
        if let effective = object["effective"] {
            guard let text = effective as? String, let date = try? LocalDate(text) else { throw .invalid("effective", "effective is a date YYYY-MM-DD") }
            update.effective = date
        }
        if let address = object["address"] {
            if address is NSNull {
                update.address = .some(nil)
            } else {
                guard let fields = address as? [String: Any], let street = fields["street"] as? String, let postalCode = fields["postalCode"] as? String,
                      let city = fields["city"] as? String, fields.count == 3 else {
                    throw .invalid("address", "address is null or an object with exactly street, postalCode and city")
                }
                update.address = .some(try Check.address(PostalAddress(street: street, postalCode: postalCode, city: city), field: "address"))
            }
        }
        if let municipality = object["homeMunicipality"] {
            guard let text = municipality as? String, let code = try? MunicipalityCode(text) else {
                throw .invalid("homeMunicipality", "homeMunicipality is a three-digit municipality code such as \"049\"")
            }
            update.homeMunicipality = code
        }
        if let tongue = object["motherTongue"] {
            guard let text = tongue as? String else { throw .invalid("motherTongue", "motherTongue is a language code") }
            update.motherTongue = try Check.language(text, field: "motherTongue")
        }
        if object["nonDisclosure"] != nil {
            // JSONSerialization would take 1 for true; the decoder is strict about booleans.
            struct Flag: Decodable { var nonDisclosure: Bool }
            guard let flag = try? JSONDecoder().decode(Flag.self, from: data) else { throw .invalid("nonDisclosure", "nonDisclosure is true or false") }
            update.nonDisclosure = flag.nonDisclosure
        }
        guard update.address != nil || update.homeMunicipality != nil || update.motherTongue != nil || update.nonDisclosure != nil else {
            throw .invalid("", "the line changes nothing: give address, homeMunicipality, motherTongue or nonDisclosure")
        }
        return update
    }

    /// The file's SHA-256, which the events name as their source reference.
    public static func digest(_ data: Data) -> String {
        Array(SHA256.hash(data: data)).hexString
    }
}

extension Registry {
    /// Applies a parsed population file in one atomic append: each person's changed details and non-disclosure status
    /// become events whose source is the population register and whose reference names the file and line.
    /// Lines that match the register already change nothing, so importing the same file twice writes nothing the second time.
    /// - Parameter storesProtectedAddresses: false where no address of a person under a non-disclosure order is stored
    ///   (seed 002's register): such a person's address is not imported, and an order placed by the file clears it.
    public func importPopulation(_ updates: [PopulationUpdate], fileDigest: String, storesProtectedAddresses: Bool = true,
                                 in tenant: TenantID, by metadata: EventMetadata) async throws -> PopulationImportSummary {
        for _ in 1...Self.attempts {
            var summary = PopulationImportSummary(lines: updates.count)
            var events: [ProposedEvent] = []
            var expecting: [StreamRef: ExpectedVersion] = [:]
            for update in updates {
                guard let id = try await person(withIdentityCode: update.identityCode, in: tenant) else {
                    summary.notInRegister += 1
                    continue
                }
                let record = try await person(id, in: tenant)
                guard let details = record.details, !record.isErased else { summary.unchanged += 1; continue }
                let reference = "sha256:\(fileDigest)#\(update.line)"
                var patch = PersonDetailsPatch()
                let protectedAfter = update.nonDisclosure ?? record.nonDisclosure
                if protectedAfter, !storesProtectedAddresses {
                    if details.address != nil { patch.cleared = [.address] }
                } else if let address = update.address {
                    if let address, address != details.address { patch.address = address }
                    if address == nil, details.address != nil { patch.cleared = [.address] }
                }
                if let municipality = update.homeMunicipality, municipality != details.homeMunicipality { patch.homeMunicipality = municipality }
                if let tongue = update.motherTongue, tongue != details.motherTongue { patch.motherTongue = tongue }
                var personEvents: [ProposedEvent] = []
                if !patch.fields.isEmpty {
                    let changed = PersonDetailsChanged(change: .clear(patch, subject: id), fields: patch.fields, source: .populationRegister, reference: reference)
                    personEvents.append(ProposedEvent(stream: RegisterStreams.person(id), eventType: PersonDetailsChanged.eventType, subjects: [id],
                                                      payload: try await keyRing.seal(changed, subjects: [id], in: tenant)))
                }
                if let protected = update.nonDisclosure, protected != record.nonDisclosure {
                    let changed = NonDisclosureChanged(nonDisclosure: protected, source: .populationRegister, reference: reference)
                    personEvents.append(ProposedEvent(stream: RegisterStreams.person(id), eventType: NonDisclosureChanged.eventType, subjects: [id],
                                                      payload: try JSONEncoder().encode(changed)))
                }
                if personEvents.isEmpty { summary.unchanged += 1; continue }
                summary.peopleChanged += 1
                events += personEvents
                expecting[RegisterStreams.person(id)] = .exact(record.version)
            }
            summary.events = events.count
            guard !events.isEmpty else { return summary }
            do {
                _ = try await store.append(events, to: tenant, metadata: metadata, expecting: expecting)
                return summary
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                continue
            }
        }
        throw DomainError(.conflict, "contended", "People in the file changed repeatedly during the import; run it again.")
    }
}
