public import Foundation
public import JumpProtocol

/// Choosing who wakes whom: a Jump Client relays for another when both reported the same default
/// gateway (IPv4 address and MAC) and the relay has an address in the target's subnet.
public enum WakeRelay {
    /// An attempt makes the wake action unavailable for this long.
    public static let cooldown: TimeInterval = 30
    /// How many relays are asked in turn, and how long each has to answer.
    public static let maximumRelays = 3
    public static let answerTimeout = Duration.seconds(5)
    /// How long a wake command is valid.
    public static let commandLifetime: TimeInterval = 60
    /// At most this many MAC addresses of the target are woken.
    public static let maximumTargetMACs = 8

    /// Why a wake cannot be tried.
    public enum Refusal: Error, Equatable, CustomStringConvertible, Sendable {
        case notFound(String)
        case disabled
        case coolingDown(seconds: Int)
        case noNetworkFacts(String)
        case noRelay(String)
        case relaysFailed(String)

        public var description: String {
            switch self {
            case .notFound(let id): "no Jump Client \(id)"
            case .disabled: "waking Jump Clients is turned off (setting allow-wake)"
            case .coolingDown(let seconds): "a wake-up was just tried; try again in \(seconds) s"
            case .noNetworkFacts(let detail): detail
            case .noRelay(let detail): detail
            case .relaysFailed(let detail): detail
            }
        }
    }

    /// The target's network as the relays must share it.
    public struct Network: Hashable, Sendable {
        public var gateway: [UInt8]
        public var gatewayMAC: [UInt8]
        public var address: [UInt8]
        public var prefixLength: UInt32
        public var macs: [[UInt8]]
    }

    /// The network and MACs of a target from its last report's facts.
    public static func network(of facts: WireNetworkFacts) -> Network? {
        guard facts.gatewayIpv4.count == 4, facts.gatewayIpv4Mac.count == 6,
            let interface = facts.interfaces.first(where: { $0.name == facts.gatewayIpv4Interface }),
            let address = interface.addresses.first(where: { $0.ip.count == 4 && $0.prefixLength <= 32 })
        else { return nil }
        let usable: (Data) -> Bool = { mac in mac.count == 6 && mac != Data(count: 6) && mac[0] & 1 == 0 }
        var macs = [interface.mac].filter(usable).map { Array($0) }
        for other in facts.interfaces where other.name != interface.name && usable(other.mac) && !macs.contains(Array(other.mac)) {
            macs.append(Array(other.mac))
        }
        guard !macs.isEmpty else { return nil }
        return Network(
            gateway: Array(facts.gatewayIpv4), gatewayMAC: Array(facts.gatewayIpv4Mac),
            address: Array(address.ip), prefixLength: address.prefixLength, macs: Array(macs.prefix(maximumTargetMACs))
        )
    }

    /// Whether a candidate's facts put it on `network`; the interface it would send from.
    public static func relayInterface(_ facts: WireNetworkFacts, on network: Network) -> String? {
        guard Array(facts.gatewayIpv4) == network.gateway, Array(facts.gatewayIpv4Mac) == network.gatewayMAC,
            let interface = facts.interfaces.first(where: { $0.name == facts.gatewayIpv4Interface }),
            interface.addresses.contains(where: { $0.ip.count == 4 && sameSubnet(Array($0.ip), network.address, prefix: network.prefixLength) })
        else { return nil }
        return interface.name
    }

    static func sameSubnet(_ a: [UInt8], _ b: [UInt8], prefix: UInt32) -> Bool {
        let value = { (bytes: [UInt8]) in bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - min(prefix, 32))
        return value(a) & mask == value(b) & mask
    }
}
