#!/usr/bin/env bash
# Reconnect storm: N Jump Clients connected (jump-loadgen, the agent's own reconnecting runtime), the
# appliance killed with SIGKILL and started again on the same data after --down seconds; for each
# connection rate, the time until all are back against the floor N/rate, the peak and p99 of arrivals
# per second, and the connect time-outs and give-ups (both must be zero).
#
#   Benchmarks/storm.sh [--clients N] [--rates "50 300"] [--down S] [--output FILE] [--cache DIR]
#                       [--per-process N] [--no-build]
#
#   --clients      connected clients (default 1000; at most 19,000, the appliance's open-file limit)
#   --rates        the appliance's connection-rate settings to measure (default "50 300")
#   --down         seconds between the kill and the restart (default 5)
#   --output       the figures as JSON (default /tmp/storm-bench-DATE.json; the table beside it, .txt)
#   --cache        the enrollment cache (default ~/.cache/jump-loadgen/scale, shared with scale.sh)
#
# "All back" is the time from the restart (the new process started) to the N-th welcome after it,
# as the agents saw them; "after listening" counts from the first welcome instead, leaving out the
# appliance's own start. Arrivals per second are counted over that second span. The appliance's CPU
# per connection is measured while the clients first connect (TLS 1.3 handshake with a client
# certificate, Hello/Welcome, the first report and its acknowledgement), at the rate being measured;
# per reconnection, the restarted appliance's CPU from the moment it answers its API (its start-up,
# reading the store, left out) until 2 s after all are back, over the reconnections in that span,
# when the agents resume the TLS sessions of their first connections (the tickets' keys come from
# the data directory, so they open after the restart). "resumed" counts the reconnections that did.
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

clients=1000
rates="50 300"
down=5
output=/tmp/storm-bench-$(date +%Y%m%d-%H%M%S).json
cache=$enrollment_cache
per_process=5000
build=1
parse_options \
    --clients=clients \
    --rates=rates \
    --down=down \
    --output=output \
    --cache=cache \
    --per-process=per_process \
    --no-build:build=0 \
    -- "$@"

# Seconds allowed beyond 1.5 x N/rate for all clients to come back.
back_margin_s=300
# The statistics interval during the storm: long, so reports do not compete with handshakes.
storm_interval=300

. Benchmarks/lib/common.sh
. Benchmarks/lib/cache.sh
need_packages python3
build_products jump-server jumpctl jump-loadgen
ulimit -n "$(ulimit -Hn)"
ensure_enrolled "$clients"

