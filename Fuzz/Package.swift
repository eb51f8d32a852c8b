// swift-tools-version: 6.1
// The libFuzzer target for the frame decoder and the pre-authentication state machine.
// Build it with `swift build -c release -Xswiftc -sanitize=fuzzer,address` (instrumenting every
// module) and run it with `make fuzz` from the repository root (see the Makefile).
import Foundation
import PackageDescription

/// A path dependency is known by its folder's name, which is wherever the repository was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "jump-fuzz",
    dependencies: [
        .package(path: "..")
    ],
    targets: [
        .executableTarget(
            name: "FrameFuzzer",
            dependencies: [.product(name: "JumpProtocolFuzzing", package: root.lastPathComponent)],
            // libFuzzer brings its own `main`; ours is the @main below, which calls its driver.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ]
)
