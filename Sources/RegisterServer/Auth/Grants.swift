import EventLog
import Foundation
import Register

/// What an authenticated caller may do in one tenant: the permissions of their roles from the tenant file in force,
/// each for the whole tenant or for named units only. Least privilege: nothing that no role grants.
struct Grants: Sendable {
    enum Scope: Sendable, Equatable {
        case tenant
        case units(Set<String>)
    }

    let principal: Principal
    let configuration: TenantConfiguration
    private let scopes: [Permission: Scope]

    init(principal: Principal, configuration: TenantConfiguration) {
        self.principal = principal
        self.configuration = configuration
        var scopes: [Permission: Scope] = [:]
        for assignment in principal.roles {
            guard let role = configuration.roles.first(where: { $0.id == assignment.role }) else { continue }
            let scope: Scope = role.scope == .tenant ? .tenant : .units(Set(assignment.units ?? []))
            for permission in role.permissions {
                switch (scopes[permission], scope) {
                case (nil, _): scopes[permission] = scope
                case (.tenant?, _): break
                case (.units?, .tenant): scopes[permission] = .tenant
                case (.units(let held)?, .units(let more)): scopes[permission] = .units(held.union(more))
                }
            }
        }
        self.scopes = scopes
    }

    var permissions: [Permission] { scopes.keys.sorted() }

    func has(_ permission: Permission) -> Bool { scopes[permission] != nil }

    /// The scope of a permission the route needs; 403 when no role grants it.
    @discardableResult
    func require(_ permission: Permission) throws -> Scope {
        guard let scope = scopes[permission] else {
            throw Problem(status: .forbidden, code: "forbidden", detail: "Your roles do not grant \(permission.rawValue).")
        }
        return scope
    }

    /// Requires a permission for the whole tenant (creating people, for instance, is not a unit's business).
    func requireTenantWide(_ permission: Permission) throws {
        guard try require(permission) == .tenant else {
            throw Problem(status: .forbidden, code: "forbidden", detail: "\(permission.rawValue) is granted to you for your units only; this needs it tenant-wide.")
        }
    }

    /// How long after a placement ends its unit's staff still reach the child (corrections of last month's attendance).
    static let unitReachAfterPlacement = 60

    /// Whether `permission` reaches this person: tenant-wide, or a child placed (now, soon, or until recently) in one
    /// of the caller's units. A person out of reach answers as one that does not exist.
    func reaches(_ record: PersonRecord, with permission: Permission, today: LocalDate) throws {
        switch try require(permission) {
        case .tenant:
            return
        case .units(let units):
            let since = today.adding(days: -Self.unitReachAfterPlacement)
            guard record.placements.contains(where: { units.contains($0.unit) && $0.isCurrentOrUpcoming(on: since) }) else {
                throw Problem.notFound
            }
        }
    }

    /// Whether `permission` reaches this person (the non-throwing form of `reaches`): held tenant-wide, or for a
    /// unit where the child (`through`, for a person shown as linked to a child) is placed.
    func canReach(_ record: PersonRecord, through child: PersonRecord? = nil, with permission: Permission, today: LocalDate) -> Bool {
        switch scopes[permission] {
        case nil: return false
        case .tenant?: return true
        case .units(let units)?:
            let since = today.adding(days: -Self.unitReachAfterPlacement)
            return (child ?? record).placements.contains { units.contains($0.unit) && $0.isCurrentOrUpcoming(on: since) }
        }
    }

    /// Whether the permission covers a unit.
    func covers(unit: String, with permission: Permission) throws {
        switch try require(permission) {
        case .tenant: return
        case .units(let units):
            guard units.contains(unit) else {
                throw Problem(status: .forbidden, code: "forbidden", detail: "\(permission.rawValue) is not granted to you in unit \(unit.prefix(64)).")
            }
        }
    }
}

extension Problem {
    /// The one answer for a resource that does not exist, belongs to another tenant, or lies outside the caller's units.
    static var notFound: Problem { Problem(status: .notFound, code: "not-found", detail: "No such resource.") }
}
