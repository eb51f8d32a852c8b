import ArgumentParser
import Foundation
import JumpEventLoops
import JumpServerCore
import NIOCore

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the appliance.",
        discussion: """
            On first start the data directory receives the appliance CA (ca.pem), the server \
            certificate, the database (jump.sqlite) and the first administrator's password \
            (initial-admin-password, readable by its owner only); the administrator is named admin. \
            Settings come from the command line, then the configuration file, then the defaults. \
            The configuration file holds "key = value" lines with the long option names as keys, \
            e.g. "agent-listen = 0.0.0.0:7443"; lines starting with # are comments.

            Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 1 when the appliance cannot \
            start or stops on an error, 64 for bad arguments or configuration.
            """
    )

    @Option(name: .long, help: "The data directory (created if missing).")
    var dataDir: String?

    @Option(name: .long, help: "HOST:PORT for agent connections. Default: 127.0.0.1:7443.")
    var agentListen: String?

    @Option(name: .long, help: "HOST:PORT for the HTTPS API. Default: 127.0.0.1:8443.")
    var apiListen: String?

    @Option(name: .long, help: "HOST:PORT agents use to reach the appliance, written into installers (repeatable). Default: the agent listener's address.")
    var publicAddress: [String] = []

    @Option(name: .long, help: "A host name for the server certificate made on first start (repeatable).")
    var hostname: [String] = []

    @Option(name: .long, help: "A configuration file of key = value lines.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(
        name: .long,
        help: "Event-loop threads for agent connections, 1 to 64. Default: half the CPU cores, at least one."
    )
    var agentThreads: String?

    @Option(
        name: .long,
        help: """
            Milliseconds a mostly idle agent event loop gathers arriving I/O before it waits for more, \
            0 to 20; 0 turns it off. Fewer wake-ups for the agents' statistics; each Ack leaves up to \
            this much later. Never while a connection on the loop is being set up or carries a \
            session. Default: 2.
            """
    )
    var agentCoalescingMs: String?

    /// Not a configuration file key, so that only a command line written for a benchmark lifts it.
    @Flag(
        name: .long,
        help: """
            For benchmarks only (Benchmarks/handshake.sh), never in production: admit new agent \
            connections as fast as they come, ignoring the connection-rate setting, so that \
            nothing protects the appliance from a reconnect storm. Logged as a warning at start.
            """
    )
    var unlimitedAdmission = false

    /// The admission rate `--unlimited-admission` sets: far above the few thousand handshakes a
    /// second one appliance can make, so the token bucket never makes a connection wait.
    static let unlimitedAdmissionRate = 1_000_000

    func run() async throws {
        var file: [String: [String]] = [:]
        if let config {
            do {
                file = try ConfigurationFile.parse(String(contentsOfFile: config, encoding: .utf8))
            } catch let error as ConfigurationFile.Error {
                throw ValidationError("\(config): \(error)")
            } catch {
                throw ValidationError("cannot read the configuration file \(config): \(error.localizedDescription)")
            }
        }
        func value(_ flag: String?, _ key: String) -> String? { flag ?? file[key]?.last }
        func values(_ flags: [String], _ key: String) -> [String] { flags.isEmpty ? file[key] ?? [] : flags }

        guard let dataDir = value(dataDir, "data-dir") else {
            throw ValidationError("give the data directory with --data-dir DIR (or data-dir in the configuration file)")
        }
        let agent = try Self.address(value(agentListen, "agent-listen") ?? "127.0.0.1:7443", "agent-listen")
        let api = try Self.address(value(apiListen, "api-listen") ?? "127.0.0.1:8443", "api-listen")
        for address in values(publicAddress, "public-address") { _ = try Self.address(address, "public-address") }
        let threads = try Self.agentThreads(value(agentThreads, "agent-threads"))
        let coalescing = try Self.agentCoalescing(value(agentCoalescingMs, "agent-coalescing-ms"))
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
        let configuration = Appliance.Configuration(
            dataDirectory: dataDir,
            agentListen: agent,
            apiListen: api,
            publicAddresses: values(publicAddress, "public-address"),
            hostnames: values(hostname, "hostname"),
            agentThreads: threads,
            agentCoalescingMilliseconds: coalescing,
            admissionRateOverride: unlimitedAdmission ? Self.unlimitedAdmissionRate : nil
        )
        do {
            try await Appliance.run(configuration, logLevel: level)
        } catch {
            FileHandle.standardError.write(Data("jump-server: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func agentThreads(_ text: String?) throws -> Int {
        guard let threads = AgentEventLoops.count(text, cores: System.coreCount) else {
            throw ValidationError(
                "agent-threads: '\(text ?? "")' is not a number of threads from 1 to \(AgentEventLoops.maximum)"
            )
        }
        return threads
    }

    static func agentCoalescing(_ text: String?) throws -> Int {
        guard let milliseconds = WakeUpCoalescing.milliseconds(text) else {
            throw ValidationError(
                "agent-coalescing-ms: '\(text ?? "")' is not a number of milliseconds from 0 to \(WakeUpCoalescing.maximumMilliseconds)"
            )
        }
        return milliseconds
    }

    static func address(_ text: String, _ key: String) throws -> ListenAddress {
        guard let address = ListenAddress(parsing: text) else {
            throw ValidationError("\(key): '\(text)' is not HOST:PORT")
        }
        return address
    }
}

import Logging

/// "key = value" lines; a key may repeat.
enum ConfigurationFile {
    struct Error: Swift.Error, CustomStringConvertible {
        var line: Int
        var text: String
        var description: String { "line \(line): \(text)" }
    }

    static let keys: Set<String> = ["data-dir", "agent-listen", "api-listen", "public-address", "hostname", "agent-threads", "agent-coalescing-ms"]

    static func parse(_ text: String) throws(Error) -> [String: [String]] {
        var values: [String: [String]] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw Error(line: number + 1, text: "expected key = value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard keys.contains(key) else {
                throw Error(line: number + 1, text: "unknown key '\(key)'; the keys are \(keys.sorted().joined(separator: ", "))")
            }
            values[key, default: []].append(value)
        }
        return values
    }
}
