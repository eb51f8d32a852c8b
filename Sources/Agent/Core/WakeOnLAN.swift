import FoundationEssentials
import Glibc
import JumpTLS
public import JumpProtocol

/// The Wake-on-LAN magic packet: six 0xFF bytes, the target's MAC sixteen times, and the SecureOn
/// password (4 or 6 bytes) when the target's card wants one.
public enum MagicPacket {
    /// The UDP port the packet goes to (discard), as wakeonlan and etherwake send it.
    public static let port: UInt16 = 9

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func build(mac: [UInt8], password: [UInt8] = []) throws(Invalid) -> [UInt8] {
        guard mac.count == 6 else { throw Invalid(description: "a MAC address has 6 bytes, not \(mac.count)") }
        guard mac != [0, 0, 0, 0, 0, 0], mac != [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], mac[0] & 1 == 0 else {
            throw Invalid(description: "\(format(mac)) is not a network card's address")
        }
        guard [0, 4, 6].contains(password.count) else {
            throw Invalid(description: "a SecureOn password has 4 or 6 bytes, not \(password.count)")
        }
        var packet = [UInt8](repeating: 0xFF, count: 6)
        packet.reserveCapacity(6 + 16 * 6 + password.count)
        for _ in 0..<16 { packet += mac }
        return packet + password
    }

    /// "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff" or "aabbccddeeff" as six bytes.
    public static func parseMAC(_ text: String) -> [UInt8]? {
        let hex = text.filter { $0 != ":" && $0 != "-" }
        guard hex.count == 12, hex.count + (text.count - hex.count) == text.count else { return nil }
        return parseHex(hex)
    }

    /// Hexadecimal digits as bytes (an even count, nothing else).
    public static func parseHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func format(_ mac: [UInt8]) -> String {
        Hex.lowercase(mac, separator: UInt8(ascii: ":"))
    }
}

/// Sends the magic packets of a Wake command; the Linux one uses a UDP socket.
public protocol WakeSender: Sendable {
    /// Sends a packet for `mac` out of `interface` (nil: the routing table's choice); returns where
    /// it went, or throws with a reason for the appliance.
    func send(_ packet: [UInt8], interface: String?) throws -> [String]
}

extension WakeSender {
    /// Carries out a Wake command: every target MAC, with the password; the acknowledgement to send.
    public func perform(_ wake: WireWake) -> WireAck {
        guard !wake.targetMacs.isEmpty else { return WireAck(ref: 0, .invalid, "no MAC address to wake") }
        var sent: [String] = []
        for mac in wake.targetMacs {
            do {
                let packet = try MagicPacket.build(mac: Array(mac), password: Array(wake.secureOnPassword))
                let targets = try send(packet, interface: wake.interface.isEmpty ? nil : wake.interface)
                sent.append("\(MagicPacket.format(Array(mac))) to \(targets.joined(separator: ", "))")
            } catch let error as MagicPacket.Invalid {
                return WireAck(ref: 0, .invalid, error.description)
            } catch {
                return WireAck(ref: 0, .failed, "\(error)")
            }
        }
        return WireAck(ref: 0, .ok, "magic packets sent: " + sent.joined(separator: "; "))
    }
}
