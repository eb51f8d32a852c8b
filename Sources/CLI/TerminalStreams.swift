import CPTY
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a descriptor (standard input) one chunk at a time on a thread-pool thread, never on the event loop or
/// the cooperative pool. The caller asks for the next chunk only once it has sent the last, so a slow
/// appliance slows the reading. A blocked read ends with `CancellationError` when its task is cancelled:
/// the reader polls a wake pipe beside the descriptor.
final class InputReader: Sendable {
    /// The most bytes read (and sent in one binary message) at once.
    static let chunkBytes = 4096

    private let descriptor: CInt
    private let threadPool: NIOThreadPool
    private let wakeRead: CInt
    private let wakeWrite: CInt

    init(descriptor: CInt, threadPool: NIOThreadPool) throws {
        var fds: [CInt] = [-1, -1]
        let error = jump_pty_wake_pipe(&fds)
        guard error == 0 else { throw CLIError.failure("cannot create a pipe: \(String(cString: strerror(error)))") }
        self.descriptor = descriptor
        self.threadPool = threadPool
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// The next bytes, or nil at the end of input (a hung-up terminal included).
    func read() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await threadPool.runIfActive { [descriptor, wakeRead] in
                try Self.blockingRead(descriptor, wake: wakeRead)
            }
        } onCancel: {
            cancel()
        }
    }

    /// Wakes a blocked read, and every later one, with `CancellationError`.
    func cancel() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private static func blockingRead(_ descriptor: CInt, wake: CInt) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: chunkBytes)
        while true {
            var input: Int16 = 0
            var woken: Int16 = 0
            let ready = jump_poll_pair(descriptor, Int16(POLLIN), wake, Int16(POLLIN), -1, &input, &woken)
            if ready < 0 {
                if errno == EINTR { continue }
                throw CLIError.failure("cannot wait for standard input: \(String(cString: strerror(errno)))")
            }
            if woken != 0 { throw CancellationError() }
            guard input != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count > 0 { return Array(buffer[0..<count]) }
            if count == 0 { return nil }
            switch errno {
            case EINTR, EAGAIN: continue
            case EIO: return nil  // the terminal hung up
            default: throw CLIError.failure("cannot read standard input: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// Writes whole buffers to a descriptor with write(2) (no stdio buffering), on a thread-pool thread since a
/// terminal or a pipe may make a write wait.
struct OutputWriter: Sendable {
    let threadPool: NIOThreadPool

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func write(_ bytes: [UInt8], to descriptor: CInt) async throws {
        guard !bytes.isEmpty else { return }
        try await threadPool.runIfActive {
            try Self.writeAll(bytes, to: descriptor)
        }
    }

    /// Writes all of `bytes`, waiting when the descriptor is non-blocking and full.
    static func writeAll(_ bytes: [UInt8], to descriptor: CInt) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 {
                offset += written
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN:
                var writable: Int16 = 0
                var unused: Int16 = 0
                _ = jump_poll_pair(descriptor, Int16(POLLOUT), -1, 0, -1, &writable, &unused)
            default: throw Failure(description: String(cString: strerror(errno)))
            }
        }
    }
}

// The types above have their own read and write, which hide the C functions' names.
private func systemRead(_ descriptor: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: CInt, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
