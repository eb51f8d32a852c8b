import ArgumentParser
import FoundationEssentials
import Glibc
import Dispatch
import JumpAgentCore
import JumpProtocol
import JumpAgentLinux
import Logging
import SwiftProtobuf

/// The program's entry: synchronous, so that Swift concurrency's jobs are on the agent's event loop
/// before the first one exists (see ``ConcurrencyOnEventLoops``).
@main
enum JumpAgentProgram {
    static func main() {
        ConcurrencyOnEventLoops.runMain { await JumpAgentCommand.main() }
    }
}

struct JumpAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump-agent",
        abstract: "The Jump Client: keeps an unattended Linux computer reachable through a Jump appliance.",
        discussion: """
            jump-agent runs on each endpoint. It holds one outbound TLS 1.3 connection to the \
            appliance (jump-server), reports statistics and customer presence, relays Wake-on-LAN \
            and runs the endpoint side of remote shell sessions.

            Exit status: 0 success; 3 the appliance deleted this Jump Client, or it was out of \
            contact for the deletion period, and it uninstalled itself; 64 bad arguments or \
            installer (including an override it does not allow); 65 damaged files; 69 the \
            appliance cannot be reached (stats --thumbnail: there is no picture; uninstall or \
            disable without root: no running agent to ask); 74 files cannot be written; 77 \
            refused (expired or used-up installer, revoked certificate, an uninstall or disable \
            that the appliance's restriction or the console rule does not allow).
            """,
        version: JumpBuild.version,
        subcommands: [Install.self, Enroll.self, Run.self, Support.self, Status.self, Stats.self, Wake.self, Uninstall.self, Disable.self, CheckLease.self, ScreenProbeCommand.self]
    )
}

/// Runs a body, turning ``AgentError`` into its message and exit status.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as AgentError {
        writeStandardError("jump-agent: \(error.message)\n")
        throw ExitCode(error.code.rawValue)
    }
}

func makeLogger(_ level: String) throws -> Logger {
    guard let level = Logger.Level(rawValue: level) else {
        throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
    }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "jump-agent")
}

/// The agent's directory: given, or the one this program is installed in.
func agentFiles(_ directory: String?) throws -> AgentFiles {
    if let directory { return AgentFiles(root: directory) }
    if let installed = AgentFiles.forProgram(at: CommandLine.arguments[0]) { return installed }
    let fallback = AgentFiles(root: AgentFiles.defaultDirectory)
    guard FileManager.default.fileExists(atPath: fallback.configuration.path) else {
        throw AgentError(.usage, "no agent is installed here; give its directory with --dir DIR")
    }
    return fallback
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enroll this computer with an installer file, without installing a service.",
        discussion: """
            Checks the installer (its expiry and the fingerprint of the appliance CA it carries), \
            makes this Jump Client's P-256 key, enrolls with the appliance and writes the agent's \
            files into DIR: etc/agent.json, etc/key.pem (mode 0600), etc/cert.pem, etc/ca.pem and \
            var/state.json. Overrides the installer does not allow are refused. `install` does \
            this and also installs the program and its service.
            """
    )

    @Option(help: "The installer file from jumpctl installer create or download.") var installer: String
    @Option(help: "The agent's directory.") var dir: String = AgentFiles.defaultDirectory
    @OptionGroup var overrides: Overrides

    func run() async throws {
        try await reportingErrors {
            let configuration = try await enroll(installer: installer, directory: dir, overrides: overrides.overrides(directory: dir))
            print("enrolled as \(configuration.clientID); files in \(dir)")
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Jump Client in the foreground.",
        discussion: """
            Connects to the appliance and stays connected, reconnecting with backoff. Stops on \
            SIGTERM or SIGINT (exit 0), or when the appliance deleted this Jump Client (exit 3) or \
            refuses its certificate (exit 77). Session shells run as one account: --session-user, \
            else "sessionUser" in etc/agent.json, else root; a session asked for as anyone else is \
            refused.
            """
    )

    @Option(help: "The agent's directory (default: the one this program is installed in).") var dir: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "Read /proc and /sys under this root (for tests).") var root = "/"
    @Option(help: ArgumentHelp("The account session shells run as (default: sessionUser in etc/agent.json, else root).", valueName: "user"))
    var sessionUser: String?

    func run() async throws {
        try await reportingErrors {
            let logger = try makeLogger(logLevel)
            let runtime = try AgentRuntime(
                files: try agentFiles(dir),
                stats: LinuxStatsSource(root: root, filesystems: StatvfsReader(root: root), console: SDBusConsoleReader(), screen: HelperScreenReader()),
                logger: logger,
                waker: SocketWakeSender(),
                sessionHost: ShellSessionHost(),
                sessionUser: sessionUser,
                settled: { MappedFilePages.releaseInBackground(logger: logger) }
            )
            let task = Task { await runtime.run() }
            let systemd = SystemdNotifier()
            // READY=1 first: a watchdog task started before it could ping before the agent said it runs.
            systemd?.notify("READY=1")
            let watchdog = Task { await systemd?.runWatchdog() }
            let signals = SignalWatcher {
                systemd?.notify("STOPPING=1")
                task.cancel()
            }
            // The local control socket: the console user (or root) may uninstall or disable.
            let control = LocalControlService(runtime: runtime, console: SDBusConsoleReader(), logger: logger)
            control.start { task.cancel() }
            let ending = await task.value
            watchdog.cancel()
            signals.stop()
            control.stop()
            if try await control.carryOut() { return }
            switch ending {
            case .cancelled:
                logger.info("stopped")
            case .deleted(let detail):
                writeStandardError("jump-agent: the appliance deleted this Jump Client: \(detail)\n")
                try Installation.selfUninstall(runtime.files, logger: logger)
                throw ExitCode(3)
            case .expired:
                writeStandardError("jump-agent: no contact with the appliance for the deletion period; uninstalling\n")
                try Installation.selfUninstall(runtime.files, logger: logger)
                throw ExitCode(3)
            case .revoked(let detail):
                throw AgentError(.refused, "the appliance refuses this Jump Client's certificate: \(detail)")
            }
        }
    }
}

