import Foundation
import JumpAgentCore
import JumpTestSupport
import Testing

let namespacesAvailable = geteuid() == 0 && ["/usr/sbin/ip", "/usr/bin/tcpdump", "/usr/bin/wakeonlan"].allSatisfy(FileManager.default.isExecutableFile)

/// Wake-on-LAN on a real network: two network namespaces joined by a veth pair, tcpdump on the far
/// side. `jump-agent wake` sends from one namespace; the packets seen on the other carry the same
/// bytes as those of the `wakeonlan` tool, to the subnet broadcast and to 255.255.255.255, UDP port 9.
@Suite(.serialized, .enabled(if: namespacesAvailable, "needs root, ip, tcpdump and wakeonlan (make test installs them)"))
struct WakeOnLANNamespaceTests {
    /// Two namespaces, a veth pair, 10.77.N.1/24 and 10.77.N.2/24; removed at the end.
    final class Network {
        let tag = String(UInt32.random(in: 0..<0xFFFFFF), radix: 16)
        var sender: String { "jw-s-\(tag)" }
        var receiver: String { "jw-r-\(tag)" }
        var senderLink: String { "jws\(tag)" }
        var receiverLink: String { "jwr\(tag)" }
        let subnet = Int.random(in: 1...250)

        init() throws {
            try Self.ip(["netns", "add", sender])
            try Self.ip(["netns", "add", receiver])
            try Self.ip(["link", "add", senderLink, "netns", sender, "type", "veth", "peer", "name", receiverLink, "netns", receiver])
            try Self.ip(["-n", sender, "address", "add", "10.77.\(subnet).1/24", "dev", senderLink])
            try Self.ip(["-n", receiver, "address", "add", "10.77.\(subnet).2/24", "dev", receiverLink])
            for (namespace, link) in [(sender, senderLink), (receiver, receiverLink)] {
                try Self.ip(["-n", namespace, "link", "set", link, "up"])
                try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            }
        }

        deinit {
            _ = try? Self.ip(["netns", "delete", sender])
            _ = try? Self.ip(["netns", "delete", receiver])
        }

        @discardableResult
        static func ip(_ arguments: [String]) throws -> String {
            try XvfbServer.tool("/usr/sbin/ip", arguments)
        }

        /// Runs `arguments` in the sender's namespace and waits for it.
        func send(_ arguments: [String]) throws -> String {
            try XvfbServer.tool("/usr/sbin/ip", ["netns", "exec", sender] + arguments)
        }

        /// Captures UDP port 9 on the receiver's side while `body` runs; returns the UDP payloads
        /// with their destination addresses.
        func capture(count: Int, while body: () throws -> Void) throws -> [(destination: String, payload: [UInt8])] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("jump-wol-\(tag)-\(UUID().uuidString).pcap")
            defer { try? FileManager.default.removeItem(at: file) }
            let tcpdump = Process()
            tcpdump.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            tcpdump.arguments = ["netns", "exec", receiver, "/usr/bin/tcpdump", "-i", receiverLink, "-U", "--immediate-mode", "-n", "-c", String(count), "-w", file.path, "udp", "port", "9"]
            let errors = Pipe()
            tcpdump.standardError = errors
            tcpdump.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try tcpdump.run()
            // tcpdump says when it listens.
            var said = Data()
            while !String(decoding: said, as: UTF8.self).contains("listening on") {
                let chunk = errors.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw XvfbServer.XError("tcpdump stopped: \(String(decoding: said, as: UTF8.self))") }
                said.append(chunk)
            }
            try body()
            let deadline = ContinuousClock.now + .seconds(10)
            while tcpdump.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if tcpdump.isRunning { tcpdump.killAndReap() }
            return Self.udpPayloads(try [UInt8](Data(contentsOf: file)))
        }

        /// UDP payloads of the IPv4 packets in a pcap file of Ethernet frames.
        static func udpPayloads(_ file: [UInt8]) -> [(destination: String, payload: [UInt8])] {
            guard file.count >= 24 else { return [] }
            func u32(_ offset: Int) -> Int { Int(file[offset]) | Int(file[offset + 1]) << 8 | Int(file[offset + 2]) << 16 | Int(file[offset + 3]) << 24 }
            var packets: [(String, [UInt8])] = []
            var offset = 24
            while offset + 16 <= file.count {
                let length = u32(offset + 8)
                let frame = Array(file[(offset + 16)..<min(offset + 16 + length, file.count)])
                offset += 16 + length
                guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x00 else { continue }
                let headerLength = Int(frame[14] & 0x0F) * 4
                let destination = frame[30..<34].map(String.init).joined(separator: ".")
                let udp = 14 + headerLength
                packets.append((destination, Array(frame[(udp + 8)...])))
            }
            return packets
        }
    }

    static let mac = "52:54:00:ab:cd:ef"

    @Test func jumpAgentWakeSendsWhatWakeonlanSends() throws {
        let network = try Network()
        let ours = try network.capture(count: 2) {
            let output = try network.send([ScreenCaptureTests.agentProgram, "wake", Self.mac, "--interface", network.senderLink])
            #expect(output.contains("10.77.\(network.subnet).255"), "\(output)")
        }
        #expect(Set(ours.map(\.destination)) == ["10.77.\(network.subnet).255", "255.255.255.255"])
        let theirs = try network.capture(count: 1) {
            _ = try network.send(["/usr/bin/wakeonlan", "-i", "10.77.\(network.subnet).255", Self.mac])
        }
        let reference = try #require(theirs.first?.payload)
        #expect(reference.count == 102)
        for packet in ours { #expect(packet.payload == reference, "the same magic packet as wakeonlan") }
        #expect(reference == (try MagicPacket.build(mac: MagicPacket.parseMAC(Self.mac)!)))
    }

    @Test func aSecureOnPasswordFollowsTheMACs() throws {
        let network = try Network()
        let packets = try network.capture(count: 2) {
            _ = try network.send([ScreenCaptureTests.agentProgram, "wake", Self.mac, "--password", "a1b2c3d4e5f6", "--interface", network.senderLink])
        }
        #expect(packets.count == 2)
        for packet in packets {
            #expect(packet.payload.count == 108)
            #expect(Array(packet.payload.suffix(6)) == [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6])
        }
    }

    @Test func badInputIsAClearErrorAndSendsNothing() throws {
        let bad = try? XvfbServer.tool(ScreenCaptureTests.agentProgram, ["wake", "52:54:00:ab:cd"])
        #expect(bad == nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ScreenCaptureTests.agentProgram)
        process.arguments = ["wake", Self.mac, "--password", "abc"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(text.contains("hexadecimal"))
        let noInterface = Process()
        noInterface.executableURL = URL(fileURLWithPath: ScreenCaptureTests.agentProgram)
        noInterface.arguments = ["wake", Self.mac, "--interface", "jw-missing0"]
        noInterface.standardError = FileHandle(forWritingAtPath: "/dev/null")
        noInterface.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try noInterface.run()
        noInterface.waitUntilExit()
        #expect(noInterface.terminationStatus == 69)
    }
}
