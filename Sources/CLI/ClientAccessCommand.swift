import ArgumentParser
import Foundation
import JumpPolicy

extension ClientCommand {
    struct Access: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show or set a Jump Client's Jump Policy and its Customer Present / Not Present session policies.",
            discussion: """
                Without options the current assignment is shown. A name given as none removes that \
                assignment. The session policies need an Availability that includes jump-items, else the \
                appliance refuses (exit 65). Which of the two applies depends on customer presence (the \
                screen-state-presence setting decides whether a locked screen counts as absent).

                Example: jumpctl client access jc-0123456789abcdef --jump-policy "Office hours" \
                --not-present-session-policy "Pinning allowed"
                """
        )
        @Argument(help: "The Jump Client's id (or its name, when unique).") var id: String
        @Option(help: "The Jump Policy's name (or none).") var jumpPolicy: String?
        @Option(help: "The Customer Present session policy's name (or none).") var presentSessionPolicy: String?
        @Option(help: "The Customer Not Present session policy's name (or none).") var notPresentSessionPolicy: String?
        @Flag(help: "Print JSON.") var json = false

        struct Assignment: Codable {
            var jumpPolicy: Int64?
            var customerPresentSessionPolicy: SessionPolicyID?
            var customerNotPresentSessionPolicy: SessionPolicyID?

            /// "No policy" is an explicit null, so a PUT always says all three.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(jumpPolicy, forKey: .jumpPolicy)
                try container.encode(customerPresentSessionPolicy, forKey: .customerPresentSessionPolicy)
                try container.encode(customerNotPresentSessionPolicy, forKey: .customerNotPresentSessionPolicy)
            }
        }

        func run() async throws {
            try await runReportingErrors {
                try checkArgumentsAreUTF8()
                let client = try Session.load().client()
                let names = PolicyNames(client: client)
                let path = "/clients/\(try await names.client(id).urlPathEscaped)/access"
                var response = try await client.checked { try await client.get(path) }
                if jumpPolicy != nil || presentSessionPolicy != nil || notPresentSessionPolicy != nil {
                    var assignment = try JSONDecoder().decode(Assignment.self, from: response.body)
                    if let jumpPolicy {
                        assignment.jumpPolicy =
                            PolicyNames.isNone(jumpPolicy) ? nil : try await names.jumpPolicy(jumpPolicy)
                    }
                    if let presentSessionPolicy {
                        assignment.customerPresentSessionPolicy =
                            PolicyNames.isNone(presentSessionPolicy)
                            ? nil : try await names.sessionPolicy(presentSessionPolicy)
                    }
                    if let notPresentSessionPolicy {
                        assignment.customerNotPresentSessionPolicy =
                            PolicyNames.isNone(notPresentSessionPolicy)
                            ? nil : try await names.sessionPolicy(notPresentSessionPolicy)
                    }
                    response = try await client.checked { try await client.put(path, encoding: assignment) }
                }
                if json { return try Output.json(response.body) }
                let shown = try JSONDecoder().decode(Assignment.self, from: response.body)
                let jumpPolicies = Dictionary(
                    uniqueKeysWithValues: try await names.jumpPolicies().map { ($0.id, $0.name) }
                )
                let sessionPolicies = Dictionary(
                    uniqueKeysWithValues: try await names.sessionPolicies().map { ($0.id, $0.name) }
                )
                printFields([
                    ("jump policy", shown.jumpPolicy.map { jumpPolicies[$0] ?? "Jump Policy \($0)" } ?? "none"),
                    (
                        "customer present",
                        shown.customerPresentSessionPolicy.map { sessionPolicies[$0] ?? "session policy \($0)" }
                            ?? "none"
                    ),
                    (
                        "customer not present",
                        shown.customerNotPresentSessionPolicy.map { sessionPolicies[$0] ?? "session policy \($0)" }
                            ?? "none"
                    ),
                ])
            }
        }
    }
}