/// Options an installer may let the person installing change.
struct Overrides: ParsableArguments {
    @Option(help: "Override the Jump Client's name.") var name: String?
    @Option(help: "Override the tag.") var tag: String?
    @Option(help: "Override the comments.") var comments: String?
    @Option(help: "Override the Jump Group.") var group: String?
    @Option(help: "Override the Jump Policy.") var jumpPolicy: String?

    func overrides(directory: String) -> Enrollment.Overrides {
        var overrides = Enrollment.Overrides()
        overrides.name = name
        overrides.tag = tag
        overrides.comments = comments
        overrides.group = group
        overrides.jumpPolicy = jumpPolicy
        if directory != AgentFiles.defaultDirectory { overrides.installDirectory = directory }
        return overrides
    }
}

/// Enrolls into `directory`, refusing a directory that holds an enrolled Jump Client already.
func enroll(installer path: String, directory: String, overrides: Enrollment.Overrides) async throws -> AgentConfiguration {
    let file = try Enrollment.readInstaller(at: path)
    let files = AgentFiles(root: directory)
    if FileManager.default.fileExists(atPath: files.configuration.path) {
        throw AgentError(.usage, "\(directory) already holds an enrolled Jump Client; uninstall it first or choose another directory")
    }
    let host = await LinuxStatsSource().report(ReportRequest(selection: [], includeFacts: true)).host
    return try await Enrollment.enroll(installer: file, overrides: overrides, host: host, files: files)
}

struct Install: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install this computer's Jump Client from an installer file (as root; no questions asked).",
        discussion: """
            Enrolls with the appliance (checking the installer's expiry and the fingerprint of the \
            appliance CA it carries), copies this program to DIR/bin/jump-agent, and installs, \
            enables and starts the hardened systemd service jump-client-ID.service with a timer \
            that checks the offline lease. Everything lives in DIR (default /opt/jump-client): \
            DIR/bin, DIR/etc (configuration, key 0600, certificate, CA) and DIR/var (state); \
            only the units are elsewhere. Overrides the installer does not allow are refused \
            (exit 64). --no-service installs without systemd: start DIR/bin/jump-agent run yourself.
            """
    )

    @Option(help: "The installer file from jumpctl installer create or download.") var installer: String
    @Option(help: "Where to install.") var installDir: String = AgentFiles.defaultDirectory
    @OptionGroup var overrides: Overrides
    @Flag(help: "Install without a systemd service.") var noService = false

    func run() async throws {
        try await reportingErrors {
            guard installDir.hasPrefix("/") else { throw AgentError(.usage, "--install-dir must be an absolute path") }
            let configuration = try await enroll(installer: installer, directory: installDir, overrides: overrides.overrides(directory: installDir))
            let files = AgentFiles(root: installDir)
            let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            let units = try Installation.install(program: program, files: files, service: !noService, tools: .fromEnvironment)
            print("installed \(configuration.clientID) in \(installDir)")
            if let units {
                print("service     \(units.service) (enabled and started), lease check \(units.leaseTimer)")
            } else {
                print("no service: start it with \(files.program.path) run")
            }
        }
    }
}

