#!/usr/bin/env bash
# Steady load: N Jump Clients connected (jump-loadgen, the agent's own runtime) reporting statistics
# every --interval seconds; over a measured window after all are connected, the reports per second
# the appliance acknowledged, its CPU per report and as a share of one core (persistence to SQLite
# included: it runs in the same process), and the report round trip p50/p99, which is also the time
# from a report sent to the report visible in the API (see below; checked by polling the API).
# Prints a table against the goal (<= 10% of one core for 1,900 reports/s, i.e. 19,000 clients
# every 10 s) and writes the figures to a file.
#
#   Benchmarks/steady.sh [--full] [--clients N] [--interval S] [--window S] [--verify S]
#                        [--sample N] [--start-rate N] [--no-verify] [--output FILE] [--cache DIR]
#                        [--per-process N] [--agent-threads N] [--agent-coalescing-ms N]
#                        [--loadgen-coalescing-ms N] [--no-peers] [--no-build]
#
#   (default)      1,000 clients, statistics interval 10 s, a 60 s window: about 3 minutes
#   --full         19,000 clients (the goal's load: 1,900 reports/s)
#   --clients      connected clients (at most 19,000: the appliance's open-file limit)
#   --interval     the appliance's statistics-interval during the run (default 10)
#   --window       seconds of the measured window, once all clients are connected and have sent
#                  their first report (default 60)
#   --verify       seconds of polling the API before the window (default 2 x interval + 5)
#   --sample       clients of each jump-loadgen process whose reports are traced and polled (default 5)
#   --start-rate   new connections per second from all clients together (default 290; the
#                  appliance admits at most 300)
#   --no-verify    skip the polling of the API
#   --output       the figures as JSON (default /tmp/steady-bench-DATE.json; the table beside it, .txt)
#   --cache        the enrollment cache (default ~/.cache/jump-loadgen/scale, shared with scale.sh)
#   --per-process  clients per jump-loadgen process (default 5,000; each has its own 127.0.0.x source)
#   --agent-threads  the appliance's event loops for agent connections (default: its own default,
#                  half the cores)
#   --agent-coalescing-ms  how long a mostly idle agent loop of the appliance gathers I/O before
#                  it waits for more (default: its own default, 2; 0 turns it off)
#   --loadgen-coalescing-ms  the same for the load generators' event loops, for the appliance and the
#                  peers alike (jump-loadgen --coalescing-ms; default 2; 0 turns it off): see below
#   --no-peers     measure the appliance only
#
# The peers, in the same run after the appliance: mosquitto and nats-server (Debian packages,
# installed when missing) with TLS 1.3 and required client certificates, as scale.sh starts them,
# the same number of clients (jump-loadgen hold), each sending one message every --interval seconds
# of the size of a statistics frame and waiting for its acknowledgement: an MQTT PUBLISH at QoS 1
# answered by PUBACK, a NATS PUB followed by PING answered by PONG. Neither server has a subscriber or
# stores anything, so theirs is the cost of receiving, decrypting, parsing and acknowledging a
# message: the floor an event-driven TLS server reaches on this machine, beside the appliance, which
# also validates, updates its statistics and writes them to SQLite. Their CPU is measured over the
# same kind of window.
#
# Reports/s is what the clients saw acknowledged in the window (jump-loadgen's window, from SIGUSR2 to
# its end, summed over the processes). Appliance CPU = user + system CPU of jump-server from
# /proc/PID/stat over the same window; per report = that CPU / reports acknowledged in it; % of one
# core = that CPU / the window's length. The window holds everything the appliance does under this
# load: TLS records, decoding, ClientHub.ingest, the acknowledgements, heartbeats, and the writer
# that stores the changed statistics in one SQLite transaction a second (AgentService.flushStats).
# Context switches per message: those of the server's threads over the window (from
# /proc/PID/task/*/status), voluntary (a thread went to sleep, in epoll_wait mostly) and involuntary
# (it was preempted, by a woken client on these shared cores), / messages acknowledged in it. The
# CPU per message is also given split into user space and the kernel (utime and stime of
# /proc/PID/stat, each sampled by the kernel's tick, so each is good to a few percent over a window):
# on loopback a write's kernel part includes the receiving end's TCP work, so the user part is where
# servers that make the same system calls differ.
#
# Sent to visible: the appliance acknowledges a report after ClientHub.ingest has put it into the
# memory the API reads (ServerConnectionHandler hands the report to ClientHub, whose
# connection(_:client:received:id:) calls ingest, which updates the latest statistics under the
# hub's lock, and only then sends the Ack). So a report is visible in the API before its
# acknowledgement leaves, and the round trip (handed to the connection -> Ack received) is an upper
# bound of sent -> visible; its p99 is reported as such. It is visible before it is persisted: the
# store is written within a second. The check: before the window, every client traced by --sample
# is polled on the API (GET /api/v1/clients/ID, with jumpctl's session token, every 0 to 0.4 s at
# random), and each poll started after a report's Ack must show that report's time (statisticsAt,
# stamped by the appliance at ingest, to the second) or a later one; the polls that did not are
# counted (they must be 0). The first poll showing a report and the last one not showing it bracket
# the moment it became visible, at the polls' resolution. The polling is kept out of the measured
# window.
#
# The load generators share the servers' two cores, and on loopback a server's write to a socket whose
# load-generator thread sleeps in epoll_wait wakes that thread from the server's system call: the
# scheduler's work and, on a virtual machine, an interrupt to the other core are counted as the
# server's CPU, and the woken thread then preempts it. A real agent's wake-up is its own machine's
# work. So the load generators' loops gather their I/O for --loadgen-coalescing-ms after a pass, as
# the appliance's do, and are seldom asleep in epoll_wait when a server writes to them; the receiving
# end's TCP work is still counted on the server, as before. Every server in the run is measured with
# the same setting. Their round trip then includes the client's own gathering (about that long or more).
# The clients' reports also leave in small bursts, after each of their pauses.
#
# Clients connect no faster than --start-rate: an agent waiting in the listen queue longer than its
# hello time-out (10 s, from the TCP connect) gives up (see docs/performance.md). Loopback only;
# bounded in time; everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

