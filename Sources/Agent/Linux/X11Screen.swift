import CJPEG
import CX11
public import FoundationEssentials
import Glibc
public import JumpAgentCore

/// Packed RGB pixels, three bytes a pixel.
public struct RGBPicture: Hashable, Sendable {
    public var pixels: [UInt8]
    public var width: Int
    public var height: Int

    public init(pixels: [UInt8], width: Int, height: Int) {
        precondition(pixels.count == width * height * 3)
        self.pixels = pixels
        self.width = width
        self.height = height
    }

    /// The colour at a point.
    public func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let offset = (y * width + x) * 3
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2])
    }

    /// Half the size in each direction (at least one pixel), each pixel the average of up to four.
    public func halved() -> RGBPicture {
        let newWidth = max(width / 2, 1)
        let newHeight = max(height / 2, 1)
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            let rows = min(y * 2, height - 1)...min(y * 2 + 1, height - 1)
            for x in 0..<newWidth {
                let columns = min(x * 2, width - 1)...min(x * 2 + 1, width - 1)
                for channel in 0..<3 {
                    var sum = 0
                    for row in rows { for column in columns { sum += Int(pixels[(row * width + column) * 3 + channel]) } }
                    output[(y * newWidth + x) * 3 + channel] = UInt8(sum / (rows.count * columns.count))
                }
            }
        }
        return RGBPicture(pixels: output, width: newWidth, height: newHeight)
    }

    public var signature: UInt64 {
        pixels.withUnsafeBytes { ThumbnailSignature.of(width: width, height: height, rgb: $0) }
    }
}

/// An X11 failure, with the message Xlib or the server gave.
public struct ScreenError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A connection to an X display. Every call blocks on the X server; the agent makes them in its
/// short-lived screen helper, never on an event loop.
public final class X11Display {
    private let handle: OpaquePointer

    /// Opens `name` (e.g. ":0"), or `$DISPLAY` when nil.
    public init(_ name: String?) throws(ScreenError) {
        var error = [CChar](repeating: 0, count: 512)
        let opened: OpaquePointer? =
            if let name { name.withCString { jump_x11_open($0, &error, error.count) } } else { jump_x11_open(nil, &error, error.count) }
        guard let opened else { throw ScreenError(Self.text(error)) }
        handle = opened
    }

    deinit {
        jump_x11_close(handle)
    }

    public struct ScreenSaver: Hashable, Sendable {
        /// "on", "off" or "disabled"; nil without the MIT-SCREEN-SAVER extension.
        public var server: String?
        /// "idle", "blanked" or "locked"; nil when xscreensaver's property is absent.
        public var xscreensaver: String?
        public var idleMilliseconds: UInt64
    }

    /// The X server's screen saver (XScreenSaverQueryInfo) and xscreensaver's root window property.
    public func screenSaver() throws(ScreenError) -> ScreenSaver {
        var saver = jump_x11_saver()
        var error = [CChar](repeating: 0, count: 512)
        guard jump_x11_screen_saver(handle, &saver, &error, error.count) == 0 else { throw ScreenError(Self.text(error)) }
        let server: String? =
            switch Int(saver.extension_state) {
            case JUMP_X11_SAVER_ON: "on"
            case JUMP_X11_SAVER_OFF: "off"
            case JUMP_X11_SAVER_DISABLED: "disabled"
            default: nil
            }
        let xscreensaver: String? =
            switch Int(saver.xscreensaver) {
            case JUMP_XSCREENSAVER_IDLE: "idle"
            case JUMP_XSCREENSAVER_BLANKED: "blanked"
            case JUMP_XSCREENSAVER_LOCKED: "locked"
            default: nil
            }
        return ScreenSaver(server: server, xscreensaver: xscreensaver, idleMilliseconds: saver.idle_ms)
    }

    public struct Capture: Sendable {
        public var picture: RGBPicture
        public var monitors: Int
        public var usedSharedMemory: Bool
    }

    /// Every monitor, downscaled so the larger side is at most `largestSide`.
    public func capture(largestSide: Int) throws(ScreenError) -> Capture {
        var picture = jump_x11_picture()
        var error = [CChar](repeating: 0, count: 512)
        guard jump_x11_capture(handle, Int32(largestSide), &picture, &error, error.count) == 0, let pixels = picture.pixels else {
            throw ScreenError(Self.text(error))
        }
        defer { jump_x11_free_picture(&picture) }
        let width = Int(picture.width)
        let height = Int(picture.height)
        let bytes = [UInt8](UnsafeBufferPointer(start: pixels, count: width * height * 3))
        return Capture(picture: RGBPicture(pixels: bytes, width: width, height: height), monitors: Int(picture.monitor_count), usedSharedMemory: picture.used_shm != 0)
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// JPEG with libjpeg-turbo.
public enum JPEG {
    public static func encode(_ picture: RGBPicture, quality: Int) throws(ScreenError) -> Data {
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var error = [CChar](repeating: 0, count: 512)
        let result = picture.pixels.withUnsafeBufferPointer {
            jump_jpeg_encode($0.baseAddress, Int32(picture.width), Int32(picture.height), Int32(quality), &output, &length, &error, error.count)
        }
        guard result == 0, let output else { throw ScreenError(X11Display.text(error)) }
        defer { jump_jpeg_free(output) }
        return Data(bytes: output, count: length)
    }

    /// Decodes a JPEG whose sides are at most `largestSide`.
    public static func decode(_ data: Data, largestSide: Int = 4096) throws(ScreenError) -> RGBPicture {
        var output: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0
        var height: Int32 = 0
        var error = [CChar](repeating: 0, count: 512)
        let result = data.withUnsafeBytes { bytes in
            jump_jpeg_decode(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, Int32(largestSide), &output, &width, &height, &error, error.count)
        }
        guard result == 0, let output else { throw ScreenError(X11Display.text(error)) }
        defer { jump_jpeg_free(output) }
        let pixels = [UInt8](UnsafeBufferPointer(start: output, count: Int(width) * Int(height) * 3))
        return RGBPicture(pixels: pixels, width: Int(width), height: Int(height))
    }
}

/// Makes the thumbnail: capture, downscale, sign, then JPEG within ``ThumbnailLimits/byteBudget``:
/// lower quality first, then half the size, down to ``ThumbnailLimits/smallestSide``.
public enum Thumbnailer {
    public static func make(_ display: X11Display, largestSide: Int = ThumbnailLimits.largestSide) throws(ScreenError) -> ScreenProbe.Picture {
        let started = ContinuousClock.now
        let capture = try display.capture(largestSide: largestSide)
        let captured = ContinuousClock.now
        let signature = capture.picture.signature
        var picture = capture.picture
        while true {
            for quality in ThumbnailLimits.qualities {
                let jpeg = try JPEG.encode(picture, quality: quality)
                let smallest = quality == ThumbnailLimits.qualities.last && max(picture.width, picture.height) / 2 < ThumbnailLimits.smallestSide
                if jpeg.count <= ThumbnailLimits.byteBudget || smallest {
                    guard jpeg.count <= ThumbnailLimits.byteBudget else {
                        throw ScreenError("the picture does not fit \(ThumbnailLimits.byteBudget) bytes even at \(picture.width)x\(picture.height)")
                    }
                    return ScreenProbe.Picture(
                        jpeg: jpeg, width: UInt32(picture.width), height: UInt32(picture.height), signature: signature,
                        monitors: capture.monitors, quality: quality,
                        captureMicroseconds: microseconds(captured - started), encodeMicroseconds: microseconds(.now - captured)
                    )
                }
            }
            picture = picture.halved()
        }
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000_000)
    }
}