struct Uninstall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove this computer's Jump Client: its service, its units and its directory.",
        discussion: """
            As root it does it here. Anyone else asks the running agent over its control socket \
            (DIR/run/control.sock): the user at the console may, unless the appliance's "restrict \
            local uninstall" setting is on; others are refused (exit 77). The appliance is told.
            """
    )

    @Option(help: "The agent's directory (default: the one this program is installed in).") var dir: String?

    func run() async throws {
        try await reportingErrors {
            let files = try agentFiles(dir)
            if geteuid() != 0 {
                try askRunningAgent(.uninstall, files: files)
                return
            }
            let tools = SystemdTools.fromEnvironment
            let configuration = try? JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: Data(contentsOf: files.configuration))
            // The service first, so its connection does not race the report; then the appliance is
            // told (it applies its "uninstalled behaviour"); then everything goes.
            if let unit = configuration?.serviceUnit { try? tools.run(tools.systemctl, ["stop", unit]) }
            let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? DisplayLocator.systemAccount(getuid())?.name ?? "root"
            let logger = Logger(label: "jump-agent")
            if let runtime = try? AgentRuntime(files: files, stats: NoStatistics(), logger: logger),
                await runtime.reportLocalUninstall(kind: .uninstall, user: user)
            {
                print("the appliance was told of the uninstall")
            } else {
                print("the appliance could not be told; it shows this Jump Client as it last saw it")
            }
            try Installation.uninstall(files: files, tools: tools)
            print("uninstalled the Jump Client in \(files.root.path)")
        }
    }
}

/// Asks the running agent to uninstall or disable itself; the kernel tells it who asks.
func askRunningAgent(_ request: LocalControlPolicy.Request, files: AgentFiles) throws {
    guard let answer = LocalControlSocket.ask(request, files: files) else {
        throw AgentError(.unavailable, "the Jump Client in \(files.root.path) is not running, so only root can \(request.rawValue) it")
    }
    guard answer.hasPrefix("ok") else {
        throw AgentError(.refused, answer.hasPrefix("refused ") ? String(answer.dropFirst(8)) : answer)
    }
    print(request == .uninstall ? "the Jump Client uninstalls itself" : "the Jump Client is disabled")
}

struct Disable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop this computer's Jump Client and keep it from starting again (root re-enables it).",
        discussion: """
            Asks the running agent over its control socket: root and, unless the appliance's \
            "restrict local uninstall" setting is on, the user at the console may; others are \
            refused (exit 77). The appliance is told. Root re-enables it with systemctl enable --now.
            """
    )

    @Option(help: "The agent's directory (default: the one this program is installed in).") var dir: String?

    func run() async throws {
        try await reportingErrors {
            try askRunningAgent(.disable, files: try agentFiles(dir))
        }
    }
}

