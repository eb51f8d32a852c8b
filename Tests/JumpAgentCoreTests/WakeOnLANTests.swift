import Foundation
import JumpAgentCore
import JumpProtocol
import Synchronization
import Testing

@Suite struct WakeOnLANTests {
    static let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]

    @Test func theMagicPacketIsSixFFsAndTheMACSixteenTimes() throws {
        let packet = try MagicPacket.build(mac: Self.mac)
        #expect(packet.count == 102)
        #expect(packet.prefix(6).allSatisfy { $0 == 0xFF })
        for copy in 0..<16 { #expect(Array(packet[(6 + copy * 6)..<(12 + copy * 6)]) == Self.mac) }
        let secured = try MagicPacket.build(mac: Self.mac, password: [1, 2, 3, 4, 5, 6])
        #expect(secured.count == 108)
        #expect(Array(secured.suffix(6)) == [1, 2, 3, 4, 5, 6])
        #expect(try MagicPacket.build(mac: Self.mac, password: [9, 9, 9, 9]).count == 106)
    }

    @Test(arguments: [
        ([UInt8](repeating: 0, count: 6), [UInt8]()), ([UInt8](repeating: 0xFF, count: 6), []), ([0x01, 0, 0x5E, 0, 0, 1], []),
        ([1, 2, 3], []), ([0x52, 0x54, 0, 0x12, 0x34, 0x56], [1, 2, 3]),
    ] as [([UInt8], [UInt8])])
    func badAddressesAndPasswordsAreRefused(mac: [UInt8], password: [UInt8]) {
        #expect(throws: MagicPacket.Invalid.self) { try MagicPacket.build(mac: mac, password: password) }
    }

    @Test func macsAndPasswordsAreParsed() {
        #expect(MagicPacket.parseMAC("52:54:00:12:34:56") == Self.mac)
        #expect(MagicPacket.parseMAC("52-54-00-12-34-56") == Self.mac)
        #expect(MagicPacket.parseMAC("525400123456") == Self.mac)
        for bad in ["52:54:00:12:34", "52:54:00:12:34:5g", "", "52:54:00:12:34:56:78", "52 54 00 12 34 56"] {
            #expect(MagicPacket.parseMAC(bad) == nil, "\(bad)")
        }
        #expect(MagicPacket.parseHex("a1B2c3d4") == [0xA1, 0xB2, 0xC3, 0xD4])
        #expect(MagicPacket.parseHex("abc") == nil)
    }

    final class Recorder: WakeSender {
        let sent = Mutex<[([UInt8], String?)]>([])
        let failure: String?
        init(failure: String? = nil) { self.failure = failure }
        struct Failure: Error, CustomStringConvertible { let description: String }
        func send(_ packet: [UInt8], interface: String?) throws -> [String] {
            if let failure { throw Failure(description: failure) }
            sent.withLock { $0.append((packet, interface)) }
            return ["192.0.2.255", "255.255.255.255"]
        }
    }

    @Test func aWakeCommandSendsAPacketPerMACAndAcknowledges() throws {
        var wake = WireWake()
        wake.targetMacs = [Data(Self.mac), Data([0x52, 0x54, 0, 0, 0, 1])]
        wake.secureOnPassword = Data([1, 2, 3, 4])
        wake.interface = "eth0"
        let recorder = Recorder()
        let ack = recorder.perform(wake)
        #expect(ack.result == .ok)
        #expect(ack.detail.contains("52:54:00:12:34:56 to 192.0.2.255, 255.255.255.255"))
        let sent = recorder.sent.withLock { $0 }
        #expect(sent.count == 2)
        #expect(sent.first?.0 == (try MagicPacket.build(mac: Self.mac, password: [1, 2, 3, 4])))
        #expect(sent.first?.1 == "eth0")

        var bad = wake
        bad.secureOnPassword = Data([1])
        #expect(recorder.perform(bad).result == .invalid)
        #expect(recorder.perform(WireWake()).result == .invalid)
        #expect(Recorder(failure: "no route").perform(wake).result == .failed)
    }
}
