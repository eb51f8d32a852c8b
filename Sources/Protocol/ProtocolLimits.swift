/// The bounds on every length and count the protocol carries.
///
/// A receiver checks each bound before it acts on a value, and a frame header is checked before its
/// payload is awaited, so a peer can never make the receiver allocate what it merely claims.
/// `docs/protocol.md` lists the same numbers; change both together.
public enum ProtocolLimits {
    /// Size of a frame header: length (4), kind (1), channel (4).
    public static let frameHeaderLength = 9

    /// Largest CONTROL payload. Big enough for a statistics report with a thumbnail of
    /// ``maximumThumbnailBytes`` plus everything else a report may hold.
    public static let maximumControlPayloadLength = 64 * 1024

    /// Largest DATA payload: one TLS record of plaintext, so session bytes never make the TLS layer
    /// buffer more than one record per frame.
    public static let maximumDataPayloadLength = 16 * 1024

    /// Largest payload of an extension frame (kinds 0x80 to 0xFF), which a receiver that does not
    /// know the kind skips.
    public static let maximumExtensionPayloadLength = 64 * 1024

    /// PING and PONG carry exactly this many opaque bytes.
    public static let pingPayloadLength = 8

    /// WINDOW_UPDATE carries exactly one 32-bit increment.
    public static let windowUpdatePayloadLength = 4

    /// The largest receive window a peer may grant on one channel.
    public static let maximumWindowSize: UInt32 = 16 * 1024 * 1024

    /// The window each side grants a new channel unless the opening message says otherwise.
    public static let defaultInitialWindowSize: UInt32 = 256 * 1024

    /// Session channels open at once on one connection.
    public static let maximumOpenChannels = 16

    /// Names, tags, user names, hostnames, mount points and most other short strings, in UTF-8 bytes.
    public static let maximumShortStringLength = 256

    /// Comments, details, notices and other text for people, in UTF-8 bytes.
    public static let maximumTextLength = 4096

    /// Shortest and longest enrollment token. 16 bytes are 128 random bits.
    public static let minimumTokenLength = 16
    public static let maximumTokenLength = 64

    /// A PKCS #10 request or a certificate for a P-256 key is far below this.
    public static let maximumCSRLength = 4096
    public static let maximumCertificateLength = 8192
    /// An installer file carried by `Pin`: the CA certificate, the token and short settings.
    public static let maximumInstallerLength = 16 * 1024

    /// Counts in a statistics report.
    public static let maximumCPUs = 1024
    public static let maximumDisks = 64
    public static let maximumInterfaces = 64
    public static let maximumAddressesPerInterface = 32

    /// A thumbnail's JPEG bytes, and its largest side in pixels.
    public static let maximumThumbnailBytes = 48 * 1024
    public static let maximumThumbnailSide: UInt32 = 1024

    /// Wake-on-LAN targets in one command.
    public static let maximumWakeTargets = 16

    /// Statistics kinds named in a site configuration (each at most once).
    public static let maximumStatistics = 16

    /// Terminal size bounds for a session.
    public static let maximumTerminalColumns: UInt32 = 1000
    public static let maximumTerminalRows: UInt32 = 1000
}
