import Foundation
import JumpAgentCore
import JumpProtocol
import NIOCore
import Synchronization

/// Latency samples of one kind: those of the current period, and those of the run (since the start,
/// or since the measurement window began: SIGUSR2).
struct Samples {
    /// Samples kept for the run; beyond this the run's percentiles come from the first samples only
    /// (the per-period figures are always complete).
    static let maximumRunSamples = 2_000_000

    var period: [Double] = []
    var run: [Double] = []

    mutating func record(_ milliseconds: Double) {
        period.append(milliseconds)
        if run.count < Self.maximumRunSamples { run.append(milliseconds) }
    }

    /// The period's samples; the period starts again.
    mutating func takePeriod() -> [Double] {
        defer { period.removeAll(keepingCapacity: true) }
        return period
    }
}

/// Everything the simulated agents' observers report, counted where it happens (on the event
/// loops) and read once a period by the printer.
final class FleetCounters: Sendable {
    /// Arrival times kept for the whole run (a reconnect storm of 19,000 needs 19,000).
    static let maximumArrivals = 1_000_000

    let ready = Atomic<Int>(0)
    /// Of `ready`, the connections whose TLS handshake resumed an earlier session.
    let resumed = Atomic<Int>(0)
    let closedAfterReady = Atomic<Int>(0)
    let closedBeforeReady = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
    let connectTimeouts = Atomic<Int>(0)
    let reportsSent = Atomic<Int>(0)
    let reportsAcked = Atomic<Int>(0)
    let thumbnailsSent = Atomic<Int>(0)
    let thumbnailsAcked = Atomic<Int>(0)
    let gaveUp = Atomic<Int>(0)
    let peakHeld = Atomic<Int>(0)
    /// Report round trips: handed to the connection to acknowledged.
    private let roundTrips = Mutex(Samples())
    /// Handshake mode: from the start of a connection attempt to the appliance's Welcome.
    private let welcomes = Mutex(Samples())
    private let arrivals = Mutex<[Int64]>([])

    var held: Int { ready.load(ordering: .relaxed) - closedAfterReady.load(ordering: .relaxed) }

    func recordReady(resumed: Bool) {
        if resumed { self.resumed.add(1, ordering: .relaxed) }
        let held = ready.add(1, ordering: .relaxed).newValue - closedAfterReady.load(ordering: .relaxed)
        peakHeld.max(held, ordering: .relaxed)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        arrivals.withLock { if $0.count < Self.maximumArrivals { $0.append(now) } }
    }

    func recordRoundTrip(_ milliseconds: Double) { roundTrips.withLock { $0.record(milliseconds) } }
    func recordWelcome(_ milliseconds: Double) { welcomes.withLock { $0.record(milliseconds) } }

    /// The round trips and welcome times since the last call, sorted.
    func takePeriodSamples() -> (roundTrips: [Double], welcomes: [Double]) {
        (roundTrips.withLock { $0.takePeriod() }.sorted(), welcomes.withLock { $0.takePeriod() }.sorted())
    }

    var runRoundTrips: [Double] { roundTrips.withLock { $0.run } }
    var runWelcomes: [Double] { welcomes.withLock { $0.run } }
    var arrivalTimes: [Int64] { arrivals.withLock { $0 } }

    /// The run's percentiles count from now on (the measurement window begins).
    func restartRunSamples() {
        roundTrips.withLock { $0.run.removeAll() }
        welcomes.withLock { $0.run.removeAll() }
    }
}

/// The wall-clock times of one agent's reports, each sent and acknowledged (--trace): to compare
/// with what the appliance's API shows, which is stamped with the same clock.
final class ReportTrace: Sendable {
    /// Reports kept per traced agent (one every 10 s is 360 an hour).
    static let maximumReports = 10_000

    let index: Int
    let clientID: String
    private let reports = Mutex<[[Int64]]>([])

    init(index: Int, clientID: String) {
        self.index = index
        self.clientID = clientID
    }

    func record(sentUnixMs: Int64, ackedUnixMs: Int64) {
        reports.withLock { if $0.count < Self.maximumReports { $0.append([sentUnixMs, ackedUnixMs]) } }
    }

    var snapshot: Figures.Trace {
        Figures.Trace(index: index, clientID: clientID, reportsSentAckedUnixMs: reports.withLock { $0 })
    }

