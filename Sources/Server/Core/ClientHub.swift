import Crypto
public import Foundation
public import JumpProtocol
public import JumpStore
public import JumpTLS
public import Logging
public import NIOCore
import SwiftProtobuf
import Synchronization
import X509

/// The appliance's live view of its Jump Clients: who is connected (one connection per client),
/// their latest statistics, enrollment, admission at Hello, settings pushed to agents, deletion.
/// It is the delegate of every agent connection; its state sits behind one lock, and every store
/// call happens outside it.
public final class ClientHub: ServerConnectionDelegate {
    /// Enrollments handled at once; more are answered RATE_LIMITED so the agent retries later.
    public static let maximumConcurrentEnrollments = 32
    /// A refused client (revoked, deleted, unknown) is audited at most this often, so an agent that
    /// reconnects in a tight loop cannot flood the audit log.
    public static let refusalAuditInterval: TimeInterval = 3600
    /// How long the certificate a renewal replaced is still accepted. The agent saves its new key and
    /// certificate right after the answer; this covers one that died before it could, and is short
    /// enough that a copy of the old key is soon worthless.
    public static let renewalGracePeriod: TimeInterval = 7 * 86_400
    /// Renewals handled at once; more are answered RATE_LIMITED and the agent asks again later.
    public static let maximumConcurrentRenewals = 8
    /// How often a statistics flush writes a connected client's contact time (its last report's): if the
    /// appliance stops without a chance to write it, the stored time is older than the last contact by
    /// up to this, a statistics interval and a flush interval.
    public static let contactWriteInterval: TimeInterval = 60

    /// The largest report whose bytes as sent are stored (a steady report, without facts or a picture,
    /// is far smaller); a larger one is encoded again, without the fields this version does not know.
    static let largestReportStoredAsSent = 4096

    /// A client's last report. Its picture is here only from its arrival until the next statistics
    /// flush writes it (`.jpeg`), then `.stored`: the store holds pictures, not every client's memory.
    struct Latest {
        /// The last report as the agent sent it (a captured picture's bytes taken out).
        var received: WireStatsReport
        /// What an agent sends only when it changes, from the last report that carried it: the host
        /// and network facts (in the first report of each connection) and the picture's size and
        /// signature (a report whose picture is unchanged carries none). Merging them into every new
        /// report copied the report's storage at each report on the event loop; they are merged
        /// where read (`report`, `host`, `network`) and appended to the bytes stored
        /// (`serializedBytes`).
        var kept: WireStatsReport
        var thumbnail: ClientStats.Thumbnail
        var updatedAt: Date
        /// Changed since the last statistics flush (and listed in `State.dirty`).
        var dirty: Bool
        /// The contact time a flush last wrote for this client while it was connected (see
        /// ``ClientHub/contactWriteInterval``); nil before the first.
        var contactWritten: Date?
        /// `received` as the agent encoded it, from its arrival until a flush takes it (so that only
        /// the reports waiting to be written hold a copy): the writer stores these bytes instead of
        /// encoding the report again. nil when not known (it is encoded then).
        var receivedBytes: [UInt8]?

        /// From a report as stored (merged).
        init(stored report: WireStatsReport, thumbnail: ClientStats.Thumbnail, updatedAt: Date) {
            received = report
            kept = WireStatsReport()
            if report.hasHost { kept.host = report.host }
            if report.hasNetwork { kept.network = report.network }
            if report.hasThumbnail { kept.thumbnail = report.thumbnail }
            self.thumbnail = thumbnail
            self.updatedAt = updatedAt
            dirty = false
            contactWritten = nil
        }

        /// The contact time a flush writes with this report, if any: a connection's start or end
        /// (`connection`) always; else the report's time once a minute (``ClientHub/contactWriteInterval``),
        /// not with every report, since lost and deletion periods are days long; a clock stepped back by
        /// a minute or more counts as a minute.
        mutating func contactToWrite(connection: Date?) -> Date? {
            let due: Date
            if let connection {
                due = connection
            } else if let written = contactWritten, abs(updatedAt.timeIntervalSince(written)) < ClientHub.contactWriteInterval {
                return nil
            } else {
                due = updatedAt
            }
            contactWritten = due
            return due
        }

        /// The bytes of `report` as sent (in the CONTROL payload `encoded`) that the writer stores in
        /// place of the report encoded again: none with a captured picture, which ``take(_:encoded:at:)``
        /// takes out of the report to store apart, nor for a report larger than
        /// ``ClientHub/largestReportStoredAsSent``, so that fields unknown here add little to the store.
        static func storedAsSent(_ report: WireStatsReport, encoded: ByteBuffer) -> [UInt8]? {
            guard report.thumbnailStatus != .captured, let bytes = ControlCodec.statsReportBytes(in: encoded),
                  bytes.readableBytes <= ClientHub.largestReportStoredAsSent
            else { return nil }
            return Array(bytes.readableBytesView)
        }

        /// A new report, with its bytes as sent from ``storedAsSent(_:encoded:)`` if any; true when this
        /// makes the entry dirty.
        mutating func take(_ report: WireStatsReport, encoded: [UInt8]? = nil, at now: Date) -> Bool {
            received = report
            receivedBytes = encoded
            if report.hasHost { kept.host = report.host }
            if report.hasNetwork { kept.network = report.network }
            switch report.thumbnailStatus {
            case .captured:
                thumbnail = .jpeg(report.thumbnail.jpeg)
                received.thumbnail.jpeg = Data()
                kept.thumbnail = received.thumbnail
            case .unchanged:
                break  // the picture and its size stay
            default:
                thumbnail = .none
                if kept.hasThumbnail { kept.clearThumbnail() }
            }
            updatedAt = now
            defer { dirty = true }
            return !dirty
        }

        var host: WireHostFacts { received.hasHost ? received.host : kept.host }
        var network: WireNetworkFacts { received.hasNetwork ? received.network : kept.network }
        var hasNetwork: Bool { received.hasNetwork || kept.hasNetwork }

