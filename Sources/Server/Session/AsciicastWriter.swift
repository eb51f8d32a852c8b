public import Foundation

/// Records a session as asciicast v2 into a file the caller opened, and fails loudly.
///
/// The writer is strict: the first failure to write or sync (a full disk above all) is thrown, and every later
/// call throws it again, so the session that owns the writer ends rather than running on unrecorded. Events are
/// timed by the injected monotonic clock from the moment the writer is made, so a wall-clock step cannot reorder
/// them, and tests drive it with a manual clock. Output and input are decoded as UTF-8 streams of their own, each
/// holding an incomplete character until its next chunk.
///
/// Not `Sendable`: one session owns it. Writing blocks the calling thread, so call it from a thread pool or an
/// actor of its own, never on an event loop.
public final class AsciicastWriter<C: Clock> where C.Duration == Duration {
    private let descriptor: CInt
    private let clock: C
    private let start: C.Instant
    private var lastFlush: C.Instant
    private var buffer: [UInt8] = []
    private var output = UTF8ChunkDecoder()
    private var input = UTF8ChunkDecoder()
    private var failure: AsciicastError?
    private var isClosed = false

    /// Takes ownership of `fileDescriptor` (even when it throws) and writes the header through to it at once, so
    /// a recording that cannot be written stops the session before it starts.
    public init(fileDescriptor: CInt, header: AsciicastHeader, clock: C) throws {
        self.descriptor = fileDescriptor
        self.clock = clock
        self.start = clock.now
        self.lastFlush = start
        buffer.reserveCapacity(Asciicast.maximumBufferedBytes)
        buffer.append(contentsOf: AsciicastEncoder.headerLine(header))
        try flush()
    }

    /// Writes to a duplicate of the handle's descriptor: the handle stays the caller's to close.
    public convenience init(fileHandle: FileHandle, header: AsciicastHeader, clock: C) throws {
        let descriptor: CInt
        do {
            descriptor = try Syscall.duplicate(fileHandle.fileDescriptor)
        } catch {
            throw Self.writeError(error)
        }
        try self.init(fileDescriptor: descriptor, header: header, clock: clock)
    }

    deinit {
        if !isClosed { try? Syscall.close(descriptor) }
    }

    /// What the endpoint's terminal printed: any bytes, cut anywhere.
    public func output(_ bytes: some Collection<UInt8>) throws {
        let text = output.decode(bytes)
        try record(.output, text)
    }

    /// What the representative typed.
    public func input(_ bytes: some Collection<UInt8>) throws {
        let text = input.decode(bytes)
        try record(.input, text)
    }

    public func resize(columns: Int, rows: Int) throws {
        try record(.resize, "\(columns)x\(rows)")
    }

    /// Writes out everything buffered.
    public func flush() throws {
        try checkUsable()
        guard !buffer.isEmpty else { return }
        do {
            try Syscall.writeAll(descriptor, buffer)
        } catch {
            throw fail(Self.writeError(error))
        }
        buffer.removeAll(keepingCapacity: true)
        lastFlush = clock.now
    }

    /// Writes the rest (a character cut off at the end becomes U+FFFD), syncs the file to the disk and closes the
    /// descriptor. Throws the writer's failure, if it had one, after closing. Closing twice does nothing.
    public func close() throws {
        guard !isClosed else { return }
        if failure == nil {
            do {
                try record(.output, output.finish())
                try record(.input, input.finish())
                try flush()
                try sync()
            } catch {
                // Recorded in `failure`, thrown below once the descriptor is closed.
            }
        }
        isClosed = true
        do {
            try Syscall.close(descriptor)
        } catch {
            if failure == nil { failure = Self.writeError(error) }
        }
        if let failure { throw failure }
    }

    private func record(_ kind: AsciicastEvent.Kind, _ text: String) throws {
        try checkUsable()
        let now = clock.now
        if !text.isEmpty {
            AsciicastEncoder.appendEvent(
                AsciicastEvent(time: start.duration(to: now), kind: kind, data: text),
                to: &buffer
            )
        }
        if buffer.count >= Asciicast.maximumBufferedBytes || lastFlush.duration(to: now) >= Asciicast.flushInterval {
            try flush()
        }
    }

    private func sync() throws {
        do {
            try Syscall.sync(descriptor)
        } catch Errno.invalid, Errno.readOnlyFileSystem {
            // fsync(2): the descriptor is a pipe, socket or device that cannot be synced; the writes went through.
        } catch {
            throw fail(Self.writeError(error))
        }
    }

    private func checkUsable() throws {
        if let failure { throw failure }
        if isClosed {
            throw AsciicastError(.closed, "The session recording was already closed; nothing more can be recorded.")
        }
    }

    private func fail(_ error: AsciicastError) -> AsciicastError {
        failure = error
        return error
    }

    private static func writeError(_ error: Errno) -> AsciicastError {
        if error == .noSpace || error == .quotaExceeded {
            return AsciicastError(
                .diskFull,
                "The session recording cannot be written: the disk holding it is full (\(error.text)). The session "
                    + "is ended because it can no longer be recorded; free space on the recordings volume.",
                errno: error.code
            )
        }
        return AsciicastError(
            .writeFailed,
            "The session recording cannot be written (\(error.text)). The session is ended because it can no "
                + "longer be recorded; check the recordings volume.",
            errno: error.code
        )
    }
}
