import Foundation
import JumpPolicy
import Testing

/// The RFC 6238 Appendix B seeds: the ASCII digits "1234567890" repeated to the hash's output length.
private func rfcSecret(_ algorithm: TOTPParameters.Algorithm) -> TOTPSecret {
    let length = [TOTPParameters.Algorithm.sha1: 20, .sha256: 32, .sha512: 64][algorithm]!
    let digits = Array("1234567890".utf8)
    return try! TOTPSecret(bytes: (0..<length).map { digits[$0 % digits.count] })
}

/// SplitMix64: a fixed seed makes the random cases the same on every run.
private struct SeededTOTPRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct TOTPSecretTests {
    @Test(arguments: [(0, false), (9, false), (10, true), (20, true), (64, true), (65, false)])
    func onlySecretsOf10To64BytesAreAccepted(count: Int, accepted: Bool) throws {
        let bytes = [UInt8](repeating: 7, count: count)
        if accepted {
            #expect(try TOTPSecret(bytes: bytes).bytes == bytes)
        } else {
            #expect(throws: TOTPError(.invalidSecret, "")) { try TOTPSecret(bytes: bytes) }
        }
    }

    @Test func generationUsesTheInjectedGeneratorAndTheDefaultLength() throws {
        var first = SeededTOTPRandom(state: 1)
        var again = SeededTOTPRandom(state: 1)
        var other = SeededTOTPRandom(state: 2)
        let secret = try TOTPSecret.generate(using: &first)
        #expect(secret.bytes.count == TOTPSecret.defaultByteCount)
        #expect(secret.bytes.count == 20)
        #expect(try TOTPSecret.generate(using: &again) == secret)
        #expect(try TOTPSecret.generate(using: &other) != secret)
        #expect(try TOTPSecret.generate(byteCount: 64, using: &other).bytes.count == 64)
        #expect(throws: TOTPError(.invalidSecret, "")) { try TOTPSecret.generate(byteCount: 9, using: &other) }
        #expect(throws: TOTPError(.invalidSecret, "")) { try TOTPSecret.generate(byteCount: -1, using: &other) }
    }

    @Test func base32RoundTripsAndBadTextIsAnInvalidSecret() throws {
        let secret = rfcSecret(.sha1)
        #expect(secret.base32 == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(try TOTPSecret(base32: secret.base32) == secret)
        #expect(try TOTPSecret(base32: "gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == secret)
        #expect(throws: TOTPError(.invalidSecret, "")) { try TOTPSecret(base32: "GEZDGNBVGY3TQOJ0") }
        #expect(throws: TOTPError(.invalidSecret, "")) { try TOTPSecret(base32: "GEZDGNBV") }  // 5 bytes
    }

    @Test func theDescriptionDoesNotDiscloseTheSecret() {
        let secret = rfcSecret(.sha1)
        #expect("\(secret)" == "TOTPSecret(20 bytes)")
        #expect(!String(reflecting: secret).contains("GEZD"))
    }

    @Test func codableUsesBase32AndChecksTheLength() throws {
        let secret = rfcSecret(.sha1)
        let json = try JSONEncoder().encode(secret)
        #expect(String(decoding: json, as: UTF8.self) == "\"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\"")
        #expect(try JSONDecoder().decode(TOTPSecret.self, from: json) == secret)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TOTPSecret.self, from: Data("\"GEZDGNBV\"".utf8))
        }
    }
}

@Suite struct TOTPTests {
    /// RFC 4226 Appendix D: HOTP-SHA1, six digits, counters 0 to 9.
    @Test(
        arguments: [
            (0, "755224"), (1, "287082"), (2, "359152"), (3, "969429"), (4, "338314"), (5, "254676"), (6, "287922"),
            (7, "162583"), (8, "399871"), (9, "520489"),
        ] as [(UInt64, String)]
    )
    func hotpMatchesRFC4226(counter: UInt64, code: String) {
        #expect(TOTP.hotp(secret: rfcSecret(.sha1), counter: counter, parameters: .init()) == code)
    }