struct CheckLease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-lease",
        abstract: "Count the time without contact and uninstall when the deletion period has passed.",
        discussion: """
            The lease timer runs this every six hours, so an agent that cannot start still \
            uninstalls itself in time. Prints the days left; exits 3 after uninstalling.
            """
    )

    @Option(help: "The agent's directory (default: the one this program is installed in).") var dir: String?

    func run() async throws {
        try await reportingErrors {
            let files = try agentFiles(dir)
            guard let data = FileManager.default.contents(atPath: files.state.path),
                var state = try? JSONDecoder.agentFiles.decode(AgentState.self, from: data)
            else {
                throw AgentError(.data, "cannot read \(files.state.path)")
            }
            let expired = state.leaseExpired(SystemLeaseClock())
            try writeAtomically(try JSONEncoder.agentFiles.encode(state), to: files.state, mode: 0o600)
            if expired {
                print("no contact for \(state.deleteAfterDays) days: uninstalling")
                try Installation.selfUninstall(files, logger: Logger(label: "jump-agent"))
                throw ExitCode(3)
            }
            if let remaining = state.lease?.remaining(deleteAfterDays: state.deleteAfterDays) {
                print("\(oneDecimal(remaining / 86_400)) days without contact left before this Jump Client uninstalls itself")
            } else {
                print("this Jump Client does not uninstall itself without contact (no deletion period)")
            }
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show this Jump Client's configuration and state.")

    @Option(help: "The agent's directory (default: the one this program is installed in).") var dir: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reportingErrors {
            let files = try agentFiles(dir)
            guard let data = FileManager.default.contents(atPath: files.configuration.path),
                let configuration = try? JSONDecoder.iso8601.decode(AgentConfiguration.self, from: data)
            else {
                throw AgentError(.data, "cannot read \(files.configuration.path)")
            }
            let state = FileManager.default.contents(atPath: files.state.path)
                .flatMap { try? JSONDecoder.iso8601.decode(AgentState.self, from: $0) } ?? AgentState()
            struct Report: Encodable {
                var directory: String
                var configuration: AgentConfiguration
                var state: AgentState
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(Report(directory: files.root.path, configuration: configuration, state: state)), as: UTF8.self))
                return
            }
            print("client       \(configuration.clientID)")
            print("directory    \(files.root.path)")
            print("appliance    \(configuration.servers.joined(separator: ", "))")
            print("last contact \(state.lastContact.map { $0.formatted(.iso8601) } ?? "never")")
            print("statistics   every \(state.statisticsIntervalSeconds) s: \(state.statistics.joined(separator: ", "))")
            print("deletion     after \(state.deleteAfterDays) days without contact")
            if let remaining = state.lease?.remaining(deleteAfterDays: state.deleteAfterDays) {
                print("lease        \(oneDecimal(remaining / 86_400)) days without contact left")
            }
            print("service      \(configuration.serviceUnit ?? "none")")
        }
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Calls `handler` once on SIGTERM or SIGINT.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            // The main queue: a global queue's worker thread would start libdispatch's one-second
            // pool monitor (see ConcurrencyOnEventLoops); the main queue's does not.
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func stop() {
        for source in sources { source.cancel() }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Collect one statistics report, as the agent would send it, and print it.",
        discussion: """
            Every statistic is collected, selected or not, with host and network facts; CPU is \
            measured over --sample. The screen thumbnail is captured from the console user's X11 \
            display by the same helper the agent uses; --thumbnail writes it as a JPEG file, and the \
            command fails with status 69 when there is no picture (with the reason: Wayland, nobody \
            logged in, a locked screen, no access to the display).
            """
    )

    @Flag(help: "Print the report as JSON (the protocol's field names; the thumbnail's JPEG as its size).") var json = false
    @Option(help: "Read /proc and /sys under this root.") var root = "/"
    @Option(help: "How long to measure CPU use, in milliseconds.") var sample = 500
    @Option(help: ArgumentHelp("Write the screen thumbnail to this JPEG file.", valueName: "file")) var thumbnail: String?

    func run() async throws {
        try await reportingErrors {
            guard (10...60_000).contains(sample) else { throw AgentError(.usage, "--sample must be 10 to 60000 milliseconds") }
            let source = LinuxStatsSource(root: root, filesystems: StatvfsReader(root: root), console: SDBusConsoleReader(), screen: HelperScreenReader())
            try await EventLoopSleep.sleep(for: .milliseconds(sample))
            let report = await source.report(.everything)
            let probe = source.lastScreenProbe
            if let thumbnail {
                guard report.thumbnailStatus == .captured, report.hasThumbnail else {
                    throw AgentError(.unavailable, "no thumbnail (\(report.thumbnailStatus)): \(report.thumbnailDetail)")
                }
                do {
                    try report.thumbnail.jpeg.write(to: URL(fileURLWithPath: thumbnail))
                } catch {
                    throw AgentError(.io, "cannot write \(thumbnail): \(error.plainDescription)")
                }
            }
            if json {
                print(try Self.json(report, probe: probe))
                return
            }
            Self.printText(report, probe: probe)
            if let thumbnail { print("written      \(thumbnail)") }
        }
    }

    /// The report in the protocol's JSON form, the JPEG replaced by its size, with the screen
    /// helper's answers (the inputs of the screen-saver state) under "screen_probe".
    static func json(_ report: WireStatsReport, probe: ScreenProbe?) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        options.alwaysPrintEnumsAsInts = false
        let text = try report.jsonString(options: options)
        guard case .object(var object) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return text }
        if case .object(var picture) = object["thumbnail"] {
            picture.removeValue(forKey: "jpeg")
            picture["jpeg_bytes"] = .integer(Int64(report.thumbnail.jpeg.count))
            object["thumbnail"] = .object(picture)
        }
        object["thumbnail_captured"] = .bool(report.thumbnailStatus == .captured)
        if let probe {
            var copy = probe
            copy.thumbnail?.jpeg = Data()
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            var answers = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(copy))
            if case .object(var fields) = answers, case .object(var picture) = fields["thumbnail"] {
                picture.removeValue(forKey: "jpeg")
                fields["thumbnail"] = .object(picture)
                answers = .object(fields)
            }
            object["screen_probe"] = answers
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let pretty = try encoder.encode(JSONValue.object(object))
        return String(decoding: pretty, as: UTF8.self)
    }

    static func printText(_ report: WireStatsReport, probe: ScreenProbe?) {
        let host = report.host
        print("host         \(host.hostname) (\(host.osName), kernel \(host.kernel), \(host.architecture))")
        if !host.model.isEmpty { print("model        \(host.model)") }
        print("cpu          \(Double(report.cpuPermille) / 10)% of \(host.cpuCount) CPUs: \(report.cpuPermillePerCpu.map { "\(Double($0) / 10)%" }.joined(separator: " "))")
        print("load         \(Double(report.load.one) / 100) \(Double(report.load.five) / 100) \(Double(report.load.fifteen) / 100)")
        print("memory       \(report.memory.availableBytes / 1_048_576) MiB available of \(report.memory.totalBytes / 1_048_576) MiB")
        print("uptime       \(report.uptimeSeconds / 86_400)d \(report.uptimeSeconds % 86_400 / 3600)h \(report.uptimeSeconds % 3600 / 60)m")
        let console = report.console
        if report.hasPresence {
            print("console      \(console.user.isEmpty ? "nobody logged in" : console.user) (\(console.sessionType), \(console.sessionClass)\(console.remote ? ", remote" : "")\(console.locked ? ", locked" : ""))")
            print("screen saver \(console.screenSaver)\(probe.map { " (" + Self.saverSources($0) + ")" } ?? "")")
            print("presence     \(report.presence.present ? "present" : "not present")\(report.presence.screenStateUsed ? " (screen state used)" : "")")
        } else {
            print("console      unknown: logind cannot be reached")
        }
        switch report.thumbnailStatus {
        case .captured:
            let picture = report.thumbnail
            let timing = probe?.thumbnail.map { ", \(Double($0.captureMicroseconds) / 1000) ms capture, \(Double($0.encodeMicroseconds) / 1000) ms JPEG" } ?? ""
            print("thumbnail    \(picture.width)x\(picture.height), \(picture.jpeg.count) bytes\(timing)")
        default:
            print("thumbnail    none (\(report.thumbnailStatus)): \(report.thumbnailDetail)")
        }
        if report.hasTemperatureMillicelsius { print("temperature  \(Double(report.temperatureMillicelsius) / 1000) °C") }
        for disk in report.disks {
            print("disk         \(disk.mountPoint) (\(disk.filesystem)): \(disk.usedBytes / 1_048_576) MiB used of \(disk.totalBytes / 1_048_576) MiB")
        }
        for interface in report.network.interfaces {
            let mac = MagicPacket.format(Array(interface.mac))
            print("interface    \(interface.name) \(mac) \(interface.addresses.count) addresses")
        }
        if !report.network.gatewayIpv4.isEmpty {
            let mac = MagicPacket.format(Array(report.network.gatewayIpv4Mac))
            print("gateway      \(report.network.gatewayIpv4.map(String.init).joined(separator: ".")) via \(report.network.gatewayIpv4Interface) (\(mac.isEmpty ? "MAC unknown" : mac))")
        }
    }

    static func saverSources(_ probe: ScreenProbe) -> String {
        var parts = ["X server: \(probe.x11ScreenSaver ?? "unknown")", "xscreensaver: \(probe.xscreensaver ?? "not running")"]
        parts.append("desktop: " + (probe.desktopScreenSaver.map { "\(probe.desktopScreenSaverService ?? "") \($0 ? "active" : "inactive")" } ?? "no answer"))
        return parts.joined(separator: "; ")
    }
}