clients=1000
interval=10
window=60
verify=
sample=5
start_rate=290
verify_on=1
output=/tmp/steady-bench-$(date +%Y%m%d-%H%M%S).json
cache=$enrollment_cache
per_process=5000
agent_threads=
agent_coalescing=
loadgen_coalescing=2
peers=1
build=1
parse_options \
    --full:clients=19000 \
    --clients=clients \
    --interval=interval \
    --window=window \
    --verify=verify \
    --sample=sample \
    --start-rate=start_rate \
    --no-verify:verify_on=0 \
    --no-peers:peers=0 \
    --output=output \
    --cache=cache \
    --per-process=per_process \
    --agent-threads=agent_threads \
    --agent-coalescing-ms=agent_coalescing \
    --loadgen-coalescing-ms=loadgen_coalescing \
    --no-build:build=0 \
    -- "$@"
verify=${verify:-$((2 * interval + 5))}
[ -z "$agent_threads" ] || positive_numbers "--agent-threads" "$agent_threads"
[ -z "$agent_coalescing" ] || whole_numbers "--agent-coalescing-ms" "$agent_coalescing"
whole_numbers "--loadgen-coalescing-ms" "$loadgen_coalescing"
# WakeUpCoalescing.maximumMilliseconds, which jump-loadgen checks too: refused here, before anything starts.
[ "$loadgen_coalescing" -le 20 ] || usage_error "--loadgen-coalescing-ms is at most 20 (jump-loadgen's bound)"

# The goal from the scale issue: at most this share of one core for goal_reports_per_s.
goal_core_percent=10
goal_reports_per_s=1900
# The appliance's admission rate during the run (its maximum).
connection_rate=300
# Seconds allowed beyond N/start-rate for all clients to connect.
connect_margin_s=120
# How often jump-loadgen writes its figures (the traces are read from them).
every=5
# How often, on average, each sampled client is polled on the API during the check, in seconds.
poll_period=0.2

