import ArgumentParser
import Foundation
import JumpPolicy

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "The session policy simulator: what a user could do in a session, and the rule that decides each.",
        discussion: """
            For a representative and a session start method (jump: unattended, to a Jump Client; \
            attended: customer-initiated), every session permission is shown allowed or denied with the \
            session policy and level that decided it. Levels are consulted highest first: the Jump \
            Client's Customer Present or Not Present policy, the policy a group policy sets, the policy \
            on the user's account, the global default; Not Defined falls through to the next.

            With --client it also shows the user's Jump Item role on that Jump Client and where it came \
            from (the Jump Group page, a group policy, or the user's default or system role), each \
            permission of that role, and the client's Jump Policy: whether its schedule permits a \
            session at --at (default: now), the next time that answer changes, the forced end, and \
            the ticket ID, MFA and simultaneous Jump rules.

            Customer presence is taken from the client's latest statistics (and the \
            screen-state-presence setting) unless --customer-present or --customer-absent says.

            If the simulator says a user may pin and unpin but cannot in practice, check that the \
            user's Jump Item role on the client grants create-and-deploy.

            Example: jumpctl simulate --user alice --method jump --client jc-0123456789abcdef \
            --at 2025-06-02T07:30:00Z
            """
    )

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case jump, attended
    }

    enum Presence: String, EnumerableFlag {
        case customerPresent
        case customerAbsent

        static func help(for value: Presence) -> ArgumentHelp? {
            switch value {
            case .customerPresent: "Simulate with the customer present."
            case .customerAbsent: "Simulate with the customer not present."
            }
        }
    }

    @Option(help: "The representative's user name.") var user: String
    @Option(help: "How the session starts: jump or attended.") var method: Method
    @Option(help: "A Jump Client's id (or its name, when unique).") var client: String?
    @Flag(help: "Customer presence (default: from the client's statistics).") var presence: Presence?
    @Option(help: "The instant to simulate, ISO 8601 (e.g. 2025-06-02T09:30:00Z or ...+02:00; default: now).")
    var at: String?
    @Flag(help: "Print the SimulationReport as JSON.") var json = false

    struct Question: Encodable {
        var user: String
        var method: String
        var client: String?
        var customerPresent: Bool?
        var at: Date?
    }

    static func parseInstant(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds],
            [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate, .withTimeZone],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        throw CLIError.usage("'\(text)' is not an ISO 8601 time with a zone; write e.g. 2025-06-02T09:30:00Z")
    }

    func run() async throws {
        try await runReportingErrors {
            try checkArgumentsAreUTF8()
            let instant = try at.map(Self.parseInstant)
            let api = try Session.load().client()
            let clientID = try await client.asyncMap { try await PolicyNames(client: api).client($0) }
            let question = Question(
                user: user,
                method: method.rawValue,
                client: clientID,
                customerPresent: presence.map { $0 == .customerPresent },
                at: instant
            )
            let response = try await api.checked { try await api.post("/simulate", encoding: question) }
            if json { return try Output.json(response.body) }
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            Self.printReport(try decoder.decode(SimulationReport.self, from: response.body))
        }
    }

    /// Instants with their zone, so that they can be compared with the schedule's local times in the explanation.
    static func utc(_ date: Date) -> String { date.formatted(.iso8601) }

    static func presenceText(_ question: SimulationReport.Question) -> String {
        let state = question.customerPresent ? "customer present" : "customer not present"
        switch question.customerPresence {
        case .given: return "\(state) (as given)"
        case .statistics(let at, let screen):
            return "\(state) (statistics of \(utc(at))\(screen ? ", screen state used" : ""))"
        case .unknown: return "\(state) (no statistics tell; taken as not present)"
        case .notApplicable: return "presence does not apply"
        }
    }

    static func printReport(_ report: SimulationReport) {
        let question = report.question
        printFields([
            ("user", question.user.name),
            ("method", question.method == .jump ? "jump (unattended)" : "attended"),
            ("Jump Client", question.jumpItem?.rawValue ?? "none"),
            ("presence", presenceText(question)),
            ("at", utc(question.at)),
        ])
        print("")
        Output.table(
            ["PERMISSION", "OUTCOME", "DECIDED BY"],
            report.permissions.map {
                [
                    $0.permission.commandLineName, $0.decision.isAllowed ? "allow" : "deny",
                    Explain.rule($0.decision.rule),
                ]
            }
        )
        print("")
        for permission in report.permissions {
            print("\(permission.permission.commandLineName): \(permission.decision.explanation)")
        }
        print("")
        print("Session policies, highest precedence first:")
        for applied in report.appliedPolicies {
            print("  \(Explain.level(applied.level)): \(applied.policy.name)")
        }
        if let role = report.jumpItemRole {
            print("")
            print("Jump Item role: \(role.role.name) (\(Explain.roleSource(role.source)))")
            print("  \(role.explanation)")
            let granted = report.jumpItemPermissions.filter(\.granted).map(\.permission.commandLineName)
            let missing = report.jumpItemPermissions.filter { !$0.granted }.map(\.permission.commandLineName)
            print("  grants: \(granted.isEmpty ? "nothing" : granted.joined(separator: ", "))")
            if !missing.isEmpty { print("  lacks: \(missing.joined(separator: ", "))") }
        }
        if let policy = report.jumpPolicy {
            print("")
            var lines: [(String, String)] = [
                ("Jump Policy", policy.policy.name),
                (
                    "schedule",
                    !policy.scheduleEnabled
                        ? "none (any time)"
                        : (policy.schedulePermits ? "permits" : "does not permit")
                            + " a session then (\(policy.timeZone))"
                ),
            ]
            if policy.scheduleEnabled {
                lines.append(("next change", policy.nextChange.map(utc) ?? "never"))
                if !policy.schedulePermits {
                    lines.append(("override", policy.overrideSchedule.isAllowed ? "permitted" : "not permitted"))
                }
            }
            lines += [
                ("force end", policy.forceEnd.map { utc($0.end) } ?? "none"),
                ("ticket ID", policy.requireTicketID ? "required" : "not required"),
                ("MFA", policy.requireMFA ? "required" : "not required"),
                (
                    "simultaneous",
                    JumpPolicyCommand.Simultaneous(policy.simultaneousJumps).rawValue
                        + (policy.simultaneousJumpsAllowed ? " (allowed)" : " (not allowed)")
                ),
            ]
            printFields(lines)
            print(policy.explanation)
        }
    }
}
