import ArgumentParser
import JumpProtocol

@main
struct JumpAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jump-agent",
        abstract: "The Jump Client: keeps an unattended Linux computer reachable through a Jump appliance.",
        discussion: """
            jump-agent runs on each endpoint as a systemd service. It holds one outbound TLS 1.3 \
            connection to the appliance (jump-server), reports statistics and customer presence, \
            relays Wake-on-LAN and runs the endpoint side of remote sessions.
            """,
        version: JumpBuild.version
    )
}
