import ArgumentParser
import JumpProtocol

@main
struct JumpctlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jumpctl",
        abstract: "Administer a Jump appliance and start sessions into Jump Clients.",
        discussion: """
            jumpctl talks to the appliance's HTTPS API: installers, Jump Clients, Jump Groups, \
            roles, policies, settings, the audit log, and jumps into endpoints.
            """,
        version: JumpBuild.version
    )
}
