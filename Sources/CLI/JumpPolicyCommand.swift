import ArgumentParser
import Foundation
import JumpPolicy

struct JumpPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump-policy",
        abstract: "Jump Policies: when the Jump Clients they are applied to may be reached, and on what conditions.",
        discussion: """
            A Jump Policy takes effect once it is applied to a Jump Client (jumpctl client access ID \
            --jump-policy NAME, or an installer's --jump-policy). Its schedule is a list of weekly windows \
            in one time zone (an IANA name such as Europe/Berlin, looked up in the appliance's tz \
            database): a session may start only inside a window. With --force-end, sessions are ended \
            when the window closes, after notices from 15 minutes before. It can also require a ticket \
            ID, a multi-factor check, and allow or disallow simultaneous Jumps (global: follow the \
            simultaneous-jumps setting).

            Schedule entries: "DAY HH:MM-DAY HH:MM" or "DAY HH:MM-HH:MM", days mon..sun, 24-hour times; an \
            end not after its start wraps round the week ("fri 22:00-mon 06:00"). A disabled schedule \
            (--no-schedule) permits every time; an enabled one with no entries permits none.

            Example: jumpctl jump-policy create "Office hours" --time-zone Europe/Berlin \
            --entry "mon 08:00-fri 18:00" --force-end --require-ticket
            """,
        subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self]
    )

    enum ScheduleSwitch: String, EnumerableFlag {
        case scheduleEnabled
        case noSchedule

        static func help(for value: ScheduleSwitch) -> ArgumentHelp? {
            switch value {
            case .scheduleEnabled: "Enforce the schedule."
            case .noSchedule: "Do not enforce a schedule (the entries are kept)."
            }
        }
    }

    enum Simultaneous: String, ExpressibleByArgument, CaseIterable {
        case allow, disallow, global

        var value: JumpPolicy.SimultaneousJumps {
            switch self {
            case .allow: .allow
            case .disallow: .disallow
            case .global: .useGlobalSetting
            }
        }

        init(_ value: JumpPolicy.SimultaneousJumps) {
            switch value {
            case .allow: self = .allow
            case .disallow: self = .disallow
            case .useGlobalSetting: self = .global
            }
        }
    }

    static func scheduleText(_ schedule: AccessSchedule) -> String {
        guard schedule.enabled else { return "none" }
        let entries = schedule.entries.map(ScheduleText.text)
        return "\(schedule.timeZone): " + (entries.isEmpty ? "no entries (never)" : entries.joined(separator: ", "))
    }

    static func codeName(from name: String) -> String {
        let lowered = name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return String(lowered).split(separator: "-", omittingEmptySubsequences: true).joined(separator: "-")
    }

    static func printPolicy(_ policy: JumpPolicy) {
        var lines: [(String, String)] = [
            ("id", "\(policy.id)"), ("name", policy.name), ("code name", policy.codeName),
            ("description", policy.description),
            ("schedule", policy.schedule.enabled ? "enabled" : "disabled (every time is permitted)"),
            ("time zone", policy.schedule.timeZone),
        ]
        lines += policy.schedule.entries.enumerated().map { ("entry \($0.offset + 1)", ScheduleText.text($0.element)) }
        lines += [
            ("force end", policy.forceEndAtScheduleEnd ? "yes, when the window closes" : "no"),
            ("ticket ID", policy.requireTicketID ? "required" : "not required"),
            ("MFA", policy.requireMFA ? "required" : "not required"),
            ("simultaneous", Simultaneous(policy.simultaneousJumps).rawValue),
        ]
        printFields(lines)
    }

    /// The options create and update share.
    struct Settings: ParsableArguments {
        @Option(help: "The schedule's time zone: an IANA name such as Europe/Berlin or UTC.") var timeZone: String?
        @Option(help: "A schedule window, e.g. \"mon 08:00-fri 18:00\"; repeatable. Replaces the entries.")
        var entry: [String] = []
        @Flag(help: "Whether the schedule is enforced.") var schedule: ScheduleSwitch?
        @Flag(inversion: .prefixedNo, help: "End sessions when the schedule's window closes.") var forceEnd: Bool?
        @Flag(inversion: .prefixedNo, help: "Require a ticket ID before a session starts.") var requireTicket: Bool?
        @Flag(inversion: .prefixedNo, help: "Require multi-factor authentication before a session starts.")
        var requireMfa: Bool?
        @Option(help: "Simultaneous Jumps: allow, disallow, or global (the appliance's setting).")
        var simultaneous: Simultaneous?
        @Option(help: "A code name for integrations.") var codeName: String?
        @Option(help: "What the policy is for.") var description: String?

        func apply(to policy: inout JumpPolicy) throws {
            if let timeZone { policy.schedule.timeZone = timeZone }
            if !entry.isEmpty { policy.schedule.entries = try entry.map(ScheduleText.entry) }
            if let schedule { policy.schedule.enabled = schedule == .scheduleEnabled }
            if let forceEnd { policy.forceEndAtScheduleEnd = forceEnd }
            if let requireTicket { policy.requireTicketID = requireTicket }
            if let requireMfa { policy.requireMFA = requireMfa }
            if let simultaneous { policy.simultaneousJumps = simultaneous.value }
            if let codeName { policy.codeName = codeName }
            if let description { policy.description = description }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List Jump Policies.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                let client = try Session.load().client()
                let response = try await client.checked { try await client.get("/jump-policies") }
                if json { return try Output.json(response.body) }
                let policies = try JSONDecoder().decode([JumpPolicy].self, from: response.body)
                Output.table(
                    ["ID", "NAME", "FORCE END", "TICKET", "MFA", "SIMULTANEOUS", "SCHEDULE"],
                    policies.map {
                        [
                            "\($0.id)", $0.name, $0.forceEndAtScheduleEnd ? "yes" : "no",
                            $0.requireTicketID ? "yes" : "no",
                            $0.requireMFA ? "yes" : "no", Simultaneous($0.simultaneousJumps).rawValue,
                            JumpPolicyCommand.scheduleText($0.schedule),
                        ]
                    }
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a Jump Policy.")
        @Argument(help: "The policy's name or id.") var policy: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).jumpPolicy(policy)
                let response = try await client.checked { try await client.get("/jump-policies/\(id)") }
                if json { return try Output.json(response.body) }
                JumpPolicyCommand.printPolicy(try JSONDecoder().decode(JumpPolicy.self, from: response.body))
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a Jump Policy.",
            discussion: """
                The schedule is enforced when --entry is given, unless --no-schedule says otherwise; \
                --time-zone is then required. The appliance refuses (exit 65) a time zone its tz database \
                does not hold.
                """
        )
        @Argument(help: "The policy's name (unique).") var name: String
        @OptionGroup var settings: Settings
        @Flag(help: "Print the new policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                if !settings.entry.isEmpty, settings.timeZone == nil {
                    throw CLIError.usage("give the schedule's --time-zone (e.g. Europe/Berlin or UTC) with --entry")
                }
                var policy = JumpPolicy(
                    id: 0,
                    name: name,
                    codeName: JumpPolicyCommand.codeName(from: name),
                    schedule: AccessSchedule(enabled: !settings.entry.isEmpty, timeZone: "UTC", entries: [])
                )
                try settings.apply(to: &policy)
                let client = try Session.load().client()
                let response = try await client.checked { try await client.post("/jump-policies", encoding: policy) }
                if json { return try Output.json(response.body) }
                let created = try JSONDecoder().decode(JumpPolicy.self, from: response.body)
                print(
                    "created Jump Policy \(created.name) (id \(created.id)); schedule "
                        + JumpPolicyCommand.scheduleText(created.schedule)
                )
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a Jump Policy; the Jump Clients it is applied to follow at once.",
            discussion: "Options not given keep their values; --entry replaces all the entries."
        )
        @Argument(help: "The policy's name or id.") var policy: String
        @Option(help: "A new name.") var rename: String?
        @OptionGroup var settings: Settings
        @Flag(help: "Print the changed policy as JSON.") var json = false

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let id = try await PolicyNames(client: client).jumpPolicy(policy)
                var changed = try await client.json(JumpPolicy.self) { try await client.get("/jump-policies/\(id)") }
                if let rename { changed.name = rename }
                try settings.apply(to: &changed)
                let response = try await client.checked {
                    try await client.put("/jump-policies/\(id)", encoding: changed)
                }
                if json { return try Output.json(response.body) }
                let saved = try JSONDecoder().decode(JumpPolicy.self, from: response.body)
                print("updated Jump Policy \(saved.name); schedule \(JumpPolicyCommand.scheduleText(saved.schedule))")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a Jump Policy.",
            discussion: "Refused (exit 65) while a Jump Client still has it."
        )
        @Argument(help: "The policy's name or id.") var policy: String

        func run() async throws {
            try await deleteNamed(policy, what: "Jump Policy", route: "/jump-policies") { "\(try await $0.jumpPolicy($1))" }
        }
    }
}
