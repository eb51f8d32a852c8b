public import FoundationEssentials
import Glibc
public import JumpAgentCore

/// The systemd programs and the unit directory. Tests point them at stand-ins that record their
/// arguments (systemd is not PID 1 everywhere tests run) through JUMP_SYSTEMCTL, JUMP_SYSTEMD_RUN and
/// JUMP_UNIT_DIR.
public struct SystemdTools: Sendable {
    public var systemctl: String
    public var systemdRun: String
    public var unitDirectory: String

    public init(systemctl: String = "/usr/bin/systemctl", systemdRun: String = "/usr/bin/systemd-run", unitDirectory: String = "/etc/systemd/system") {
        self.systemctl = systemctl
        self.systemdRun = systemdRun
        self.unitDirectory = unitDirectory
    }

    public static var fromEnvironment: SystemdTools {
        let environment = ProcessInfo.processInfo.environment
        return SystemdTools(
            systemctl: environment["JUMP_SYSTEMCTL"] ?? "/usr/bin/systemctl",
            systemdRun: environment["JUMP_SYSTEMD_RUN"] ?? "/usr/bin/systemd-run",
            unitDirectory: environment["JUMP_UNIT_DIR"] ?? "/etc/systemd/system"
        )
    }

    /// Runs a program with fixed arguments (never a shell) and fails with its output.
    public func run(_ program: String, _ arguments: [String]) throws(AgentError) {
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess(program: program, arguments: arguments, mergeStandardError: true).run()
        } catch {
            throw AgentError(.unavailable, "cannot run \(program): \(error)")
        }
        guard outcome.succeeded else {
            let text = String(decoding: outcome.output, as: UTF8.self).trimmed()
            throw AgentError(.unavailable, "\(program) \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}

/// Installing and removing a Jump Client: its program in DIR/bin, its units, and nothing else.
public enum Installation {
    /// Copies this program into the agent's directory and, with `service`, installs, enables and
    /// starts its units. The agent must be enrolled in `files` already.
    public static func install(program: URL, files: AgentFiles, service: Bool, tools: SystemdTools) throws(AgentError) -> SystemdUnits? {
        var configuration = try loadConfiguration(files)
        do {
            // Everyone may run DIR/bin/jump-agent (status, stats); etc and var stay the agent's own.
            try FileManager.default.createDirectory(at: files.bin, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            // DIR/run holds the control socket every local user may reach.
            try FileManager.default.createDirectory(at: files.root.appendingPathComponent("run"), withIntermediateDirectories: true)
            for directory in [files.root, files.bin, files.root.appendingPathComponent("run")] {
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            }
            let data = try Data(contentsOf: program)
            try writeFile(data, to: files.program, mode: 0o755)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.io, "cannot copy the program to \(files.program.path): \(error.plainDescription)")
        }
        guard service else { return nil }
        let units = SystemdUnits(clientID: configuration.clientID, directory: files.root.path)
        for file in units.files {
            let url = URL(fileURLWithPath: tools.unitDirectory).appendingPathComponent(file)
            try writeFile(Data((units.text(of: file) ?? "").utf8), to: url, mode: 0o644)
        }
        configuration.serviceUnit = units.service
        try writeFile(try encode(configuration), to: files.configuration, mode: 0o600)
        try tools.run(tools.systemctl, ["daemon-reload"])
        try tools.run(tools.systemctl, ["enable", "--now", units.service, units.leaseTimer])
        return units
    }

    /// Removes everything the install created: stops and disables the units, deletes their files and
    /// the agent's directory.
    public static func uninstall(files: AgentFiles, tools: SystemdTools) throws(AgentError) {
        let configuration = try? loadConfiguration(files)
        var problems: [String] = []
        if let configuration, configuration.serviceUnit != nil {
            let units = SystemdUnits(clientID: configuration.clientID, directory: files.root.path)
            do {
                try tools.run(tools.systemctl, ["disable", "--now", units.leaseTimer, units.service])
            } catch {
                problems.append(error.message)
            }
            for file in units.files {
                let url = URL(fileURLWithPath: tools.unitDirectory).appendingPathComponent(file)
                if FileManager.default.fileExists(atPath: url.path) {
                    do { try FileManager.default.removeItem(at: url) } catch { problems.append("cannot remove \(url.path): \(error.plainDescription)") }
                }
            }
            do { try tools.run(tools.systemctl, ["daemon-reload"]) } catch { problems.append(error.message) }
        }
        do {
            try FileManager.default.removeItem(at: files.root)
        } catch {
            problems.append("cannot remove \(files.root.path): \(error.plainDescription)")
        }
        guard problems.isEmpty else { throw AgentError(.io, problems.joined(separator: "; ")) }
    }

    /// From inside the running service: the uninstall stops the service, so it runs in a transient
    /// unit of its own, outside the service's processes.
    public static func uninstallFromService(files: AgentFiles, tools: SystemdTools) throws(AgentError) {
        let configuration = try loadConfiguration(files)
        try tools.run(tools.systemdRun, [
            "--unit=jump-client-\(configuration.clientID)-uninstall", "--collect", "--no-block", "--quiet",
            "--description=Jump Client uninstall (\(files.root.path))",
            files.program.path, "uninstall", "--dir", files.root.path,
        ])
    }

    /// From inside the running service: disable and stop it from a transient unit.
    public static func disableFromService(files: AgentFiles, tools: SystemdTools) throws(AgentError) {
        let configuration = try loadConfiguration(files)
        guard let unit = configuration.serviceUnit else { return }
        try tools.run(tools.systemdRun, [
            "--unit=jump-client-\(configuration.clientID)-disable", "--collect", "--no-block", "--quiet",
            "--description=Jump Client disable (\(files.root.path))",
            tools.systemctl, "disable", "--now", unit,
        ])
    }

    /// Whether this process runs as a systemd service (systemd sets INVOCATION_ID for each).
    public static var underSystemd: Bool {
        ProcessInfo.processInfo.environment["INVOCATION_ID"] != nil
    }

    static func loadConfiguration(_ files: AgentFiles) throws(AgentError) -> AgentConfiguration {
        do {
            return try JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: Data(contentsOf: files.configuration))
        } catch {
            throw AgentError(.data, "cannot read \(files.configuration.path): \(error.plainDescription)")
        }
    }

    static func encode(_ configuration: AgentConfiguration) throws(AgentError) -> Data {
        do {
            return try JSONEncoder.agentFiles.encode(configuration)
        } catch {
            throw AgentError(.io, "cannot encode the configuration: \(error)")
        }
    }

    static func writeFile(_ data: Data, to url: URL, mode: mode_t) throws(AgentError) {
        do {
            try writeAtomically(data, to: url, mode: mode)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.io, "cannot write \(url.path): \(error.plainDescription)")
        }
    }
}