        /// Whether `kept`'s picture belongs to the report: a report whose picture is unchanged and
        /// carries none.
        private var keepsPicture: Bool { received.thumbnailStatus == .unchanged && !received.hasThumbnail }

        /// The last report with what was kept from earlier ones.
        var report: WireStatsReport {
            var merged = received
            if !received.hasHost, kept.hasHost { merged.host = kept.host }
            if !received.hasNetwork, kept.hasNetwork { merged.network = kept.network }
            if keepsPicture, kept.hasThumbnail { merged.thumbnail = kept.thumbnail }
            return merged
        }

        /// `report`'s encoding, made without merging: the received report's bytes, then the kept
        /// fields it lacks (a protobuf message's encodings concatenated decode as the merge of them).
        func serializedBytes() throws -> [UInt8] {
            var bytes: [UInt8] = try receivedBytes ?? received.serializedBytes()
            let dropHost = received.hasHost && kept.hasHost
            let dropNetwork = received.hasNetwork && kept.hasNetwork
            let dropPicture = kept.hasThumbnail && !keepsPicture
            if dropHost || dropNetwork || dropPicture {
                var lacking = kept
                if dropHost { lacking.clearHost() }
                if dropNetwork { lacking.clearNetwork() }
                if dropPicture { lacking.clearThumbnail() }
                bytes += try lacking.serializedBytes() as [UInt8]
            } else {
                bytes += try kept.serializedBytes() as [UInt8]
            }
            return bytes
        }
    }

    struct State {
        var settings: SiteSettings
        var clients: [String: ClientRecord]
        var connections: [String: ServerConnection] = [:]
        /// The certificate each connected client authenticated with (a renewal replaces that one).
        var connectionSerials: [String: String] = [:]
        var renewing = 0
        var latest: [String: Latest] = [:]
        /// The clients whose `Latest` is dirty, each once.
        var dirty: [String] = []
        var contacts: [String: Date] = [:]
        var refusalsAudited: [String: Date] = [:]
        var enrolling = 0
        var storeFailing = false
        var settingsObservers: [@Sendable (SiteSettings) -> Void] = []
        var lastWake: [String: Date] = [:]
        var pendingAcks: [PendingAck: AckWaiter] = [:]
        var commandSequences: [String: UInt64] = [:]
        /// The last session channel opened on each client's current connection (ids rise per connection).
        var lastChannel: [String: (connection: ServerConnection, channel: UInt32)] = [:]
    }

    struct PendingAck: Hashable {
        var clientID: String
        var messageID: UInt64
    }

    /// A command waiting for its acknowledgement, on the connection it was sent over.
    struct AckWaiter {
        let connection: ServerConnection
        let continuation: CheckedContinuation<WireAck?, Never>
    }

    let store: any Store
    let ca: CertificateAuthority
    let logger: Logger
    let now: @Sendable () -> Date
    private let state: Mutex<State>
    /// Session channels: where agents' session bytes and session endings go.
    public let channels = SessionChannelRouter()
    /// Support codes and the end users waiting with them. Their connections are held here beside the Jump
    /// Clients', named by support id, so commands and sessions reach them the same way.
    public let support: SupportQueue

    init(store: any Store, ca: CertificateAuthority, settings: SiteSettings, clients: [ClientRecord], stats: [ClientStats], logger: Logger, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.ca = ca
        self.logger = logger
        self.now = now
        // Serializing a certificate that was parsed does not fail; if it did, no code would name this CA (fail closed).
        let caDER = (try? ca.certificate.derBytes) ?? []
        self.support = SupportQueue(store: store, caFingerprint: Array(SHA256.hash(data: caDER)), logger: logger, now: now)
        var state = State(settings: settings, clients: Dictionary(uniqueKeysWithValues: clients.map { ($0.id, $0) }))
        for entry in stats {
            // A stored report may hold fields this version does not know (the bytes an agent sent are
            // stored as sent); they are dropped here, as when a report arrives.
            guard let report = try? ControlCodec.decodeStatsReport(Array(entry.report)) else { continue }
            state.latest[entry.clientID] = Latest(stored: report, thumbnail: entry.thumbnail, updatedAt: entry.updatedAt)
        }
        self.state = Mutex(state)
    }

    /// Loads settings, clients and their last statistics from the store.
    public static func load(
        store: any Store,
        ca: CertificateAuthority,
        logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init
    ) async throws -> ClientHub {
        ClientHub(
            store: store,
            ca: ca,
            settings: SiteSettings(stored: try await store.settings()),
            clients: try await store.clients(),
            stats: try await store.allStats(),
            logger: logger,
            now: now
        )
    }

    // MARK: Settings

    public var settings: SiteSettings { state.withLock { $0.settings } }

    /// Calls `observer` with the settings now and after every change.
    public func observeSettings(_ observer: @escaping @Sendable (SiteSettings) -> Void) {
        let current = state.withLock { state in
            state.settingsObservers.append(observer)
            return state.settings
        }
        observer(current)
    }

    /// Validates and applies changes (all or none), records them, and pushes the agents' part of the
    /// configuration to every connected agent. Returns warnings about the new combination.
    public func updateSettings(_ changes: [(key: String, value: String)], actor: String) async throws -> [String] {
        var updated = settings
        for change in changes { try updated.set(change.key, to: change.value) }
        updated.revision += 1
        var stored = updated.values
        stored["revision"] = String(updated.revision)
        let detail = changes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        try await store.setSettings(stored, audit: AuditEvent(actor: actor, action: "settings.set", target: "settings", detail: detail))
        let (connections, observers) = state.withLock { state in
            state.settings = updated
            let clients = state.connections.filter { !$0.key.hasPrefix(SupportQueue.idPrefix) }
            return (Array(clients.values), state.settingsObservers)
        }
        let config = state.withLock { Self.siteConfig($0) }
        for connection in connections { connection.send(.siteConfig(config)) }
        for observer in observers { observer(updated) }
        return updated.warnings
    }

    // MARK: Listing

