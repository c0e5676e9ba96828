import Foundation

/// Encodes an event payload to JSON with every `Personal` field sealed under its subject's key.
public struct PayloadSealer: Sendable {
    public let keys: SubjectKeys
    public init(keys: SubjectKeys) { self.keys = keys }

    /// The payload's JSON bytes (keys sorted), refused if an identity code would still be in clear.
    public func seal<Payload: Encodable>(_ payload: Payload) throws -> Data {
        try seal([payload])[0]
    }

    /// Several payloads with one encoder (the cheaper way for a batch).
    public func seal<Payload: Encodable>(_ payloads: [Payload]) throws -> [Data] {
        var encoder = SortedJSONEncoder()
        encoder.userInfo[.registerSubjectKeys] = keys
        return try payloads.map { payload in
            let data = try encoder.encode(payload)
            let leaked = data.withUnsafeBytes { PlaintextGuard.containsIdentityCode($0.bindMemory(to: UInt8.self)) }
            if leaked {
                throw EventLogError(.personalDataInClear, "the payload holds a personal identity code outside a sealed field")
            }
            return data
        }
    }
}

/// Decodes an event payload, opening sealed fields with the subjects' keys; shredded subjects' fields read as erased.
public struct PayloadOpener: Sendable {
    public let keys: SubjectKeys?
    /// With `keys` nil, sealed fields stay sealed.
    public init(keys: SubjectKeys?) { self.keys = keys }

    public func open<Payload: Decodable>(_ type: Payload.Type, from data: Data) throws -> Payload {
        let decoder = JSONDecoder()
        if let keys { decoder.userInfo[.registerSubjectKeys] = keys }
        return try decoder.decode(type, from: data)
    }

    /// Several payloads with one decoder.
    public func open<Payload: Decodable>(_ type: Payload.Type, from payloads: [Data]) throws -> [Payload] {
        let decoder = JSONDecoder()
        if let keys { decoder.userInfo[.registerSubjectKeys] = keys }
        return try payloads.map { try decoder.decode(type, from: $0) }
    }
}

extension KeyRing {
    /// Seals a payload for an event about `subjects` (creating keys for new subjects).
    public func seal<Payload: Encodable>(_ payload: Payload, subjects: [SubjectID], in tenant: TenantID) async throws -> Data {
        try PayloadSealer(keys: try await sealingKeys(for: subjects, in: tenant)).seal(payload)
    }

    /// Seals a batch of payloads, loading (or creating) the keys of all their subjects in one go.
    public func seal<Payload: Encodable>(_ payloads: [Payload], subjects: [SubjectID], in tenant: TenantID) async throws -> [Data] {
        try PayloadSealer(keys: try await sealingKeys(for: subjects, in: tenant)).seal(payloads)
    }

    /// Decodes the payloads of a page of events (one tenant's), loading the keys of all their subjects in one go:
    /// the way a catch-up read or a projection opens events.
    public func open<Payload: Decodable>(_ type: Payload.Type, from events: [RecordedEvent]) async throws -> [Payload] {
        guard let tenant = events.first?.tenant else { return [] }
        guard events.allSatisfy({ $0.tenant == tenant }) else {
            throw EventLogError(.invalidArgument, "a page of events to open belongs to one tenant")
        }
        let keys = try await openingKeys(for: events.flatMap(\.subjects), in: tenant)
        return try PayloadOpener(keys: keys).open(type, from: events.map(\.payload))
    }

    /// Decodes a recorded event's payload with its personal fields opened (or erased).
    public func open<Payload: Decodable>(_ type: Payload.Type, from event: RecordedEvent) async throws -> Payload {
        let keys = try await openingKeys(for: event.subjects, in: event.tenant)
        return try PayloadOpener(keys: keys).open(type, from: event.payload)
    }
}