    static var nowUnixMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// One simulated agent's view for its observer: the reports waiting for their acknowledgement, in
/// the order they were sent (the appliance acknowledges in that order).
final class AgentProbe: Sendable {
    /// Reports remembered while unacknowledged; one is normal, more means the appliance is behind.
    static let maximumPending = 16

    let counters: FleetCounters
    let trace: ReportTrace?
    private let pending = Mutex<[(sent: ContinuousClock.Instant, sentUnixMs: Int64, thumbnail: Bool)]>([])

    init(counters: FleetCounters, trace: ReportTrace? = nil) {
        self.counters = counters
        self.trace = trace
    }

    func observe(_ event: AgentRuntimeEvent) {
        switch event {
        case .ready(let resumed):
            counters.recordReady(resumed: resumed)
        case .closed(_, let wasReady):
            if wasReady {
                counters.closedAfterReady.add(1, ordering: .relaxed)
            } else {
                counters.closedBeforeReady.add(1, ordering: .relaxed)
            }
            pending.withLock { $0.removeAll() }
        case .connectFailed(let error):
            counters.connectFailures.add(1, ordering: .relaxed)
            if case ChannelError.connectTimeout = error { counters.connectTimeouts.add(1, ordering: .relaxed) }
        case .reportSent(let thumbnail):
            counters.reportsSent.add(1, ordering: .relaxed)
            if thumbnail { counters.thumbnailsSent.add(1, ordering: .relaxed) }
            pending.withLock { pending in
                if pending.count >= Self.maximumPending { pending.removeFirst() }
                pending.append((.now, trace == nil ? 0 : ReportTrace.nowUnixMs, thumbnail))
            }
        case .acknowledged:
            let now = ContinuousClock.now
            guard let (sent, sentUnixMs, thumbnail) = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return }
            trace?.record(sentUnixMs: sentUnixMs, ackedUnixMs: ReportTrace.nowUnixMs)
            counters.reportsAcked.add(1, ordering: .relaxed)
            if thumbnail { counters.thumbnailsAcked.add(1, ordering: .relaxed) }
            counters.recordRoundTrip(Self.milliseconds(now - sent))
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// The figures a run prints and writes: counts since the start and rates over the last period.
struct Figures: Codable {
    var mode = "agents"
    var agents = 0
    var elapsedSeconds = 0.0
    var held = 0
    var peakHeld = 0
    var handshakes = 0
    /// Of `handshakes`, those that resumed an earlier TLS session.
    var resumedHandshakes = 0
    var handshakesPerSecond = 0.0
    var peakHandshakesPerSecond = 0.0
    var connectFailures = 0
    var connectTimeouts = 0
    var closedAfterReady = 0
    var closedBeforeReady = 0
    var gaveUp = 0
    var reportsSent = 0
    var reportsAcked = 0
    var reportsPerSecond = 0.0
    var thumbnailsSent = 0
    var thumbnailsAcked = 0
    /// Report round trips (handed to the connection to acknowledged) over the run, or over the
    /// measurement window once one began (SIGUSR2).
    var roundTripP50Ms: Double?
    var roundTripP99Ms: Double?
    var periodRoundTripP50Ms: Double?
    var periodRoundTripP99Ms: Double?
    /// Handshake mode: from the start of a connection attempt (TCP connect, TLS, Hello) to the
    /// appliance's Welcome, over the run (or the window) and over the last period.
    var welcomeP50Ms: Double?
    var welcomeP99Ms: Double?
    var periodWelcomeP99Ms: Double?
    /// The measurement window (from SIGUSR2 to now): its length and the reports in it.
    var windowSeconds: Double?
    var windowReportsSent: Int?
    var windowReportsAcked: Int?
    var windowReportsPerSecond: Double?
    var cpuSeconds = 0.0
    var cpuPercent = 0.0
    var periodCPUPercent = 0.0
    var residentKiB = 0
    var statisticsIntervalSeconds: Int?
    var finished = false
    /// Unix milliseconds of every connection the appliance welcomed (with --arrivals).
    var arrivalsUnixMs: [Int64]?
    /// The traced agents' reports (with --trace).
    var traces: [Trace]?

    /// One traced agent: its client id in the appliance and, for each acknowledged report, the Unix
    /// milliseconds at which it was handed to the connection and at which its acknowledgement came.
    struct Trace: Codable {
        var index: Int
        var clientID: String
        var reportsSentAckedUnixMs: [[Int64]]
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    var line: String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }
        var text = String(
            format: "t=%.0fs held=%d handshakes/s=%.0f reports/s=%.0f rtt p50=%@ms p99=%@ms cpu=%.0f%%",
            elapsedSeconds, held, handshakesPerSecond, reportsPerSecond,
            ms(periodRoundTripP50Ms), ms(periodRoundTripP99Ms), periodCPUPercent
        )
        if connectFailures > 0 || closedBeforeReady > 0 {
            text += " failed=\(connectFailures) timeouts=\(connectTimeouts) closed-before-ready=\(closedBeforeReady)"
        }
        if thumbnailsSent > 0 { text += " thumbnails=\(thumbnailsAcked)/\(thumbnailsSent)" }
        if let periodWelcomeP99Ms { text += " welcome p99=\(ms(periodWelcomeP99Ms))ms" }
        return text
    }

    var summary: String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.2f ms", $0) } ?? "-" }
        var text = """
            agents                  \(agents)
            connections held        \(held) (peak \(peakHeld))
            handshakes              \(handshakes) (peak \(String(format: "%.0f", peakHandshakesPerSecond))/s; \(String(format: "%.1f", Double(handshakes) / max(elapsedSeconds, 0.001)))/s over the run)
            resumed                 \(resumedHandshakes) of those handshakes
            connect failures        \(connectFailures) (timeouts \(connectTimeouts)); closed before ready \(closedBeforeReady)
            closed after ready      \(closedAfterReady); gave up \(gaveUp)
            reports                 \(reportsAcked) acknowledged of \(reportsSent) sent; \(String(format: "%.1f", Double(reportsAcked) / max(elapsedSeconds, 1)))/s over the run
            thumbnails              \(thumbnailsAcked) acknowledged of \(thumbnailsSent) sent
            report round trip       p50 \(ms(roundTripP50Ms)), p99 \(ms(roundTripP99Ms))
            """
        if let windowSeconds, let windowReportsAcked, let windowReportsPerSecond {
            text += String(
                format: "\nwindow                  %.1f s: %d reports acknowledged, %.1f/s (the round trip above is the window's)",
                windowSeconds, windowReportsAcked, windowReportsPerSecond
            )
        }
        if welcomeP50Ms != nil { text += "\nattempt to Welcome      p50 \(ms(welcomeP50Ms)), p99 \(ms(welcomeP99Ms))" }
        text += """

            own CPU                 \(String(format: "%.1f", cpuSeconds)) s (\(String(format: "%.1f", cpuPercent))% of one core over \(String(format: "%.0f", elapsedSeconds)) s)
            own memory              \(residentKiB / 1024) MiB
            """
        return text
    }
}

/// This process's CPU time (user + system) and resident memory.
enum ProcessUsage {
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

/// Prints a line every period and keeps the JSON file current, so scripts can wait on it.
final class FiguresPrinter: Sendable {
    let counters: FleetCounters
    let agents: Int
    let mode: String
    let output: String?
    let arrivals: Bool
    let interval: @Sendable () -> Int?
    /// The agents traced with --trace.
    let traces: [ReportTrace]
    private let started = ContinuousClock.now
    private let last = Mutex<(at: ContinuousClock.Instant, cpu: Double, ready: Int, acked: Int, peak: Double)>((.now, 0, 0, 0, 0))
    private let window = Mutex<(at: ContinuousClock.Instant, sent: Int, acked: Int)?>(nil)

