// swift-tools-version:6.0
import PackageDescription
import Foundation

// One module per concern. The pure modules (Core, Config, Vendors, Simulators, Metrics) have no networking
// dependency so they build and test quickly; networking lives in Polling (client side), HTTP (our server),
// SimulatorServer (the simulators' loopback servers) and App (wiring).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// Revision and build date for `--version` and cloudrec_exporter_build_info, stamped by scripts/release.sh through the
// environment; a plain `swift build` reports "unknown". Only characters safe inside a C string literal are kept.
func buildStamp(_ name: String) -> String {
    let value = ProcessInfo.processInfo.environment[name] ?? ""
    let safe = String(value.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.:+ ".unicodeScalars.contains($0)) })
    return safe.isEmpty ? "unknown" : safe
}

let package = Package(
    name: "cloudrec_exporter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cloudrec_exporter", targets: ["cloudrec_exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.0.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.21.0"),
        // Benchmarks only (the comparison baseline); never a dependency of the exporter's own targets.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
    ],
    targets: [
        // Task model, common status set, vendor-neutral request/response types, secrets.
        .target(name: "CloudRecCore", swiftSettings: swiftSettings),
        // Vendor clients: one folder per vendor with signer, request builder, decoder and status mapping.
        .target(name: "CloudRecVendors", dependencies: [
            "CloudRecCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        // YAML configuration: strict parsing, per-vendor validation, secret resolution.
        .target(name: "CloudRecConfig", dependencies: [
            "CloudRecCore", "CloudRecVendors",
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        // The system zlib, for gzip scrapes joined from separately compressed blocks (crc32_combine, raw deflate).
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),
        // Pre-rendered per-task series store, self metrics, text/OpenMetrics exposition, gzip block cache.
        .target(name: "CloudRecMetrics", dependencies: ["CloudRecCore", "CZlib"], swiftSettings: swiftSettings),
        // Vendor simulators as pure request handlers (signature checks, lifecycles, rate limits, error codes).
        .target(name: "CloudRecSimulators", dependencies: [
            "CloudRecCore", "CloudRecVendors",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        // Scheduling: token buckets, due-time queue, outcome classification, task lifecycle and retention.
        .target(name: "CloudRecPolling", dependencies: [
            "CloudRecCore", "CloudRecVendors", "CloudRecConfig", "CloudRecMetrics", "CloudRecStorage",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: swiftSettings),
        // Durable task state behind one store interface (TaskStore): embedded SQLite through GRDB (WAL mode), or
        // PostgreSQL through postgres-nio for replicas that share tasks and lease shards (HA).
        .target(name: "CloudRecStorage", dependencies: [
            "CloudRecCore", "CloudRecMetrics",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        // bcrypt verification for --web.config.file basic auth, from the system's libxcrypt (libcrypt-dev).
        .target(name: "CCrypt", linkerSettings: [.linkedLibrary("crypt")]),
        // Revision and build date (see buildStamp above); a C file so that a new stamp recompiles only this file.
        .target(name: "CBuildStamp", cSettings: [
            .define("CLOUDREC_BUILD_REVISION", to: "\"\(buildStamp("CLOUDREC_BUILD_REVISION"))\""),
            .define("CLOUDREC_BUILD_DATE", to: "\"\(buildStamp("CLOUDREC_BUILD_DATE"))\""),
        ]),
        // The exporter's HTTP surface: /metrics, landing page, health, reload.
        .target(name: "CloudRecHTTP", dependencies: [
            "CloudRecCore", "CloudRecMetrics", "CloudRecConfig", "CCrypt",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CompressNIO", package: "compress-nio"),
        ], swiftSettings: swiftSettings),
        // Serves simulators on loopback ports (tests, demo, benchmarks).
        .target(name: "CloudRecSimulatorServer", dependencies: [
            "CloudRecCore", "CloudRecSimulators",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], swiftSettings: swiftSettings),
        // Wiring: builds the service group from a config; shared by the executable and the integration tests.
        .target(name: "CloudRecApp", dependencies: [
            "CloudRecCore", "CloudRecConfig", "CloudRecVendors", "CloudRecMetrics", "CloudRecPolling",
            "CloudRecHTTP", "CloudRecSimulators", "CloudRecSimulatorServer", "CloudRecStorage", "CBuildStamp",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "cloudrec_exporter", dependencies: [
            "CloudRecApp", "CloudRecCore", "CloudRecConfig", "CloudRecHTTP", "CloudRecStorage",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // `swift run -c release CloudRecBenchmarks` (scripts/bench.sh): scrape, churn, polling, memory and concurrency
        // figures for README "Performance". The only target that links swift-prometheus (as the comparison baseline).
        .executableTarget(name: "CloudRecBenchmarks", dependencies: [
            "CloudRecApp", "CloudRecCore", "CloudRecConfig", "CloudRecMetrics", "CloudRecPolling", "CloudRecHTTP",
            "CloudRecSimulators", "CloudRecSimulatorServer", "CloudRecVendors", "CloudRecTestSupport",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Benchmarks/CloudRecBenchmarks", swiftSettings: swiftSettings),
        // Test scaffolding both test targets and the benchmarks share: the harness (the exporter as ExporterServer.build
        // builds it, simulators on loopback), eventually, the metrics parser, the in-memory simulator transport and the
        // throwaway CA. Never linked into the exporter.
        .target(name: "CloudRecTestSupport", dependencies: [
            "CloudRecApp", "CloudRecCore", "CloudRecConfig", "CloudRecPolling", "CloudRecSimulators", "CloudRecSimulatorServer",
            "CloudRecStorage", "CloudRecHTTP",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Tests/CloudRecTestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "CloudRecUnitTests", dependencies: [
            "CloudRecCore", "CloudRecConfig", "CloudRecVendors", "CloudRecMetrics", "CloudRecSimulators",
            "CloudRecPolling", "CloudRecStorage", "CloudRecTestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "CompressNIO", package: "compress-nio"),
        ], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "CloudRecIntegrationTests", dependencies: [
            "CloudRecApp", "CloudRecCore", "CloudRecConfig", "CloudRecSimulators", "CloudRecSimulatorServer",
            "CloudRecMetrics", "CloudRecPolling", "CloudRecHTTP", "CloudRecStorage", "CloudRecVendors", "CloudRecTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ], swiftSettings: swiftSettings),
    ]
)
