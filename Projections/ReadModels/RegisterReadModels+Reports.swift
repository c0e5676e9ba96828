import EventLog
import Foundation
import Register

extension RegisterReadModels {
    // MARK: Attendance per unit and month

    /// One child's month in a unit: each day's booking, visits and absence, and the month's totals.
    public struct ChildMonth: Sendable {
        public let child: String
        public let days: [Day]
        public var bookedMinutes: Int { days.reduce(0) { $0 + $1.bookedMinutes } }
        public var usedMinutes: Int { days.reduce(0) { $0 + $1.usedMinutes } }
        public var daysPresent: Int { days.filter { !$0.visits.isEmpty }.count }
        /// Days absent by kind.
        public var absences: [AbsenceKind: Int] { days.reduce(into: [:]) { counts, day in if let kind = day.absence { counts[kind, default: 0] += 1 } } }
    }

    public struct Day: Sendable, Hashable {
        public let date: LocalDate
        public let booking: Booking?
        public let visits: [Visit]
        public let absence: AbsenceKind?
        public var bookedMinutes: Int { booking.map { $0.end.minutes - $0.start.minutes } ?? 0 }
        /// Minutes present in completed visits.
        public var usedMinutes: Int { visits.reduce(0) { $0 + ($1.departure.map { d in d.minutes } ?? $1.arrival.minutes) - $1.arrival.minutes } }
    }

    public struct Booking: Sendable, Hashable {
        public let start: LocalTime
        public let end: LocalTime
    }

    public struct Visit: Sendable, Hashable {
        public let unit: String
        public let arrival: LocalTime
        public let departure: LocalTime?
    }

    /// Attendance of the children placed in a unit during a month (`YYYY-MM`): booked against used time, absences.
    /// Only the days of the month each child was placed in the unit count.
    public func attendance(unit: String, month: String, tenant: TenantID) async throws -> [ChildMonth] {
        guard let first = try? LocalDate(month + "-01") else { throw ProjectionError(.unknown, "a month is written YYYY-MM") }
        let last = LocalDate.lastDay(ofMonthOf: first)
        let placed = try await placements(where: [.equals("unit", .text(unit)), .between("start", nil, .text(last.description))], tenant: tenant)
            .filter { $0.overlaps(first, last) }
        let days = try await days(of: Set(placed.map(\.child)), from: first, to: last, tenant: tenant)
        var placedDays: [String: [LocalDate]] = [:]
        for placement in placed {
            var date = max(first, placement.start)
            let end = min(last, placement.end ?? last)
            while date <= end {
                placedDays[placement.child, default: []].append(date)
                date = date.adding(days: 1)
            }
        }
        // Only the days the child was placed here, and only the visits to this unit (a placement's end moved earlier
        // after attendance was recorded leaves visits that belong to no placement of this unit).
        return placedDays.keys.sorted().map { child in
            let inUnit = Set(placedDays[child] ?? [])
            return ChildMonth(child: child, days: (days[child] ?? []).filter { inUnit.contains($0.date) }.map { day in
                Day(date: day.date, booking: day.booking, visits: day.visits.filter { $0.unit == unit }, absence: day.absence)
            })
        }
    }

    /// Each child's recorded days (bookings, visits, absences) in a date range.
    func days(of children: Set<String>, from: LocalDate, to: LocalDate, tenant: TenantID) async throws -> [String: [Day]] {
        guard !children.isEmpty else { return [:] }
        let keys = children.sorted().map(ReadModelValue.text)
        let range = ReadModelCondition.between("day", .text(from.description), .text(to.description))
        let rows = try await store.read([
            ReadModelQuery(Self.attendance, Attendance.careTimes, where: [.oneOf("child", keys), range]),
            ReadModelQuery(Self.attendance, Attendance.marks, where: [.oneOf("child", keys), range]),
            ReadModelQuery(Self.attendance, Attendance.absences, where: [.oneOf("child", keys), range]),
        ], tenant: tenant)
        struct Key: Hashable { let child: String; let day: String }
        var bookings: [Key: Booking] = [:]
        for row in rows[0] {
            guard let child = row[0].text, let day = row[1].text, let start = row[2].int.flatMap({ try? LocalTime(minutes: Int($0)) }),
                  let end = row[3].int.flatMap({ try? LocalTime(minutes: Int($0)) }) else { continue }
            bookings[Key(child: child, day: day)] = Booking(start: start, end: end)
        }
        var marks: [Key: [(pos: Int64, kind: String, time: LocalTime, unit: String)]] = [:]
        for row in rows[1] {
            guard let child = row[0].text, let day = row[1].text, let pos = row[2].int, let kind = row[3].text,
                  let time = row[4].int.flatMap({ try? LocalTime(minutes: Int($0)) }), let unit = row[5].text else { continue }
            marks[Key(child: child, day: day), default: []].append((pos, kind, time, unit))
        }
        var absences: [Key: AbsenceKind] = [:]
        for row in rows[2] {
            if let child = row[0].text, let day = row[1].text, let kind = row[2].text.flatMap(AbsenceKind.init(rawValue:)) { absences[Key(child: child, day: day)] = kind }
        }
        var result: [String: [Day]] = [:]
        for key in Set(bookings.keys).union(marks.keys).union(absences.keys) {
            guard let date = try? LocalDate(key.day) else { continue }
            // The domain allows arrival, departure, arrival … per day: a departure closes the last open visit.
            var visits: [Visit] = []
            for mark in (marks[key] ?? []).sorted(by: { $0.pos < $1.pos }) {
                if mark.kind == "arrival" {
                    visits.append(Visit(unit: mark.unit, arrival: mark.time, departure: nil))
                } else if let open = visits.lastIndex(where: { $0.departure == nil }) {
                    visits[open] = Visit(unit: visits[open].unit, arrival: visits[open].arrival, departure: mark.time)
                }
            }
            result[key.child, default: []].append(Day(date: date, booking: bookings[key], visits: visits, absence: absences[key]))
        }
        return result.mapValues { $0.sorted { $0.date < $1.date } }
    }

