import Foundation
@testable import JumpProtocol
import NIOCore
import SwiftProtobuf
import Testing

@Suite struct ControlCodecTests {
    static let messages: [ControlMessage] = [
        .hello(Fixtures.hello()),
        .welcome({
            var w = WireWelcome()
            w.version = 1
            w.clientID = "jc-1"
            w.config = Fixtures.siteConfig
            return w
        }()),
        .enrollRequest(Fixtures.enrollRequest),
        .enrollResponse({
            var r = WireEnrollResponse()
            r.result = .tokenExpired
            r.detail = "installer expired"
            return r
        }()),
        .statsReport(Fixtures.statsReport),
        .siteConfig(Fixtures.siteConfig),
        .command(Fixtures.command(sequence: 3, Fixtures.wake)),
        .ack(WireAck(ref: 9, .replayed, "old")),
        .retryAfter({
            var r = WireRetryAfter()
            r.delayMs = 1500
            return r
        }()),
        .notice({
            var n = WireNotice()
            n.text = "session ends in 15 minutes"
            n.secondsRemaining = 900
            return n
        }()),
        .goodbye(WireGoodbye(.clientDeleted, "deleted by admin")),
        .renewRequest({
            var r = WireRenewRequest()
            r.csr = Data([1, 2, 3])
            return r
        }()),
        .sessionEvent({
            var e = WireSessionEvent()
            e.channelID = 1
            e.kind = .exited
            e.exitStatus = 0
            return e
        }()),
        .localUninstall({
            var l = WireLocalUninstall()
            l.kind = .disable
            l.localUser = "bob"
            return l
        }()),
    ]

    @Test(arguments: messages)
    func roundTripsThroughAFrame(_ message: ControlMessage) throws {
        var bytes = ControlCodec.frame(id: 42, message)
        var parser = FrameParser()
        let frame = try #require(try parser.next(from: &bytes))
        #expect(frame.kind == .control)
        let event = try InboundEvent(frame)
        #expect(event == .control(Fixtures.envelope(42, message)))
    }

    /// The plain Ack's frame, written by hand, is what swift-protobuf writes: every named result (and
    /// ones this version does not know, a negative one), ids and references at both ends of every
    /// varint length, zero included. An Ack with more in it goes the general way.
    @Test func aPlainAckIsWrittenAsTheGeneralEncoderWritesIt() throws {
        let numbers: [UInt64] = [0, .max] + (1...9).flatMap { [UInt64(1) << (7 * $0) - 1, UInt64(1) << (7 * $0)] }
        // UNRECOGNIZED(0) equals .unspecified, and both encoders leave it out.
        let results = WireAckResult.allCases + [.UNRECOGNIZED(99), .UNRECOGNIZED(-1), .UNRECOGNIZED(0)]
        for id in numbers {
            for ref in numbers {
                for result in results {
                    let ack = WireAck(ref: ref, result)
                    var envelope = WireEnvelope()
                    envelope.id = id
                    envelope.body = .ack(ack)
                    var expected = ByteBuffer()
                    expected.writeFrame(kind: .control, payload: ControlCodec.encode(envelope))
                    let written = try #require(ControlCodec.plainAckFrame(id: id, ack))
                    #expect(written == expected, "id \(id), ref \(ref), \(result)")
                    #expect(ControlCodec.frame(id: id, .ack(ack)) == expected)
                }
            }
        }
        var detailed = WireAck(ref: 7, .failed)
        detailed.detail = "no"
        var windowed = WireAck(ref: 7, .ok)
        windowed.window = 65_536
        // Unknown fields (field 5 here) come only from a decoder: kept, they need the general way.
        let unknown = try WireAck(serializedBytes: [0x08, 0x07, 0x28, 0x01] as [UInt8])
        #expect(!unknown.unknownFields.data.isEmpty)
        for ack in [detailed, windowed, unknown, WireAck(ref: 7, .UNRECOGNIZED(1 << 40))] {
            #expect(ControlCodec.plainAckFrame(id: 1, ack) == nil)
        }
    }

