import EventLog
import Foundation
import Testing

@Suite("Wake-ups of live subscribers")
struct LogWakeupsTests {
    let tenant = try! TenantID("wakeups")
    let other = try! TenantID("wakeups-other")

    /// How long `wait` took, given a timeout far longer than any wake-up takes.
    func waited(_ wakeups: LogWakeups, after seen: UInt64, interest: Set<String>?, timeout: Duration) async -> Duration {
        let clock = ContinuousClock()
        let started = clock.now
        await wakeups.wait(for: tenant, after: seen, interest: interest, timeout: timeout)
        return clock.now - started
    }

    @Test("a generation moves only with signals that name one of its types, or none")
    func generations() {
        let wakeups = LogWakeups()
        let attendance: Set<String> = ["ArrivalRecorded", "DepartureRecorded"]
        let start = wakeups.generation(of: tenant, interest: attendance)
        let all = wakeups.generation(of: tenant)

        wakeups.signal(tenant, eventTypes: ["DataDisclosed"])
        #expect(wakeups.generation(of: tenant, interest: attendance) == start)
        #expect(wakeups.generation(of: tenant) != all)

        wakeups.signal(other, eventTypes: ["ArrivalRecorded"])
        #expect(wakeups.generation(of: tenant, interest: attendance) == start)

        wakeups.signal(tenant, eventTypes: ["DataDisclosed", "DepartureRecorded"])
        let afterDeparture = wakeups.generation(of: tenant, interest: attendance)
        #expect(afterDeparture != start)

        // A signal without types (an import, a notification of an older process) concerns every subscriber.
        wakeups.signal(tenant)
        #expect(wakeups.generation(of: tenant, interest: attendance) != afterDeparture)
        let beforeAll = wakeups.generation(of: tenant, interest: attendance)
        wakeups.signalAll()
        #expect(wakeups.generation(of: tenant, interest: attendance) != beforeAll)
    }

    @Test("a waiting subscriber sleeps through appends of other types and wakes at once for its own")
    func interestedWaiters() async {
        let wakeups = LogWakeups()
        let interest: Set<String> = ["ArrivalRecorded"]

        // Signalled before the wait with another type: the wait runs to its timeout.
        let before = wakeups.generation(of: tenant, interest: interest)
        wakeups.signal(tenant, eventTypes: ["DataDisclosed"])
        #expect(await waited(wakeups, after: before, interest: interest, timeout: .milliseconds(300)) >= .milliseconds(300))

        // Signalled before the wait with its type: no wait at all.
        wakeups.signal(tenant, eventTypes: ["ArrivalRecorded"])
        #expect(await waited(wakeups, after: before, interest: interest, timeout: .seconds(60)) < .seconds(10))

        // Waiting, then other types and another tenant arrive (it sleeps on), then its type (it wakes).
        let seen = wakeups.generation(of: tenant, interest: interest)
        let clock = ContinuousClock()
        let began = clock.now
        let woken = Task { [tenant] in
            await wakeups.wait(for: tenant, after: seen, interest: interest, timeout: .seconds(60))
            return clock.now
        }
        try? await Task.sleep(for: .milliseconds(100))
        wakeups.signal(tenant, eventTypes: ["DataDisclosed"])
        wakeups.signal(other, eventTypes: ["ArrivalRecorded"])
        try? await Task.sleep(for: .milliseconds(300))
        let relevant = clock.now
        wakeups.signal(tenant, eventTypes: ["ArrivalRecorded", "DataDisclosed"])
        let wokeAt = await woken.value
        #expect(wokeAt >= relevant, "woken \(wokeAt - began) after the wait began, before its type was signalled")
        #expect(wokeAt - relevant < .seconds(10))

        // A subscriber without an interest wakes for anything of its tenant.
        let seenByAll = wakeups.generation(of: tenant)
        let any = Task { await waited(wakeups, after: seenByAll, interest: nil, timeout: .seconds(60)) }
        try? await Task.sleep(for: .milliseconds(100))
        wakeups.signal(tenant, eventTypes: ["DataDisclosed"])
        #expect(await any.value < .seconds(10))
    }
}