    // MARK: Occupancy per unit and day

    public struct OccupancyDay: Sendable, Hashable {
        public let date: LocalDate
        public let placed: Int
        public let present: Int
        /// Children under 3 count `underThreeCoefficient` times.
        public let placedWeighted: Double
        public let presentWeighted: Double
    }

    /// Children placed and present in a unit on each day of a range, also weighted: a child under 3 on the day counts
    /// `underThreeCoefficient` (the tenant's configuration). A child whose birth date is unknown or erased counts 1.
    public func occupancy(unit: String, from: LocalDate, to: LocalDate, underThreeCoefficient: Double, tenant: TenantID) async throws -> [OccupancyDay] {
        let placed = try await placements(where: [.equals("unit", .text(unit)), .between("start", nil, .text(to.description))], tenant: tenant)
            .filter { $0.overlaps(from, to) }
        let children = Set(placed.map(\.child))
        let people = try await people(children, tenant: tenant)
        let days = try await days(of: children, from: from, to: to, tenant: tenant)
        var presentOn: [LocalDate: Set<String>] = [:]
        for (child, childDays) in days {
            for day in childDays where day.visits.contains(where: { $0.unit == unit }) { presentOn[day.date, default: []].insert(child) }
        }
        var result: [OccupancyDay] = []
        var date = from
        while date <= to {
            let placedToday = Set(placed.filter { $0.covers(date) }.map(\.child))
            let presentToday = (presentOn[date] ?? []).intersection(placedToday)
            func weight(_ child: String) -> Double {
                guard let birth = people[child]?.details?.birthDate else { return 1 }
                return Self.isUnderThree(born: birth, on: date) ? underThreeCoefficient : 1
            }
            result.append(OccupancyDay(date: date, placed: placedToday.count, present: presentToday.count,
                                       placedWeighted: placedToday.reduce(0) { $0 + weight($1) }, presentWeighted: presentToday.reduce(0) { $0 + weight($1) }))
            date = date.adding(days: 1)
        }
        return result
    }

    /// Whether a child born on `born` is under 3 on `date` (before the third birthday).
    static func isUnderThree(born: LocalDate, on date: LocalDate) -> Bool { age(born: born, on: date) < 3 }

    static func age(born: LocalDate, on date: LocalDate) -> Int { born.years(until: date) }

    // MARK: Statistics for national reporting

    public struct Statistics: Sendable, Hashable {
        public let from: LocalDate
        public let to: LocalDate
        /// Children with a placement during the period.
        public let children: Int
        /// By age on the last day of the period: `0-2`, `3-5`, `6+`, `unknown` (no birth date, or erased).
        public let byAgeGroup: [String: Int]
        /// By the arrangement of the child's last placement in the period.
        public let byArrangement: [String: Int]
        /// By mother tongue (`unknown` when not recorded or erased).
        public let byLanguage: [String: Int]
        /// By home municipality code (`unknown` when not recorded or erased).
        public let byMunicipality: [String: Int]
        public let placementsStarted: Int
        public let placementsEnded: Int
    }