/// The screen helper the agent starts as the console user for every report (see ScreenHelper).
struct ScreenProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen-probe",
        abstract: "Internal: ask the console's screen as its user and print the answer as JSON.",
        discussion: """
            Started by the agent for each report. Run as root it first becomes --uid/--gid. It reads \
            the X server's screen saver, xscreensaver's state and the desktop's screen saver on \
            --session-bus, and with --thumbnail captures the display.
            """,
        shouldDisplay: false
    )

    @Option(help: "Become this user id first (when run as root).") var uid: UInt32
    @Option(help: "Become this group id first (when run as root).") var gid: UInt32
    @Option(help: "The X display, e.g. :0.") var display: String?
    @Option(help: "The user's session bus address.") var sessionBus: String?
    @Flag(help: "Capture the screen thumbnail too.") var thumbnail = false

    func run() throws {
        // A hung X server or bus must not keep the helper alive after the agent gave up on it.
        alarm(10)
        do {
            try ScreenHelper.becomeUser(uid: uid, gid: gid)
        } catch {
            writeStandardError("jump-agent screen-probe: \(error)\n")
            throw ExitCode(77)
        }
        let probe = ScreenHelper.probe(display: display, sessionBus: sessionBus, thumbnail: thumbnail)
        writeStandardOutput(try JSONEncoder().encode(probe))
    }
}

