import EventLog
import Foundation

/// A payload with personal fields, as the domain will write them.
public struct ChildRecorded: Codable, Equatable {
    public struct Address: Codable, Hashable, Sendable {
        public var street: String
        public var postalCode: String
        public var city: String
    }

    public var child: SubjectID
    public var guardian: SubjectID
    public var childName: Personal<String>
    public var identityCode: Personal<String>
    public var guardianName: Personal<String>
    public var address: Personal<Address>
    public var municipalityCode: String
}

/// Distinctive synthetic people, so a scan of database files can tell whether any of them leaked.
public struct SyntheticPerson: Sendable {
    public let subject = SubjectID.random()
    public let name: String
    public let identityCode: String
    public let street: String

    public init(_ seed: Int) {
        let tag = UUID().uuidString.prefix(8)
        name = "Aino\(tag) Virtanen\(seed)"
        identityCode = IdentityCodes.testCode(seed: seed)
        street = "Kotikatu\(tag) \(seed)"
    }

    /// Every string that must never appear in clear in a database file.
    public var secrets: [String] { [name, identityCode, street] }
}

public enum IdentityCodes {
    /// A valid personal identity code in the temporary/test range (individual number 900–999), born in the 2010s.
    public static func testCode(seed: Int) -> String {
        let day = 1 + seed % 28, month = 1 + (seed / 28) % 12, year = 10 + (seed / 336) % 10
        let individual = 900 + (seed * 7) % 100
        let digits = String(format: "%02d%02d%02d%03d", day, month, year, individual)
        let check = Array("0123456789ABCDEFHJKLMNPRSTUVWXY")[Int(digits)! % 31]
        return String(format: "%02d%02d%02dA%03d", day, month, year, individual) + String(check)
    }
}

extension ChildRecorded {
    /// A payload about `child` and `guardian` with every personal field open, to be sealed.
    public static func about(_ child: SyntheticPerson, guardian: SyntheticPerson) -> ChildRecorded {
        ChildRecorded(child: child.subject, guardian: guardian.subject,
                      childName: .clear(child.name, subject: child.subject),
                      identityCode: .clear(child.identityCode, subject: child.subject),
                      guardianName: .clear(guardian.name, subject: guardian.subject),
                      address: .clear(Address(street: child.street, postalCode: "08100", city: "Lohja"), subject: child.subject),
                      municipalityCode: "444")
    }
}
