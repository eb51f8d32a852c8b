import Foundation
import JumpSessionCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Temporary recording files, removed at the end of each test.
struct TemporaryRecording: ~Copyable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jump-\(UUID().uuidString).cast")
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    /// A new descriptor for writing the file, as the session opens it.
    func open() throws -> CInt {
        let descriptor = systemOpen(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return descriptor
    }

    func contents() throws -> Data { try Data(contentsOf: url) }

    func lines() throws -> [String] {
        String(decoding: try contents(), as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

enum RecordingFixtures {
    static let header = AsciicastHeader(
        width: 80,
        height: 24,
        timestamp: Date(timeIntervalSince1970: 1_773_172_800),
        title: "alice on db-1",
        env: ["TERM": "xterm-256color", "SHELL": "/bin/bash"],
        jump: .init(who: "alice", client: "db-1", ticket: "INC-1042", policies: ["night_shift"])
    )

    static let hasDevFull = FileManager.default.fileExists(atPath: "/dev/full")
}

func systemOpen(_ path: String, _ flags: CInt, _ mode: mode_t) -> CInt {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}