    /// A Jump Client as `jumpctl client list` shows it.
    public struct ClientView: Codable, Hashable, Sendable {
        public struct DiskView: Codable, Hashable, Sendable {
            public var mountPoint: String
            public var filesystem: String
            public var totalBytes: UInt64
            public var usedBytes: UInt64
            public var availableBytes: UInt64
        }

        public var id: String
        public var name: String
        public var groupID: Int64
        public var group: String
        public var tag: String
        public var comments: String
        public var status: String
        public var lastContact: Date?
        public var enrolledAt: Date
        public var hostname: String
        public var os: String?
        public var agentVersion: String?
        public var presence: Bool?
        public var consoleUser: String?
        public var cpuPercent: Double?
        public var disks: [DiskView]?
        public var uptimeSeconds: UInt64?
        public var addresses: [String]
        public var thumbnail: Bool
        /// Why there is no thumbnail ("wayland: a Wayland session cannot be captured ..."), when the
        /// agent said so.
        public var thumbnailNote: String?
        /// The console's session type (x11, wayland, tty), lock and screen-saver state: the inputs of presence.
        public var sessionType: String?
        public var locked: Bool?
        public var screenSaver: String?
        public var statisticsAt: Date?
    }

    /// Every client not deleted, with its status computed at `now`.
    public func clientViews(groups: [Int64: String]) -> [ClientView] {
        let now = self.now()
        return state.withLock { state in
            state.clients.values
                .filter { $0.state != .deleted }
                .sorted { ($0.name, $0.id) < ($1.name, $1.id) }
                .map { Self.view($0, state: state, groups: groups, now: now) }
        }
    }

    public func clientView(id: String, groups: [Int64: String]) -> ClientView? {
        let now = self.now()
        return state.withLock { state in
            guard let record = state.clients[id], record.state != .deleted else { return nil }
            return Self.view(record, state: state, groups: groups, now: now)
        }
    }

    /// The client's last picture: from memory while it is not written yet, else from the store.
    public func thumbnail(id: String) async throws -> Data? {
        switch state.withLock({ $0.latest[id]?.thumbnail }) {
        case .jpeg(let jpeg)?: return jpeg
        case .stored?:
            guard case .jpeg(let jpeg)? = try await store.stats(clientID: id)?.thumbnail else { return nil }
            return jpeg
        case .none?, nil: return nil
        }
    }

    static func status(_ record: ClientRecord, connected: Bool, settings: SiteSettings, now: Date) -> String {
        if record.state == .uninstalled { return "uninstalled" }
        if connected { return "online" }
        let last = record.lastContact ?? record.enrolledAt
        return now.timeIntervalSince(last) >= Double(settings.lostDays) * 86_400 ? "lost" : "offline"
    }

    /// A client's last contact: the record's (its connection's start or end, or what a flush wrote), or
    /// for a connected client its last report's time when that is later.
    private static func lastContact(_ record: ClientRecord, latest: Latest?) -> Date? {
        guard let reported = latest?.updatedAt else { return record.lastContact }
        guard let recorded = record.lastContact else { return reported }
        return max(recorded, reported)
    }

    private static func view(_ record: ClientRecord, state: State, groups: [Int64: String], now: Date) -> ClientView {
        let latest = state.latest[record.id]
        let report = latest?.received
        let selected = state.settings.statistics
        var view = ClientView(
            id: record.id,
            name: record.name,
            groupID: record.groupID,
            group: groups[record.groupID] ?? "",
            tag: record.tag,
            comments: record.comments,
            status: status(record, connected: state.connections[record.id] != nil, settings: state.settings, now: now),
            lastContact: lastContact(record, latest: state.connections[record.id] != nil ? latest : nil),
            enrolledAt: record.enrolledAt,
            hostname: latest?.host.hostname.nonEmpty ?? record.hostname,
            addresses: [],
            thumbnail: (latest?.thumbnail.exists ?? false) && selected.contains(.thumbnail),
            statisticsAt: latest?.updatedAt
        )
        guard let latest, let report else { return view }
        let host = latest.host
        view.os = host.osName.nonEmpty
        view.agentVersion = host.agentVersion.nonEmpty
        if report.hasPresence { view.presence = report.presence.present }
        if selected.contains(.consoleUser) {
            view.consoleUser = report.console.user
            if report.hasConsole {
                view.sessionType = Self.name(of: report.console.sessionType)
                view.locked = report.console.locked
                view.screenSaver = Self.name(of: report.console.screenSaver)
            }
        }
        if selected.contains(.thumbnail), ![.unspecified, .captured, .unchanged].contains(report.thumbnailStatus) {
            let status = Self.name(of: report.thumbnailStatus)
            view.thumbnailNote = report.thumbnailDetail.isEmpty ? status : "\(status): \(report.thumbnailDetail)"
        }
        if selected.contains(.cpu), report.hasCpuPermille { view.cpuPercent = Double(report.cpuPermille) / 10 }
        if selected.contains(.uptime), report.hasUptimeSeconds { view.uptimeSeconds = report.uptimeSeconds }
        if selected.contains(.disk) {
            view.disks = report.disks.map {
                ClientView.DiskView(
                    mountPoint: $0.mountPoint,
                    filesystem: $0.filesystem,
                    totalBytes: $0.totalBytes,
                    usedBytes: $0.usedBytes,
                    availableBytes: $0.availableBytes
                )
            }
        }
        view.addresses = latest.network.interfaces.flatMap { interface in
            interface.addresses.map { IPAddressText.format($0.ip) + "/\($0.prefixLength)" }
        }
        return view
    }

    static func name(of type: WireSessionType) -> String {
        switch type {
        case .x11: "x11"
        case .wayland: "wayland"
        case .tty: "tty"
        case .other: "other"
        default: "unspecified"
        }
    }

    static func name(of state: WireScreenSaverState) -> String {
        switch state {
        case .active: "active"
        case .inactive: "inactive"
        default: "unknown"
        }
    }

    static func name(of status: WireThumbnailStatus) -> String {
        switch status {
        case .captured: "captured"
        case .unchanged: "unchanged"
        case .noDisplay: "no-display"
        case .wayland: "wayland"
        case .failed: "failed"
        default: "not-selected"
        }
    }

    // MARK: Administration

