// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "jump-client",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "jump-agent", targets: ["jump-agent"]),
        .executable(name: "jump-server", targets: ["jump-server"]),
        .executable(name: "jumpctl", targets: ["jumpctl"]),
        .executable(name: "jump-bench-codec", targets: ["jump-bench-codec"]),
        .executable(name: "jump-bench-admission", targets: ["jump-bench-admission"]),
        .executable(name: "jump-bench-capture", targets: ["jump-bench-capture"]),
        .executable(name: "jump-bench-logind", targets: ["jump-bench-logind"]),
        .executable(name: "jump-bench-reconnect", targets: ["jump-bench-reconnect"]),
        .executable(name: "jump-bench-offline", targets: ["jump-bench-offline"]),
        .executable(name: "jump-loadgen", targets: ["jump-loadgen"]),
        .library(name: "JumpProtocol", targets: ["JumpProtocol"]),
        .library(name: "JumpProtocolFuzzing", targets: ["JumpProtocolFuzzing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // No traits: the default ones import Foundation (Input/OutputStream), which the agent does not load.
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // The wire: frames, messages, codec, connection state machines and the handlers that run them.
        .target(
            name: "JumpProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/Protocol",
            exclude: ["jump.proto"]
        ),
        // The input-to-assertions body of the fuzz target (Fuzz/), shared with its regression tests.
        .target(
            name: "JumpProtocolFuzzing",
            dependencies: [
                "JumpProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/ProtocolFuzzing"
        ),
        // TLS 1.3 configuration and the appliance PKI (keys, CSRs, certificates), shared by both ends.
        .target(
            name: "JumpTLS",
            dependencies: [
                "JumpProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Sources/TLS"
        ),
        // The agent's logic and its connection to the appliance (also used by the load generator).
        .target(
            name: "JumpAgentCore",
            dependencies: [
                "JumpProtocol",
                "JumpTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Agent/Core"
        ),
        // libsystemd's sd-bus behind one C function: logind's view of the console.
        .target(
            name: "CSystemd",
            path: "Sources/CSystemd",
            linkerSettings: [.linkedLibrary("systemd")]
        ),
        .target(
            name: "CX11",
            path: "Sources/CX11",
            linkerSettings: [.linkedLibrary("X11"), .linkedLibrary("Xext"), .linkedLibrary("Xrandr"), .linkedLibrary("Xss")]
        ),
        // posix_openpt, POSIX_SPAWN_SETSID, closefrom and TIOCSWINSZ: glibc hides them behind
        // _GNU_SOURCE, and ioctl is variadic.
        .target(name: "CPTY", path: "Sources/CPTY"),
        // mallopt and userfaultfd, which Glibc's Swift module does not declare (see HeapTuning in the
        // appliance and MappedFilePages in the agent), and the Swift runtime's global-executor hooks
        // (ConcurrencyOnEventLoops in the agent).
        .target(name: "CHeap", path: "Sources/CHeap"),
        .target(
            name: "CJPEG",
            path: "Sources/CJPEG",
            linkerSettings: [.linkedLibrary("jpeg")]
        ),
        // Draws known pictures on an X server, for the capture tests and benchmark.
        .target(
            name: "CX11TestSupport",
            path: "Tests/CX11TestSupport",
            linkerSettings: [.linkedLibrary("X11")]
        ),
        // The agent's Linux side: the only agent module that imports C.
        .target(
            name: "JumpAgentLinux",
            dependencies: [
                "JumpAgentCore", "JumpProtocol", "CSystemd", "CX11", "CJPEG", "CPTY", "CHeap",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Agent/Linux"
        ),
        .executableTarget(
            name: "jump-agent",
            dependencies: [
                "JumpAgentCore",
                "JumpAgentLinux",
                "JumpProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/Agent/Main",
            // `make agent` links the Swift runtime in (--static-swift-stdlib), and the toolchain's
            // static-stdlib-args.lnk adds -export-dynamic: every symbol exported (36,461), 1.8 MB of
            // relocations, and code --gc-sections cannot drop. The agent needs none of them exported.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux], configuration: .release))]
        ),
        // The store: a protocol, SQLite through GRDB, migrations, the hash-chained audit log.
        .target(
            name: "JumpStore",
            dependencies: [
                "JumpPolicy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Server/Store"
        ),
        // Who may do what to which Jump Client, when, and why: pure functions over values (no store, no NIO).
        .target(
            name: "JumpPolicy",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Server/Policy"
        ),
        // Session recording (asciicast v2) and Jump Policy force-end enforcement: pure, no dependencies.
        .target(
            name: "JumpSessionCore",
            path: "Sources/Server/Session"
        ),
        // An event loop that gathers I/O before it waits (WakeUpCoalescing): the appliance's agent loops
        // and the load generator's.
        .target(
            name: "JumpEventLoops",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/EventLoops"
        ),
        .target(
            name: "JumpServerCore",
            dependencies: [
                "CHeap",
                "JumpEventLoops",
                "JumpProtocol",
                "JumpTLS",
                "JumpStore",
                "JumpSessionCore",
                "JumpPolicy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/Server/Core"
        ),
        // The HTTPS JSON API for jumpctl and the web console.
        .target(
            name: "JumpAPI",
            dependencies: [
                "JumpServerCore",
                "JumpStore",
                "JumpPolicy",
                "JumpTLS",
                "JumpProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Server/API",
            resources: [.copy("openapi.yaml")]
        ),
        .executableTarget(
            name: "jump-server",
            dependencies: [
                "JumpServerCore",
                "JumpEventLoops",
                "JumpAPI",
                "JumpStore",
                "JumpTLS",
                "JumpProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Server/Main"
        ),
        .executableTarget(
            name: "jumpctl",
            dependencies: [
                "JumpProtocol",
                "JumpPolicy",
                "CPTY",
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/CLI"
        ),
        .executableTarget(
            name: "jump-bench-codec",
            dependencies: [
                "JumpProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/CodecBenchmark"
        ),
        .executableTarget(
            name: "jump-bench-admission",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            path: "Benchmarks/AdmissionBenchmark"
        ),
        .executableTarget(
            name: "jump-bench-capture",
            dependencies: ["JumpAgentLinux", "JumpAgentCore", "JumpProtocol", "CX11TestSupport", "JumpTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/CaptureBenchmark"
        ),
        // The report's question to logind over a private system bus with a mocked logind.
        .executableTarget(
            name: "jump-bench-logind",
            dependencies: ["JumpAgentLinux", "JumpAgentCore", "JumpTestSupport"],
            path: "Benchmarks/LogindBenchmark"
        ),
        .executableTarget(
            name: "jump-bench-reconnect",
            dependencies: [
                "JumpAgentCore", "JumpProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/ReconnectBenchmark"
        ),
        .executableTarget(
            name: "jump-bench-offline",
            dependencies: [
                "JumpAgentCore", "JumpProtocol", "JumpTLS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/OfflineBenchmark"
        ),
        // Thousands of simulated agents (the agent's own runtime) in one process, and idle TLS clients
        // of mosquitto and nats-server for comparison.
        .executableTarget(
            name: "jump-loadgen",
            dependencies: [
                "JumpAgentCore", "JumpAgentLinux", "JumpProtocol",
                // WakeUpCoalescing, the appliance's own, for --coalescing-ms.
                "JumpEventLoops",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/LoadGen"
        ),
        .testTarget(
            name: "JumpProtocolTests",
            dependencies: [
                "JumpProtocol",
                "JumpProtocolFuzzing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["FuzzCrashes"]
        ),
        .testTarget(
            name: "JumpTLSTests",
            dependencies: [
                "JumpTLS",
                "JumpProtocol",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "JumpAgentCoreTests",
            dependencies: [
                "JumpAgentCore", "JumpAgentLinux", "JumpProtocol", "JumpTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            exclude: ["Fixtures"]
        ),
        // Real parts for tests: an X server with its own cookie, a private D-Bus with python-dbusmock.
        .target(
            name: "JumpTestSupport",
            dependencies: ["CX11TestSupport"],
            path: "Tests/Support"
        ),
        .testTarget(
            name: "JumpAgentLinuxTests",
            dependencies: [
                "JumpAgentLinux", "JumpAgentCore", "JumpProtocol", "JumpTestSupport", "jump-agent",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "JumpPolicyTests",
            dependencies: ["JumpPolicy"],
            exclude: ["Vectors"]
        ),
        .testTarget(
            name: "JumpSessionCoreTests",
            dependencies: ["JumpSessionCore", "JumpTestSupport"]
        ),
        .testTarget(
            name: "JumpStoreTests",
            dependencies: ["JumpStore", "JumpPolicy"]
        ),
        .testTarget(
            name: "JumpServerCoreTests",
            dependencies: [
                "JumpServerCore",
                "JumpEventLoops",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                "JumpAPI",
                "JumpPolicy",
                "JumpSessionCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                "JumpAgentCore",
                "JumpStore",
                "JumpTLS",
                "JumpProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "JumpProtocol", "JumpPolicy", "JumpAgentLinux", "JumpTestSupport", "jump-agent", "jump-server", "jumpctl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Run from its source path by the tests, not built into the bundle.
            exclude: ["Fixtures/pty_session.py"]
        ),
    ]
)

// One place for the language settings every Swift target shares (as hummingbird does).
for target in package.targets where target.type != .system && target.type != .plugin && !target.name.hasPrefix("C") {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    target.swiftSettings = settings
}
