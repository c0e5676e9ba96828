import Foundation
import Testing

/// `register projections`: listing, rebuilding with progress (blue/green), and the status view.
@Suite("register projections")
struct ProjectionCommandTests {
    @Test("list names the projections; rebuild shows progress and swaps slots; status shows each generation and its lag")
    func listRebuildStatus() async throws {
        try await withScratchDirectory { directory in
            let tenants = directory.appendingPathComponent("Tenants")
            try FileManager.default.createDirectory(at: tenants, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: AccountAndImportCommandTests.tenants.appendingPathComponent("poco-sipoo.yaml"),
                                             to: tenants.appendingPathComponent("poco-sipoo.yaml"))
            let listed = try RegisterBinary.run(["projections", "list"], in: directory)
            #expect(listed.status == 0)
            #expect(listed.output.contains("people v2") && listed.output.contains("placements v1") && listed.output.contains("attendance v1"))

            let demo = try RegisterBinary.run(["demo", "--families", "2", "--months", "1"], in: directory, environment: ["REGISTER_DEMO_PASSWORD": "demo-password-1"])
            #expect(demo.status == 0, "\(demo.errors)")
            let before = try RegisterBinary.run(["projections", "status"], in: directory)
            #expect(before.status == 0 && before.output.contains("no projection has run yet"))

            let first = try RegisterBinary.run(["projections", "rebuild", "--tenant", "poco-sipoo"], in: directory)
            #expect(first.status == 0, "\(first.errors)")
            #expect(first.errors.contains("rebuilding poco-sipoo attendance v1:") && first.errors.contains("events"), "a progress line per projection")
            let status = try RegisterBinary.run(["projections", "status"], in: directory)
            #expect(status.status == 0, "\(status.errors)")
            let rows = status.output.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
            #expect(rows.count == 4, "people, placements, attendance, anonymised")
            #expect(rows.allSatisfy { $0[0] == "poco-sipoo" && $0[3] == "a" && $0[4] == "active" && $0[7] == "0" && $0.last == "ok" }, "\(status.output)")

            // A second rebuild fills the other slot and swaps it in; the first generation is retired.
            let second = try RegisterBinary.run(["projections", "rebuild", "--projection", "people"], in: directory)
            #expect(second.status == 0, "\(second.errors)")
            let after = try RegisterBinary.run(["projections", "status", "--all"], in: directory)
            #expect(after.output.contains("people\tv2\tb\tactive") && after.output.contains("people\tv2\ta\tretired"), "\(after.output)")

            let unknown = try RegisterBinary.run(["projections", "rebuild", "--projection", "rosters"], in: directory)
            #expect(unknown.status != 0 && unknown.errors.contains("there is no projection rosters"))
            let noTenant = try RegisterBinary.run(["projections", "rebuild", "--tenant", "nowhere"], in: directory)
            #expect(noTenant.status != 0 && noTenant.errors.contains("the log has no tenant nowhere"))
        }
    }
}
