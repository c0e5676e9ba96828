import Crypto
import EventLog
import Foundation
import PropertyBased
import Testing

@Suite("Sealed fields")
struct SealingUnitTests {
    struct Note: Codable, Equatable {
        var about: SubjectID
        var name: Personal<String>
        var visits: Personal<[Int]>
        var unit: String
    }

    static let tenant = try! TenantID("poco")

    @Test("sealing then opening returns every value; the JSON holds none of them")
    func roundTrip() async throws {
        await propertyCheck(count: 200, input: Gen.letterOrNumber.string(of: 1...60), Gen.int(in: 0...1000).array(of: 0...5)) { name, visits in
            let subject = SubjectID.random()
            let keys = SubjectKeys(tenant: Self.tenant, states: [subject: .available(SymmetricKey(size: .bits256))])
            let note = Note(about: subject, name: .clear("Nimi " + name, subject: subject), visits: .clear(visits, subject: subject), unit: "U1")
            guard let sealed = try? PayloadSealer(keys: keys).seal(note) else { Issue.record("sealing failed"); return }
            #expect(!String(decoding: sealed, as: UTF8.self).contains("Nimi " + name))
            #expect((try? PayloadOpener(keys: keys).open(Note.self, from: sealed)) == note)
        }
    }

    @Test("the sealed subjects of a payload are found wherever their markers are, and nothing else is taken for one")
    func sealedSubjects() throws {
        let first = SubjectID.random(), second = SubjectID.random()
        let keys = SubjectKeys(tenant: Self.tenant, states: [first: .available(SymmetricKey(size: .bits256)), second: .available(SymmetricKey(size: .bits256))])
        struct Pair: Codable { var a: Personal<String>; var b: Personal<String>; var c: Personal<String>; var note: String }
        let sealed = try PayloadSealer(keys: keys).seal(Pair(a: .clear("x", subject: first), b: .clear("y", subject: second),
                                                             c: .clear("z", subject: first), note: "$ $sealed \"$sealed\":\"v1."))
        #expect(SealedValue.subjects(in: sealed) == [first, second])
        // A marker cut short at the end, or with no id after it, names no one.
        let text = String(decoding: sealed, as: UTF8.self)
        #expect(SealedValue.subjects(in: Data(#"{"n":"$$","x":{"$sealed":"v1.\#(first)"#.prefix(40).utf8)) == [])
        #expect(SealedValue.subjects(in: Data(#"{"x":{"$sealed":"v1.not-a-uuid-at-all-but-36-characters-long.AAAA"}}"#.utf8)) == [])
        #expect(SealedValue.subjects(in: Data(text.utf8.prefix(text.utf8.count / 2))).isSubset(of: [first, second]))
        #expect(SealedValue.subjects(in: Data()) == [] && SealedValue.subjects(in: Data("$".utf8)) == [])
    }

    @Test("erased keys read as erased; a foreign tenant's key or an altered box is an error, not a value")
    func erasedAndAltered() throws {
        let subject = SubjectID.random()
        let key = SymmetricKey(size: .bits256)
        let keys = SubjectKeys(tenant: Self.tenant, states: [subject: .available(key)])
        let sealed = try PayloadSealer(keys: keys).seal(Note(about: subject, name: .clear("Aino", subject: subject), visits: .clear([1], subject: subject), unit: "U1"))

        let erased = try PayloadOpener(keys: SubjectKeys(tenant: Self.tenant, states: [subject: .erased])).open(Note.self, from: sealed)
        #expect(erased.name.isErased && erased.visits.isErased && erased.unit == "U1")

        // The tenant is bound into the seal: the same key under another tenant does not open it.
        let elsewhere = SubjectKeys(tenant: try TenantID("lieto"), states: [subject: .available(key)])
        #expect(throws: DecodingError.self) { try PayloadOpener(keys: elsewhere).open(Note.self, from: sealed) }

        var text = String(decoding: sealed, as: UTF8.self)
        let range = try #require(text.range(of: #""$sealed":"v1."#))
        let boxStart = try #require(text[range.upperBound...].range(of: "."))
        let index = text.index(boxStart.upperBound, offsetBy: 20)
        text.replaceSubrange(index...index, with: text[index] == "A" ? "B" : "A")
        #expect(throws: DecodingError.self) { try PayloadOpener(keys: keys).open(Note.self, from: Data(text.utf8)) }
    }

    @Test("a field of a subject the event does not name cannot be sealed, and identity codes in clear are refused")
    func undeclaredSubjectsAndLeaks() throws {
        let subject = SubjectID.random(), stranger = SubjectID.random()
        let keys = SubjectKeys(tenant: Self.tenant, states: [subject: .available(SymmetricKey(size: .bits256))])
        #expect(throws: EncodingError.self) {
            try PayloadSealer(keys: keys).seal(Note(about: subject, name: .clear("Aino", subject: stranger), visits: .clear([], subject: subject), unit: "U1"))
        }
        let leak = #expect(throws: EventLogError.self) {
            try PayloadSealer(keys: keys).seal(Note(about: subject, name: .clear("Aino", subject: subject), visits: .clear([], subject: subject), unit: "010101A900R"))
        }
        #expect(leak?.code == .personalDataInClear)
    }
}