struct Wake: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send Wake-on-LAN magic packets for a computer on this network, as the relay does.",
        discussion: """
            UDP to port 9 at the interface's subnet broadcast and at 255.255.255.255. The appliance \
            asks a connected Jump Client to do this for an offline one on the same network; this \
            command does it by hand, to check that a computer wakes. Exit 64 for a malformed MAC or \
            password, 69 when nothing could be sent.
            """
    )

    @Argument(help: "The MAC address to wake, e.g. 52:54:00:12:34:56.") var mac: String
    @Option(help: "The SecureOn password: 4 or 6 bytes in hexadecimal.") var password: String?
    @Option(help: "The interface that faces the computer's network (default: the routing table's choice).") var interface: String?

    func run() throws {
        guard let address = MagicPacket.parseMAC(mac) else {
            writeStandardError("jump-agent: \(mac) is not a MAC address (aa:bb:cc:dd:ee:ff)\n")
            throw ExitCode(64)
        }
        var secret: [UInt8] = []
        if let password {
            guard let bytes = MagicPacket.parseHex(password) else {
                writeStandardError("jump-agent: --password must be hexadecimal\n")
                throw ExitCode(64)
            }
            secret = bytes
        }
        var wake = WireWake()
        wake.targetMacs = [Data(address)]
        wake.secureOnPassword = Data(secret)
        wake.interface = interface ?? ""
        let ack = SocketWakeSender().perform(wake)
        switch ack.result {
        case .ok:
            print(ack.detail)
        case .invalid:
            writeStandardError("jump-agent: \(ack.detail)\n")
            throw ExitCode(64)
        default:
            writeStandardError("jump-agent: \(ack.detail)\n")
            throw ExitCode(69)
        }
    }
}

/// A statistics source with nothing in it, for connections that only deliver one message.
struct NoStatistics: StatsSource {
    func report(_ request: ReportRequest) async -> WireStatsReport { WireStatsReport() }
}

/// Text on standard error, as the agent's messages to a person go.
func writeStandardError(_ text: String) {
    _ = Array(text.utf8).withUnsafeBytes { writeAll($0, to: 2) }
}

/// Bytes on standard output, after whatever `print` has buffered.
func writeStandardOutput(_ data: Data) {
    fflush(nil)
    _ = data.withUnsafeBytes { writeAll($0, to: 1) }
}