    /// Deletes a Jump Client: its certificate is refused from now on and, connected or not, it is
    /// told to uninstall itself (now, or at its next connection).
    @discardableResult
    /// `unpinnedIn` names the session from which the Jump Client was unpinned, which the audit record says.
    public func deleteClient(id: String, actor: String, unpinnedIn session: String? = nil) async throws -> Bool {
        guard var record = state.withLock({ $0.clients[id] }), record.state != .deleted else { return false }
        record.state = .deleted
        record.stateChangedAt = now()
        let audit =
            session.map { AuditEvent(actor: actor, action: "client.unpin", target: id, detail: "name=\(record.name) session=\($0)") }
            ?? AuditEvent(actor: actor, action: "client.delete", target: id, detail: "name=\(record.name)")
        try await store.updateClient(record, audit: audit)
        let connection = state.withLock { state in
            state.clients[id] = record
            state.latest[id] = nil  // and a flush passes over its id in `dirty`
            return state.connections.removeValue(forKey: id)
        }
        connection?.close(WireGoodbye(.clientDeleted, session == nil ? "deleted by \(actor)" : "unpinned by \(actor)"))
        return true
    }

    /// Deletes every Jump Client out of contact for longer than the deletion period (the agent has
    /// uninstalled itself by then, counting from the same last contact).
    @discardableResult
    public func sweep() async -> [String] {
        let now = self.now()
        let expired = state.withLock { state in
            let limit = Double(state.settings.deleteDays) * 86_400
            return state.clients.values.filter { record in
                record.state != .deleted && state.connections[record.id] == nil
                    && now.timeIntervalSince(record.lastContact ?? record.enrolledAt) >= limit
            }
        }
        var deleted: [String] = []
        for var record in expired {
            let days = Int(now.timeIntervalSince(record.lastContact ?? record.enrolledAt) / 86_400)
            record.state = .deleted
            record.stateChangedAt = now
            do {
                try await store.updateClient(
                    record,
                    audit: AuditEvent(actor: "system", action: "client.delete-expired", target: record.id, detail: "no contact for \(days) days")
                )
                state.withLock { $0.clients[record.id] = record }
                deleted.append(record.id)
            } catch {
                logger.error("cannot delete an expired Jump Client", metadata: ["client": "\(record.id)", "error": "\(error)"])
            }
        }
        return deleted
    }

    // MARK: Statistics persistence

    /// Writes the statistics that changed since the last flush, in one transaction. On failure (a
    /// full disk) they stay in memory and are written by a later flush; the appliance keeps serving.
    @discardableResult
    public func flushStats() async -> Int {
        let (pending, contacts) = state.withLock { state -> ([(String, Latest)], [String: Date]) in
            var pending: [(String, Latest)] = []
            pending.reserveCapacity(state.dirty.count)
            var contacts = state.contacts
            for id in state.dirty {
                guard let index = state.latest.index(forKey: id), state.latest.values[index].dirty else { continue }
                state.latest.values[index].dirty = false
                if let contact = state.latest.values[index].contactToWrite(connection: contacts[id]) {
                    contacts[id] = contact
                    // The record holds the contact time being written (a view adds the last report's).
                    if let record = state.clients.index(forKey: id) { state.clients.values[record].lastContact = contact }
                }
                pending.append((id, state.latest.values[index]))
                state.latest.values[index].receivedBytes = nil
            }
            state.dirty.removeAll(keepingCapacity: true)
            state.contacts.removeAll(keepingCapacity: true)
            return (pending, contacts)
        }
        guard !pending.isEmpty || !contacts.isEmpty else { return 0 }
        let batch = pending.compactMap { id, latest -> ClientStats? in
            guard let bytes = try? latest.serializedBytes() else { return nil }
            return ClientStats(clientID: id, updatedAt: latest.updatedAt, report: Data(bytes), thumbnail: latest.thumbnail)
        }
        do {
            try await store.saveStats(batch, contacts: contacts)
            let recovered = state.withLock { state in
                defer { state.storeFailing = false }
                return state.storeFailing
            }
            if recovered { logger.notice("statistics are being written again") }
            // Written pictures leave memory, unless a newer one came meanwhile.
            state.withLock { state in
                for entry in batch {
                    guard case .jpeg = entry.thumbnail, state.latest[entry.clientID]?.thumbnail == entry.thumbnail else { continue }
                    state.latest[entry.clientID]?.thumbnail = .stored
                }
            }
            return batch.count
        } catch {
            let first = state.withLock { state in
                for (id, latest) in pending {
                    // Unless a newer report made it dirty again meanwhile (then it is listed).
                    guard let index = state.latest.index(forKey: id), !state.latest.values[index].dirty else { continue }
                    state.latest.values[index].dirty = true
                    // The bytes as sent, which the flush took, are written by the next one.
                    state.latest.values[index].receivedBytes = latest.receivedBytes
                    state.dirty.append(id)
                }
                for (id, date) in contacts where state.contacts[id] == nil { state.contacts[id] = date }
                defer { state.storeFailing = true }
                return !state.storeFailing
            }
            if first {
                logger.error(
                    "cannot write statistics; keeping them in memory and retrying",
                    metadata: ["error": "\(error)", "pending": "\(pending.count)"]
                )
            }
            return 0
        }
    }

    /// The settings agents are given, with the reconnect spread for the clients connected now: they are
    /// the ones that come back together after an outage. An agent that connected early, when few were
    /// connected, has a shorter spread than it would need: it only tries more often.
    static func siteConfig(_ state: State) -> WireSiteConfig {
        var config = state.settings.siteConfig
        config.reconnectSpreadMs = reconnectSpread(clients: state.connections.count, rate: state.settings.connectionRate)
        return config
    }