    /// The bytes the appliance stores of a report as sent are the report's own encoding, found in the
    /// envelope whatever its id and unknown fields around it.
    @Test func aStatsReportsBytesAreFoundInItsEnvelope() throws {
        var unchanged = Fixtures.statsReport
        unchanged.thumbnailStatus = .unchanged
        for report in [WireStatsReport(), Fixtures.statsReport, unchanged] {
            let expected: [UInt8] = try report.serializedBytes()
            for id: UInt64 in [0, 1, 300, .max] {
                var payload = ControlCodec.encode(Fixtures.envelope(id, .statsReport(report)))
                var bytes = try #require(ControlCodec.statsReportBytes(in: payload))
                #expect(Array(bytes.readableBytesView) == expected)
                #expect(try ControlCodec.decodeStatsReport(Array(bytes.readableBytesView)) == report)
                #expect(try ControlCodec.decodeStatsReport(expected + [0x98, 0x06, 0x01]) == report, "unknown fields are dropped")
                // Unknown fields of the envelope (field 99 a varint, field 60 bytes "x", fixed64 and
                // fixed32 ones) before and after it, and a payload read from further into its buffer.
                var wrapped = ByteBuffer(bytes: [0xFF, 0xFF, 0x98, 0x06, 0x01, 0xE2, 0x03, 0x01, 0x78])
                wrapped.moveReaderIndex(forwardBy: 2)
                wrapped.writeBuffer(&payload)
                wrapped.writeBytes([0xA1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0xAD, 0x06, 1, 2, 3, 4])
                #expect(try ControlCodec.decode(wrapped).body == .statsReport(report))
                bytes = try #require(ControlCodec.statsReportBytes(in: wrapped))
                #expect(Array(bytes.readableBytesView) == expected)
            }
        }
    }

    /// A payload whose report decoding would not give from the report's bytes alone (two occurrences
    /// merged, another body after it) or that is not a report gives none; broken bytes neither.
    @Test func noStatsReportBytesUnlessTheReportIsTheirDecodingAlone() throws {
        let report = ControlCodec.encode(Fixtures.envelope(1, .statsReport(Fixtures.statsReport)))
        var twice = report
        var later = WireStatsReport()
        later.uptimeSeconds = 5
        twice.writeImmutableBuffer(ControlCodec.encode(Fixtures.envelope(2, .statsReport(later))))
        var replaced = report
        replaced.writeImmutableBuffer(ControlCodec.encode(Fixtures.envelope(2, .ack(WireAck(ref: 1, .ok)))))
        for payload in [twice, replaced, ControlCodec.encode(Fixtures.envelope(1, .ack(WireAck(ref: 1, .ok))))] {
            #expect(ControlCodec.statsReportBytes(in: payload) == nil)
        }
        #expect(try ControlCodec.decode(twice).body != .statsReport(Fixtures.statsReport), "decoding merges the two")
        // Every body this version knows counts as one (`ControlCodec.bodyFields` covers them all).
        for message in Self.messages + [.supportRequest(WireSupportRequest()), .supportResponse(WireSupportResponse())] {
            if case .statsReport = message { continue }
            var followed = report
            followed.writeImmutableBuffer(ControlCodec.encode(Fixtures.envelope(2, message)))
            #expect(ControlCodec.statsReportBytes(in: followed) == nil, "\(message)")
        }
        for hex in [
            "",  // nothing
            "08",  // a varint cut short
            "32",  // the report's tag without a length
            "3205 0102",  // a length beyond the payload
            "0b 32020800",  // a group's start tag
            "00",  // field 0
            "30 01",  // field 6 as a varint
            "08ffffffffffffffffffff01 32020800",  // a varint longer than ten bytes
            "32ffffffffffffffffff01 0800",  // a length of UInt64.max
            "31 0102030405060708",  // field 6 as a fixed64
            "35 01020304",  // field 6 as a fixed32
            "4a020801 32020800",  // another body field (an Ack) before the report
        ] {
            #expect(ControlCodec.statsReportBytes(in: ByteBuffer(hex: hex)) == nil, "\(hex)")
        }
        #expect(ControlCodec.statsReportBytes(in: ByteBuffer(hex: "0801 32020800")) == ByteBuffer(hex: "0800"))
    }

    @Test func unknownFieldsAreSkipped() throws {
        var payload = ControlCodec.encode(Fixtures.envelope(5, .hello(Fixtures.hello())))
        // Field 99 (a varint) is unknown to this version.
        payload.writeBytes([0x98, 0x06, 0x01])
        let decoded = try ControlCodec.decode(payload)
        #expect(decoded == Fixtures.envelope(5, .hello(Fixtures.hello())))
    }

    @Test func anUnknownMessageDecodesWithoutABody() throws {
        // Envelope { id = 3, field 60 = bytes "x" }: a message from a newer version.
        let decoded = try ControlCodec.decode(ByteBuffer(hex: "0803 e20301 78"))
        #expect(decoded.id == 3)
        #expect(decoded.body == nil)
    }

    @Test(arguments: [
        "0a",  // field 1 with wire type 2 and no length
        "08ffffffffffffffffffff01",  // varint longer than 10 bytes
        "12ff7f",  // hello claiming 16383 bytes
        "0f",  // wire type 7 does not exist
    ])
    func malformedPayloadsAreRefused(_ hex: String) {
        #expect(throws: ProtocolError(.malformedMessage, "")) { try ControlCodec.decode(ByteBuffer(hex: hex)) }
    }

