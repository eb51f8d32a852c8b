import Foundation

/// Bytes of an asciicast file: pure functions, no I/O. Every line ends with "\n".
public enum AsciicastEncoder {
    public static func headerLine(_ header: AsciicastHeader) -> [UInt8] {
        var line: [UInt8] = []
        line.append(
            contentsOf: "{\"version\":\(Asciicast.version),\"width\":\(header.width),\"height\":\(header.height)".utf8
        )
        if let timestamp = header.timestamp {
            line.append(contentsOf: ",\"timestamp\":\(Int64(timestamp.timeIntervalSince1970.rounded(.down)))".utf8)
        }
        if let title = header.title {
            appendKey("title", to: &line)
            appendString(title, to: &line)
        }
        if !header.env.isEmpty {
            appendKey("env", to: &line)
            appendObject(header.env.sorted { $0.key < $1.key }, to: &line)
        }
        if let jump = header.jump {
            appendKey("jump", to: &line)
            line.append(contentsOf: "{\"who\":".utf8)
            appendString(jump.who, to: &line)
            line.append(contentsOf: ",\"client\":".utf8)
            appendString(jump.client, to: &line)
            if let ticket = jump.ticket {
                line.append(contentsOf: ",\"ticket\":".utf8)
                appendString(ticket, to: &line)
            }
            line.append(contentsOf: ",\"policies\":[".utf8)
            for (index, policy) in jump.policies.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendString(policy, to: &line)
            }
            line.append(contentsOf: "]}".utf8)
        }
        line.append(contentsOf: "}\n".utf8)
        return line
    }

    public static func eventLine(_ event: AsciicastEvent) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(event.data.utf8.count + 24)
        appendEvent(event, to: &line)
        return line
    }

    /// Appends the event's line to `buffer`, so the writer encodes straight into its buffer.
    public static func appendEvent(_ event: AsciicastEvent, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "["))
        appendSeconds(event.time, to: &buffer)
        buffer.append(UInt8(ascii: ","))
        appendString(event.kind.rawValue, to: &buffer)
        buffer.append(UInt8(ascii: ","))
        appendString(event.data, to: &buffer)
        buffer.append(contentsOf: "]\n".utf8)
    }

    /// Seconds with exactly six decimals ("12.000300"), from integer microseconds: no binary floating point, so
    /// the same duration always gives the same text. Negative durations are written as zero.
    public static func appendSeconds(_ duration: Duration, to buffer: inout [UInt8]) {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else {
            buffer.append(contentsOf: "0.000000".utf8)
            return
        }
        let microseconds = attoseconds / 1_000_000_000_000
        buffer.append(contentsOf: String(seconds).utf8)
        buffer.append(UInt8(ascii: "."))
        let fraction = String(microseconds)
        buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 6 - fraction.utf8.count))
        buffer.append(contentsOf: fraction.utf8)
    }

    /// A JSON string: quote and backslash escaped, every C0 control character and DEL as `\u00XX`, everything
    /// else (valid UTF-8, since `String` is) as is.
    public static func appendString(_ string: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                buffer.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"):
                buffer.append(contentsOf: "\\\\".utf8)
            case 0x00..<0x20, 0x7F:
                buffer.append(contentsOf: "\\u00".utf8)
                buffer.append(hexDigits[Int(byte >> 4)])
                buffer.append(hexDigits[Int(byte & 0x0F)])
            default:
                buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendKey(_ key: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: ","))
        appendString(key, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
    }

    private static func appendObject(_ pairs: [(key: String, value: String)], to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "{"))
        for (index, pair) in pairs.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            appendString(pair.key, to: &buffer)
            buffer.append(UInt8(ascii: ":"))
            appendString(pair.value, to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }
}
