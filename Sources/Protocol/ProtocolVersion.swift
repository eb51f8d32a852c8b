/// Protocol versions and how two peers agree on one.
public enum ProtocolVersion {
    /// The version this build speaks best.
    public static let current: UInt32 = 1

    /// Every version this build speaks.
    public static let supported: ClosedRange<UInt32> = 1...1

    /// ALPN protocol name negotiated in the TLS handshake.
    public static let alpn = "jump/1"

    /// The highest version both ranges hold, or nil when they do not overlap.
    public static func negotiate(_ local: ClosedRange<UInt32>, peerMin: UInt32, peerMax: UInt32) -> UInt32? {
        guard peerMin <= peerMax else { return nil }
        let low = max(local.lowerBound, peerMin)
        let high = min(local.upperBound, peerMax)
        return low <= high ? high : nil
    }
}

/// The software release of all three programs.
public enum JumpBuild {
    public static let version = "0.1.0"
}