    /// The longest an agent should wait between attempts after losing the appliance, in milliseconds:
    /// half the time admission takes to let `clients` in at `rate` a second, and at least a second.
    ///
    /// With every agent's wait spread evenly up to this, the fleet tries twice as fast as the appliance
    /// admits, so from the moment it is back its listen queue never runs dry and the last client is in
    /// after about clients / rate seconds; a longer spread would leave the appliance idle while agents
    /// sleep.
    public static func reconnectSpread(clients: Int, rate: Int) -> UInt32 {
        let milliseconds = Double(clients) / Double(max(rate, 1)) / 2 * 1000
        return UInt32(min(max(milliseconds.rounded(.up), 1000), Double(UInt32.max)))
    }

    /// How many pictures are held in memory, waiting to be written.
    public var memoryThumbnailCount: Int {
        state.withLock { state in state.latest.values.count { if case .jpeg = $0.thumbnail { true } else { false } } }
    }

    /// How many clients are connected now.
    public var connectedCount: Int {
        state.withLock { $0.connections.keys.count { !$0.hasPrefix(SupportQueue.idPrefix) } }
    }

    // MARK: ServerConnectionDelegate

    public func connection(_ connection: ServerConnection, admit clientID: String, certificateSerial: String?, hello: WireHello) {
        let now = self.now()
        enum Decision {
            case admit(WireSiteConfig, replaced: ServerConnection?)
            case refuse(WireGoodbye, audit: Bool)
        }
        let decision = state.withLock { state -> Decision in
            func refuse(_ reason: WireGoodbyeReason, _ detail: String) -> Decision {
                let last = state.refusalsAudited[clientID]
                let audit = last.map { now.timeIntervalSince($0) >= Self.refusalAuditInterval } ?? true
                if audit { state.refusalsAudited[clientID] = now }
                return .refuse(WireGoodbye(reason, detail), audit: audit)
            }
            guard let record = state.clients[clientID] else {
                return refuse(.certificateRevoked, "the appliance does not know this Jump Client")
            }
            switch record.state {
            case .deleted, .uninstalled:
                return refuse(.clientDeleted, "this Jump Client was deleted; uninstall")
            case .active:
                break
            }
            guard record.accepts(certificateSerial: certificateSerial, now: now), let certificateSerial else {
                return refuse(.certificateRevoked, "this certificate was replaced or revoked")
            }
            let replaced = state.connections.updateValue(connection, forKey: clientID)
            state.connectionSerials[clientID] = certificateSerial
            state.clients[clientID]?.lastContact = now
            state.contacts[clientID] = now
            return .admit(Self.siteConfig(state), replaced: replaced)
        }
        switch decision {
        case .admit(let config, let replaced):
            connection.admit(config: config)
            if let replaced, replaced != connection {
                replaced.close(WireGoodbye(.replaced, "a newer connection of this Jump Client took over"))
                audit(AuditEvent(actor: "client \(clientID)", action: "client.connection-replaced", target: clientID))
            }
        case .refuse(let goodbye, let audit):
            connection.refuse(goodbye)
            if audit {
                self.audit(AuditEvent(actor: "client \(clientID)", action: "client.refused", target: clientID, detail: goodbye.detail))
            }
        }
    }

    public func connection(_ connection: ServerConnection, enroll request: WireEnrollRequest) {
        Task {
            let response = await enroll(request)
            connection.finishEnrollment(response)
        }
    }

    /// An end user's support agent asks with a code: queued for its representative, and held here by support id from
    /// before the agent hears the answer until the connection goes.
    public func connection(_ connection: ServerConnection, support request: WireSupportRequest) {
        let response = support.receive(request, connection: connection)
        if response.result == .ok {
            let id = response.supportID
            state.withLock { $0.connections[id] = connection }
            connection.channel.closeFuture.whenComplete { _ in
                self.state.withLock { state in
                    if state.connections[id] == connection { state.connections[id] = nil }
                    // A support id is never used again.
                    state.lastChannel[id] = nil
                    state.commandSequences[id] = nil
                }
            }
        }
        connection.answerSupport(response)
    }

    public func connection(
        _ connection: ServerConnection,
        client clientID: String,
        received message: ControlMessage,
        id: UInt64,
        encoded: ByteBuffer
    ) {
        switch message {
        case .statsReport(let report):
            // Copied here, outside the hub's lock.
            ingest(report, encoded: Latest.storedAsSent(report, encoded: encoded), from: clientID)
            connection.send(.ack(WireAck(ref: id, .ok)), promise: nil)
        case .ack(let ack):
            let waiter = state.withLock { $0.pendingAcks.removeValue(forKey: PendingAck(clientID: clientID, messageID: ack.ref)) }
            waiter?.continuation.resume(returning: ack)
        case .localUninstall(let uninstall):
            Task {
                await localUninstall(clientID: clientID, uninstall)
                connection.send(.ack(WireAck(ref: id, .ok)))
            }
        case .renewRequest(let request):
            Task { connection.send(.enrollResponse(await renew(clientID: clientID, connection: connection, request))) }
        case .sessionEvent(let event):
            channels.deliver(.ended(event), connection: connection, channel: event.channelID)
        default:
            break
        }
    }

    public func connection(_ connection: ServerConnection, client clientID: String, received data: ByteBuffer, channel: UInt32) {
        if !channels.deliver(.data(data), connection: connection, channel: channel) {
            // The session is over but the channel was not closed yet: let the agent finish sending.
            connection.consumed(data.readableBytes, channel: channel)
        }
    }

    public func connectionClosed(_ connection: ServerConnection, clientID: String?) {
        channels.closed(connection)
        // Commands sent over this connection will not be answered: their senders hear so now, not at their timeout.
        let unanswered = state.withLock { state in
            let keys = state.pendingAcks.filter { $0.value.connection == connection }.map(\.key)
            return keys.compactMap { state.pendingAcks.removeValue(forKey: $0) }
        }
        for waiter in unanswered { waiter.continuation.resume(returning: nil) }
        guard let clientID else { return }
        let now = self.now()
        state.withLock { state in
            guard state.connections[clientID] == connection else { return }
            state.connections[clientID] = nil
            state.connectionSerials[clientID] = nil
            if state.clients[clientID]?.state == .active {
                state.clients[clientID]?.lastContact = now
                state.contacts[clientID] = now
            }
        }
    }

    // MARK: Statistics ingestion

