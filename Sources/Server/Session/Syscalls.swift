#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place that turns the C library's return codes into errors, as swift-system's `valueOrErrno` does.
struct Errno: Error, Hashable, Sendable {
    var code: CInt

    static let interrupted = Errno(code: EINTR)
    static let noSpace = Errno(code: ENOSPC)
    static let quotaExceeded = Errno(code: EDQUOT)
    static let invalid = Errno(code: EINVAL)
    static let readOnlyFileSystem = Errno(code: EROFS)

    var text: String { String(cString: strerror(code)) }
}

enum Syscall {
    /// Writes all of `bytes`, retrying on partial writes and interruptions.
    static func writeAll(_ descriptor: CInt, _ bytes: [UInt8]) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                let error = Errno(code: errno)
                if error == .interrupted { continue }
                throw error
            }
            written += result
        }
    }

    static func sync(_ descriptor: CInt) throws(Errno) {
        while fsync(descriptor) != 0 {
            let error = Errno(code: errno)
            if error != .interrupted { throw error }
        }
    }

    /// Not retried on EINTR: on Linux the descriptor is released even then, and a retry could close another's.
    static func close(_ descriptor: CInt) throws(Errno) {
        #if canImport(Glibc)
        let result = Glibc.close(descriptor)
        #elseif canImport(Musl)
        let result = Musl.close(descriptor)
        #else
        let result = Darwin.close(descriptor)
        #endif
        if result != 0 {
            let error = Errno(code: errno)
            if error != .interrupted { throw error }
        }
    }

    static func duplicate(_ descriptor: CInt) throws(Errno) -> CInt {
        let result = dup(descriptor)
        if result < 0 { throw Errno(code: errno) }
        return result
    }
}
