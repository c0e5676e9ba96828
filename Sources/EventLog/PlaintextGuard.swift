/// A last line of defence against personal data reaching a database file in clear.
///
/// Personal fields are sealed by `PayloadSealer` before an event exists; this guard checks what is about to be
/// stored — envelope identifiers and payload bytes — for a Finnish personal identity code (`DDMMYYCZZZQ`) in clear,
/// and the store refuses the event if it finds one. Only codes with a plausible date and a correct check character
/// count, and only as a whole token, so sealed (base64) data practically never matches by chance
/// (below 1 in 10¹² per event).
public enum PlaintextGuard {
    /// The check characters of the identity code, indexed by the nine digits modulo 31.
    package static let checkCharacters = Array("0123456789ABCDEFHJKLMNPRSTUVWXY".utf8)

    /// Whether `bytes` contain an identity-code-shaped token with a valid check character.
    public static func containsIdentityCode(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { containsIdentityCode($0) }
    }

    /// Whether `bytes` contain an identity-code-shaped token with a valid check character.
    public static func containsIdentityCode(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = bytes.count
        guard count >= 11 else { return false }
        // One pass over runs of digits: a code starts with a run of exactly six digits that begins a token and is
        // followed by a century sign, so only such runs get the full check. Payloads are full of digits (dates,
        // times, ids); this keeps the guard at about a nanosecond per byte.
        var index = 0
        while index + 11 <= count {
            guard bytes[index].isASCIIDigit else {
                index += 1
                continue
            }
            var end = index
            while end < count, bytes[end].isASCIIDigit { end += 1 }
            if end - index == 6, matches(bytes, at: index) { return true }
            index = end
        }
        return false
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        if start > 0, isAlphanumeric(bytes[start - 1]) { return false }
        let end = start + 11
        if end < bytes.count, isAlphanumeric(bytes[end]) { return false }
        var number = 0
        for offset in 0..<6 {
            let byte = bytes[start + offset]
            guard byte.isASCIIDigit else { return false }
            number = number * 10 + Int(byte - 0x30)
        }
        let day = number / 10_000, month = (number / 100) % 100
        guard (1...31).contains(day), (1...12).contains(month) else { return false }
        guard isCenturySign(upper(bytes[start + 6])) else { return false }
        for offset in 7..<10 {
            let byte = bytes[start + offset]
            guard byte.isASCIIDigit else { return false }
            number = number * 10 + Int(byte - 0x30)
        }
        return upper(bytes[start + 10]) == checkCharacters[number % 31]
    }

    private static func isCenturySign(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "U")...UInt8(ascii: "Y"): true
        default: false
        }
    }

    private static func upper(_ byte: UInt8) -> UInt8 { byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool { byte.isASCIIDigit || byte.isASCIILetter }
}
