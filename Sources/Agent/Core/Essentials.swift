import FoundationEssentials
import Glibc

// The agent imports FoundationEssentials, never Foundation: Foundation would load itself, ICU's data and
// FoundationInternationalization into every endpoint's memory (about 8 MiB resident) for a few
// conveniences. These are the few it used.

extension StringProtocol {
    /// The text without its leading and trailing whitespace and line breaks.
    public func trimmed() -> String {
        trimmed { $0.isWhitespace || $0.isNewline }
    }

    /// The text without the leading and trailing characters that `isTrimmed` accepts.
    public func trimmed(where isTrimmed: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isTrimmed($0) }), let last = lastIndex(where: { !isTrimmed($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

/// A thread of its own (pthread, detached) for work that may block in the kernel for good, such as
/// statvfs on a hung network mount or accept on a local socket.
public enum DetachedThread {
    private final class Work {
        let name: String
        let body: @Sendable () -> Void
        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = String(decoding: name.utf8.prefix(15), as: UTF8.self)
            self.body = body
        }
    }

    /// Starts `body` on a new detached thread named `name` (at most 15 bytes are kept; a Linux thread
    /// otherwise has its creator's name) with a stack of `stackSize` bytes (at least 16 KiB; 0 for the
    /// system's default). Returns false, and runs nothing, when no thread can be made.
    @discardableResult
    public static func start(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        guard pthread_attr_init(&attributes) == 0 else { return false }
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) == 0 else { return false }
        if stackSize > 0, pthread_attr_setstacksize(&attributes, max(stackSize, 16 * 1024)) != 0 { return false }
        let work = Unmanaged.passRetained(Work(name, body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread, &attributes,
            { context in
                let work = Unmanaged<Work>.fromOpaque(context!).takeRetainedValue()
                nameThisThread(work.name)
                work.body()
                return nil
            }, work)
        guard started == 0 else {
            Unmanaged<Work>.fromOpaque(work).release()
            return false
        }
        return true
    }
}

/// Names the calling thread (what `ps -L`, top and /proc/PID/task/TID/comm show): pthread_setname_np
/// without _GNU_SOURCE, which Glibc's Swift module does not define. Best effort.
func nameThisThread(_ name: String) {
    let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    _ = name.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
    close(descriptor)
}

/// A directory's path with one trailing slash, to put before relative paths under it (plain strings,
/// not URL: the collectors build paths at every report).
public func directoryPrefix(_ directory: String) -> String {
    directory.hasSuffix("/") ? directory : directory + "/"
}

/// The first `maximumBytes` bytes of a file (all of it when shorter), or nil when it cannot be read.
public func readPrefix(ofFile path: String, maximumBytes: Int) -> [UInt8]? {
    readFile(path, upTo: maximumBytes)?.bytes
}

/// A whole file of unknown size (files under /proc and /sys say 0), read to its end; nil when it
/// cannot be opened or read, or is longer than `maximumBytes`.
public func readWhole(_ path: String, maximumBytes: Int = 16 << 20) -> [UInt8]? {
    guard let (bytes, complete) = readFile(path, upTo: maximumBytes), complete else { return nil }
    return bytes
}

/// At most `limit` bytes of a file, read in pieces of up to 16 KiB (the buffer grows with what
/// arrives), and whether that was all of it.
private func readFile(_ path: String, upTo limit: Int) -> (bytes: [UInt8], complete: Bool)? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    while true {
        // One byte past the limit tells a file of exactly `limit` bytes from a longer one.
        let piece = min(16 * 1024, limit + 1 - bytes.count)
        guard piece > 0 else { return (Array(bytes.prefix(limit)), false) }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: piece))
        let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + start, piece) }
        bytes.removeLast(piece - max(count, 0))
        if count == 0 { return (bytes, true) }
        if count < 0 && errno != EINTR { return nil }
    }
}

/// Writes all of `bytes` to `descriptor` (again after a short write or EINTR); false when write
/// fails (errno says why).
public func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return false
        }
    }
    return true
}

/// `value` with one digit after the point ("14.0", "0.5"), as `%.1f` prints it (a value half-way
/// between two tenths may round the other way), for day counts and the like.
public func oneDecimal(_ value: Double) -> String {
    let tenths = (value * 10).rounded(.toNearestOrEven)
    guard tenths.isFinite, abs(tenths) < 1e15 else { return "\(value)" }
    let sign = tenths < 0 ? "-" : ""
    let magnitude = Int64(abs(tenths))
    return "\(sign)\(magnitude / 10).\(magnitude % 10)"
}

extension Error {
    /// What went wrong, in words. FoundationEssentials' file errors have no localized description (that
    /// is Foundation's), so for them this is the system's text for the error underneath and the path.
    public var plainDescription: String {
        if let error = self as? CocoaError {
            let reason =
                if let posix = error.underlying as? POSIXError {
                    String(cString: strerror(posix.code.rawValue))
                } else {
                    switch error.code {
                    case .fileNoSuchFile, .fileReadNoSuchFile: "no such file"
                    case .fileReadNoPermission, .fileWriteNoPermission: "permission denied"
                    case .fileWriteOutOfSpace: "no space left on device"
                    case .fileWriteFileExists: "the file exists"
                    case .fileReadCorruptFile: "the data is not in the expected form"
                    default: "file error \(error.code.rawValue)"
                    }
                }
            return error.filePath.map { "\($0): \(reason)" } ?? reason
        }
        if let error = self as? POSIXError { return String(cString: strerror(error.code.rawValue)) }
        return String(describing: self)
    }
}
