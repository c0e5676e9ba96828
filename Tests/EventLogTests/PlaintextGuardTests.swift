import EventLog
import Foundation
import PropertyBased
import Testing

@Suite("Plaintext guard")
struct PlaintextGuardTests {
    @Test("finds identity codes with a valid check character, in any century", arguments: [
        "131052-308T", "010594Y9032", "020516C903K", "010101A900R", "311299-999E", "010190-900P",
    ])
    func findsValidCodes(code: String) {
        #expect(PlaintextGuard.containsIdentityCode(Array(code.utf8)))
        #expect(PlaintextGuard.containsIdentityCode(Array(#"{"hetu":"\#(code)"}"#.utf8)))
        #expect(PlaintextGuard.containsIdentityCode(Array("name \(code.lowercased()), ok".utf8)))
    }

    @Test("ignores near misses: wrong check character, impossible dates, codes inside longer tokens", arguments: [
        "131052-308U", "321052-308T", "131352-308T", "131052G308T", "x131052-308T", "131052-308T9", "13105-308T", "",
    ])
    func ignoresNearMisses(text: String) {
        #expect(!PlaintextGuard.containsIdentityCode(Array(text.utf8)))
    }

    @Test("sealed values (base64 of random bytes) are not mistaken for identity codes")
    func randomSealedDataPasses() async {
        await propertyCheck(count: 2_000, input: Gen.uint8().array(of: 12...400)) { bytes in
            let text = #"{"$sealed":"v1.00000000-0000-0000-0000-000000000000.\#(Data(bytes).base64EncodedString())"}"#
            #expect(!PlaintextGuard.containsIdentityCode(Array(text.utf8)))
        }
    }
}
