import FoundationEssentials
import Glibc
import JumpProtocol
import Logging
import Synchronization

/// Pinning: the representative turns the computer in a support session into a Jump Client, with an
/// installer for one enrollment into the Jump Group they chose.
extension SupportAgent {
    /// The name of a pinned installer in messages.
    static let pinnedInstaller = "the installer the representative sent"

    /// Checks, enrolls and installs; the answer to the pin command (`ref`). OK carries exactly the
    /// new Jump Client's id in `detail`; FAILED says what to do.
    func pin(_ installerBytes: Data, ref: UInt64) async -> WireAck {
        let busy = pinning.withLock { pinning in
            defer { pinning = true }
            return pinning
        }
        guard !busy else {
            return WireAck(ref: ref, .failed, "this computer is being installed as a Jump Client already")
        }
        defer { pinning.withLock { $0 = false } }
        say("The representative is installing this computer as a Jump Client...")
        switch await installPinned(installerBytes) {
        case .success(let installed):
            let files = AgentFiles(root: configuration.installDirectory)
            if let service = installed.service {
                say("This computer is now installed as Jump Client \(installed.clientID) in \(files.root.path); its service \(service) is started.")
            } else {
                say(
                    "This computer is now installed as Jump Client \(installed.clientID) in \(files.root.path); it is not running: start it with \(files.program.path) run"
                )
            }
            logger.notice("installed as a Jump Client", metadata: ["client": "\(installed.clientID)"])
            return WireAck(ref: ref, .ok, installed.clientID)
        case .failure(let error):
            say("Installing this computer as a Jump Client failed: \(error.message)")
            logger.error("pin failed", metadata: ["detail": "\(error.message)"])
            return WireAck(ref: ref, .failed, error.message)
        }
    }

    struct Installed: Sendable, Hashable {
        var clientID: String
        var service: String?
    }

    func installPinned(_ installerBytes: Data) async -> Result<Installed, AgentError> {
        let files = AgentFiles(root: configuration.installDirectory)
        let installer: InstallerFile
        do {
            installer = try Enrollment.readInstaller(installerBytes, source: Self.pinnedInstaller)
        } catch let error as AgentError {
            return .failure(error)
        } catch {
            return .failure(AgentError(.data, "\(Self.pinnedInstaller) cannot be read: \(error)"))
        }
        if let problem = installProblem(files) { return .failure(problem) }

        var overrides = Enrollment.Overrides()
        // The appliance learns where it was installed, if the installer lets it.
        if configuration.installDirectory != AgentFiles.defaultDirectory, installer.allowedOverrides.contains("install-dir") {
            overrides.installDirectory = configuration.installDirectory
        }
        let enrolled: AgentConfiguration
        do {
            enrolled = try await Enrollment.enroll(
                installer: installer,
                overrides: overrides,
                host: configuration.host,
                files: files,
                group: group
            )
        } catch let error as AgentError {
            return .failure(AgentError(error.code, "could not enroll: \(error.message)"))
        } catch {
            return .failure(AgentError(.unavailable, "could not enroll: \(error)"))
        }
        do {
            let service = try install(files, configuration.installService)
            if effectiveUID != 0 {
                // Installed by an account that is not root, the Jump Client runs as that account: its sessions must
                // too. Written after installing, which rewrites the configuration.
                try Self.setSessionUser(configuration.localUser, in: files)
            }
            return .success(Installed(clientID: enrolled.clientID, service: service))
        } catch {
            let reason = (error as? AgentError)?.message ?? "\(error)"
            return .failure(
                AgentError(
                    .io,
                    "enrolled as \(enrolled.clientID), but could not install it in \(files.root.path): \(reason); delete that Jump Client on the appliance and pin again"
                )
            )
        }
    }

    /// Sets `"sessionUser"` in `etc/agent.json` (see ``SessionUser``), keeping everything else in it.
    static func setSessionUser(_ user: String, in files: AgentFiles) throws {
        let data = try Data(contentsOf: files.configuration)
        guard case .object(var object) = try JSONDecoder().decode(JSONValue.self, from: data) else {
            throw AgentError(.data, "\(files.configuration.path) is not a JSON object")
        }
        object["sessionUser"] = .string(user)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(JSONValue.object(object)), to: files.configuration, mode: 0o600)
    }

    /// Why installing into `files` cannot work, found before the installer's one enrollment is spent.
    func installProblem(_ files: AgentFiles) -> AgentError? {
        let directory = files.root.path
        if let existing = try? JSONDecoder.agentFiles.decode(AgentConfiguration.self, from: Data(contentsOf: files.configuration)) {
            return AgentError(
                .usage,
                "\(directory) already holds the enrolled Jump Client \(existing.clientID); uninstall it first (\(files.program.path) uninstall) or start the support session with another --install-dir"
            )
        }
        if FileManager.default.fileExists(atPath: files.configuration.path) {
            return AgentError(
                .usage,
                "\(directory) already holds an enrolled Jump Client; uninstall it first or start the support session with another --install-dir"
            )
        }
        let user = configuration.localUser
        if configuration.installService, effectiveUID != 0 {
            return AgentError(
                .refused,
                "the support session runs as \(user), not root, so it cannot install a service; the end user can start it again as root (sudo jump-agent support ...), or with --no-service and an --install-dir they can write"
            )
        }
        // The nearest directory that exists must be writable, or enrolling would be wasted.
        var existing = files.root
        while !FileManager.default.fileExists(atPath: existing.path), existing.path != "/" {
            existing = existing.deletingLastPathComponent()
        }
        if effectiveUID != 0, access(existing.path, W_OK) != 0 {
            return AgentError(
                .io,
                "\(user) cannot write \(existing.path), so cannot install into \(directory); the end user can start the support session again with an --install-dir they can write, or as root"
            )
        }
        return nil
    }
}
