#!/usr/bin/env bash
# Handshake capacity: new mTLS connections per second the appliance absorbs with admission control
# lifted (jump-server run --unlimited-admission, for benchmarks only), and the appliance's CPU per
# handshake; then, in the same run, the CPU mosquitto and nats-server spend per TLS 1.3 connection
# with a client certificate. Prints a table against the goals (<= 0.3 ms of server CPU per mTLS
# handshake, >= 3,000 handshakes/s) and writes the figures to a file.
#
#   Benchmarks/handshake.sh [--processes N] [--concurrency N] [--duration S] [--threads N]
#                           [--peer-connections N] [--peer-rate N] [--no-peers] [--tls KIND]
#                           [--agent-threads N] [--agent-coalescing-ms N] [--output FILE] [--cache DIR]
#                           [--no-build]
#
#   --processes         jump-loadgen processes, each from its own 127.0.0.x address (default 4)
#   --concurrency       agents churning in each process, i.e. connections in flight (default 32)
#   --duration          seconds of churn (default 20; at most 28,000 connections per source address
#                       a minute: the client closes first, and its ports wait in TIME_WAIT)
#   --threads           event loop threads per jump-loadgen process (default 1)
#   --peer-connections  connections made to mosquitto and nats-server each (default 2000)
#   --peer-rate         new connections per second to them (default 1000)
#   --agent-threads     the appliance's event loops for agent connections (default: the cores, at
#                       most 64)
#   --agent-coalescing-ms  how long a mostly idle agent loop of the appliance gathers I/O before it
#                       waits for more (default: the appliance's default, 2; 0 turns it off)
#   --no-peers          measure the appliance only
#   --tls               full, resumed or both (default): the appliance's churn with every connection
#                       a full handshake (jump-loadgen handshake --full-handshakes), with agents
#                       resuming their last session as jump-agent does, or one after the other
#   --output            the figures as JSON (default /tmp/handshake-bench-DATE.json; the table
#                       beside it, .txt)
#   --cache             the enrollment cache (default ~/.cache/jump-loadgen/scale, shared with
#                       scale.sh); processes x concurrency agents are enrolled there when missing
#
# Each connection is a TLS 1.3 handshake with the enrolled agent's own P-256 client certificate and
# the agent's Hello/Welcome, made by the agent's own runtime (jump-loadgen handshake); the agent
# then stops as jump-agent stops (a Goodbye, then close) and connects again at once. "full": every
# handshake exchanges and verifies both certificates; "resumed": as jump-agent, each agent offers
# the session of its last connection (the appliance's ticket), so all but each agent's first
# connection resume it (a fresh key exchange, no certificates, no signatures). Each kind runs on a
# fresh appliance. No statistics
# report is sent. The agents run from a copy of their enrolled files on tmpfs (/dev/shm), because
# the agent writes its state file (with fsync) as jump-agent does: when it starts, and then at most
# once in five minutes while it only reconnects.
#
# The appliance runs with --unlimited-admission and the site's connection-rate set to 10/s, so a
# rate far above 10/s shows that the setting no longer admits, and with --agent-threads set to the
# machine's cores (its default is half of them, which suits the steady load of agents admitted at
# most 300 a second; with admission lifted, handshakes come faster and one loop per core takes more
# of them: docs/performance.md, "Handshake capacity"). Server CPU per handshake = (user +
# system CPU of jump-server from /proc/PID/stat after the churn - before it) / Welcomes the agents
# received. It includes everything the appliance does for those connections: accept, TLS, the
# client certificate check, Hello/Welcome, the close, and writing contact times to the store each
# second; and the little it does idle (measured beforehand and printed). Handshakes/s = the
# Welcomes of each process / its churn time, summed. The clients run on the same cores as the
# appliance and spend more CPU per handshake than it does (TLS and the agent's runtime), so on a
# small machine handshakes/s is bounded by the machine, not the appliance; the table also gives
# 1 / (server CPU per handshake), the rate one core of the appliance would sustain. For mosquitto
# and nats-server: (their CPU after --peer-connections connections were opened by jump-loadgen
# hold and closed - before) / connections held (MQTT CONNECT and CONNACK, or NATS INFO, TLS,
# CONNECT and PING/PONG). Each server's CPU per connection is also given split into user space and
# the kernel (utime and stime of /proc/PID/stat); on loopback the kernel part holds the other end's
# TCP work of every write.
# Loopback only; bounded in time; everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