    /// Counts for national reporting over a period. Counts only: no person leaves in them.
    public func statistics(from: LocalDate, to: LocalDate, tenant: TenantID) async throws -> Statistics {
        let placed = try await placements(where: [.between("start", nil, .text(to.description))], tenant: tenant)
        let inPeriod = placed.filter { $0.overlaps(from, to) }
        var lastPlacement: [String: PlacementEntry] = [:]
        for placement in inPeriod where (lastPlacement[placement.child].map { $0.start <= placement.start } ?? true) {
            lastPlacement[placement.child] = placement
        }
        let people = try await people(Set(lastPlacement.keys), tenant: tenant)
        // Children whose key was shredded count with what their anonymisation kept.
        let erased = people.values.filter(\.erased).map { ReadModelValue.text($0.id) }
        var anonymised: [String: (birthMonth: String?, language: String?, municipality: String?)] = [:]
        if !erased.isEmpty {
            let rows = try await store.read([ReadModelQuery(AnonymisedProjection(), AnonymisedProjection.statistics, where: [.oneOf("person", erased)])],
                                            tenant: tenant)[0]
            for row in rows {
                if let person = row[0].text { anonymised[person] = (row[1].text, row[2].text, row[3].text) }
            }
        }
        var ages: [String: Int] = [:], arrangements: [String: Int] = [:], languages: [String: Int] = [:], municipalities: [String: Int] = [:]
        for (child, placement) in lastPlacement {
            let details = people[child]?.details
            let kept = anonymised[child]
            // An anonymised child's age counts from the first of their birth month: the same age on a month's last
            // day, which every statistics period ends on.
            let birth = details?.birthDate ?? kept?.birthMonth.flatMap { try? LocalDate($0 + "-01") }
            let group: String
            if let birth {
                let age = Self.age(born: birth, on: to)
                group = age < 3 ? "0-2" : age < 6 ? "3-5" : "6+"
            } else {
                group = "unknown"
            }
            ages[group, default: 0] += 1
            arrangements[placement.arrangement.rawValue, default: 0] += 1
            languages[details?.motherTongue ?? kept?.language ?? "unknown", default: 0] += 1
            // A non-disclosure order protects the home municipality: such a child counts as `unknown` (O15).
            let municipality = people[child]?.nonDisclosure == true ? nil : details?.homeMunicipality?.description ?? kept?.municipality
            municipalities[municipality ?? "unknown", default: 0] += 1
        }
        return Statistics(from: from, to: to, children: lastPlacement.count, byAgeGroup: ages, byArrangement: arrangements, byLanguage: languages,
                          byMunicipality: municipalities,
                          placementsStarted: placed.filter { from <= $0.start && $0.start <= to }.count,
                          placementsEnded: placed.filter { $0.end.map { from <= $0 && $0 <= to } ?? false }.count)
    }
}

extension LocalDate {
    /// The last day of this date's month.
    public static func lastDay(ofMonthOf date: LocalDate) -> LocalDate {
        let next = date.month == 12 ? (date.year + 1, 1) : (date.year, date.month + 1)
        return ((try? LocalDate(year: next.0, month: next.1, day: 1)) ?? date).adding(days: -1)
    }
}

extension RegisterReadModels {
    /// One read-model row about a person, for their access report: the table and its columns, sealed cells opened
    /// for that person (another person's sealed cell is never opened).
    public struct RowAbout: Sendable, Encodable {
        public let projection: String
        public let table: String
        public let columns: [String: JSONValue]

        public init(projection: String, table: String, columns: [String: JSONValue]) {
            self.projection = projection
            self.table = table
            self.columns = columns
        }
    }

    /// Every row of every read model that names `subject` in a `person`, `child` or `subject` column.
    public func rows(about subject: PersonID, tenant: TenantID) async throws -> [RowAbout] {
        var queries: [ReadModelQuery] = []
        for projection in RegisterProjections.all {
            for table in projection.tables {
                for column in ["person", "child", "subject"] where table.index(of: column) != nil {
                    queries.append(ReadModelQuery(projection, table, where: [.equals(column, .text(subject.description))]))
                }
            }
        }
        let results = try await store.read(queries, tenant: tenant)
        var rows: [RowAbout] = []
        var seen = Set<String>()
        for (query, found) in zip(queries, results) {
            for row in found {
                var columns: [String: JSONValue] = [:]
                for (index, column) in query.table.columns.enumerated() where index < row.count {
                    switch row[index] {
                    case .null: columns[column.name] = .null
                    case .int(let value): columns[column.name] = .int(value)
                    case .text(let value): columns[column.name] = try await keyRing.openedValue(value, for: subject, in: tenant)
                    }
                }
                // A row that names the person in both columns (a relationship) is shown once.
                let identity = "\(query.projection)/\(query.table.name)/\(row.prefix(query.table.keyCount))"
                if seen.insert(identity).inserted {
                    rows.append(RowAbout(projection: query.projection, table: query.table.name, columns: columns))
                }
            }
        }
        return rows
    }
}
