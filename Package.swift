// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "register-platform",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "register", targets: ["register"]),
        .executable(name: "register-bench", targets: ["RegisterBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "EventLog", dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(name: "EventLogSQLite", dependencies: [
            "EventLog",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        .target(name: "EventLogPostgres", dependencies: [
            "EventLog",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .target(name: "Register", dependencies: [
            "EventLog",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
            // Only the bcrypt module of hummingbird-auth: password hashes for personal accounts.
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
        ], swiftSettings: swiftSettings),
        // The projection engine (Projections/Engine) and the register's read models (Projections/ReadModels).
        .target(name: "Projections", dependencies: [
            "EventLog", "EventLogPostgres", "Register",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Projections", swiftSettings: swiftSettings),
        .target(name: "RegisterServer", dependencies: [
            "Register", "Projections", "EventLogSQLite", "EventLogPostgres",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], resources: [.copy("Resources/openapi.yaml")], swiftSettings: swiftSettings),
        .executableTarget(name: "register", dependencies: [
            "RegisterServer", "Register", "EventLog", "EventLogPostgres", "Projections",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ], swiftSettings: swiftSettings),
        // Release-built benchmarks of the log against raw baselines; ops/bench/run runs them.
        .executableTarget(name: "RegisterBench", dependencies: [
            "EventLog", "EventLogSQLite", "EventLogPostgres", "Projections", "Register", "RegisterServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "EventLogTests", dependencies: [
            "EventLog",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "RegisterTests", dependencies: [
            "Register", "EventLog", "EventLogSQLite",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "RegisterServerTests", dependencies: [
            "RegisterServer", "EventLog", "Register", "TestSupport", "Projections",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        // Runs the built `register` executable end to end; depending on it makes `swift test` build it.
        .testTarget(name: "RegisterCLITests", dependencies: [
            "register", "EventLog", "EventLogSQLite", "TestSupport", "Register",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        // Shared by the test targets: the PostgreSQL server that ops/test starts, synthetic people.
        .target(name: "TestSupport", dependencies: [
            "EventLog", "EventLogPostgres", "Projections",
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "EventLogStoreTests", dependencies: [
            "EventLog", "EventLogSQLite", "EventLogPostgres", "TestSupport", "Register", "Projections",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], swiftSettings: swiftSettings),
    ]
)
