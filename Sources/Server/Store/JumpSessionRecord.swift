public import Foundation

/// One Jump session as the audit trail keeps it: who started it on which Jump Client, under which policies,
/// who joined, and how it ended. The recording is a file beside the database; this names it.
public struct JumpSessionRecord: Codable, Hashable, Sendable {
    public enum State: String, Codable, Hashable, Sendable {
        /// The agent has been asked to start the shell, or the shell is running.
        case active
        case ended
    }

    /// How a session ended.
    public enum Outcome: String, Codable, Hashable, Sendable, CaseIterable {
        /// The shell exited by itself; `exitStatus` holds its status.
        case exited
        /// A signal ended the shell; `signal` holds it.
        case signaled
        /// The Jump Policy's schedule ended it.
        case forceEnded = "force-ended"
        /// A participant (or an administrator) ended it, or its owner left.
        case ended
        /// The shell could not start or the session broke; `detail` says why.
        case failed
        /// The Jump Client's connection to the appliance was lost.
        case agentDisconnected = "agent-disconnected"
        /// The recording could not be written, and a session is never left unrecorded.
        case recordingFailed = "recording-failed"
        /// The appliance stopped while the session was open.
        case applianceStopped = "appliance-stopped"
    }

    public var id: String
    public var clientID: String
    public var clientName: String
    public var owner: String
    /// Everyone who attached, the owner first, in order.
    public var participants: [String]
    /// Users the owner invited.
    public var invited: [String]
    public var ticket: String?
    public var state: State
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: Outcome?
    public var exitStatus: Int32?
    public var signal: Int32?
    public var detail: String
    /// The Jump Policy applied, by name; nil when the Jump Client has none.
    public var jumpPolicy: String?
    /// The session policies that decided, highest precedence first.
    public var sessionPolicies: [String]
    public var customerPresent: Bool
    public var scheduleOverridden: Bool
    /// When the Jump Policy's schedule closes the session, if it does.
    public var forceEndAt: Date?
    /// The local account the shell runs as, as the agent reported it.
    public var shellUser: String
    /// The recording's file name inside the appliance's recordings directory.
    public var recordingFile: String
    public var recordingBytes: Int64
    /// Set for an attended support session: `clientID` is then the support id and `clientName` the end user's computer.
    public var attended: Bool?
    /// The Jump Client an attended session's computer was pinned as.
    public var pinnedClient: String?

    public var isAttended: Bool { attended ?? false }

    public init(
        id: String,
        clientID: String,
        clientName: String,
        owner: String,
        ticket: String?,
        startedAt: Date,
        jumpPolicy: String?,
        sessionPolicies: [String],
        customerPresent: Bool,
        scheduleOverridden: Bool,
        forceEndAt: Date?,
        recordingFile: String
    ) {
        self.id = id
        self.clientID = clientID
        self.clientName = clientName
        self.owner = owner
        self.participants = []
        self.invited = []
        self.ticket = ticket
        self.state = .active
        self.startedAt = startedAt
        self.endedAt = nil
        self.outcome = nil
        self.exitStatus = nil
        self.signal = nil
        self.detail = ""
        self.jumpPolicy = jumpPolicy
        self.sessionPolicies = sessionPolicies
        self.customerPresent = customerPresent
        self.scheduleOverridden = scheduleOverridden
        self.forceEndAt = forceEndAt
        self.shellUser = ""
        self.recordingFile = recordingFile
        self.recordingBytes = 0
    }
}

/// Which sessions a listing returns, newest first.
public struct JumpSessionFilter: Hashable, Sendable {
    public var clientID: String?
    public var activeOnly: Bool
    public var limit: Int

    public init(clientID: String? = nil, activeOnly: Bool = false, limit: Int = 500) {
        self.clientID = clientID
        self.activeOnly = activeOnly
        self.limit = limit
    }
}
