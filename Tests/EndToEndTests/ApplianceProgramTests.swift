import Foundation
import JumpAgentLinux
import JumpTestSupport
import NIOCore
import NIOPosix
import Testing

/// The appliance, jumpctl and the agent as a person uses them: real binaries, real TLS, loopback.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ApplianceProgramTests {
    /// A running jump-server in a temporary data directory.
    final class Appliance {
        let directory: URL
        let agentPort: Int
        let apiPort: Int
        let process: Process
        let config: URL

        /// Starts jump-server with its options on the command line, or all of them in a configuration file.
        init(useConfigurationFile: Bool = false) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("jump-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            config = directory.appendingPathComponent("jumpctl")
            agentPort = try freePort()
            apiPort = try freePort()
            process = Process()
            process.executableURL = ProgramTests.binDirectory.appendingPathComponent("jump-server")
            let data = directory.appendingPathComponent("data").path
            if useConfigurationFile {
                let file = directory.appendingPathComponent("jump-server.conf")
                try """
                    # the appliance for a test
                    data-dir = \(data)
                    agent-listen = 127.0.0.1:\(agentPort)
                    api-listen = "127.0.0.1:\(apiPort)"
                    agent-threads = 2
                    agent-coalescing-ms = 5
                    """.write(to: file, atomically: true, encoding: .utf8)
                process.arguments = ["run", "--config", file.path, "--log-level", "warning"]
            } else {
                process.arguments = [
                    "run", "--data-dir", data,
                    "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)", "--log-level", "warning",
                ]
            }
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        var data: URL { directory.appendingPathComponent("data") }
        var server: String { "https://127.0.0.1:\(apiPort)" }

        func jumpctl(_ arguments: [String], input: String? = nil) throws -> ProgramTests.Result {
            try run("jumpctl", arguments, input: input, environment: ["XDG_CONFIG_HOME": config.path])
        }

        /// Logs in as admin, retrying while the appliance starts.
        func login() async throws {
            for _ in 0..<100 {
                if let password = try? String(contentsOf: data.appendingPathComponent("initial-admin-password"), encoding: .utf8),
                    try jumpctl(["login", "--server", server, "--user", "admin", "--ca", data.appendingPathComponent("ca.pem").path], input: password).status == 0
                {
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestError("the appliance did not start")
        }

        func stop() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    struct TestError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func run(_ program: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> ProgramTests.Result {
        try ProgramTests.run(program, arguments, input: input, environment: environment)
    }

    /// A TCP port free on 127.0.0.1 now: bound by the kernel's choice, then closed (as
    /// jump-bench-offline finds a closed port).
    static func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? socket.close().wait() }
        return socket.localAddress!.port!
    }

    /// The names of a process's threads (/proc/PID/task/TID/comm).
    static func threadNames(of process: Int32) throws -> [String] {
        let tasks = "/proc/\(process)/task"
        return try FileManager.default.contentsOfDirectory(atPath: tasks).map {
            try String(contentsOfFile: "\(tasks)/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        }
    }

    @Test func administerEnrollReportDeleteAndVerify() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()

        // Settings out of range are refused with the range (exit 65).
        let tooFast = try appliance.jumpctl(["settings", "set", "connection-rate", "500"])
        #expect(tooFast.status == 65)
        #expect(tooFast.error.contains("must be from 1 to 300"))
        #expect(try appliance.jumpctl(["settings", "set", "delete-days", "14"]).status == 65)
        #expect(try appliance.jumpctl(["settings", "set", "statistics-interval", "10"]).status == 0)
        let settings = try appliance.jumpctl(["settings", "list", "--json"])
        #expect(settings.output.contains("\"key\" : \"connection-rate\""))

        // An installer for one Jump Client; its file is private.
        let installer = appliance.directory.appendingPathComponent("installer.json")
        let created = try appliance.jumpctl([
            "installer", "create", "--group", "Default", "--output", installer.path, "--max-uses", "1",
            "--allow-override", "name,install-dir", "--expires", "1h",
        ])
        #expect(created.status == 0, "\(created.error)")
        let mode = try FileManager.default.attributesOfItem(atPath: installer.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // Enroll with a hostile name, which must be stored and shown as given.
        let hostile = "Robert'); DROP TABLE client;--"
        let agentDirectory = appliance.directory.appendingPathComponent("agent")
        let enrolled = try Self.run("jump-agent", ["enroll", "--installer", installer.path, "--dir", agentDirectory.path, "--name", hostile])
        #expect(enrolled.status == 0, "\(enrolled.error)")

        // The installer is used up now.
        let again = try Self.run("jump-agent", ["enroll", "--installer", installer.path, "--dir", appliance.directory.appendingPathComponent("agent2").path])
        #expect(again.status == 77)
        #expect(again.error.contains("limit"))

        // Run the agent; it shows online with statistics.
        let agent = Process()
        agent.executableURL = ProgramTests.binDirectory.appendingPathComponent("jump-agent")
        agent.arguments = ["run", "--dir", agentDirectory.path, "--log-level", "debug"]
        let agentLog = appliance.directory.appendingPathComponent("jump-agent.log")
        try #require(FileManager.default.createFile(atPath: agentLog.path, contents: nil))
        agent.standardError = try FileHandle(forWritingTo: agentLog)
        try agent.run()
        defer { if agent.isRunning { agent.terminate() } }
        var listing: [[String: Any]] = []
        for _ in 0..<100 {
            let list = try appliance.jumpctl(["client", "list", "--json"])
            listing = (try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]) ?? []
            if listing.first?["status"] as? String == "online", listing.first?["statisticsAt"] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let client = try #require(listing.first)
        #expect(client["status"] as? String == "online")
        #expect(client["name"] as? String == hostile)
        #expect(client["group"] as? String == "Default")
        #expect(client["uptimeSeconds"] as? Int ?? 0 > 0)
        #expect((client["disks"] as? [Any])?.isEmpty == false)
        let id = try #require(client["id"] as? String)

        // Once the appliance acknowledged the first report, the agent let go of the file pages that
        // start-up mapped (MappedFilePages); what follows runs on pages faulted in again.
        var released: Substring?
        for _ in 0..<100 {
            let log = (try? String(contentsOf: agentLog, encoding: .utf8)) ?? ""
            released = log.split(separator: "\n").first { $0.contains("released the file pages start-up mapped") }
            if released != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        /// The number a `key=value` field of the release line holds.
        func number(_ key: String) -> Int? {
            released.flatMap { line in line.split(separator: " ").first { $0.hasPrefix(key + "=") }.flatMap { Int($0.dropFirst(key.count + 1)) } }
        }
        let kibibytes = number("KiB")
        #expect((kibibytes ?? 0) > 1024, "\(released ?? "no release in the agent's log")")
        // Where the kernel offers it (Linux 6.7 and later), the released mappings fault a page at a
        // time (no fault-around).
        if MappedFilePages.kernelOffersSinglePageFaults {
            #expect((number("singlePageMappings") ?? 0) > 10, "\(released ?? "no release in the agent's log")")
            #expect(released?.contains("singlePageError=none") == true, "\(released ?? "no release in the agent's log")")
        }

        // The agent's tasks ran on its one NIO event loop, its blocking work on its own thread: no
        // worker of libdispatch's global (non-overcommit) queues was started, whose first one would
        // start the pool monitor that wakes the process every second. Such a worker is named for its
        // queue ("com.apple.root.default-qos", the last 15 characters) and idles 5 s before it exits;
        // the first report's collection and the wait after it are within that.
        let threads = try Self.threadNames(of: agent.processIdentifier)
        #expect(!threads.contains { $0.hasSuffix("-qos") }, "\(threads)")
        #expect(threads.filter { $0.hasPrefix("NIO-") }.count == 1, "\(threads)")

        // Wake-on-LAN needs another Jump Client on the network: alone, the answer says so (65);
        // right after an attempt the action rests (75); a malformed password never leaves jumpctl (64).
        let wake = try appliance.jumpctl(["client", "wake", id])
        #expect(wake.status == 65, "\(wake.error)")
        #expect(wake.error.contains("can relay") || wake.error.contains("has not reported its network"), "\(wake.error)")
        let resting = try appliance.jumpctl(["client", "wake", id])
        #expect(resting.status == 75, "\(resting.error)")
        #expect(resting.error.contains("try again in"))
        #expect(try appliance.jumpctl(["client", "wake", id, "--password", "zz"]).status == 64)

        // Deleted: the running agent is told and exits 3; the audit chain is intact.
        #expect(try appliance.jumpctl(["client", "delete", id]).status == 0)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 3)
        let verify = try appliance.jumpctl(["audit", "verify"])
        #expect(verify.status == 0)
        #expect(verify.output.contains("intact"))
        #expect(try appliance.jumpctl(["client", "show", id]).status == 66)

        #expect(appliance.stop() == 0, "a clean shutdown on SIGTERM")
    }

    /// A representative's view of a desktop: logind (mocked on a private system bus) says nobody's
    /// X11 session on an Xvfb display is in front; the agent finds the display's cookie, captures as
    /// nobody, and the appliance hands the picture and the screen state to jumpctl.
    @Test(.enabled(if: XvfbServer.available && PrivateSystemBus.available, "needs Xvfb and python3-dbusmock (make test installs them)"))
    func aDesktopsThumbnailReachesTheAdministrator() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        let screen = try XvfbServer()
        try screen.fillGrid(columns: 2, rows: 2, [0xE0_2020, 0x20_C040, 0x20_40E0, 0xF0_F0F0])
        let bus = try PrivateSystemBus()
        try bus.startLogind()
        try bus.addSession("c1", uid: 65534, user: "nobody")
        try bus.setSession("c1", "Type", "string:x11")
        try bus.setSession("c1", "Display", "string:\(screen.display)")
        let desktop = try screen.userProgram(uid: 65534)
        defer { desktop.killAndReap() }

        let installer = appliance.directory.appendingPathComponent("installer.json")
        #expect(try appliance.jumpctl(["installer", "create", "--group", "Default", "--output", installer.path, "--expires", "1h", "--allow-override", "install-dir"]).status == 0)
        let agentDirectory = appliance.directory.appendingPathComponent("agent")
        let enrolled = try Self.run("jump-agent", ["enroll", "--installer", installer.path, "--dir", agentDirectory.path])
        #expect(enrolled.status == 0, "\(enrolled.error)")
        let agent = Process()
        agent.executableURL = ProgramTests.binDirectory.appendingPathComponent("jump-agent")
        agent.arguments = ["run", "--dir", agentDirectory.path, "--log-level", "warning"]
        agent.environment = ["DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PATH": "/usr/bin:/bin"]
        agent.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try agent.run()
        defer { if agent.isRunning { agent.killAndReap() } }

        var client: [String: Any] = [:]
        for _ in 0..<100 {
            let list = try appliance.jumpctl(["client", "list", "--json"])
            client = ((try? JSONSerialization.jsonObject(with: Data(list.output.utf8))) as? [[String: Any]])?.first ?? [:]
            if client["thumbnail"] as? Bool == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(client["thumbnail"] as? Bool == true, "\(client)")
        #expect(client["presence"] as? Bool == true)
        #expect(client["consoleUser"] as? String == "nobody")
        #expect(client["sessionType"] as? String == "x11")
        #expect(client["screenSaver"] as? String == "inactive")
        #expect(client["locked"] as? Bool == false)
        let id = try #require(client["id"] as? String)

        let file = appliance.directory.appendingPathComponent("shot.jpg")
        let saved = try appliance.jumpctl(["client", "thumbnail", id, "-o", file.path])
        #expect(saved.status == 0, "\(saved.error)")
        let picture = try JPEG.decode(try Data(contentsOf: file))
        #expect(picture.width == 320 && picture.height == 180)
        let red = picture.pixel(x: 80, y: 45)
        let white = picture.pixel(x: 240, y: 135)
        #expect(red.red > 200 && red.green < 60 && red.blue < 60, "\(red)")
        #expect(white.red > 220 && white.green > 220 && white.blue > 220, "\(white)")
        let shown = try appliance.jumpctl(["client", "show", id])
        #expect(shown.output.contains("x11, unlocked, screen saver inactive"), "\(shown.output)")

        // SIGTERM stops the agent cleanly: it says goodbye, and the appliance shows it offline.
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationReason == .exit && agent.terminationStatus == 0)
        let after = try appliance.jumpctl(["client", "show", id, "--json"])
        #expect(after.output.contains("\"status\" : \"offline\""), "\(after.output)")
        withExtendedLifetime(screen) {}
    }

    static let opensslAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")

    @Test(.enabled(if: opensslAvailable, "needs openssl (Debian: openssl; make test installs it)"))
    func agentPortSpeaksTLS13OnlyAndAsksForAClientCertificate() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        let ca = appliance.data.appendingPathComponent("ca.pem").path
        let address = "127.0.0.1:\(appliance.agentPort)"

        let modern = try Self.run("/usr/bin/openssl", ["s_client", "-connect", address, "-tls1_3", "-alpn", "jump/1", "-CAfile", ca], input: "")
        #expect(modern.output.contains("TLSv1.3"))
        #expect(modern.output.contains("Acceptable client certificate CA names"))
        #expect(modern.output.contains("Verify return code: 0 (ok)"))
        #expect(modern.output.contains("ALPN protocol: jump/1"))
        // Debian 12's OpenSSL has no ML-KEM: the appliance, which agents reach with the hybrid
        // X25519MLKEM768, serves it with X25519 alone.
        #expect(modern.output.contains("Server Temp Key: X25519"), "\(modern.output)")

        let old = try Self.run("/usr/bin/openssl", ["s_client", "-connect", address, "-tls1_2", "-CAfile", ca], input: "")
        #expect(old.status != 0)
        #expect(old.output.contains("no peer certificate available"), "the handshake never got as far as a certificate")
        #expect(old.output.contains("Cipher is (NONE)"))
    }
}

extension ApplianceProgramTests {
    @Test func installersGroupsSessionsAndRefusals() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()

        // Groups.
        #expect(try appliance.jumpctl(["group", "create", "Kiosks", "--comments", "lobby screens"]).status == 0)
        let duplicate = try appliance.jumpctl(["group", "create", "Kiosks"])
        #expect(duplicate.status == 65)
        #expect(try appliance.jumpctl(["group", "list", "--json"]).output.contains("\"codeName\" : \"kiosks\""))

        // Installers: create, show, extend, download, delete; a deleted one cannot be downloaded.
        let file = appliance.directory.appendingPathComponent("i.json")
        #expect(try appliance.jumpctl(["installer", "create", "--group", "Kiosks", "--output", file.path, "--expires", "2h", "--allow-override", "install-dir", "--json"]).status == 0)
        let listed = try appliance.jumpctl(["installer", "list", "--json"])
        let installers = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]]
        let id = try #require(installers?.first?["id"] as? String)
        #expect(installers?.first?["maxUses"] == nil, "unlimited by default")
        #expect(try appliance.jumpctl(["installer", "show", id]).output.contains("Kiosks"))
        #expect(try appliance.jumpctl(["installer", "extend", id, "--expires", "30d"]).status == 0)
        let again = appliance.directory.appendingPathComponent("again.json")
        #expect(try appliance.jumpctl(["installer", "download", id, "--output", again.path]).status == 0)
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        let downloaded = try JSONSerialization.jsonObject(with: Data(contentsOf: again)) as? [String: Any]
        #expect(original?["token"] as? String == downloaded?["token"] as? String, "the same installer gives the same token")
        #expect(try appliance.jumpctl(["installer", "delete", id]).status == 0)
        #expect(try appliance.jumpctl(["installer", "download", id, "--output", again.path]).status == 66)
        let refused = try Self.run("jump-agent", ["enroll", "--installer", file.path, "--dir", appliance.directory.appendingPathComponent("a").path])
        #expect(refused.status == 77, "a deleted installer's token stops working at once")

        // Bad arguments are usage errors, before anything reaches the appliance.
        #expect(try appliance.jumpctl(["installer", "create", "--group", "Kiosks", "--output", file.path, "--expires", "soon"]).status == 64)
        #expect(try appliance.jumpctl(["installer", "create", "--group", "Nowhere", "--output", file.path]).status == 65)
        let invalid = try Self.run(
            "/bin/sh",
            ["-c", "exec \"$0\" group create \"$(printf 'caf\\351')\"", ProgramTests.binDirectory.appendingPathComponent("jumpctl").path],
            environment: ["XDG_CONFIG_HOME": appliance.config.path]
        )
        #expect(invalid.status == 64)
        #expect(invalid.error.contains("not valid UTF-8"))

        // Thumbnails: none sent yet.
        #expect(try appliance.jumpctl(["client", "thumbnail", "jc-0000000000000000", "--output", "/dev/null"]).status == 66)

        // Logging out ends the session; a wrong password is refused and audited.
        #expect(try appliance.jumpctl(["logout"]).status == 0)
        #expect(try appliance.jumpctl(["client", "list"]).status == 77)
        let wrong = try appliance.jumpctl(
            ["login", "--server", appliance.server, "--user", "admin", "--ca", appliance.data.appendingPathComponent("ca.pem").path],
            input: "not-the-password\n"
        )
        #expect(wrong.status == 77)
        try await appliance.login()
        let audit = try appliance.jumpctl(["audit", "list", "--limit", "1000", "--json"]).output
        #expect(audit.contains("user.login-failed"))
        #expect(audit.contains("installer.delete"))
        #expect(audit.contains("group.create"))
    }

    static let curlAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")

    @Test(.enabled(if: curlAvailable, "needs curl (Debian: curl; make test installs it)"))
    func theOpenAPIDocumentIsServed() async throws {
        let appliance = try Appliance()
        defer { _ = appliance.stop() }
        try await appliance.login()
        let fetched = try Self.run(
            "/usr/bin/curl",
            ["-s", "--cacert", appliance.data.appendingPathComponent("ca.pem").path, "\(appliance.server)/api/v1/openapi.yaml"]
        )
        #expect(fetched.output.hasPrefix("openapi: 3.1.0"))
    }
}