    /// RFC 6238 Appendix B: eight digits, each algorithm with its own seed.
    @Test(
        arguments: [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ] as [(Int, String, String, String)]
    )
    func totpMatchesRFC6238(seconds: Int, sha1: String, sha256: String, sha512: String) {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        for (algorithm, code) in [(TOTPParameters.Algorithm.sha1, sha1), (.sha256, sha256), (.sha512, sha512)] {
            let parameters = TOTPParameters(algorithm: algorithm, digits: .eight)
            #expect(TOTP.code(secret: rfcSecret(algorithm), parameters: parameters, at: date) == code, "\(algorithm)")
        }
    }

    @Test(
        arguments: [
            (0, 0), (29.999, 0), (30, 1), (59, 1), (60, 2), (1_111_111_109, 37_037_036), (1_111_111_111, 37_037_037),
            (-1, 0), (-1e12, 0), (.nan, 0), (.infinity, .max),
        ] as [(Double, Int64)]
    )
    func stepsAreWholePeriodsSinceTheEpochClampedAtTheEnds(seconds: Double, step: Int64) {
        #expect(TOTP.step(at: Date(timeIntervalSince1970: seconds)) == step)
    }

    @Test func theDefaultsAreTheMostCompatibleOnes() {
        #expect(TOTPParameters() == TOTPParameters(algorithm: .sha1, digits: .six))
        #expect(TOTPParameters.periodSeconds == 30)
    }

    @Test func theEnrollmentURIPercentEncodesTheLabelAndIssuer() throws {
        let uri = try TOTP.enrollmentURI(
            secret: rfcSecret(.sha1),
            parameters: .init(algorithm: .sha256, digits: .eight),
            issuer: "Jump Client",
            account: "alice@example.com"
        )
        #expect(
            uri == "otpauth://totp/Jump%20Client:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                + "&issuer=Jump%20Client&algorithm=SHA256&digits=8&period=30"
        )

        let odd = try TOTP.enrollmentURI(
            secret: rfcSecret(.sha1),
            parameters: .init(),
            issuer: "\u{DC}n\u{EF} & Co",
            account: "b+o/b?x#y=z\u{1}"
        )
        #expect(odd.hasPrefix("otpauth://totp/%C3%9Cn%C3%AF%20%26%20Co:b%2Bo%2Fb%3Fx%23y%3Dz%01?secret="))
        // An independent parser reads back exactly what went in.
        let components = try #require(URLComponents(string: odd))
        #expect(components.scheme == "otpauth")
        #expect(components.host == "totp")
        #expect(components.path == "/\u{DC}n\u{EF} & Co:b+o/b?x#y=z\u{1}")
        let query = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(
            query == [
                "secret": rfcSecret(.sha1).base32, "issuer": "\u{DC}n\u{EF} & Co", "algorithm": "SHA1",
                "digits": "6", "period": "30",
            ]
        )
    }

    @Test(arguments: [("Jump:Client", "alice"), ("Jump Client", "alice:ops"), ("", "alice"), ("Jump Client", "")])
    func aLabelThatCannotBeSplitBackIsRefused(issuer: String, account: String) {
        #expect(throws: TOTPError(.invalidLabel, "")) {
            try TOTP.enrollmentURI(secret: rfcSecret(.sha1), parameters: .init(), issuer: issuer, account: account)
        }
    }

    static let oathtool = "/usr/bin/oathtool"
    static let oathtoolAvailable = FileManager.default.isExecutableFile(atPath: oathtool)
    static let parameterSets = TOTPParameters.Algorithm.allCases.flatMap { algorithm in
        TOTPParameters.Digits.allCases.map { TOTPParameters(algorithm: algorithm, digits: $0) }
    }

    /// 40 random secrets and instants per parameter set (240 in all), each checked over five consecutive steps.
    @Test(
        .enabled(
            if: TOTPTests.oathtoolAvailable,
            "needs oathtool (Debian: oathtool), an independent implementation; CI installs it"
        ),
        arguments: TOTPTests.parameterSets.indices
    )
    func matchesOathtool(parameterSet: Int) throws {
        let parameters = Self.parameterSets[parameterSet]
        var random = SeededTOTPRandom(state: 6238 + UInt64(parameterSet))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        let following = 4
        for _ in 0..<40 {
            let secret = try TOTPSecret.generate(byteCount: Int.random(in: 10...64, using: &random), using: &random)
            // Up to 2100, past the 32-bit time_t limit of 2038.
            let date = Date(timeIntervalSince1970: TimeInterval(Int.random(in: 0..<4_102_444_800, using: &random)))
            let expected = try Self.runOathtool([
                "--totp=\(parameters.algorithm.rawValue)", "-d", "\(parameters.digits.rawValue)", "-b", secret.base32,
                "--now", formatter.string(from: date), "-w", "\(following)",
            ])
            let step = UInt64(TOTP.step(at: date))
            let ours = (0...UInt64(following)).map {
                TOTP.hotp(secret: secret, counter: step + $0, parameters: parameters)
            }
            #expect(ours == expected, "\(parameters) \(secret.base32) \(formatter.string(from: date))")
            #expect(TOTP.code(secret: secret, parameters: parameters, at: date) == expected.first)
        }
    }

    private static func runOathtool(_ arguments: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: oathtool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "oathtool \(arguments) failed")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

