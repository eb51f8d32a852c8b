import JumpProtocol
import Testing

@Suite struct ProtocolVersionTests {
    @Test(arguments: [
        (1...1, UInt32(1), UInt32(1), UInt32?(1)),
        (1...3, 2, 5, 3),
        (2...4, 1, 2, 2),
        (1...1, 2, 3, nil),
        (1...3, 3, 2, nil),
    ] as [(ClosedRange<UInt32>, UInt32, UInt32, UInt32?)])
    func negotiatesTheHighestCommonVersion(local: ClosedRange<UInt32>, peerMin: UInt32, peerMax: UInt32, expected: UInt32?) {
        #expect(ProtocolVersion.negotiate(local, peerMin: peerMin, peerMax: peerMax) == expected)
    }
}

@Suite struct CommandGateTests {
    @Test func acceptsIncreasingSequencesOnly() {
        var gate = CommandGate(agentID: "jc-1", lastSequence: 10)
        let now: UInt64 = 1_000
        #expect(gate.admit(Fixtures.command(sequence: 11, expiresAt: 2_000, Fixtures.wake), nowMilliseconds: now) == nil)
        #expect(gate.admit(Fixtures.command(sequence: 11, expiresAt: 2_000, Fixtures.wake), nowMilliseconds: now) == .replayed)
        #expect(gate.admit(Fixtures.command(sequence: 20, expiresAt: 2_000, Fixtures.wake), nowMilliseconds: now) == nil)
        #expect(gate.admit(Fixtures.command(sequence: 15, expiresAt: 2_000, Fixtures.wake), nowMilliseconds: now) == .replayed)
        #expect(gate.lastSequence == 20)
    }

    @Test func checksAddresseeBeforeExpiryBeforeSequence() {
        var gate = CommandGate(agentID: "jc-1", lastSequence: 10)
        #expect(gate.admit(Fixtures.command(agent: "x", sequence: 1, expiresAt: 0, Fixtures.wake), nowMilliseconds: 5) == .wrongAgent)
        #expect(gate.admit(Fixtures.command(sequence: 1, expiresAt: 5, Fixtures.wake), nowMilliseconds: 5) == .expired)
        #expect(gate.admit(Fixtures.command(sequence: 1, expiresAt: 6, Fixtures.wake), nowMilliseconds: 5) == .replayed)
    }
}

@Suite struct ChannelWindowsTests {
    @Test func receiveWindowIsToppedUpAtHalf() throws {
        var windows = ChannelWindows(receiveWindow: 100, sendWindow: 0)
        try windows.received(60)
        #expect(windows.receiveWindow == 40)
        #expect(windows.consumed(30) == nil)
        #expect(windows.consumed(30) == 60)
        #expect(windows.receiveWindow == 100)
    }

    @Test func receivingBeyondTheWindowIsAViolation() throws {
        var windows = ChannelWindows(receiveWindow: 10, sendWindow: 0)
        try windows.received(10)
        #expect(throws: ProtocolError(.flowControl, "")) { try windows.received(1) }
    }

    @Test func zeroAndOverflowingUpdatesAreViolations() {
        var windows = ChannelWindows(receiveWindow: 10, sendWindow: ProtocolLimits.maximumWindowSize)
        #expect(throws: ProtocolError(.flowControl, "")) { try windows.windowUpdate(0) }
        #expect(throws: ProtocolError(.flowControl, "")) { try windows.windowUpdate(1) }
    }

    @Test func tableRefusesReusedIdsAndTooManyChannels() throws {
        var table = ChannelTable()
        try table.openChannel(5, receiveWindow: 1, sendWindow: 1)
        #expect(throws: ProtocolError(.flowControl, "")) { try table.openChannel(5, receiveWindow: 1, sendWindow: 1) }
        #expect(throws: ProtocolError(.flowControl, "")) { try table.openChannel(4, receiveWindow: 1, sendWindow: 1) }
        for id in 6..<(5 + UInt32(ProtocolLimits.maximumOpenChannels)) {
            try table.openChannel(id, receiveWindow: 1, sendWindow: 1)
        }
        #expect(throws: ProtocolError(.limitExceeded, "")) { try table.openChannel(100, receiveWindow: 1, sendWindow: 1) }
    }
}