    /// `encoded`: the report's bytes as the agent sent them, when they are what the store keeps.
    func ingest(_ report: WireStatsReport, encoded: [UInt8]? = nil, from clientID: String) {
        let now = self.now()
        state.withLock { state in
            // In place: one lookup of the id, and no copy of the entry.
            if let index = state.latest.index(forKey: clientID) {
                if state.latest.values[index].take(report, encoded: encoded, at: now) { state.dirty.append(clientID) }
            } else {
                var latest = Latest(stored: WireStatsReport(), thumbnail: .none, updatedAt: now)
                _ = latest.take(report, encoded: encoded, at: now)
                state.latest[clientID] = latest
                state.dirty.append(clientID)
            }
            // The client's record is not touched: its contact time is the report's (`Latest.updatedAt`)
            // while it is connected, and is copied into the record when a flush writes it.
        }
    }

    // MARK: Enrollment

    func enroll(_ request: WireEnrollRequest) async -> WireEnrollResponse {
        func answer(_ result: WireEnrollResult, _ detail: String) -> WireEnrollResponse {
            var response = WireEnrollResponse()
            response.result = result
            response.detail = detail
            return response
        }
        let admitted = state.withLock { state in
            guard state.enrolling < Self.maximumConcurrentEnrollments else { return false }
            state.enrolling += 1
            return true
        }
        guard admitted else { return answer(.rateLimited, "the appliance is enrolling many Jump Clients; try again shortly") }
        defer { state.withLock { $0.enrolling -= 1 } }

        let now = self.now()
        let installer: Installer
        do {
            guard let found = try await store.installer(tokenHash: InstallerTokens.hash(request.token)) else {
                return answer(.tokenUnknown, "the installer's token is not known to this appliance; it was deleted or never existed")
            }
            installer = found
        } catch {
            logger.error("cannot read installers", metadata: ["error": "\(error)"])
            return answer(.internalError, "the appliance could not read its installers; try again later")
        }
        guard installer.expiresAt > now else {
            return answer(.tokenExpired, "the installer expired at \(Self.format(installer.expiresAt)); ask an administrator to extend it or make a new one")
        }
        if let maximum = installer.maxUses, installer.uses >= maximum {
            return answer(.tokenExhausted, "the installer has been used \(maximum) times, its limit")
        }

        let overrides = request.overrides
        let given: [(InstallOverride, Bool)] = [
            (.name, overrides.hasName), (.tag, overrides.hasTag), (.comments, overrides.hasComments),
            (.group, overrides.hasGroup), (.installDir, overrides.hasInstallDir), (.jumpPolicy, overrides.hasJumpPolicy),
        ]
        let refused = given.filter { $0.1 && !installer.allowedOverrides.contains($0.0) }.map(\.0.rawValue)
        guard refused.isEmpty else {
            return answer(.overrideNotAllowed, "the installer does not allow overriding \(refused.joined(separator: ", "))")
        }
        var groupID = installer.groupID
        if overrides.hasGroup {
            do {
                guard let group = try await store.group(named: overrides.group) else {
                    return answer(.groupUnknown, "there is no Jump Group named '\(overrides.group)'")
                }
                groupID = group.id
            } catch {
                return answer(.internalError, "the appliance could not read its Jump Groups; try again later")
            }
        }

        let clientID = Self.newClientID()
        let certificate: Certificate
        do {
            certificate = try ca.issueClientCertificate(csrDER: Array(request.csr), clientID: clientID, now: now)
        } catch {
            return answer(.csrInvalid, "the certification request was refused: \(error)")
        }
        let hostname = request.host.hostname
        let record = ClientRecord(
            id: clientID,
            name: overrides.hasName ? overrides.name : (installer.name.nonEmpty ?? hostname.nonEmpty ?? clientID),
            groupID: groupID,
            tag: overrides.hasTag ? overrides.tag : installer.tag,
            comments: overrides.hasComments ? overrides.comments : installer.comments,
            jumpPolicy: overrides.hasJumpPolicy ? overrides.jumpPolicy : installer.jumpPolicy,
            hostname: hostname,
            installDir: overrides.installDir,
            installerID: installer.id,
            certificateSerial: certificate.serialHex,
            certificateExpiresAt: certificate.notValidAfter,
            enrolledAt: now,
            stateChangedAt: now
        )
        do {
            try await store.registerClient(
                record,
                installerID: installer.id,
                now: now,
                audit: AuditEvent(
                    actor: "installer \(installer.id)",
                    action: "client.enroll",
                    target: clientID,
                    detail: "name=\(record.name) group=\(groupID) hostname=\(hostname)"
                )
            )
        } catch let error as StoreError where error.code == .installerUnavailable {
            return answer(.tokenExhausted, "the installer was used up, expired or deleted a moment ago")
        } catch {
            logger.error("cannot record an enrollment", metadata: ["error": "\(error)"])
            return answer(.internalError, "the appliance could not record the enrollment; try again later")
        }
        let config = state.withLock { state in
            state.clients[clientID] = record
            return Self.siteConfig(state)
        }
        logger.info("Jump Client enrolled", metadata: ["client": "\(clientID)", "installer": "\(installer.id)"])
        var response = answer(.ok, "")
        response.clientID = clientID
        response.certificate = Data((try? certificate.derBytes) ?? [])
        response.config = config
        return response
    }

    // MARK: Certificate renewal