    init(
        counters: FleetCounters, agents: Int, mode: String, output: String?, arrivals: Bool, traces: [ReportTrace] = [],
        interval: @escaping @Sendable () -> Int?
    ) {
        self.counters = counters
        self.traces = traces
        self.agents = agents
        self.mode = mode
        self.output = output
        self.arrivals = arrivals
        self.interval = interval
        last.withLock { $0 = (.now, ProcessUsage.cpuSeconds(), 0, 0, 0) }
    }

    /// The measurement window begins now: the run's percentiles start again, and the final figures
    /// say how many reports were sent and acknowledged since (SIGUSR2, sent by the scripts).
    func startWindow() {
        counters.restartRunSamples()
        let sent = counters.reportsSent.load(ordering: .relaxed)
        let acked = counters.reportsAcked.load(ordering: .relaxed)
        window.withLock { $0 = (.now, sent, acked) }
        say("measurement window started")
    }

    /// The figures now; `finished` adds the run's percentiles and, with --arrivals, the arrival times.
    func figures(finished: Bool) -> Figures {
        let now = ContinuousClock.now
        let cpu = ProcessUsage.cpuSeconds()
        let ready = counters.ready.load(ordering: .relaxed)
        let acked = counters.reportsAcked.load(ordering: .relaxed)
        let period = counters.takePeriodSamples()
        var figures = Figures()
        figures.mode = mode
        figures.agents = agents
        figures.elapsedSeconds = AgentProbe.milliseconds(now - started) / 1000
        figures.held = counters.held
        figures.peakHeld = counters.peakHeld.load(ordering: .relaxed)
        figures.handshakes = ready
        figures.resumedHandshakes = counters.resumed.load(ordering: .relaxed)
        figures.connectFailures = counters.connectFailures.load(ordering: .relaxed)
        figures.connectTimeouts = counters.connectTimeouts.load(ordering: .relaxed)
        figures.closedAfterReady = counters.closedAfterReady.load(ordering: .relaxed)
        figures.closedBeforeReady = counters.closedBeforeReady.load(ordering: .relaxed)
        figures.gaveUp = counters.gaveUp.load(ordering: .relaxed)
        figures.reportsSent = counters.reportsSent.load(ordering: .relaxed)
        figures.reportsAcked = acked
        figures.thumbnailsSent = counters.thumbnailsSent.load(ordering: .relaxed)
        figures.thumbnailsAcked = counters.thumbnailsAcked.load(ordering: .relaxed)
        figures.periodRoundTripP50Ms = Figures.percentile(period.roundTrips, 50)
        figures.periodRoundTripP99Ms = Figures.percentile(period.roundTrips, 99)
        figures.periodWelcomeP99Ms = Figures.percentile(period.welcomes, 99)
        figures.cpuSeconds = cpu
        figures.cpuPercent = cpu / max(figures.elapsedSeconds, 0.001) * 100
        figures.residentKiB = ProcessUsage.residentKiB()
        figures.statisticsIntervalSeconds = interval()
        last.withLock { last in
            let seconds = max(AgentProbe.milliseconds(now - last.at) / 1000, 0.001)
            figures.handshakesPerSecond = Double(ready - last.ready) / seconds
            figures.reportsPerSecond = Double(acked - last.acked) / seconds
            figures.periodCPUPercent = (cpu - last.cpu) / seconds * 100
            last.peak = max(last.peak, figures.handshakesPerSecond)
            figures.peakHandshakesPerSecond = last.peak
            last = (now, cpu, ready, acked, last.peak)
        }
        if let window = window.withLock({ $0 }) {
            let seconds = AgentProbe.milliseconds(now - window.at) / 1000
            figures.windowSeconds = seconds
            figures.windowReportsSent = figures.reportsSent - window.sent
            figures.windowReportsAcked = acked - window.acked
            figures.windowReportsPerSecond = Double(acked - window.acked) / max(seconds, 0.001)
        }
        if !traces.isEmpty { figures.traces = traces.map(\.snapshot) }
        if finished {
            let run = counters.runRoundTrips.sorted()
            figures.roundTripP50Ms = Figures.percentile(run, 50)
            figures.roundTripP99Ms = Figures.percentile(run, 99)
            let welcomes = counters.runWelcomes.sorted()
            figures.welcomeP50Ms = Figures.percentile(welcomes, 50)
            figures.welcomeP99Ms = Figures.percentile(welcomes, 99)
            figures.finished = true
            if arrivals { figures.arrivalsUnixMs = counters.arrivalTimes }
        }
        return figures
    }

    func write(_ figures: Figures) {
        guard let output else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(figures) else { return }
        try? writeAtomically(data, to: URL(fileURLWithPath: output), mode: 0o644)
    }

    /// Prints and writes every `period` until cancelled.
    func run(every period: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            let figures = figures(finished: false)
            say(figures.line)
            write(figures)
        }
    }
}

/// Prints a line at once (stdout is a file or pipe in the scripts, where print would buffer it).
func say(_ text: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
}
