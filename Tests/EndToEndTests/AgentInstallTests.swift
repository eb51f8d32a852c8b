import Foundation
import JumpTestSupport
import Testing

/// `jump-agent install` and `uninstall` as an administrator runs them, with stand-in `systemctl`
/// and `systemd-run` that record their arguments (systemd is not PID 1 on the machines the tests
/// run on, so units cannot start here); `systemd-analyze` checks the real unit files.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AgentInstallTests {
    typealias Appliance = ApplianceProgramTests.Appliance

    /// A folder with recording stand-ins for systemctl and systemd-run and a unit directory.
    struct Systemd {
        let directory: URL
        var log: URL { directory.appendingPathComponent("calls.log") }
        var units: URL { directory.appendingPathComponent("units") }
        var environment: [String: String] {
            [
                "JUMP_SYSTEMCTL": directory.appendingPathComponent("systemctl").path,
                "JUMP_SYSTEMD_RUN": directory.appendingPathComponent("systemd-run").path,
                "JUMP_UNIT_DIR": units.path,
            ]
        }

        init(in parent: URL) throws {
            directory = parent.appendingPathComponent("systemd")
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("units"), withIntermediateDirectories: true)
            for tool in ["systemctl", "systemd-run"] {
                let script = directory.appendingPathComponent(tool)
                try "#!/bin/sh\necho \"\(tool) $*\" >> '\(log.path)'\n".write(to: script, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
            }
        }

        var calls: [String] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    static func installer(_ appliance: Appliance, overrides: String = "install-dir,name") throws -> URL {
        let file = appliance.directory.appendingPathComponent("installer-\(UUID().uuidString).json")
        let created = try appliance.jumpctl(["installer", "create", "--group", "Default", "--output", file.path, "--expires", "1h", "--allow-override", overrides])
        #expect(created.status == 0, "\(created.error)")
        return file
    }

    static let systemdAnalyze = FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")

    /// The system calls a SystemCallFilter group admits, its nested groups expanded, as
    /// `systemd-analyze syscall-filter` lists them (the group's name, then a call, a nested group or
    /// a comment per line).
    static func systemCalls(inFilterGroup group: String) throws -> Set<String> {
        let listing = try ProgramTests.run("/usr/bin/systemd-analyze", ["syscall-filter", group])
        var calls: Set<String> = []
        for line in listing.output.split(separator: "\n").dropFirst() {
            let entry = line.trimmingCharacters(in: .whitespaces)
            if entry.hasPrefix("@") {
                calls.formUnion(try systemCalls(inFilterGroup: entry))
            } else if !entry.isEmpty && !entry.hasPrefix("#") {
                calls.insert(entry)
            }
        }
        return calls
    }

    @Test func installIntoACustomDirectoryRunAndUninstall() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        let systemd = try Systemd(in: appliance.directory)
        let directory = appliance.directory.appendingPathComponent("custom/jump")

        // An override the installer does not allow is refused, and nothing is left behind.
        let strict = try Self.installer(appliance, overrides: "name")
        let refused = try ProgramTests.run("jump-agent", ["install", "--installer", strict.path, "--install-dir", directory.path], environment: systemd.environment)
        #expect(refused.status == 64)
        #expect(refused.error.contains("install-dir"), "\(refused.error)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("etc/agent.json").path))

        let installer = try Self.installer(appliance)
        let installed = try ProgramTests.run("jump-agent", ["install", "--installer", installer.path, "--install-dir", directory.path, "--name", "lab-pi"], environment: systemd.environment)
        #expect(installed.status == 0, "\(installed.error)")
        let program = directory.appendingPathComponent("bin/jump-agent")
        #expect(FileManager.default.isExecutableFile(atPath: program.path))
        #expect(FileManager.default.contentsEqual(atPath: program.path, andPath: ProgramTests.binDirectory.appendingPathComponent("jump-agent").path))
        let key = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("etc/key.pem").path)
        #expect(key[.posixPermissions] as? Int == 0o600)

        // The units, and what was asked of systemd.
        let status = try ProgramTests.run(program.path, ["status", "--json"])
        #expect(status.status == 0, "the installed program finds its files relative to itself: \(status.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        let configuration = try #require(report["configuration"] as? [String: Any])
        let id = try #require(configuration["clientID"] as? String)
        let service = "jump-client-\(id).service"
        #expect(configuration["serviceUnit"] as? String == service)
        let unitFiles = try FileManager.default.contentsOfDirectory(atPath: systemd.units.path).sorted()
        #expect(unitFiles == ["jump-client-\(id)-lease.service", "jump-client-\(id)-lease.timer", service])
        #expect(systemd.calls == ["systemctl daemon-reload", "systemctl enable --now \(service) jump-client-\(id)-lease.timer"])
        let unit = try String(contentsOf: systemd.units.appendingPathComponent(service), encoding: .utf8)
        #expect(unit.contains("ExecStart=\(program.path) run --dir \(directory.path)"))
        #expect(unit.contains("Type=notify"))

        if Self.systemdAnalyze {
            for file in unitFiles {
                let verify = try ProgramTests.run("/usr/bin/systemd-analyze", ["verify", systemd.units.appendingPathComponent(file).path])
                #expect(verify.status == 0, "\(file): \(verify.error)\(verify.output)")
                #expect(!verify.error.contains(file), "no warnings about \(file): \(verify.error)")
            }
            let security = try ProgramTests.run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--root=/", systemd.units.appendingPathComponent(service).path])
            let score = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }.map(String.init) ?? security.error
            #expect(score.contains("OK") || score.contains("SAFE"), "\(score)")
            // The unit's system call filter admits what the agent's release of its start-up pages
            // calls (MappedFilePages): systemd is not PID 1 here, so no test runs the agent under it.
            let filters = unit.split(separator: "\n").filter { $0.hasPrefix("SystemCallFilter=") }.map { $0.dropFirst("SystemCallFilter=".count) }
            #expect(filters.count == 1 && filters.allSatisfy { !$0.hasPrefix("~") }, "one allow-list: \(filters)")
            var calls: Set<String> = []
            for entry in filters.flatMap({ $0.split(separator: " ") }).map(String.init) {
                if entry.hasPrefix("@") { calls.formUnion(try Self.systemCalls(inFilterGroup: entry)) } else { calls.insert(entry) }
            }
            for call in ["madvise", "pread64", "userfaultfd", "ioctl"] {
                #expect(calls.contains(call), "the unit's SystemCallFilter lacks \(call)")
            }
        }

        // The appliance shows the name given at install.
        let list = try appliance.jumpctl(["client", "show", id, "--json"])
        #expect(list.output.contains("\"name\" : \"lab-pi\""))

        // An unprivileged user asks the running agent; with none running, the answer says so.
        #expect(try appliance.jumpctl(["settings", "set", "restrict-local-uninstall", "true"]).status == 0)
        let statePath = directory.appendingPathComponent("var/state.json")
        var state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: statePath)) as? [String: Any])
        state["restrictLocalUninstall"] = true
        try JSONSerialization.data(withJSONObject: state).write(to: statePath)
        let asNobody = try ProgramTests.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", program.path, "uninstall", "--dir", directory.path])
        // Without a running agent to ask, only root can.
        #expect(asNobody.status == 69, "\(asNobody.error)")
        #expect(asNobody.error.contains("is not running, so only root can uninstall it"), "\(asNobody.error)")
        #expect(FileManager.default.fileExists(atPath: program.path), "nothing was removed")

        // Root uninstalls: the units are stopped, disabled and removed, and the directory is gone.
        let uninstalled = try ProgramTests.run(program.path, ["uninstall"], environment: systemd.environment)
        #expect(uninstalled.status == 0, "\(uninstalled.error)")
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: systemd.units.path).isEmpty)
        #expect(systemd.calls.suffix(3) == ["systemctl stop \(service)", "systemctl disable --now jump-client-\(id)-lease.timer \(service)", "systemctl daemon-reload"])
        // The appliance was told, and keeps it as uninstalled (its default "uninstalled behaviour").
        #expect(uninstalled.output.contains("the appliance was told"), "\(uninstalled.output)")
        let shown = try appliance.jumpctl(["client", "show", id, "--json"])
        #expect(shown.output.contains("\"status\" : \"uninstalled\""), "\(shown.output)")
        let audit = try appliance.jumpctl(["audit", "list", "--json"])
        #expect(audit.output.contains("client.local-uninstall"))
    }

    /// The console user uninstalls through the running agent's control socket: refused while the
    /// appliance restricts it, refused to a user who is not at the console, done for the console user
    /// (logind mocked on a private system bus says who that is), and the appliance is told.
    @Test(.enabled(if: PrivateSystemBus.available, "needs dbus-daemon and python3-dbusmock (make test installs them)"))
    func theConsoleUserMayUninstallUnlessRestricted() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        #expect(try appliance.jumpctl(["settings", "set", "restrict-local-uninstall", "true"]).status == 0)
        let systemd = try Systemd(in: appliance.directory)
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 65534, user: "nobody")
        let directory = appliance.directory.appendingPathComponent("agent")
        let installed = try ProgramTests.run("jump-agent", ["install", "--installer", try Self.installer(appliance).path, "--install-dir", directory.path, "--no-service"], environment: systemd.environment)
        #expect(installed.status == 0, "\(installed.error)")
        let program = directory.appendingPathComponent("bin/jump-agent")
        let agent = Process()
        agent.executableURL = program
        agent.arguments = ["run", "--log-level", "warning"]
        agent.environment = systemd.environment.merging(["PATH": "/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS": bus.address]) { $1 }
        agent.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try agent.run()
        defer { if agent.isRunning { agent.killAndReap() } }
        let socket = directory.appendingPathComponent("run/control.sock").path
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(25)) }

        func ask(_ uid: Int) throws -> ProgramTests.Result {
            try ProgramTests.run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", program.path, "uninstall", "--dir", directory.path])
        }
        let restricted = try ask(65534)
        #expect(restricted.status == 77, "\(restricted.error)")
        #expect(restricted.error.contains("restricts local uninstall"), "\(restricted.error)")

        // The appliance lifts the restriction; the agent hears it at once.
        #expect(try appliance.jumpctl(["settings", "set", "restrict-local-uninstall", "false"]).status == 0)
        let statePath = directory.appendingPathComponent("var/state.json")
        for _ in 0..<200 {
            let state = (try? Data(contentsOf: statePath)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            if state?["restrictLocalUninstall"] as? Bool == false { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        let stranger = try ask(65533)
        #expect(stranger.status == 77)
        #expect(stranger.error.contains("only the user at the console or root"), "\(stranger.error)")
        #expect(FileManager.default.fileExists(atPath: program.path))

        let consoleUser = try ask(65534)
        #expect(consoleUser.status == 0, "\(consoleUser.error)")
        #expect(consoleUser.output.contains("uninstalls itself"))
        for _ in 0..<400 where agent.isRunning { try await Task.sleep(for: .milliseconds(25)) }
        #expect(!agent.isRunning)
        #expect(!FileManager.default.fileExists(atPath: directory.path), "everything the install created is gone")
        let list = try appliance.jumpctl(["client", "list", "--json"])
        #expect(list.output.contains("\"status\" : \"uninstalled\""), "\(list.output)")
    }

    /// The offline lease with real clocks and a real restart: an agent a few seconds short of its
    /// deletion period cannot reach its appliance, is stopped and started again, and uninstalls
    /// itself when the period is up.
    @Test func anAgentOutOfContactForTheDeletionPeriodUninstallsItself() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        #expect(try appliance.jumpctl(["settings", "set", "delete-days", "15"]).status == 0)
        let systemd = try Systemd(in: appliance.directory)
        let directory = appliance.directory.appendingPathComponent("agent")
        let installer = try Self.installer(appliance)
        let installed = try ProgramTests.run("jump-agent", ["install", "--installer", installer.path, "--install-dir", directory.path, "--no-service"], environment: systemd.environment)
        #expect(installed.status == 0, "\(installed.error)")
        #expect(appliance.stop() == 0)

        // Fifteen days less `margin` seconds without contact, counted up to this moment of this boot: time
        // for the first run to start, save and stop before the period is up on a loaded machine (twelve
        // seconds were not always enough with other suites running beside it, as `swift test` runs
        // them without --no-parallel).
        let margin = 25
        let statePath = directory.appendingPathComponent("var/state.json")
        var state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: statePath)) as? [String: Any])
        #expect(state["deleteAfterDays"] as? Int == 15)
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let uptime = try #require(Double(String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ")[0]))
        var lease = try #require(state["lease"] as? [String: Any])
        lease["offlineSeconds"] = 15 * 86_400 - margin
        lease["checkpointBootID"] = bootID
        lease["checkpointSinceBoot"] = uptime
        state["lease"] = lease
        try JSONSerialization.data(withJSONObject: state).write(to: statePath)

        let program = directory.appendingPathComponent("bin/jump-agent")
        func start(_ extra: [String: String] = [:]) throws -> Process {
            let agent = Process()
            agent.executableURL = program
            agent.arguments = ["run", "--log-level", "warning"]
            agent.environment = systemd.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }.merging(extra) { $1 }
            agent.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try agent.run()
            return agent
        }
        func offlineSeconds() -> Double? {
            let data = try? Data(contentsOf: statePath)
            let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return (object?["lease"] as? [String: Any])?["offlineSeconds"] as? Double
        }

        // First run, as systemd would start it: it says it is ready and pings the watchdog; it
        // counts and saves, and stops cleanly on SIGTERM, saying so.
        let notifications = try NotifySocket(path: appliance.directory.appendingPathComponent("notify").path)
        let first = try start(["NOTIFY_SOCKET": notifications.path, "WATCHDOG_USEC": "200000"])
        #expect(notifications.receive() == "READY=1")
        #expect(notifications.receive() == "WATCHDOG=1")
        for _ in 0..<100 where (offlineSeconds() ?? 0) <= Double(15 * 86_400 - margin) {
            try await Task.sleep(for: .milliseconds(50))
        }
        first.terminate()
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        var stopping = notifications.receive()
        while stopping == "WATCHDOG=1" { stopping = notifications.receive() }
        #expect(stopping == "STOPPING=1")
        #expect(FileManager.default.fileExists(atPath: program.path), "not yet")

        // Second run: within `margin` seconds the period is up; it uninstalls itself and exits 3. It checks the
        // lease before each connection attempt, and its waits between attempts grow (1, 2, 4, 8, 16 s at
        // most): allow a minute.
        let second = try start()
        for _ in 0..<1200 where second.isRunning {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(!second.isRunning, "the agent did not uninstall itself in time")
        #expect(second.terminationStatus == 3)
        #expect(!FileManager.default.fileExists(atPath: directory.path), "everything the install created is gone")
    }
}


/// What systemd listens on for sd_notify: a datagram socket; each receive waits at most five seconds.
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw ApplianceProgramTests.TestError("cannot bind \(path)") }
        // SO_RCVTIMEO: a struct timeval is two longs (seconds, microseconds) on 64-bit Linux.
        var timeout: (Int, Int) = (5, 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<(Int, Int)>.size))
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}