now_ms() { date +%s%3N; }
rows=()
for rate in $rates; do
    data=$work/storm-data-$rate
    rm -rf "$data"
    cp -a "$pristine" "$data"
    port=$(agent_port)
    api=$(free_port)
    start_appliance "$data" "$port" "$api"
    jumpctl settings set connection-rate "$rate" >/dev/null
    jumpctl settings set statistics-interval "$storm_interval" >/dev/null
    log "rate $rate/s: $clients clients connecting"
    sleep 2
    cpu_before=$(cpu_seconds "$server_pid")
    start_loadgens "storm-$rate" "$clients" run --server "127.0.0.1:$port" --every 1 --arrivals
    wait_sum held "$clients" $((clients / rate + back_margin_s)) "${lg_files[@]}" || die "not all clients connected"
    # Server CPU per new connection: TLS 1.3 handshake with a client certificate, Hello/Welcome, the
    # first report (with host facts) and its acknowledgement.
    connect_cpu=$(awk -v a="$cpu_before" -v b="$(cpu_seconds "$server_pid")" 'BEGIN { printf "%.3f", b - a }')
    sleep 3
    log "rate $rate/s: killing the appliance (SIGKILL), starting it again after $down s"
    killed=$(now_ms)
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    sleep "$down"
    restarted=$(now_ms)
    start_appliance "$data" "$port" "$api"
    answering=$(now_ms)
    answering_cpu=$(cpu_seconds "$server_pid")
    wait_sum handshakes $((2 * clients)) $((clients * 3 / rate / 2 + back_margin_s)) "${lg_files[@]}" ||
        log "not every client came back"
    sleep 2
    restart_cpu=$(awk -v a="$answering_cpu" -v b="$(cpu_seconds "$server_pid")" 'BEGIN { printf "%.3f", b - a }')
    stop_loadgens
    stop_pid "$server_pid"
    rows+=("$("$python" - "$rate" "$clients" "$killed" "$restarted" "$connect_cpu" "$restart_cpu" "$answering" "${lg_files[@]}" <<'PY'
import json, sys
rate, clients, killed, restarted = (int(v) for v in sys.argv[1:5])
connect_cpu, restart_cpu, answering = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
figures = [json.load(open(path)) for path in sys.argv[8:]]
arrivals = sorted(t for f in figures for t in (f.get("arrivalsUnixMs") or []) if t > restarted)
row = {"rate": rate, "clients": clients, "floorSeconds": clients / rate, "arrivalsAfterRestart": len(arrivals),
       "connectTimeouts": sum(f["connectTimeouts"] for f in figures),
       "connectFailures": sum(f["connectFailures"] for f in figures),
       "gaveUp": sum(f["gaveUp"] for f in figures), "held": sum(f["held"] for f in figures),
       "serverCPUSecondsFirstConnect": connect_cpu, "serverCPUMsPerConnection": round(connect_cpu * 1000 / clients, 3),
       "serverCPUSecondsAfterAnswering": restart_cpu,
       "resumed": sum(f.get("resumedHandshakes", 0) for f in figures)}
after_answering = sum(1 for t in arrivals[:clients] if t >= answering)
row["reconnectionsAfterAnswering"] = after_answering
row["serverCPUMsPerReconnection"] = round(restart_cpu * 1000 / after_answering, 3) if after_answering else None
if len(arrivals) >= clients:
    last = arrivals[clients - 1]
    row["allBackSeconds"] = round((last - restarted) / 1000, 2)
    row["allBackAfterListeningSeconds"] = round((last - arrivals[0]) / 1000, 2)
    per_second = [0] * (int((last - arrivals[0]) / 1000) + 1)
    for t in arrivals[:clients]:
        per_second[int((t - arrivals[0]) / 1000)] += 1
    ordered = sorted(per_second)
    row["peakPerSecond"] = ordered[-1]
    row["p99PerSecond"] = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    row["withinFloorPlus10Percent"] = row["allBackAfterListeningSeconds"] <= clients / rate * 1.1
print(json.dumps(row))
PY
)")
    log "rate $rate/s: ${rows[-1]}"
done

mkdir -p "$(dirname "$output")"
printf '%s\n' "${rows[@]}" | "$python" -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
json.dump({"cores": __import__("os").cpu_count(), "results": rows}, open(sys.argv[1], "w"), indent=2)
lines = ["reconnect storm (SIGKILL, restart on the same data)", ""]
lines.append("%6s  %7s  %8s  %14s  %16s  %6s  %6s  %9s  %7s  %14s  %16s  %7s" % ("rate", "clients", "floor s", "all back s", "after listening", "peak/s", "p99/s", "timeouts", "gave up", "CPU ms/connect", "CPU ms/reconnect", "resumed"))
for r in rows:
    g = lambda k: r.get(k, "-")
    lines.append("%6d  %7d  %8.1f  %14s  %16s  %6s  %6s  %9d  %7d  %14.3f  %16.3f  %7d" % (r["rate"], r["clients"], r["floorSeconds"], g("allBackSeconds"), g("allBackAfterListeningSeconds"), g("peakPerSecond"), g("p99PerSecond"), r["connectTimeouts"], r["gaveUp"], r["serverCPUMsPerConnection"], r.get("serverCPUMsPerReconnection") or 0, r["resumed"]))
text = "\n".join(lines)
print(text)
open(sys.argv[1].rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
' "$output"
log "figures written to $output"