    /// A new certificate for a connected client, for the key in its request. The certificate this
    /// connection authenticated with stays acceptable for `renewalGracePeriod`; any other is refused
    /// from now on.
    func renew(clientID: String, connection: ServerConnection, _ request: WireRenewRequest) async -> WireEnrollResponse {
        func answer(_ result: WireEnrollResult, _ detail: String) -> WireEnrollResponse {
            var response = WireEnrollResponse()
            response.result = result
            response.detail = detail
            return response
        }
        let now = self.now()
        let admitted = state.withLock { state -> (ClientRecord, String)?? in
            guard state.renewing < Self.maximumConcurrentRenewals else { return .some(nil) }
            guard state.connections[clientID] == connection, let record = state.clients[clientID],
                record.state == .active, let serial = state.connectionSerials[clientID]
            else { return nil }
            state.renewing += 1
            return (record, serial)
        }
        guard let admitted else { return answer(.clientUnknown, "the appliance no longer has this Jump Client") }
        guard let (record, presented) = admitted else {
            return answer(.rateLimited, "the appliance is renewing many certificates; ask again later")
        }
        defer { state.withLock { $0.renewing -= 1 } }

        let certificate: Certificate
        let der: [UInt8]
        do {
            certificate = try ca.issueClientCertificate(csrDER: Array(request.csr), clientID: clientID, now: now)
            der = try certificate.derBytes
        } catch {
            return answer(.csrInvalid, "the certification request was refused: \(error)")
        }
        // The certificate the agent holds now stays acceptable for the grace period; when the agent
        // came with the one a renewal already replaced, that one keeps the deadline it had, so
        // renewing with an old key never extends its life.
        let deadline: Date
        if presented == record.previousCertificateSerial, let existing = record.previousCertificateAcceptedUntil {
            deadline = existing
        } else {
            deadline = min(now.addingTimeInterval(Self.renewalGracePeriod), record.certificateExpiresAt)
        }
        let recorded: Bool
        do {
            recorded = try await store.renewClientCertificate(
                id: clientID,
                replacing: record.certificateSerial,
                serial: certificate.serialHex,
                expiresAt: certificate.notValidAfter,
                previousSerial: presented,
                previousAcceptedUntil: deadline,
                audit: AuditEvent(
                    actor: "client \(clientID)",
                    action: "client.certificate-renewed",
                    target: clientID,
                    detail: "serial=\(certificate.serialHex) expires=\(Self.format(certificate.notValidAfter)) replaced=\(presented)"
                )
            )
        } catch {
            logger.error("cannot record a certificate renewal", metadata: ["client": "\(clientID)", "error": "\(error)"])
            return answer(.internalError, "the appliance could not record the new certificate; try again later")
        }
        // Deleted, or renewed by another connection, while this certificate was made: nothing changed.
        guard recorded else { return answer(.clientUnknown, "this Jump Client was deleted or renewed meanwhile") }
        let stillThere = state.withLock { state -> Bool in
            guard state.clients[clientID]?.state == .active else { return false }
            state.clients[clientID]?.certificateSerial = certificate.serialHex
            state.clients[clientID]?.certificateExpiresAt = certificate.notValidAfter
            state.clients[clientID]?.previousCertificateSerial = presented
            state.clients[clientID]?.previousCertificateAcceptedUntil = deadline
            return true
        }
        guard stillThere else { return answer(.clientUnknown, "this Jump Client was deleted while its certificate was renewed") }
        logger.info("certificate renewed", metadata: ["client": "\(clientID)", "expires": "\(certificate.notValidAfter)"])
        var response = answer(.ok, "")
        response.clientID = clientID
        response.certificate = Data(der)
        return response
    }

    // MARK: Wake-on-LAN

    public struct WakeOutcome: Sendable, Codable, Hashable {
        public var relay: String
        public var macs: [String]
        public var detail: String
    }

    /// Wakes a Jump Client through another on its network: checks the setting and the cooldown,
    /// picks relays (same gateway address and MAC, same subnet), and asks them in turn until one
    /// says the magic packets went out.
    public func wake(clientID: String, password: [UInt8], actor: String) async throws(WakeRelay.Refusal) -> WakeOutcome {
        let now = self.now()
        let (target, candidates): (WireNetworkFacts?, [(id: String, facts: WireNetworkFacts, at: Date, connection: ServerConnection)]) = try state.withLock { state throws(WakeRelay.Refusal) in
            guard let record = state.clients[clientID], record.state != .deleted else { throw .notFound(clientID) }
            guard state.settings.allowWake else { throw .disabled }
            if let last = state.lastWake[clientID], now.timeIntervalSince(last) < WakeRelay.cooldown {
                throw .coolingDown(seconds: Int((WakeRelay.cooldown - now.timeIntervalSince(last)).rounded(.up)))
            }
            state.lastWake[clientID] = now
            let others = state.connections.compactMap { id, connection -> (String, WireNetworkFacts, Date, ServerConnection)? in
                guard id != clientID, let latest = state.latest[id], latest.hasNetwork else { return nil }
                return (id, latest.network, latest.updatedAt, connection)
            }
            return (state.latest[clientID].flatMap { $0.hasNetwork ? $0.network : nil }, others)
        }
        guard let target, let network = WakeRelay.network(of: target) else {
            throw .noNetworkFacts("\(clientID) has not reported its network (default gateway, its MAC, an address), so no relay can be chosen")
        }
        let relays = candidates
            .compactMap { candidate in WakeRelay.relayInterface(candidate.facts, on: network).map { (candidate, $0) } }
            .sorted { $0.0.at > $1.0.at }
            .prefix(WakeRelay.maximumRelays)
        let gateway = network.gateway.map(String.init).joined(separator: ".")
        guard !relays.isEmpty else {
            audit(AuditEvent(actor: actor, action: "client.wake", target: clientID, detail: "no relay on the network of gateway \(gateway)"))
            throw .noRelay("no online Jump Client on \(clientID)'s network (gateway \(gateway)) can relay the wake-up")
        }
        var failures: [String] = []
        for (relay, interface) in relays {
            var wake = WireWake()
            wake.targetMacs = network.macs.map { Data($0) }
            wake.secureOnPassword = Data(password)
            wake.interface = interface
            let action = WireCommand.OneOf_Action.wake(wake)
            let ack = await sendCommand(to: relay.id, over: relay.connection) { action }
            if let ack, ack.result == .ok {
                let macs = network.macs.map { Hex.lowercase($0, separator: UInt8(ascii: ":")) }
                audit(AuditEvent(actor: actor, action: "client.wake", target: clientID, detail: "relayed by \(relay.id) on \(interface): \(ack.detail)"))
                return WakeOutcome(relay: relay.id, macs: macs, detail: ack.detail)
            }
            failures.append("\(relay.id): \(ack.map { "\($0.result) \($0.detail)" } ?? "no answer within \(WakeRelay.answerTimeout)")")
        }
        audit(AuditEvent(actor: actor, action: "client.wake", target: clientID, detail: "failed: \(failures.joined(separator: "; "))"))
        throw .relaysFailed("no relay could send the wake-up: \(failures.joined(separator: "; "))")
    }