processes=4
concurrency=32
duration=20
threads=1
peer_connections=2000
peer_rate=1000
peers=1
agent_threads=$(( $(nproc) < 64 ? $(nproc) : 64 ))
agent_coalescing=
tls=both
output=/tmp/handshake-bench-$(date +%Y%m%d-%H%M%S).json
cache=$enrollment_cache
build=1
parse_options \
    --processes=processes \
    --concurrency=concurrency \
    --duration=duration \
    --threads=threads \
    --peer-connections=peer_connections \
    --peer-rate=peer_rate \
    --no-peers:peers=0 \
    --agent-threads=agent_threads \
    --agent-coalescing-ms=agent_coalescing \
    --tls=tls \
    --output=output \
    --cache=cache \
    --no-build:build=0 \
    -- "$@"
positive_numbers "--agent-threads" "$agent_threads"
[ -z "$agent_coalescing" ] || whole_numbers "--agent-coalescing-ms" "$agent_coalescing"

# Goals from the scale issue.
goal_ms_per_handshake=0.3
goal_per_second=3000
# Seconds a jump-loadgen process may take beyond --duration to set up and stop.
stop_margin_s=60
# Simulated clients per jump-loadgen process when enrolling (as the other scale benchmarks).
per_process=5000
# Seconds the idle appliance is watched to know its CPU at rest.
idle_s=3
# The site's connection-rate setting during the churn (ignored with --unlimited-admission).
site_rate=10

. Benchmarks/lib/common.sh
. Benchmarks/lib/cache.sh
need_packages python3
[ "$peers" -eq 1 ] && need_packages openssl mosquitto nats-server
build_products jump-server jumpctl jump-loadgen
wakeup=$(wakeup_figures)
ulimit -n "$(ulimit -Hn)"
agents_needed=$((processes * concurrency))
ensure_enrolled "$agents_needed"

# The churned agents' files on tmpfs, removed on exit with the rest.
churn_cache=$(mktemp -d /dev/shm/jump-handshake.XXXXXX)
trap 'cleanup; rm -rf "$churn_cache"' EXIT
for i in $(seq 0 $((agents_needed - 1))); do
    cp -a "$agents/$(printf 'agent-%06d' "$i")" "$churn_cache/"
done

rows=()
# CPU seconds (user + system) between two cpu_split_seconds readings.
cpu_between() { echo "$1 $2" | awk '{ printf "%.3f", $3 + $4 - $1 - $2 }'; }