@Suite struct TOTPVerifierTests {
    static let secret = rfcSecret(.sha1)
    static let parameters = TOTPParameters()
    /// The middle of step 37 037 037.
    static let now = Date(timeIntervalSince1970: 1_111_111_125)
    static let nowStep: Int64 = 37_037_037

    static func code(_ step: Int64, _ parameters: TOTPParameters = parameters) -> String {
        TOTP.hotp(secret: secret, counter: UInt64(step), parameters: parameters)
    }

    static func verify(
        _ code: String,
        window: Int = TOTPVerifier.defaultWindow,
        at date: Date = now,
        lastAcceptedStep: Int64? = nil,
        parameters: TOTPParameters = parameters
    ) -> TOTPVerification {
        TOTPVerifier(window: window).verify(
            code: code,
            secret: secret,
            parameters: parameters,
            at: date,
            lastAcceptedStep: lastAcceptedStep
        )
    }

    @Test func theDefaultWindowIsOneStepEitherSide() {
        #expect(TOTPVerifier().window == 1)
    }

    @Test(arguments: [0, 1, 2], -3...3)
    func codesInsideTheWindowAreAcceptedAndOutsideAreWrong(window: Int, offset: Int64) {
        let expected: TOTPVerification =
            abs(offset) <= Int64(window) ? .accepted(step: Self.nowStep + offset) : .rejected(.wrong)
        #expect(Self.verify(Self.code(Self.nowStep + offset), window: window) == expected)
    }

    @Test func theWindowIsCountedFromTheStepTheInstantFallsIn() {
        let first = Date(timeIntervalSince1970: 1_111_111_110)  // the first instant of step 37 037 037
        let last = Date(timeIntervalSince1970: 1_111_111_139.999)  // and its last
        let next = Date(timeIntervalSince1970: 1_111_111_140)  // the first of the next step
        #expect(Self.verify(Self.code(Self.nowStep - 1), at: first) == .accepted(step: Self.nowStep - 1))
        #expect(Self.verify(Self.code(Self.nowStep + 1), at: first) == .accepted(step: Self.nowStep + 1))
        #expect(Self.verify(Self.code(Self.nowStep + 2), at: last) == .rejected(.wrong))
        #expect(Self.verify(Self.code(Self.nowStep - 2), at: first) == .rejected(.wrong))
        #expect(Self.verify(Self.code(Self.nowStep + 2), at: next) == .accepted(step: Self.nowStep + 2))
    }

