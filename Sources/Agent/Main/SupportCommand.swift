import ArgumentParser
import FoundationEssentials
import Glibc
import JumpAgentCore
import JumpAgentLinux
import JumpProtocol
import Logging

struct Support: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a representative for attended support with the code they gave you.",
        discussion: """
            Connects once to the appliance at --server and asks for the support session that \
            --code names. The code is 32 letters and digits in groups of four \
            (K7M2-9XQ4-...); it works once and for a short time, and it also names the \
            appliance, so this computer talks only to the appliance that made it. Nothing is \
            installed to do this.

            While you wait and during the session the representative sees this computer's \
            name and the account you run this command as. Shells the representative opens run \
            as that account (run it with sudo to give them root), and you see when each one \
            starts and ends, and any message they send. The representative may install this \
            computer as a permanent Jump Client ("pin" it) into --install-dir, with its \
            service; that needs root, or --no-service and a directory you can write. The \
            session ends when the representative ends it, when the connection is lost (there \
            is no reconnecting: ask for a new code), or when you press Ctrl-C.

            Exit status: 0 the session ended normally (by the representative or by you); 64 \
            bad arguments or a malformed code; 69 the appliance cannot be reached, is not the \
            one the code was made for, or the connection was lost; 77 the appliance refused \
            the code (unknown, expired or used already).
            """
    )

    @Option(help: ArgumentHelp("The appliance's agent address.", valueName: "host:port")) var server: String
    @Option(help: ArgumentHelp("The support code from the representative.", valueName: "code")) var code: String
    @Option(help: "Where to install the Jump Client if the representative pins this computer.")
    var installDir: String = AgentFiles.defaultDirectory
    @Flag(help: "If pinned, install without a systemd service (start DIR/bin/jump-agent run yourself).")
    var noService = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "warning"

    func validate() throws {
        guard SupportCode(code) != nil else {
            throw ValidationError(
                "\"\(code)\" is not a support code: a code is 32 letters and digits, usually written in groups of four like K7M2-9XQ4-..."
            )
        }
        guard server.contains(":") else { throw ValidationError("--server must be HOST:PORT, e.g. jump.example.com:7443") }
        guard installDir.hasPrefix("/") else { throw ValidationError("--install-dir must be an absolute path") }
    }

    func run() async throws {
        try await reportingErrors {
            let logger = try makeLogger(logLevel)
            let code = SupportCode(self.code)!
            let user = DisplayLocator.systemAccount(geteuid())?.name ?? "uid \(geteuid())"
            let host = await LinuxStatsSource().report(ReportRequest(selection: [], includeFacts: true)).host
            let agent = SupportAgent(
                configuration: .init(
                    server: server,
                    code: code,
                    localUser: user,
                    host: host,
                    installDirectory: installDir,
                    installService: !noService
                ),
                sessionHost: ShellSessionHost(),
                install: { files, service in
                    let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                    return try Installation.install(program: program, files: files, service: service, tools: .fromEnvironment)?.service
                },
                say: { line in writeStandardOutput(Data("\(line)\n".utf8)) },
                logger: logger
            )
            let task = Task { await agent.run() }
            let signals = SignalWatcher { task.cancel() }
            let ending = await task.value
            signals.stop()
            switch ending {
            case .finished(let message):
                writeStandardOutput(Data("\(message.prefix(1).uppercased())\(message.dropFirst()).\n".utf8))
            case .failed(let code, let message):
                throw AgentError(code, message)
            }
        }
    }
}