extension ApplianceProgramTests {
    @Test func aConfigurationFileSetsTheListeners() async throws {
        let appliance = try Appliance(useConfigurationFile: true)
        defer { _ = appliance.stop() }
        try await appliance.login()
        #expect(try appliance.jumpctl(["settings", "get", "connection-rate"]).output == "50\n")
    }

    @Test func badConfigurationIsAUsageError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).conf")
        try "data-dir = /tmp/x\ncolour = blue\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Self.run("jump-server", ["run", "--config", file.path])
        #expect(result.status == 64)
        #expect(result.error.contains("line 2: unknown key 'colour'"))
        let noDirectory = try Self.run("jump-server", ["run"])
        #expect(noDirectory.status == 64)
        #expect(noDirectory.error.contains("--data-dir"))
        let badAddress = try Self.run("jump-server", ["run", "--data-dir", "/tmp/x", "--agent-listen", "nowhere"])
        #expect(badAddress.status == 64)
        #expect(badAddress.error.contains("'nowhere' is not HOST:PORT"))
        for threads in ["0", "65", "two"] {
            let badThreads = try Self.run("jump-server", ["run", "--data-dir", "/tmp/x", "--agent-threads", threads])
            #expect(badThreads.status == 64)
            #expect(badThreads.error.contains("agent-threads: '\(threads)' is not a number of threads from 1 to 64"))
        }
        for delay in ["21", "20.5", "2ms"] {
            let badDelay = try Self.run("jump-server", ["run", "--data-dir", "/tmp/x", "--agent-coalescing-ms", delay])
            #expect(badDelay.status == 64)
            #expect(badDelay.error.contains("agent-coalescing-ms: '\(delay)' is not a number of milliseconds from 0 to 20"))
        }
    }
}