. Benchmarks/lib/common.sh
. Benchmarks/lib/cache.sh
need_packages python3
[ "$peers" -eq 1 ] && need_packages mosquitto nats-server openssl
build_products jump-server jumpctl jump-loadgen
# A jump-loadgen from before the option (a copied build in JUMP_BENCH_BIN) would stop at once.
"$bin/jump-loadgen" run --help | grep -q -- --coalescing-ms ||
    die "$bin/jump-loadgen has no --coalescing-ms: build jump-loadgen from this checkout"
wakeup=$(wakeup_figures)
ulimit -n "$(ulimit -Hn)"
[ "$clients" -le $(($(ulimit -n) - 200)) ] ||
    die "the appliance can hold at most $(($(ulimit -n) - 200)) clients with an open-file limit of $(ulimit -n)"
ensure_enrolled "$clients"

data=$work/steady-data
cp -a "$pristine" "$data"
port=$(agent_port)
start_appliance "$data" "$port" "$(free_port)" ${agent_threads:+--agent-threads "$agent_threads"} \
    ${agent_coalescing:+--agent-coalescing-ms "$agent_coalescing"}
jumpctl settings set connection-rate "$connection_rate" >/dev/null
jumpctl settings set statistics-interval "$interval" >/dev/null
sleep 2
processes=$(((clients + per_process - 1) / per_process))
log "jump-server: $clients clients connecting at $start_rate/s, statistics every $interval s"
start_loadgens steady "$clients" run --server "127.0.0.1:$port" --every "$every" --interval "$interval" \
    --start-rate $((start_rate / processes)) --trace "$sample" --coalescing-ms "$loadgen_coalescing"
wait_sum held "$clients" $((clients / start_rate + connect_margin_s)) "${lg_files[@]}" ||
    log "going on with the clients held"
# A connection's first report (with the host facts) goes at once; one interval after the last client
# connected, every client reports on its steady period.
sleep $((interval + 2))

