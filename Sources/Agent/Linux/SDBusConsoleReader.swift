import CSystemd
public import JumpAgentCore

/// logind over the system D-Bus (sd-bus). Root can read every session's properties.
public struct SDBusConsoleReader: ConsoleReader {
    /// A D-Bus address instead of the system bus (tests run a private bus with a mocked logind).
    let busAddress: String?

    public init(busAddress: String? = nil) {
        self.busAddress = busAddress
    }

    public func read() throws -> LogindConsole {
        var console = jump_console()
        var error = [CChar](repeating: 0, count: 512)
        let result: Int32
        if let busAddress {
            result = busAddress.withCString { jump_logind_console($0, &console, &error, error.count) }
        } else {
            result = jump_logind_console(nil, &console, &error, error.count)
        }
        guard result == 0 else {
            throw ConsoleReadError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var reading = LogindConsole()
        if console.has_active_session != 0 {
            reading.active = LogindConsole.Session(
                user: Self.text(console.active_user),
                uid: console.active_uid,
                type: Self.text(console.active_type),
                sessionClass: Self.text(console.active_class),
                display: Self.text(console.active_display),
                remote: console.active_remote != 0,
                locked: console.active_locked != 0
            )
        }
        let seatUser = Self.text(console.seat_user)
        if !seatUser.isEmpty {
            reading.userSession = LogindConsole.Session(
                user: seatUser,
                uid: console.seat_uid,
                type: Self.text(console.seat_type),
                sessionClass: "user",
                display: Self.text(console.seat_display),
                remote: false,
                locked: console.seat_locked != 0
            )
        }
        return reading
    }

    /// A fixed-size C character array as a String.
    static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
