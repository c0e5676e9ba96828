import ArgumentParser
import RegisterServer

/// The `register` command: the service and its operations tools.
@main
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Event-sourced personal-data registers for Finnish ECEC and family services.",
        discussion: """
            Every option can also be set in the environment under the same name: --database is REGISTER_DATABASE, \
            --master-key-file is REGISTER_MASTER_KEY_FILE, and so on. A flag wins over the environment. \
            The master key itself comes only from REGISTER_MASTER_KEY (base64) or a key file, never a flag, \
            so it does not show in process lists.
            """,
        version: registerVersion,
        subcommands: [Serve.self, Demo.self, Verify.self, TenantCommands.self, UserCommands.self, TokenCommands.self, ImportCommands.self, AccessLogCommands.self, LogCommands.self, ProjectionCommands.self, RetentionCommands.self, InvoiceCommands.self, VoucherCommands.self, DatabaseCommands.self]
    )
}
