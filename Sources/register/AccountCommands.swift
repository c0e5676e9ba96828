import ArgumentParser
import EventLog
import Foundation
import Register
import RegisterServer

/// `--role director` or `--role unit-staff:unit-a,unit-b`.
func roleAssignment(_ text: String) throws -> RoleAssignment {
    let parts = text.split(separator: ":", maxSplits: 1)
    guard let role = parts.first, !role.isEmpty else { throw ValidationError("a role is ROLE or ROLE:UNIT,UNIT") }
    let units = parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : nil
    return RoleAssignment(role: String(role), units: units)
}

/// Who runs an administrative command: an account id, recorded in the events it writes.
struct ActorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The account id of who does this (REGISTER_ACTOR): recorded in the events, so never a name.", valueName: "id"))
    var actor: String?

    func metadata(role: String = "platform-operator") throws -> EventMetadata {
        guard let id = actor ?? ProcessInfo.processInfo.environment["REGISTER_ACTOR"] else {
            throw ValidationError("say who does this: --actor ID (or REGISTER_ACTOR)")
        }
        do { return EventMetadata(actor: try Actor(userID: id, role: role), correlationID: UUID()) } catch { throw ValidationError(error.message) }
    }
}

/// The configuration in force for a tenant (nil for the platform tenant), or a clear failure.
func configurationInForce(_ tenant: TenantID, storage: RegisterStorage) async throws -> TenantConfiguration? {
    if tenant == Accounts.platformTenant { return nil }
    guard let configuration = try await TenantConfigurations(store: storage.store).current(tenant).configuration else {
        throw CommandFailure("tenant \(tenant) has no configuration in force; run `register tenant apply Tenants/\(tenant).yaml` first")
    }
    return configuration
}

/// `register user …`: personal accounts (O13).
struct UserCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Personal user accounts.", subcommands: [Add.self, Disable.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a personal account with roles from the tenant file.",
            discussion: """
                The password is read from REGISTER_USER_PASSWORD or, without it, from the first line of standard input; \
                never from a flag, so it does not show in process lists or shell history. It is stored only as a bcrypt hash. \
                Platform operators are accounts of the tenant `platform` with the role platform-operator.
                """)

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "The sign-in name (3–64 letters, digits, . _ - @).") var username: String
        @Option(help: ArgumentHelp("A role, or ROLE:UNIT,UNIT for a unit-scoped role; repeat for several.", valueName: "role")) var role: [String] = []
        @Option(help: "First and last name, separated by a space (O5).") var name: String?
        @Option(help: "Job title (O5).") var title: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let roles = try role.map(roleAssignment)
            guard !roles.isEmpty else { throw ValidationError("give at least one --role") }
            let metadata = try actor.metadata()
            let password = ProcessInfo.processInfo.environment["REGISTER_USER_PASSWORD"] ?? readLine(strippingNewline: true) ?? ""
            let personName = name.map { text -> PersonName in
                let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
                return PersonName(first: parts.first ?? text, last: parts.count > 1 ? parts[1] : "")
            }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let accounts = Accounts(store: storage.store, keyRing: storage.keyRing)
                    let id = try await accounts.addUser(username: username, name: personName, title: title, password: password, roles: roles,
                                                        configuration: try await configurationInForce(tenant, storage: storage), in: tenant, by: metadata)
                    print("\(tenant): account \(id.lowercasedString) created for \(username.lowercased()) with roles \(roles.map(\.role).joined(separator: ", "))")
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account: it can no longer sign in.")

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Argument(help: "The account id.") var account: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            guard let id = UUID(uuidString: account) else { throw ValidationError("an account id is a UUID") }
            let metadata = try actor.metadata()
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    try await Accounts(store: storage.store, keyRing: storage.keyRing).disableUser(id, in: tenant, by: metadata)
                    print("\(tenant): account \(id.lowercasedString) disabled")
                }
            }
        }
    }
}

/// `register token …`: API tokens for integrations.
struct TokenCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "API tokens for integrations.", subcommands: [Issue.self, Revoke.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue an API token; it is printed once and stored only as a SHA-256 digest.")

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "What the token is for (shown in listings).") var label: String
        @Option(help: ArgumentHelp("A role, or ROLE:UNIT,UNIT; repeat for several.", valueName: "role")) var role: [String] = []
        @Option(help: "The partner whose feed the token opens.") var partner: String?
        @Option(help: ArgumentHelp("Last day the token is valid (YYYY-MM-DD).", valueName: "date")) var expires: String?

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            let roles = try role.map(roleAssignment)
            let metadata = try actor.metadata()
            var expiresAt: Timestamp?
            if let expires {
                guard let day = try? LocalDate(expires) else { throw ValidationError("--expires is a date YYYY-MM-DD") }
                // Valid through the whole day, Finnish time.
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = TimeZone(identifier: "Europe/Helsinki") ?? .current
                expiresAt = calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day + 1)).map(Timestamp.init)
            }
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    let accounts = Accounts(store: storage.store, keyRing: storage.keyRing)
                    let (id, token) = try await accounts.issueToken(label: label, roles: roles, partner: partner, expiresAt: expiresAt,
                                                                    configuration: try await configurationInForce(tenant, storage: storage), in: tenant, by: metadata)
                    FileHandle.standardError.write(Data("\(tenant): token \(id.lowercasedString) issued; it is shown only now:\n".utf8))
                    print(token)
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API token (the running service stops accepting it within seconds).")

        @OptionGroup var storage: StorageOptions
        @OptionGroup var actor: ActorOptions
        @Option(help: "The tenant.") var tenant: String
        @Argument(help: "The token id.") var token: String

        func run() async throws {
            let configuration = try storage.configuration()
            let logger = CommandLogging.logger(level: configuration.logLevel)
            let tenant = try tenantID(self.tenant)
            guard let id = UUID(uuidString: token) else { throw ValidationError("a token id is a UUID") }
            let metadata = try actor.metadata()
            try await reportingFailures {
                try await RegisterStorage.with(configuration, logger: logger) { storage in
                    try await Accounts(store: storage.store, keyRing: storage.keyRing).revokeToken(id, in: tenant, by: metadata)
                    print("\(tenant): token \(id.lowercasedString) revoked")
                }
            }
        }
    }
}
