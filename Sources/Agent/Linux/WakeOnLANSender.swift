import FoundationEssentials
import Glibc
public import JumpAgentCore
import NIOCore

/// Sends magic packets the way the guide's relay does: UDP to port 9, at the interface's subnet
/// broadcast and at 255.255.255.255, with SO_BROADCAST, bound to the interface that faces the
/// target's network.
public enum WakeOnLANSender {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Sends `packet` out of `interface` (or the routing table's choice when nil); returns the
    /// addresses it went to.
    @discardableResult
    public static func send(_ packet: [UInt8], interface: String?) throws(Failure) -> [String] {
        var targets = ["255.255.255.255"]
        if let interface {
            guard interface.utf8.count < Int(IFNAMSIZ), !interface.contains("/"), !interface.isEmpty else {
                throw Failure(description: "\(interface) is not an interface name")
            }
            if let broadcast = subnetBroadcast(of: interface) { targets.insert(broadcast, at: 0) }
        }
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "cannot open a UDP socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var on: Int32 = 1
        guard setsockopt(descriptor, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw Failure(description: "cannot allow broadcast: \(String(cString: strerror(errno)))")
        }
        if let interface {
            let bound = interface.withCString { setsockopt(descriptor, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
            guard bound == 0 else {
                throw Failure(description: "cannot bind to \(interface): \(String(cString: strerror(errno)))")
            }
        }
        var sent: [String] = []
        var errors: [String] = []
        for target in targets {
            let result: Int
            do {
                let address = try SocketAddress(ipAddress: target, port: Int(MagicPacket.port))
                result = packet.withUnsafeBytes { bytes in
                    address.withSockAddr { sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t($1)) }
                }
            } catch {
                errors.append("\(target): \(error)")
                continue
            }
            if result == packet.count { sent.append(target) } else { errors.append("\(target): \(String(cString: strerror(errno)))") }
        }
        guard !sent.isEmpty else { throw Failure(description: "the magic packet could not be sent: \(errors.joined(separator: "; "))") }
        return sent
    }

    /// The IPv4 broadcast address of the interface's first IPv4 address.
    static func subnetBroadcast(of interface: String) -> String? {
        guard let (ip, prefix) = GetifaddrsReader().addresses()[interface]?.first(where: { $0.0.count == 4 }) else { return nil }
        let address = ip.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let broadcast = address | (prefix >= 32 ? 0 : ~UInt32(0) >> prefix)
        return "\(broadcast >> 24).\(broadcast >> 16 & 0xFF).\(broadcast >> 8 & 0xFF).\(broadcast & 0xFF)"
    }
}

/// The agent's wake sender: UDP sockets, as ``WakeOnLANSender`` sends.
public struct SocketWakeSender: WakeSender {
    public init() {}

    public func send(_ packet: [UInt8], interface: String?) throws -> [String] {
        try WakeOnLANSender.send(packet, interface: interface)
    }
}