    @Test func theDeepestLegalNestingDecodes() throws {
        // Envelope > StatsReport > NetworkFacts > NetworkInterface > InterfaceAddress is the deepest
        // the schema goes; it must stay within ControlCodec.maximumMessageDepth.
        var report = WireStatsReport()
        var interface = WireNetworkInterface()
        var address = WireInterfaceAddress()
        address.ip = Data([10, 0, 0, 1])
        address.prefixLength = 24
        interface.addresses = [address]
        report.network.interfaces = [interface]
        let payload = ControlCodec.encode(Fixtures.envelope(1, .statsReport(report)))
        #expect(try ControlCodec.decode(payload).body == .statsReport(report))
    }

    static let overLimit: [(String, ControlMessage)] = [
        ("short token", .enrollRequest({
            var r = Fixtures.enrollRequest
            r.token = Data(count: 15)
            return r
        }())),
        ("long token", .enrollRequest({
            var r = Fixtures.enrollRequest
            r.token = Data(count: 65)
            return r
        }())),
        ("large CSR", .enrollRequest({
            var r = Fixtures.enrollRequest
            r.csr = Data(count: ProtocolLimits.maximumCSRLength + 1)
            return r
        }())),
        ("long name", .enrollRequest({
            var r = Fixtures.enrollRequest
            r.overrides.name = String(repeating: "n", count: 257)
            return r
        }())),
        ("too many disks", .statsReport({
            var r = Fixtures.statsReport
            r.disks = Array(repeating: r.disks[0], count: ProtocolLimits.maximumDisks + 1)
            return r
        }())),
        ("cpu above 1000", .statsReport({
            var r = Fixtures.statsReport
            r.cpuPermille = 1001
            return r
        }())),
        ("large thumbnail", .statsReport({
            var r = Fixtures.statsReport
            r.thumbnail.jpeg = Data(count: ProtocolLimits.maximumThumbnailBytes + 1)
            return r
        }())),
        ("bad MAC", .statsReport({
            var r = Fixtures.statsReport
            var interface = WireNetworkInterface()
            interface.mac = Data([1, 2, 3])
            r.network.interfaces = [interface]
            return r
        }())),
        ("bad gateway", .statsReport({
            var r = Fixtures.statsReport
            r.network.gatewayIpv4 = Data([10, 0, 0])
            return r
        }())),
        ("prefix beyond address", .statsReport({
            var r = Fixtures.statsReport
            var interface = WireNetworkInterface()
            var address = WireInterfaceAddress()
            address.ip = Data([10, 0, 0, 1])
            address.prefixLength = 33
            interface.addresses = [address]
            r.network.interfaces = [interface]
            return r
        }())),
        ("too many wake targets", .command(Fixtures.command(sequence: 1, {
            var wake = WireWake()
            wake.targetMacs = Array(repeating: Data(count: 6), count: ProtocolLimits.maximumWakeTargets + 1)
            return .wake(wake)
        }()))),
        ("bad SecureOn password", .command(Fixtures.command(sequence: 1, {
            var wake = WireWake()
            wake.targetMacs = [Data(count: 6)]
            wake.secureOnPassword = Data(count: 5)
            return .wake(wake)
        }()))),
        ("huge terminal", .command(Fixtures.command(sequence: 1, {
            var open = WireOpenSession()
            open.channelID = 1
            open.columns = 5000
            return .openSession(open)
        }()))),
        ("window beyond bound", .command(Fixtures.command(sequence: 1, {
            var open = WireOpenSession()
            open.channelID = 1
            open.initialWindow = ProtocolLimits.maximumWindowSize + 1
            return .openSession(open)
        }()))),
        ("NUL in a name", .enrollRequest({
            var r = Fixtures.enrollRequest
            r.host.hostname = "kiosk\u{0}-12"
            return r
        }())),
        ("long notice", .notice({
            var n = WireNotice()
            n.text = String(repeating: "x", count: ProtocolLimits.maximumTextLength + 1)
            return n
        }())),
    ]

    @Test(arguments: overLimit)
    func boundsAreEnforced(_ name: String, _ message: ControlMessage) {
        let payload = ControlCodec.encode(Fixtures.envelope(1, message))
        #expect(throws: ProtocolError(.limitExceeded, ""), "\(name)") { try ControlCodec.decode(payload) }
    }

    @Test func nonUTF8StringsAreRefusedAsMalformed() {
        // Hello.software_version (field 3) holding the byte 0xFF.
        #expect(throws: ProtocolError(.malformedMessage, "")) {
            try ControlCodec.decode(ByteBuffer(hex: "0801 1203 1a01ff"))
        }
    }
}
