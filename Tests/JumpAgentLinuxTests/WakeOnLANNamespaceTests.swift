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

        /// Captures `count` packets matching `filter` on the receiver's side while `body` runs; returns
        /// the pcap file's bytes.
        func capture(count: Int, filter: [String] = ["udp", "port", "9"], while body: () throws -> Void) throws -> [UInt8] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("jump-wol-\(tag)-\(UUID().uuidString).pcap")
            defer { try? FileManager.default.removeItem(at: file) }
            let tcpdump = Process()
            tcpdump.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            tcpdump.arguments = ["netns", "exec", receiver, "/usr/bin/tcpdump", "-i", receiverLink, "-U", "--immediate-mode", "-n", "-c", String(count), "-w", file.path] + filter
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
            return try [UInt8](Data(contentsOf: file))
        }

        /// Captures UDP port 9 while `body` runs; the payloads with their destination addresses.
        func captureUDP(count: Int, while body: () throws -> Void) throws -> [(destination: String, payload: [UInt8])] {
            Self.udpPayloads(try capture(count: count, while: body))
        }

        /// The frames of a pcap file (Ethernet link type).
        static func frames(_ file: [UInt8]) -> [[UInt8]] {
            guard file.count >= 24 else { return [] }
            func u32(_ offset: Int) -> Int { Int(file[offset]) | Int(file[offset + 1]) << 8 | Int(file[offset + 2]) << 16 | Int(file[offset + 3]) << 24 }
            var frames: [[UInt8]] = []
            var offset = 24
            while offset + 16 <= file.count {
                let length = u32(offset + 8)
                frames.append(Array(file[(offset + 16)..<min(offset + 16 + length, file.count)]))
                offset += 16 + length
            }
            return frames
        }

        /// UDP payloads of the IPv4 packets in a pcap file of Ethernet frames.
        static func udpPayloads(_ file: [UInt8]) -> [(destination: String, payload: [UInt8])] {
            var packets: [(String, [UInt8])] = []
            for frame in frames(file) {
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
        let ours = try network.captureUDP(count: 2) {
            let output = try network.send([ScreenCaptureTests.agentProgram, "wake", Self.mac, "--interface", network.senderLink])
            #expect(output.contains("10.77.\(network.subnet).255"), "\(output)")
        }
        #expect(Set(ours.map(\.destination)) == ["10.77.\(network.subnet).255", "255.255.255.255"])
        let theirs = try network.captureUDP(count: 1) {
            _ = try network.send(["/usr/bin/wakeonlan", "-i", "10.77.\(network.subnet).255", Self.mac])
        }
        let reference = try #require(theirs.first?.payload)
        #expect(reference.count == 102)
        for packet in ours { #expect(packet.payload == reference, "the same magic packet as wakeonlan") }
        #expect(reference == (try MagicPacket.build(mac: MagicPacket.parseMAC(Self.mac)!)))
    }

    @Test func aSecureOnPasswordFollowsTheMACs() throws {
        let network = try Network()
        let packets = try network.captureUDP(count: 2) {
            _ = try network.send([ScreenCaptureTests.agentProgram, "wake", Self.mac, "--password", "a1b2c3d4e5f6", "--interface", network.senderLink])
        }
        #expect(packets.count == 2)
        for packet in packets {
            #expect(packet.payload.count == 108)
            #expect(Array(packet.payload.suffix(6)) == [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6])
        }
    }

    /// etherwake sends the magic packet in a raw Ethernet frame (EtherType 0x0842) rather than UDP;
    /// the magic packet inside is the same, with and without a SecureOn password.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/etherwake"), "needs etherwake (make test installs it)"))
    func theMagicPacketIsEtherwakes() throws {
        let network = try Network()
        for password in [nil, "a1:b2:c3:d4:e5:f6"] {
            let ours = try network.captureUDP(count: 1) {
                _ = try network.send(
                    [ScreenCaptureTests.agentProgram, "wake", Self.mac, "--interface", network.senderLink]
                        + (password.map { ["--password", $0.replacingOccurrences(of: ":", with: "")] } ?? [])
                )
            }
            let raw = try network.capture(count: 1, filter: ["ether", "proto", "0x0842"]) {
                _ = try network.send(["/usr/sbin/etherwake", "-i", network.senderLink, "-b"] + (password.map { ["-p", $0] } ?? []) + [Self.mac])
            }
            let frame = try #require(Network.frames(raw).first)
            let theirs = Array(frame.dropFirst(14))
            #expect(theirs.count == (password == nil ? 102 : 108))
            #expect(ours.first?.payload == theirs, "the same magic packet as etherwake, password \(password ?? "none")")
        }
    }

    /// Wireshark's own Wake-on-LAN dissector reads our packets: the MAC and the password.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "needs tshark (make test installs it)"))
    func tsharksDissectorReadsTheMACAndPassword() throws {
        let network = try Network()
        let pcap = try network.capture(count: 2) {
            _ = try network.send([ScreenCaptureTests.agentProgram, "wake", Self.mac, "--password", "a1b2c3d4e5f6", "--interface", network.senderLink])
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jump-wol-\(network.tag)-dissect.pcap")
        try Data(pcap).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Destination and the first of the 16 MACs, one line per packet (tshark also says on stderr
        // that it runs as root; only the field lines count).
        let fields = try XvfbServer.tool(
            "/usr/bin/tshark",
            ["-r", file.path, "-Y", "wol", "-T", "fields", "-E", "separator=;", "-E", "occurrence=f", "-e", "ip.dst", "-e", "wol.mac"]
        )
        let lines = fields.split(separator: "\n").map(String.init).filter { $0.contains(";") }.sorted()
        #expect(lines == ["10.77.\(network.subnet).255;\(Self.mac)", "255.255.255.255;\(Self.mac)"].sorted(), "\(fields)")
        // The dissector's summary names the password (its wol.passwd field is not the raw bytes).
        let detail = try XvfbServer.tool("/usr/bin/tshark", ["-r", file.path, "-Y", "wol", "-V"])
        let summaries = detail.split(separator: "\n").filter { $0.hasPrefix("Wake On LAN, MAC: ") }
        #expect(summaries.count == 2, "\(detail)")
        for summary in summaries {
            #expect(summary.hasSuffix("(\(Self.mac)), password: a1:b2:c3:d4:e5:f6"), "\(summary)")
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
