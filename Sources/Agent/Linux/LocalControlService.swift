import FoundationEssentials
import Glibc
public import JumpAgentCore
import JumpProtocol
public import Logging
import Synchronization

/// The running agent's side of a local uninstall or disable: it answers the control socket with
/// `LocalControlPolicy` (the console user from logind, the restriction from the appliance), and once
/// a request was allowed it stops the runtime; after the runtime ended, `carryOut()` tells the
/// appliance and does what was asked. Without it the order (stop, tell, remove) would live in main.
public final class LocalControlService: Sendable {
    let runtime: AgentRuntime
    let console: any ConsoleReader
    let logger: Logger
    let allowed = Mutex<(request: LocalControlPolicy.Request, uid: UInt32)?>(nil)
    let server = Mutex<LocalControlSocket.Server?>(nil)

    public init(runtime: AgentRuntime, console: any ConsoleReader, logger: Logger) {
        self.runtime = runtime
        self.console = console
        self.logger = logger
    }

    /// Opens `DIR/run/control.sock`; `stopRuntime` ends the runtime once a request is allowed. An
    /// agent without the socket still runs (root can always uninstall by hand), so this only logs.
    public func start(stopRuntime: @escaping @Sendable () -> Void) {
        do {
            let server = try LocalControlSocket.Server(
                files: runtime.files,
                handle: { [self] request, uid in decide(request, uid: uid) },
                then: { [self] request, uid in
                    allowed.withLock { $0 = (request, uid) }
                    stopRuntime()
                }
            )
            self.server.withLock { $0 = server }
        } catch {
            logger.warning("no local control socket", metadata: ["error": "\(error)"])
        }
    }

    func decide(_ request: LocalControlPolicy.Request, uid: UInt32) -> LocalControlPolicy.Decision {
        let consoleUID = (try? console.read())?.active.flatMap { $0.sessionClass == "user" ? $0.uid : nil }
        let decision = LocalControlPolicy.decide(
            request,
            uid: uid,
            consoleUID: consoleUID,
            restricted: runtime.currentState.restrictLocalUninstall
        )
        logger.notice("local \(request.rawValue) asked", metadata: ["uid": "\(uid)", "decision": "\(decision)"])
        return decision
    }

    public func stop() {
        server.withLock { server in
            server?.stop()
            server = nil
        }
    }

    /// After the runtime stopped: tells the appliance of the allowed request and carries it out.
    /// False when no request was allowed (the runtime stopped for another reason).
    public func carryOut() async throws -> Bool {
        guard let (request, uid) = allowed.withLock({ $0 }) else { return false }
        let user = DisplayLocator.systemAccount(uid)?.name ?? "uid \(uid)"
        let told = await runtime.reportLocalUninstall(kind: request == .uninstall ? .uninstall : .disable, user: user)
        logger.notice("\(request.rawValue) by \(user)", metadata: ["appliance told": "\(told)"])
        switch request {
        case .uninstall: try Installation.selfUninstall(runtime.files, logger: logger)
        case .disable: try Installation.selfDisable(runtime.files, logger: logger)
        }
        return true
    }
}

extension Installation {
    /// Uninstalls this Jump Client from inside the agent (deleted, lease run out, or a local
    /// request): through a transient unit when it runs as a systemd service (stopping the service
    /// would end this process half-way), else right here.
    public static func selfUninstall(_ files: AgentFiles, logger: Logger) throws {
        let tools = SystemdTools.fromEnvironment
        if underSystemd {
            try uninstallFromService(files: files, tools: tools)
            logger.notice("uninstall handed to a transient unit")
        } else {
            try uninstall(files: files, tools: tools)
            logger.notice("uninstalled", metadata: ["directory": "\(files.root.path)"])
        }
    }

    /// Stops and disables the service for good (root enables it again with systemctl); through a
    /// transient unit, since stopping the service ends this process.
    public static func selfDisable(_ files: AgentFiles, logger: Logger) throws {
        guard underSystemd else {
            logger.notice("disabled: not started again until root starts it")
            return
        }
        try disableFromService(files: files, tools: SystemdTools.fromEnvironment)
    }
}