# --- The appliance, admission control lifted: once with every connection a full handshake, once
# as agents connect again (resuming the TLS session of their last connection).
#   measure_jump full|resumed
measure_jump() {
local handshakes=$1 handshake_flags=()
[ "$handshakes" = full ] && handshake_flags=(--full-handshakes)
data=$work/handshake-data-$handshakes
cp -a "$pristine" "$data"
port=$(agent_port)
start_appliance_with "$data" "$port" "$(free_port)" --log-level warning --unlimited-admission --agent-threads "$agent_threads" \
    ${agent_coalescing:+--agent-coalescing-ms "$agent_coalescing"}
grep -q "admission control is lifted" "$work/jump-server.log" || die "jump-server did not say that admission control is lifted"
# A low site rate that the churn must exceed by far: proof that the setting no longer admits.
jumpctl settings set connection-rate "$site_rate" >/dev/null
jumpctl settings set statistics-interval 3600 >/dev/null
sleep 2
idle0=$(cpu_seconds "$server_pid")
sleep "$idle_s"
idle1=$(cpu_seconds "$server_pid")
idle_cpu_per_s=$(awk -v a="$idle0" -v b="$idle1" -v s="$idle_s" 'BEGIN { printf "%.4f", (b - a) / s }')
log "jump-server ($handshakes handshakes): $processes processes x $concurrency agents churning for $duration s (idle CPU ${idle_cpu_per_s} s/s)"
split_before=$(cpu_split_seconds "$server_pid")
started_at=$(date +%s.%N)
files=()
pids=()
for i in $(seq 0 $((processes - 1))); do
    file=$work/handshake-$handshakes-$i.json
    "$bin/jump-loadgen" handshake --cache "$churn_cache" --first $((i * concurrency)) --agents "$concurrency" \
        --source "$(source_address "$i")" --server "127.0.0.1:$port" --duration "$duration" --every 1 \
        --threads "$threads" "${handshake_flags[@]}" --json "$file" >"$work/handshake-$handshakes-$i.log" 2>&1 &
    pids+=($!)
    files+=("$file")
    started $!
done
# Each process stops itself after --duration; one that does not within the margin is stopped.
running() { local state; state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]; }
deadline=$((SECONDS + duration + stop_margin_s))
for pid in "${pids[@]}"; do
    while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
    running "$pid" && log "a jump-loadgen process did not stop in time; stopping it"
    stop_pid "$pid"
done
# The last closes and the last write of contact times (every second) belong to the churn.
sleep 2
split_after=$(cpu_split_seconds "$server_pid")
wall=$(awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
stop_pid "$server_pid"
rows+=("$("$python" - "$(cpu_between "$split_before" "$split_after")" "$idle_cpu_per_s" "$wall" "$processes" "$concurrency" "$site_rate" "$handshakes" "$split_before $split_after" "${files[@]}" <<'PY'
import json, sys
cpu, idle, wall = (float(v) for v in sys.argv[1:4])
processes, concurrency, site_rate = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
kind = sys.argv[7]
user0, system0, user1, system1 = (float(v) for v in sys.argv[8].split())
figures = [json.load(open(path)) for path in sys.argv[9:]]
handshakes = sum(f["handshakes"] for f in figures)
row = {"server": "jump-server", "tls": kind, "mode": "churn (connect, Hello/Welcome, Goodbye, close)",
       "resumed": sum(f.get("resumedHandshakes", 0) for f in figures),
       "processes": processes, "concurrency": concurrency, "connections": handshakes,
       "seconds": round(max(f["elapsedSeconds"] for f in figures), 1),
       "perSecond": round(sum(f["handshakes"] / max(f["elapsedSeconds"], 0.001) for f in figures), 1),
       "peakPerSecond": round(sum(f["peakHandshakesPerSecond"] for f in figures), 1),
       "connectFailures": sum(f["connectFailures"] for f in figures),
       "closedBeforeReady": sum(f["closedBeforeReady"] for f in figures),
       "gaveUp": sum(f["gaveUp"] for f in figures),
       "welcomeP50Ms": max((f.get("welcomeP50Ms") or 0) for f in figures),
       "welcomeP99Ms": max((f.get("welcomeP99Ms") or 0) for f in figures),
       "clientCPUSeconds": round(sum(f["cpuSeconds"] for f in figures), 2),
       "serverCPUSeconds": round(cpu, 3), "serverIdleCPUPerSecond": idle, "wallSeconds": wall,
       "serverUserCPUSeconds": round(user1 - user0, 3), "serverSystemCPUSeconds": round(system1 - system0, 3),
       "siteConnectionRate": site_rate}
if handshakes:
    row["serverMsPerConnection"] = round(cpu * 1000 / handshakes, 4)
    row["serverUserMsPerConnection"] = round((user1 - user0) * 1000 / handshakes, 4)
    row["serverSystemMsPerConnection"] = round((system1 - system0) * 1000 / handshakes, 4)
    row["serverMsPerConnectionLessIdle"] = round(max(cpu - idle * wall, 0) * 1000 / handshakes, 4)
    row["clientMsPerConnection"] = round(row["clientCPUSeconds"] * 1000 / handshakes, 4)
    row["perCoreProjection"] = round(1000 / row["serverMsPerConnection"])
print(json.dumps(row))
PY
)")
log "jump-server ($handshakes handshakes): ${rows[-1]}"
"$python" -c 'import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if r["perSecond"] > 2 * r["siteConnectionRate"] else 1)' "${rows[-1]}" ||
    log "warning: not much above the site's connection-rate ($site_rate/s): is admission control lifted?"

}
case $tls in
    full) measure_jump full ;;
    resumed) measure_jump resumed ;;
    both) measure_jump full; measure_jump resumed ;;
    *) die "--tls takes full, resumed or both, not $tls" ;;