    @Test func aCodeIsNeverAcceptedTwice() {
        let code = Self.code(Self.nowStep)
        #expect(Self.verify(code) == .accepted(step: Self.nowStep))
        #expect(Self.verify(code, lastAcceptedStep: Self.nowStep) == .rejected(.replayed))
        #expect(Self.verify(code, lastAcceptedStep: Self.nowStep + 1) == .rejected(.replayed))
    }

    @Test func aStepAtOrBeforeTheLastAcceptedIsRefusedEvenInsideTheWindow() {
        #expect(Self.verify(Self.code(Self.nowStep - 1), lastAcceptedStep: Self.nowStep) == .rejected(.replayed))
        #expect(Self.verify(Self.code(Self.nowStep - 1), lastAcceptedStep: Self.nowStep - 1) == .rejected(.replayed))
        #expect(
            Self.verify(Self.code(Self.nowStep - 1), lastAcceptedStep: Self.nowStep - 2)
                == .accepted(step: Self.nowStep - 1)
        )
    }

    @Test func aLaterStepIsAcceptedAfterAnEarlierOne() {
        var last: Int64?
        for step in Self.nowStep - 1...Self.nowStep + 1 {
            let result = Self.verify(Self.code(step), lastAcceptedStep: last)
            #expect(result == .accepted(step: step))
            if case .accepted(let accepted) = result { last = accepted }
        }
        #expect(last == Self.nowStep + 1)
    }

    @Test(arguments: [
        "", "28708", "2870821", "28708a", " 287082", "287082 ", "287 082", "-28708", "+287082",
        "\u{FF12}\u{FF18}\u{FF17}\u{FF10}\u{FF18}\u{FF12}",  // full-width digits
        "\u{662}\u{668}\u{667}\u{660}\u{668}\u{662}",  // Arabic-Indic digits
        "12345678901", String(repeating: "9", count: 100_000),
    ])
    func anythingButExactlySixASCIIDigitsIsMalformed(code: String) {
        #expect(Self.verify(code) == .rejected(.malformed))
    }

    @Test func theDigitCountComesFromTheParameters() {
        let eight = TOTPParameters(digits: .eight)
        #expect(Self.verify(Self.code(Self.nowStep), parameters: eight) == .rejected(.malformed))
        #expect(Self.verify(Self.code(Self.nowStep, eight), parameters: eight) == .accepted(step: Self.nowStep))
        #expect(Self.verify(Self.code(Self.nowStep, eight), parameters: .init()) == .rejected(.malformed))
    }

    /// The comparison looks at every digit: a code off in any one position, first or last, is wrong.
    @Test(arguments: 0..<6)
    func aCodeOffByOneDigitAnywhereIsWrong(position: Int) {
        var digits = Array(Self.code(Self.nowStep).utf8)
        digits[position] = UInt8(ascii: "0") + (digits[position] - UInt8(ascii: "0") + 1) % 10
        #expect(Self.verify(String(decoding: digits, as: UTF8.self), window: 0) == .rejected(.wrong))
    }

    @Test func aClockBeforeTheEpochUsesStepZeroAndABrokenFutureDoesNotTrap() {
        let before = Date(timeIntervalSince1970: -100)
        #expect(Self.verify(Self.code(0), at: before) == .accepted(step: 0))
        #expect(Self.verify(Self.code(1), at: before) == .accepted(step: 1))
        #expect(Self.verify(Self.code(2), at: before) == .rejected(.wrong))
        #expect(Self.verify(Self.code(Int64.max), at: Date(timeIntervalSince1970: .infinity)) == .accepted(step: .max))
    }

    @Test func everyRejectionTellsTheUserWhatToDo() {
        for reason in [TOTPVerification.Reason.malformed, .wrong, .replayed] {
            #expect(reason.description.hasSuffix("."))
            #expect(reason.description.count > 30)
        }
        #expect(Set([TOTPVerification.Reason.malformed, .wrong, .replayed].map(\.description)).count == 3)
    }
}