    /// A sequence above every earlier one for this agent: the time in milliseconds, or one more than
    /// the last, so it keeps rising across appliance restarts.
    func nextCommandSequence(_ clientID: String, now: Date) -> UInt64 {
        state.withLock { state in
            let last = max(state.commandSequences[clientID] ?? 0, UInt64(max(state.clients[clientID]?.lastCommandSequence ?? 0, 0)))
            let next = max(last + 1, UInt64(now.timeIntervalSince1970 * 1000))
            state.commandSequences[clientID] = next
            return next
        }
    }

    /// The client's connection now, if it has one.
    func connection(of clientID: String) -> ServerConnection? {
        state.withLock { $0.connections[clientID] }
    }

    /// Builds a command on the connection's event loop, where its sequence number is taken and it is queued, so
    /// commands reach the agent in the order of their numbers whatever task sent them; then waits for the
    /// acknowledgement, at most `answerTimeout`. `build` runs on the event loop too (a session opens its
    /// channel there); nil when it throws or the connection is gone.
    /// `queued` is called on the event loop once the command is queued on the connection (or could not be).
    func sendCommand(
        to clientID: String,
        over connection: ServerConnection,
        answerTimeout: Duration = WakeRelay.answerTimeout,
        queued: (@Sendable () -> Void)? = nil,
        _ build: @escaping @Sendable () throws -> WireCommand.OneOf_Action
    ) async -> WireAck? {
        await withCheckedContinuation { (continuation: CheckedContinuation<WireAck?, Never>) in
            connection.eventLoop.execute {
                defer { queued?() }
                let action: WireCommand.OneOf_Action
                do { action = try build() } catch {
                    continuation.resume(returning: nil)
                    return
                }
                let now = self.now()
                var command = WireCommand()
                command.agentID = clientID
                command.sequence = self.nextCommandSequence(clientID, now: now)
                command.expiresAtMs = UInt64((now.timeIntervalSince1970 + WakeRelay.commandLifetime) * 1000)
                command.action = action
                connection.send(.command(command)).whenComplete { result in
                    guard case .success(let messageID) = result else {
                        continuation.resume(returning: nil)
                        return
                    }
                    let key = PendingAck(clientID: clientID, messageID: messageID)
                    self.state.withLock { $0.pendingAcks[key] = AckWaiter(connection: connection, continuation: continuation) }
                    Task {
                        try? await Task.sleep(for: answerTimeout)
                        let waiter = self.state.withLock { $0.pendingAcks.removeValue(forKey: key) }
                        waiter?.continuation.resume(returning: nil)
                    }
                }
            }
        }
    }

    /// How long an attended support agent has to enroll and install itself when pinned.
    public static let pinTimeout = Duration.seconds(120)

    /// Asks the support agent `supportID` to install itself as a Jump Client with the one-use installer file `installer`;
    /// nil when it is gone or did not answer in ``pinTimeout``.
    public func pin(supportID: String, installer: Data) async -> WireAck? {
        guard supportID.hasPrefix(SupportQueue.idPrefix), let connection = connection(of: supportID) else { return nil }
        return await sendCommand(to: supportID, over: connection, answerTimeout: Self.pinTimeout) {
            var pin = WirePin()
            pin.installer = installer
            return .pin(pin)
        }
    }

    /// The connection of a connected client and a new channel id on it, above every earlier one on that connection.
    /// Call on the connection's event loop, in the same turn as opening the channel, so ids are opened in order.
    func allocateChannel(_ clientID: String) -> (connection: ServerConnection, channel: UInt32)? {
        state.withLock { state in
            guard let connection = state.connections[clientID] else { return nil }
            var next: UInt32 = 1
            if let last = state.lastChannel[clientID], last.connection == connection { next = last.channel + 1 }
            state.lastChannel[clientID] = (connection, next)
            return (connection, next)
        }
    }

    /// Whether the client has a connection now.
    public func isConnected(_ clientID: String) -> Bool {
        state.withLock { $0.connections[clientID] != nil }
    }

    // MARK: Local uninstall

    func localUninstall(clientID: String, _ message: WireLocalUninstall) async {
        guard var record = state.withLock({ $0.clients[clientID] }) else { return }
        let behavior = settings.uninstalledBehavior
        record.state = behavior == .keep ? .uninstalled : .deleted
        record.stateChangedAt = now()
        let kind = message.kind == .disable ? "disabled" : "uninstalled"
        do {
            try await store.updateClient(
                record,
                audit: AuditEvent(
                    actor: "client \(clientID)",
                    action: "client.local-uninstall",
                    target: clientID,
                    detail: "\(kind) by local user '\(message.localUser)'; behaviour \(behavior.rawValue)"
                )
            )
            state.withLock { $0.clients[clientID] = record }
        } catch {
            logger.error("cannot record a local uninstall", metadata: ["client": "\(clientID)", "error": "\(error)"])
        }
    }


    // MARK: Helpers

    private func audit(_ event: AuditEvent) {
        Task {
            do { try await store.appendAudit(event) } catch {
                logger.error("cannot write an audit record", metadata: ["action": "\(event.action)", "error": "\(error)"])
            }
        }
    }

    static func newClientID() -> String {
        RandomID.make("jc-")
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// Dotted and colon notation for the addresses agents report.
enum IPAddressText {
    static func format(_ bytes: Data) -> String {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            var words: [String] = []
            for index in stride(from: 0, to: 16, by: 2) {
                let word = UInt16(bytes[bytes.startIndex + index]) << 8 | UInt16(bytes[bytes.startIndex + index + 1])
                words.append(String(word, radix: 16))
            }
            return words.joined(separator: ":")
        default:
            return Hex.lowercase(bytes)
        }
    }
}