esac

# --- mosquitto and nats-server: connections opened (TLS 1.3, client certificate) and closed.
measure_peer() {
    local name=$1 port
    port=$(free_port)
    start_peer "$name" "$port" "$work/pki"
    sleep 1
    local protocol split0 split1
    protocol=$(peer_protocol "$name")
    split0=$(cpu_split_seconds "$peer_pid")
    log "$name: $peer_connections connections at $peer_rate/s"
    per_process=$(((peer_connections + processes - 1) / processes))
    start_loadgens "$name" "$peer_connections" hold --tls "127.0.0.1:$port" --protocol "$protocol" \
        --rate $((peer_rate / processes)) --ca "$work/pki/ca.pem" --cert "$work/pki/client.pem" \
        --key "$work/pki/client.key" --every 1 --threads "$threads"
    wait_sum held "$peer_connections" $((peer_connections / peer_rate + stop_margin_s)) "${lg_files[@]}" ||
        log "$name: going on with the connections held"
    local held failures
    held=$(json_sum held "${lg_files[@]}")
    failures=$(json_sum connectFailures "${lg_files[@]}")
    stop_loadgens
    sleep 1
    split1=$(cpu_split_seconds "$peer_pid")
    stop_pid "$peer_pid"
    local cpu
    cpu=$(cpu_between "$split0" "$split1")
    rows+=("$("$python" -c '
import json, sys
name, held, failures, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
user0, system0, user1, system1 = (float(v) for v in sys.argv[6].split())
row = {"server": name, "mode": "open, hold, close (jump-loadgen hold)", "connections": held,
       "connectFailures": failures, "serverCPUSeconds": round(cpu, 3), "rate": int(sys.argv[5]),
       "serverUserCPUSeconds": round(user1 - user0, 3), "serverSystemCPUSeconds": round(system1 - system0, 3)}
if held:
    row["serverMsPerConnection"] = round(cpu * 1000 / held, 4)
    row["serverUserMsPerConnection"] = round((user1 - user0) * 1000 / held, 4)
    row["serverSystemMsPerConnection"] = round((system1 - system0) * 1000 / held, 4)
    row["perCoreProjection"] = round(1000 / row["serverMsPerConnection"]) if cpu > 0 else None
print(json.dumps(row))
' "$name" "$held" "$failures" "$cpu" "$peer_rate" "$split0 $split1")")
    log "$name: ${rows[-1]}"
}
if [ "$peers" -eq 1 ]; then
    peer_pki "$work/pki"
    measure_peer mosquitto
    measure_peer nats-server
fi

# --- The table and the file.
mkdir -p "$(dirname "$output")"
machine=$(machine_json "$wakeup")
printf '%s\n' "${rows[@]}" | "$python" -c '
import json, sys
machine, output = json.loads(sys.argv[1]), sys.argv[2]
goal_ms, goal_rate = float(sys.argv[3]), float(sys.argv[4])
rows = [json.loads(line) for line in sys.stdin if line.strip()]
jumps = [r for r in rows if r["server"] == "jump-server" and "serverMsPerConnection" in r]
goals = {r["tls"]: {"msPerHandshake": goal_ms, "handshakesPerSecond": goal_rate,
                           "msPerHandshakeMet": r["serverMsPerConnection"] <= goal_ms,
                           "handshakesPerSecondMet": r["perSecond"] >= goal_rate} for r in jumps}
json.dump({"machine": machine, "goals": goals, "results": rows}, open(output, "w"), indent=2)
lines = ["handshake capacity: TLS 1.3 with a P-256 client certificate; the appliance with admission control lifted", ""]
lines.append("%-22s  %11s  %8s  %12s  %13s  %16s  %14s  %9s" % ("server", "connections", "seconds", "handshakes/s", "server CPU s", "server ms/conn", "1 core: conn/s", "failures"))
for r in rows:
    g = lambda k, f="%s": "-" if r.get(k) is None else f % r[k]
    label = r["server"] + (" (%s)" % r["tls"] if "tls" in r else "")
    lines.append("%-22s  %11d  %8s  %12s  %13.2f  %16s  %14s  %9d" % (label, r["connections"], g("seconds", "%.1f"), g("perSecond", "%.0f"), r["serverCPUSeconds"], g("serverMsPerConnection", "%.3f"), g("perCoreProjection", "%d"), r.get("connectFailures", 0)))
lines.append("")
for jump in jumps:
    lines.append("jump-server (%s): %d processes x %d agents churning, %d of %d handshakes resumed; attempt to Welcome p50 %.1f ms, p99 %.1f ms (highest of the processes); clients used %.3f ms CPU per handshake; idle appliance %.4f CPU s/s (%.3f ms/handshake without it)" % (jump["tls"], jump["processes"], jump["concurrency"], jump["resumed"], jump["connections"], jump["welcomeP50Ms"], jump["welcomeP99Ms"], jump.get("clientMsPerConnection", 0), jump["serverIdleCPUPerSecond"], jump.get("serverMsPerConnectionLessIdle", 0)))
yes = lambda b: "met" if b else "NOT met"
for jump in jumps:
    met = goals[jump["tls"]]
    lines.append("goals, %s handshakes: <= %.1f ms server CPU per handshake: %s (%.3f ms); >= %d handshakes/s: %s (%.0f/s measured; %d/s per core of the appliance)" % (jump["tls"], goal_ms, yes(met["msPerHandshakeMet"]), jump["serverMsPerConnection"], goal_rate, yes(met["handshakesPerSecondMet"]), jump["perSecond"], jump["perCoreProjection"]))
peers = [r for r in rows if r["server"] != "jump-server" and r.get("serverMsPerConnection")]
for jump in jumps:
    if peers:
        lines.append("jump-server (%s) / peer, CPU per connection: %s" % (jump["tls"], ", ".join("%s %.2f" % (p["server"], jump["serverMsPerConnection"] / p["serverMsPerConnection"]) for p in peers)))
split = [r for r in rows if "serverUserMsPerConnection" in r]
if split:
    lines.append("server CPU per connection in user space / in the kernel (ms; on loopback the kernel part holds the receiving end TCP work of each write): " + ", ".join("%s %.3f / %.3f" % (r["server"] + (" (%s)" % r["tls"] if "tls" in r else ""), r["serverUserMsPerConnection"], r["serverSystemMsPerConnection"]) for r in split))
lines.append("machine: %(cores)d cores, kernel %(kernel)s, load average %(loadAverage)s at the end; clients and servers share the cores" % machine)
sys.path.insert(0, "Benchmarks/lib")
from wakeup import describe
wake_up_line = describe(machine.get("wakeUp"))
if wake_up_line:
    lines.append(wake_up_line)
text = "\n".join(lines)
print(text)
open(output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
' "$machine" "$output" "$goal_ms_per_handshake" "$goal_per_second"
log "figures written to $output"
