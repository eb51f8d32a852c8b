import ArgumentParser
import JumpProtocol

@main
struct JumpServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump-server",
        abstract: "The Jump appliance: holds every Jump Client connection and enforces access policies.",
        discussion: """
            jump-server accepts the agents' TLS 1.3 connections, enrolls new Jump Clients, stores \
            Jump Groups, policies, users and the audit log, and relays sessions between \
            representatives and endpoints.
            """,
        version: JumpBuild.version,
        subcommands: [Run.self]
    )
}