# --- The check that a report is visible in the API once acknowledged (before the window).
check='{}'
if [ "$verify_on" -eq 1 ]; then
    ids=$("$python" -c '
import json, sys
print(" ".join(t["clientID"] for path in sys.argv[1:] for t in (json.load(open(path)).get("traces") or [])))
' "${lg_files[@]}")
    log "polling $(echo "$ids" | wc -w) clients on the API for $verify s"
    # shellcheck disable=SC2086
    "$python" - "$XDG_CONFIG_HOME/jumpctl/session.json" "$verify" "$poll_period" "$work/polls.json" $ids <<'PY'
import http.client, json, random, ssl, sys, time, urllib.parse
session = json.load(open(sys.argv[1]))
seconds, period, out, ids = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:]
url = urllib.parse.urlsplit(session["server"])
context = ssl.create_default_context(cadata=session["caPEM"])
headers = {"Authorization": "Bearer " + session["token"]}
connection, polls, errors = None, [], 0
end = time.time() + seconds
while time.time() < end:
    cycle = time.time()
    for client in ids:
        started = time.time()
        try:
            connection = connection or http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=10)
            connection.request("GET", "/api/v1/clients/" + client, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            connection, errors = None, errors + 1
            continue
        if response.status != 200:
            errors += 1
            continue
        polls.append([client, int(started * 1000), int(time.time() * 1000), json.loads(body).get("statisticsAt")])
    # A random pause, so the polls do not keep one phase against the reports' fixed interval.
    time.sleep(max(0, random.uniform(0, 2 * period) - (time.time() - cycle)))
json.dump({"polls": polls, "errors": errors}, open(out, "w"))
PY
    # The traces in the figures cover the polling once jump-loadgen has written them again.
    sleep $((every + 1))
    check=$("$python" - "$work/polls.json" "${lg_files[@]}" <<'PY'
import datetime, json, sys
polled = json.load(open(sys.argv[1]))
polls = polled["polls"]
traces = [t for path in sys.argv[2:] for t in (json.load(open(path)).get("traces") or [])]
def stamp(text):
    return None if text is None else int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
by_client = {}
for client, started, ended, at in polls:
    by_client.setdefault(client, []).append((started, ended, stamp(at)))
first_poll = min((p[1] for p in polls), default=0)
last_poll = max((p[1] for p in polls), default=0)
checked = after_ack = stale = stamped_between = 0
bounds, lower = [], []
for trace in traces:
    mine = by_client.get(trace["clientID"], [])
    reports = trace["reportsSentAckedUnixMs"]
    for i, (sent, acked) in enumerate(reports):
        if sent < first_poll or acked > last_poll:
            continue
        checked += 1
        second = sent // 1000 * 1000  # statisticsAt has whole seconds; the ingest is at or after `sent`
        following = reports[i + 1][0] if i + 1 < len(reports) else None
        shown = [p for p in mine if p[2] is not None and p[2] >= second and (following is None or p[0] < following)]
        if shown and shown[0][2] <= acked:
            stamped_between += 1
        for started, ended, at in mine:
            if started >= acked and (following is None or started < following):
                after_ack += 1
                if at is None or at < second:
                    stale += 1
        # Visible after the start of the last poll that did not show it, and before the end of the
        # first that did.
        if shown:
            bounds.append(min(ended for _, ended, _ in shown) - sent)
            earlier = [started for started, _, at in mine if started < shown[0][0] and (at is None or at < second)]
            if earlier:
                lower.append(max(earlier) - sent)
bounds.sort()
lower.sort()
pick = lambda values, q: values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else None
print(json.dumps({"clientsPolled": len(by_client), "polls": len(polls), "pollErrors": polled["errors"],
                  "reportsChecked": checked, "pollsAfterAck": after_ack, "pollsAfterAckNotShowingIt": stale,
                  "stampedBetweenSentAndAck": stamped_between,
                  "sentToVisibleUpperP50Ms": pick(bounds, 0.5), "sentToVisibleUpperMaxMs": pick(bounds, 1),
                  "sentToVisibleLowerMaxMs": pick(lower, 1)}))
PY
)
    log "API check: $check"
fi

# --- The measured window: SIGUSR2 to the clients, the server's CPU and context switches over it. Leaves
# window_split ("USER SYSTEM" seconds), window_cpu (their sum), window_wall, window_rss and
# window_switches ("VOLUNTARY INVOLUNTARY") for the row; the clients and the server are stopped.
#   measure_window SERVER_PID
measure_window() {
    local pid=$1 split0 split1 t0 t1 switches0 switches1
    log "measuring $window s"
    kill -USR2 "${lg_pids[@]}"
    split0=$(cpu_split_seconds "$pid")
    switches0=$(context_switches "$pid")
    t0=$(date +%s.%N)
    sleep "$window"
    split1=$(cpu_split_seconds "$pid")
    switches1=$(context_switches "$pid")
    t1=$(date +%s.%N)
    window_switches=$(echo "$switches0 $switches1" | awk '{ print $3 - $1, $4 - $2 }')
    window_split=$(echo "$split0 $split1" | awk '{ printf "%.3f %.3f\n", $3 - $1, $4 - $2 }')
    window_rss=$(rss_kib "$pid")
    stop_loadgens
    stop_pid "$pid"
    window_cpu=$(echo "$window_split" | awk '{ printf "%.3f", $1 + $2 }')
    window_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# One server's figures, from the clients' files and the window, as a JSON line in $rows.
#   record_row SERVER CHECK
rows=$work/steady-rows.jsonl
record_row() {
    "$python" - "$1" "$clients" "$interval" "$window_cpu" "$window_wall" "$window_rss" "$2" "$window_switches" "$window_split" "${lg_files[@]}" >>"$rows" <<'PY'
import json, sys
server, clients, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cpu, wall, rss = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
check = json.loads(sys.argv[7])
voluntary, involuntary = (int(n) for n in sys.argv[8].split())
user, system = (float(n) for n in sys.argv[9].split())
figures = [json.load(open(path)) for path in sys.argv[10:]]
acked = sum(f.get("windowReportsAcked") or 0 for f in figures)
rate = sum(f.get("windowReportsPerSecond") or 0 for f in figures)
row = {"server": server, "clients": clients, "interval": interval, "held": sum(f["held"] for f in figures),
       "windowSeconds": round(wall, 1), "reportsAcknowledged": acked, "reportsPerSecond": round(rate, 1),
       "expectedReportsPerSecond": round(clients / interval, 1),
       "roundTripP50Ms": max((f.get("roundTripP50Ms") or 0) for f in figures),
       "roundTripP99Ms": max((f.get("roundTripP99Ms") or 0) for f in figures),
       "connectFailures": sum(f["connectFailures"] for f in figures),
       "closedAfterReady": sum(f["closedAfterReady"] for f in figures),
       "serverCPUSeconds": round(cpu, 3), "serverCorePercent": round(cpu / wall * 100, 2), "serverRSSKiB": rss,
       "clientCPUSeconds": round(sum(f["cpuSeconds"] for f in figures), 1), "apiCheck": check,
       "serverContextSwitches": {"voluntary": voluntary, "involuntary": involuntary},
       "serverUserCPUSeconds": round(user, 3), "serverSystemCPUSeconds": round(system, 3)}
if acked:
    row["serverMsPerReport"] = round(cpu / (rate * wall) * 1000, 4)
    row["serverUserMsPerReport"] = round(user / (rate * wall) * 1000, 4)
    row["serverSystemMsPerReport"] = round(system / (rate * wall) * 1000, 4)
    row["serverContextSwitchesPerReport"] = {"voluntary": round(voluntary / (rate * wall), 2),
                                             "involuntary": round(involuntary / (rate * wall), 2)}
print(json.dumps(row))
PY
}

measure_window "$server_pid"
record_row jump-server "$check"

# --- mosquitto and nats-server: the same number of TLS clients with certificates, one acknowledged
# message each per interval of the size of a statistics frame (jump-loadgen hold --publish-every).
if [ "$peers" -eq 1 ]; then
    peer_pki "$work/pki"
    for name in mosquitto nats-server; do
        peer_port=$(free_port)
        start_peer "$name" "$peer_port" "$work/pki"
        sleep 2
        log "$name: $clients clients connecting at $start_rate/s, a message each every $interval s"
        start_loadgens "$name" "$clients" hold --tls "127.0.0.1:$peer_port" \
            --protocol "$(peer_protocol "$name")" --rate $((start_rate / processes)) \
            --ca "$work/pki/ca.pem" --cert "$work/pki/client.pem" --key "$work/pki/client.key" \
            --every "$every" --publish-every "$interval" --coalescing-ms "$loadgen_coalescing"
        wait_sum held "$clients" $((clients / start_rate + connect_margin_s)) "${lg_files[@]}" ||
            log "$name: going on with the connections held"
        sleep $((interval + 2))
        measure_window "$peer_pid"
        record_row "$name" '{}'
    done
fi

mkdir -p "$(dirname "$output")"
machine=$(machine_json "$wakeup")
"$python" - "$machine" "$output" "$rows" "$goal_core_percent" "$goal_reports_per_s" "$loadgen_coalescing" <<'PY'
import json, sys
machine, output = json.loads(sys.argv[1]), sys.argv[2]
rows = [json.loads(line) for line in open(sys.argv[3])]
goal_percent, goal_rate = float(sys.argv[4]), float(sys.argv[5])
loadgen_coalescing = int(sys.argv[6])
jump = rows[0]
for row in rows:
    if "serverMsPerReport" in row:
        row["projectedCorePercentAtGoalRate"] = round(row["serverMsPerReport"] * goal_rate / 10, 2)
rate, interval, wall = jump["reportsPerSecond"], jump["interval"], jump["windowSeconds"]
at_goal = rate >= 0.95 * goal_rate
percent = jump["serverCorePercent"] if at_goal else jump.get("projectedCorePercentAtGoalRate")
goal = {"corePercent": goal_percent, "reportsPerSecond": goal_rate, "measuredAtGoalRate": at_goal,
        "met": percent is not None and percent <= goal_percent}
json.dump({"machine": machine, "goal": goal, "loadgenCoalescingMs": loadgen_coalescing, "results": rows}, open(output, "w"), indent=2)
ms = lambda v: "-" if v is None else "%.1f" % v
lines = ["steady load: statistics every %d s, a %.0f s window once all clients were connected" % (interval, wall), ""]
lines.append("%-12s %8s  %6s  %10s  %14s  %13s  %14s  %10s  %10s  %10s" % ("server", "clients", "held", "reports/s", "server CPU s", "% of one core", "ms per report", "jump/this", "rtt p50 ms", "rtt p99 ms"))
for row in rows:
    per = row.get("serverMsPerReport")
    ratio = "%.2f" % (jump["serverMsPerReport"] / per) if per and jump.get("serverMsPerReport") else "-"
    lines.append("%-12s %8d  %6d  %10.1f  %14.2f  %13.2f  %14s  %10s  %10s  %10s" % (row["server"], row["clients"], row["held"], row["reportsPerSecond"], row["serverCPUSeconds"], row["serverCorePercent"], "-" if per is None else "%.4f" % per, ratio, ms(row["roundTripP50Ms"]), ms(row["roundTripP99Ms"])))
if len(rows) > 1:
    lines.append("  (mosquitto: MQTT PUBLISH at QoS 1 and its PUBACK, no subscriber, persistence off; nats-server: PUB then PING and its PONG, no subscriber; neither stores anything)")
switched = [r for r in rows if "serverContextSwitchesPerReport" in r]
if switched:
    lines.append("  context switches of the server's threads per message, asleep / preempted: " + ", ".join("%s %.2f / %.2f" % (r["server"], r["serverContextSwitchesPerReport"]["voluntary"], r["serverContextSwitchesPerReport"]["involuntary"]) for r in switched))
    lines.append("  server CPU per message in user space / in the kernel (ms; the kernel's part holds, on loopback, the receiving end's TCP work of each write): " + ", ".join("%s %.4f / %.4f" % (r["server"], r["serverUserMsPerReport"], r["serverSystemMsPerReport"]) for r in switched))
lines.append("")
lines.append("sent -> visible in the API: at most the round trip (the Ack leaves after the report is in the API's memory): p99 %s ms (the highest of the processes' p99s)" % ms(jump["roundTripP99Ms"]))
check = jump["apiCheck"]
if check:
    lines.append("checked on the API: %d reports of %d clients, %d polls after their Ack, %d of them not showing the report (must be 0)" % (check["reportsChecked"], check["clientsPolled"], check["pollsAfterAck"], check["pollsAfterAckNotShowingIt"]))
    lines.append("  the first poll showing a report ended p50 %s ms, at most %s ms after it was sent; the last not showing it started at most %s ms after (polls about every 200 ms, at random)" % (ms(check["sentToVisibleUpperP50Ms"]), ms(check["sentToVisibleUpperMaxMs"]), ms(check["sentToVisibleLowerMaxMs"])))
if at_goal:
    lines.append("goal: <= %.0f%% of one core for %.0f reports/s: %s (%.2f%% measured)" % (goal_percent, goal_rate, "met" if goal["met"] else "NOT met", jump["serverCorePercent"]))
elif percent is not None:
    lines.append("goal: <= %.0f%% of one core for %.0f reports/s: %s by projection (%.2f%% = ms per report x %.0f/s; measured at %.0f reports/s only: run --full)" % (goal_percent, goal_rate, "met" if goal["met"] else "NOT met", percent, goal_rate, rate))
lines.append("jump-server VmRSS at the end %d KiB; its clients' own CPU %.1f s; machine: %d cores, load average %s at the end; clients and server share the cores" % (jump["serverRSSKiB"], jump["clientCPUSeconds"], machine["cores"], machine["loadAverage"]))
lines.append("the load generators' loops, when mostly idle, gathered I/O %s before waiting (--loadgen-coalescing-ms), the same setting for every server" % ("up to %d ms" % loadgen_coalescing if loadgen_coalescing else "not at all"))
sys.path.insert(0, "Benchmarks/lib")
from wakeup import describe
wake_up_line = describe(machine.get("wakeUp"))
if wake_up_line:
    lines.append(wake_up_line)
text = "\n".join(lines)
print(text)
open(output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
PY
log "figures written to $output"
